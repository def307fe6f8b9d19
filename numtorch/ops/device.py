"""Moving tensors between devices and dtypes (the gradient moves back)."""
import builtins

from .. import _dtype as D
from .._device import as_device
from .._registry import op
from ..autograd.function import Function
from .._tensor import Tensor
from . import _core
from .shape import clone


def _host_contiguous(t):
    """``t``'s data as a C-contiguous array on its own device (a copy kernel if strided)."""
    return t._data if t._data.flags.c_contiguous else t.contiguous()._data


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, device):
        ctx.device = x.device
        # through host memory: one copy to or from a GPU (the CPU's to_host/to_device copy
        # nothing), two between GPUs; reading a GPU's memory synchronises
        host = _core.to_host(_host_contiguous(x), x.device)
        return Tensor._make(_core.to_device(host, device), x.dtype, device)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.device), None


# --- conversions: Tensor.to / cpu / cuda / type / float / ... ----------------------------------
class ToDtype(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return _core.cast(x, dtype)

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.dtype) if ctx.dtype.is_floating_point else None), None


def to_args(args, kwargs):
    """``(device, dtype, copy)`` of the arguments of ``Tensor.to`` (each None/False if not given):
    ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``, keywords ``dtype``,
    ``device``, ``copy`` (``non_blocking`` and ``memory_format`` are accepted and ignored)."""
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {list(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, D.dtype) or a in (builtins.float, builtins.int, builtins.bool):
            dtype = a
        elif isinstance(a, builtins.bool):
            copy = a
        elif a is not None:
            device = a
    return device, dtype, copy


@op(function=False)
def to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; ``copy``, ``non_blocking``.

    >>> import numtorch as torch
    >>> torch.tensor([1.5, 2.5]).to(torch.int64)
    tensor([1, 2])
    """
    device, dtype, copy = to_args(args, kwargs)
    out = self
    if device is not None:
        dev = as_device(device)
        if dev != out.device:
            out = ToDevice.apply(out, dev)
    if dtype is not None:
        dt = D.to_dtype(dtype)
        if dt is not out.dtype:
            out = ToDtype.apply(out, dt)
    if copy and out is self:
        out = clone(self)
    return out


@op(function=False)
def cpu(self, memory_format=None):
    """This tensor in host memory (itself when it is there already).

    >>> import numtorch as torch
    >>> torch.ones(2).cpu().device
    device(type='cpu')
    """
    return to(self, "cpu")


@op(function=False)
def cuda(self, device=None, non_blocking=False):
    """This tensor on a CUDA device (the current one by default)."""
    return to(self, as_device(device) if device is not None else as_device("cuda"))


@op(function=False)
def type(self, dtype=None):  # noqa: A001  (PyTorch's method name)
    """The legacy type name (``'torch.FloatTensor'``), or this tensor converted to ``dtype``.

    >>> import numtorch as torch
    >>> torch.ones(2).type()
    'torch.FloatTensor'
    """
    if dtype is None:
        return f"torch.{_LEGACY[self.dtype]}Tensor"
    dtype = getattr(dtype, "dtype", dtype)  # a legacy type: torch.FloatTensor
    if isinstance(dtype, str):
        by_name = {f"torch.{n}Tensor": dt for dt, n in _LEGACY.items()}
        if dtype not in by_name:
            raise ValueError(f"invalid type: '{dtype}'")
        dtype = by_name[dtype]
    return to(self, dtype)


def _converter(name, dt):
    def convert(self, memory_format=None):
        return to(self, dt)
    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = f"``self.to({dt})``."
    return op(function=False)(convert)


_CONVERSIONS = (("float", D.float32), ("double", D.float64), ("half", D.float16),
                ("bfloat16", D.bfloat16), ("long", D.int64), ("int", D.int32), ("short", D.int16), ("char", D.int8),
                ("byte", D.uint8), ("bool", D.bool))
_LEGACY = {dt: name.capitalize() for name, dt in _CONVERSIONS}  # float32 -> 'torch.FloatTensor'
_LEGACY[D.bfloat16] = "BFloat16"
for _name, _dt in _CONVERSIONS:
    _converter(_name, _dt)
