"""Pieces the CUDA kernel modules share: a block-wide tree sum and stand-ins for absent
optional arrays."""
import numpy as np
from numba import cuda

from .. import policy
from . import memory


@policy.cuda_kernel(device=True)
def block_sum(sh, v):
    """Sum of ``v`` over the block's threads, returned to every thread.

    Every thread of the block must call it (it synchronises); ``sh`` is a shared array of at
    least ``blockDim.x`` elements. Works for any block size (a tree over the next power of two
    whose upper half may be partly absent).
    """
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sh[tid] = v
    cuda.syncthreads()
    s = 1
    while s < nt:
        s *= 2
    s //= 2
    while s > 0:
        if tid < s and tid + s < nt:
            sh[tid] += sh[tid + s]
        cuda.syncthreads()
        s //= 2
    t = sh[0]
    cuda.syncthreads()  # everyone has read sh[0] before the next call overwrites it
    return t


_DUMMY = {}


def dummy(dtype):
    """A 1-element device array of ``dtype`` standing in for an absent optional argument."""
    dtype = np.dtype(dtype)
    a = _DUMMY.get(dtype)
    if a is None:
        a = _DUMMY[dtype] = memory.to_device(np.zeros(1, dtype))
    return a


@policy.cuda_kernel
def fill(a, v):
    """a (flat) <- v."""
    for k in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[k] = v


def zero(*arrays):
    """Each of the device ``arrays`` (None skipped) <- 0."""
    for a in arrays:
        if a is not None and a.size:
            fill[memory.grid(a.size)](a.reshape(a.size), a.dtype.type(0))
