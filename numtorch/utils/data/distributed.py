"""``DistributedSampler``: each rank reads its own shard of the (shuffled) indices."""
import math

from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _world():
    try:
        from ... import distributed as dist
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size(), dist.get_rank()
    except (ImportError, AttributeError):
        pass
    raise RuntimeError("Requires distributed package to be initialized, "
                       "or pass num_replicas and rank explicitly")


class DistributedSampler(Sampler):
    """Rank ``rank`` of ``num_replicas`` gets indices ``rank, rank + num_replicas, ...`` of the
    epoch's order (padded by repetition, or cut with ``drop_last``, to divide evenly).
    Call ``set_epoch(e)`` each epoch so every rank shuffles with the same seed ``seed + e``.

    >>> import numtorch as torch
    >>> from numtorch.utils.data import DistributedSampler
    >>> list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False))
    [1, 3, 0]
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            world, r = _world()
            num_replicas = world if num_replicas is None else num_replicas
            rank = r if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        if self.shuffle:
            from ..._creation import randperm
            from ..._random import Generator
            g = Generator().manual_seed(self.seed + self.epoch)
            indices = randperm(len(self.dataset), generator=g).tolist()
        else:
            indices = list(range(len(self.dataset)))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        self.epoch = epoch
