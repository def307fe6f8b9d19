"""``numtorch.utils``: data loading (``numtorch.utils.data``), hook handles
(``numtorch.utils.hooks``) and ``model_zoo.load_url``, as in ``torch.utils``."""
from . import data, hooks, model_zoo  # noqa: F401
