"""``numtorch.utils``: data loading (``numtorch.utils.data``) and hook handles
(``numtorch.utils.hooks``), as in ``torch.utils``."""
from . import data, hooks  # noqa: F401
