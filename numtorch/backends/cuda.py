"""``numtorch.backends.cuda``: switches of PyTorch's CUDA matmul; numtorch's CUDA GEMM is its own
``@cuda.jit`` kernel in full float32/float64, so TF32 and reduced-precision flags change nothing.

>>> import numtorch as torch
>>> torch.backends.cuda.matmul.allow_tf32 = False   # accepted: numtorch never uses TF32
>>> torch.backends.cuda.matmul.allow_tf32
False
"""
import types

#: ``torch.backends.cuda.matmul``: precision flags (accepted, no effect).
matmul = types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                               allow_bf16_reduced_precision_reduction=True)


def is_built():
    """True when numtorch can run CUDA kernels here (numba-cuda and a GPU or the simulator).

    >>> import numtorch as torch
    >>> torch.backends.cuda.is_built() == torch.cuda.is_available()
    True
    """
    from .. import _device
    return _device.cuda_runtime() is not None


def preferred_linalg_library(backend=None):
    """Always ``'default'``: numtorch has one linear-algebra path.

    >>> import numtorch as torch
    >>> torch.backends.cuda.preferred_linalg_library()
    'default'
    """
    return "default"
