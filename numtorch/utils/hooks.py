"""``numtorch.utils.hooks``: the handle every ``register_*hook`` returns (``torch.utils.hooks``)."""
from .._hooks import RemovableHandle

__all__ = ["RemovableHandle"]
