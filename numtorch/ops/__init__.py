"""numtorch.ops: the primitives (kernel call + backward rule, one class each) and the
functions built on them."""
from . import elementwise, shape, reduction, linalg, indexing  # noqa: F401
