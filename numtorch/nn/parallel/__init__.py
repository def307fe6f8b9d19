"""``numtorch.nn.parallel``: ``DistributedDataParallel`` over ``numtorch.distributed``."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
