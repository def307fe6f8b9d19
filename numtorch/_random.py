"""One seeded generator (``manual_seed``) for every random op; ``Generator`` objects for more.

Random bits come from NumPy's PCG64 (memory-side work, like allocation); the streams are
reproducible under a seed but are not bit-identical to PyTorch's.
"""
import numpy as np

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "default_generator"]


class Generator:
    """A random number generator with PyTorch's interface (``manual_seed``, state).

    >>> import numtorch as torch
    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.rand(3, generator=g)
    >>> _ = g.manual_seed(0)
    >>> torch.equal(a, torch.rand(3, generator=g))
    True
    """

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = 67280421310721
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed):
        self._seed = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        from ._creation import tensor
        import json
        raw = json.dumps(self._rng.bit_generator.state).encode()
        return tensor(list(raw), dtype=_uint8())

    def set_state(self, state):
        import json
        self._rng.bit_generator.state = json.loads(bytes(state.tolist()).decode())
        return self


def _uint8():
    from ._dtype import uint8
    return uint8


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator (and CUDA's, which shares it).

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> a = torch.rand(2)
    >>> _ = torch.manual_seed(0)
    >>> torch.equal(a, torch.rand(2))
    True
    """
    default_generator.manual_seed(seed)
    return default_generator


def seed():
    """Seed the default generator non-deterministically; returns the seed used.

    >>> import numtorch as torch
    >>> s = torch.seed()
    >>> s == torch.initial_seed()
    True
    """
    return default_generator.seed()


def initial_seed():
    """The seed the default generator was last seeded with.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(42)
    >>> torch.initial_seed()
    42
    """
    return default_generator.initial_seed()


def get_rng_state():
    """The default generator's state, as a uint8 tensor (for ``set_rng_state``).

    >>> import numtorch as torch
    >>> state = torch.get_rng_state()
    >>> a = torch.rand(2)
    >>> torch.set_rng_state(state)
    >>> torch.equal(a, torch.rand(2))
    True
    """
    return default_generator.get_state()


def set_rng_state(state):
    """Restore the default generator's state from ``get_rng_state()``.

    >>> import numtorch as torch
    >>> state = torch.get_rng_state()
    >>> a = torch.randn(2)
    >>> torch.set_rng_state(state)
    >>> torch.equal(a, torch.randn(2))
    True
    """
    default_generator.set_state(state)


def rng(generator=None):
    return (generator or default_generator)._rng
