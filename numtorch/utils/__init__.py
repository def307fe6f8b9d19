"""``numtorch.utils``: data loading (``numtorch.utils.data``), as in ``torch.utils``."""
from . import data  # noqa: F401
