"""``numtorch.backends``: PyTorch's backend switches, answered honestly for numtorch.

numtorch's kernels are its own Numba code: there is no cuDNN, MPS, MKL-DNN or TF32 path to switch.
The flags exist so that programs which set them (``torch.backends.cudnn.benchmark = True``) run
unchanged; they change nothing, and the ``is_available()`` queries say what is really there.

>>> import numtorch as torch
>>> torch.backends.cudnn.benchmark = True       # accepted; numtorch has no cuDNN to tune
>>> torch.backends.cudnn.is_available(), torch.backends.mps.is_available()
(False, False)
"""
from . import cpu, cuda, cudnn, mkldnn, mps  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps"]
