"""numtorch.ops: the primitives (kernel call + backward rule, one class each) and the
functions built on them, each declared once in the op registry (``numtorch._registry``).

Importing this package imports every op module (so every op is registered) and gives ``Tensor``
its methods and in-place variants from the registry.
"""
from .. import _registry
from .._tensor import Tensor, OPERATORS
from . import elementwise, compare, shape, reduction, linalg, indexing, device, inplace  # noqa: F401
from . import sort, triangular, sparse  # noqa: F401

for _name, _fn in _registry.methods(inplace.make_inplace).items():
    setattr(Tensor, _name, _fn)
for _name, _op in OPERATORS.items():  # ``a + b`` calls the op's function directly
    setattr(Tensor, _name, getattr(_registry.fn, _op))
del _name, _fn, _op
