"""``torch.set_num_threads`` and friends: how many threads numtorch's parallel kernels use.

The parallel twins of the CPU kernels run on Numba's thread pool; matrix products run in NumPy's
BLAS. ``set_num_threads`` narrows both (BLAS through threadpoolctl where it is installed: the
``mpi`` extra brings it). Numba cannot grow its pool past the size it started with
(``NUMBA_NUM_THREADS``, the core count by default): a larger request is remembered and reported
by ``get_num_threads``, as PyTorch does, and the kernels use every thread of the pool.
numtorch has no inter-op thread pool; the inter-op setting is kept for programs that set it.
"""
import os

_state = {"threads": None, "interop": None, "blas": None}


def _check(name, n):
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(f"{name} expects an int, but got {type(n).__name__}")
    if n < 1:
        raise RuntimeError(f"{name} expects a positive integer")


def get_num_threads():
    """The number of threads the parallel CPU kernels may use.

    >>> import numtorch as torch
    >>> torch.get_num_threads() >= 1
    True
    """
    if _state["threads"] is not None:
        return _state["threads"]
    import numba
    return numba.get_num_threads()


def set_num_threads(n):
    """Use at most ``n`` threads in the parallel CPU kernels and in BLAS (this thread's setting).

    >>> import numtorch as torch
    >>> before = torch.get_num_threads()
    >>> torch.set_num_threads(1)
    >>> torch.get_num_threads()
    1
    >>> torch.set_num_threads(before)
    """
    _check("set_num_threads", n)
    import numba
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS keeps its width
        pass
    else:
        _state["blas"] = threadpool_limits(n, user_api="blas")
    _state["threads"] = n


def get_num_interop_threads():
    """The inter-op thread count a program set (numtorch runs ops one after another).

    >>> import numtorch as torch
    >>> torch.get_num_interop_threads() >= 1
    True
    """
    return _state["interop"] or os.cpu_count() or 1


def set_num_interop_threads(n):
    """Accepted and remembered; numtorch has no inter-op pool, so nothing else changes.

    >>> import numtorch as torch
    >>> torch.set_num_interop_threads(2)
    >>> torch.get_num_interop_threads()
    2
    """
    _check("set_num_interop_threads", n)
    _state["interop"] = n
