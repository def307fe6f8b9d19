"""numtorch: PyTorch's API over readable Numba kernels.

>>> import numtorch as torch
>>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x ** 2).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4., 6.])
"""
import os as _os
import sys as _sys
import types as _types

# Thread policy, part 1 (part 2 is kernels/policy.py): numtorch runs Numba's thread pool and
# OpenBLAS's (GEMMs in conv/linear) one after the other. OpenBLAS threads busy-wait ~0.1 s after
# each call by default and then fight Numba's workers for the cores; a short spin (2^4 cycles)
# made the Fashion-MNIST CNN step ~20% faster on 2 cores. Read by OpenBLAS when NumPy loads it;
# where NumPy came first, kernels/cpu/_blas.py has OpenBLAS read it again and restart its
# threads. A user's own setting wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
from . import _allocator
_allocator.apply()  # big blocks stay in the heap: no page faults per step (numtorch/_allocator.py)
from ._dtype import (dtype, float16, bfloat16, float32, float64, int64, int32, int16, int8, uint8, bool,
                     half, float, double, long, int, short, get_default_dtype, set_default_dtype,
                     promote_types, result_type as _result_type, can_cast)
from ._device import device
from ._size import Size
from ._tensor import Tensor, layout, strided, sparse_coo
from . import autograd
from .autograd import (no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled)
from ._random import (Generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state,
                      default_generator)
from . import _registry, _creation, ops
# numtorch.<op> for every op declared with @op(...) (numtorch/_registry.py): no list kept here
globals().update(_registry.functions())
from . import cuda
from . import sparse
from . import accelerator, backends
from ._legacy import (FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor,  # noqa: F401
                      ShortTensor, CharTensor, ByteTensor, BoolTensor)
from .serialization import save, load
from ._threads import (get_num_threads, set_num_threads, get_num_interop_threads,  # noqa: F401
                       set_num_interop_threads)
from . import nn
from . import optim
from . import utils
from . import hub
from . import distributed
from . import multiprocessing
from . import distributions
from . import jit
from . import onnx
from . import compiler
from .compiler import compile  # noqa: A001  (torch.compile)
from . import amp
# torch.cuda.amp.GradScaler (nanoGPT and older AMP recipes): the cuda flavour of amp.GradScaler
cuda.amp = _types.ModuleType("numtorch.cuda.amp", "numtorch.cuda.amp: ``GradScaler`` for CUDA.")
cuda.amp.GradScaler = amp._CudaGradScaler
_sys.modules["numtorch.cuda.amp"] = cuda.amp

__version__ = "0.1.0"


def is_tensor(obj):
    """True if ``obj`` is a numtorch Tensor.

    >>> import numtorch as torch
    >>> torch.is_tensor(torch.zeros(2)), torch.is_tensor([0, 0])
    (True, False)
    """
    return isinstance(obj, Tensor)


def numel(input):
    """The number of elements of ``input``.

    >>> import numtorch as torch
    >>> torch.numel(torch.zeros(2, 3))
    6
    """
    return input.numel()


def is_floating_point(input):
    """True if ``input`` has a floating dtype.

    >>> import numtorch as torch
    >>> torch.is_floating_point(torch.tensor([1.0])), torch.is_floating_point(torch.tensor([1]))
    (True, False)
    """
    return input.dtype.is_floating_point


def result_type(tensor1, tensor2):
    """The dtype PyTorch's promotion gives an op on these two operands.

    >>> import numtorch as torch
    >>> torch.result_type(torch.tensor([1, 2]), 1.0)
    torch.float32
    """
    return _result_type(tensor1, tensor2)


def detach(input):
    """A new tensor sharing ``input``'s data, cut out of the autograd graph.

    >>> import numtorch as torch
    >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> torch.detach(x * 2)
    tensor([2., 4.])
    """
    return input.detach()


def is_nonzero(input):
    """True if the single-element ``input`` is nonzero (errors on more elements).

    >>> import numtorch as torch
    >>> torch.is_nonzero(torch.tensor([0.5])), torch.is_nonzero(torch.tensor(0))
    (True, False)
    """
    return input.__bool__()
