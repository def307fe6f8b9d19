"""Tensor methods, operators and in-place variants, bound from the functional ops.

Every ``numtorch.<op>(tensor, ...)`` whose first argument is the tensor is also
``tensor.<op>(...)``; operators are plain methods (no monkey-patching of other classes).
"""
import builtins

from . import _dtype as D
from ._device import as_device
from ._tensor import Tensor
from .autograd import grad_mode
from .ops import _core, elementwise as E, shape as S, reduction as R, linalg as L, indexing as I

# --- conversion ------------------------------------------------------------------------------


def _to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; ``copy``, ``non_blocking``."""
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
        elif isinstance(a, bool):
            copy = a
        elif a is not None:
            device = a
    out = self
    if device is not None:
        dev = as_device(device)
        if dev != out.device:
            from .ops.device import ToDevice
            out = ToDevice.apply(out, dev)
    if dtype is not None:
        dt = D.to_dtype(dtype)
        if dt is not out.dtype:
            out = ToDtype.apply(out, dt)
    if copy and out is self:
        out = S.clone(self)
    return out


from .autograd.function import Function  # noqa: E402


class ToDtype(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return _core.cast(x, dtype)

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.dtype) if ctx.dtype.is_floating_point else None), None


Tensor.to = _to
Tensor.type = lambda self, dtype=None: self.to(dtype) if dtype is not None else f"torch.{self.dtype.name.capitalize()}Tensor"
for _name, _dt in (("float", D.float32), ("double", D.float64), ("half", D.float16),
                   ("long", D.int64), ("int", D.int32), ("short", D.int16), ("char", D.int8),
                   ("byte", D.uint8), ("bool", D.bool)):
    setattr(Tensor, _name, (lambda dt: lambda self, memory_format=None: self.to(dt))(_dt))
Tensor.cpu = lambda self, memory_format=None: self.to("cpu")
Tensor.cuda = lambda self, device=None, non_blocking=False: self.to(
    as_device(device) if device is not None else as_device("cuda"))


# --- functional ops as methods ---------------------------------------------------------------
_METHODS = {
    E: """add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow
          float_power maximum minimum fmax fmin atan2 arctan2 neg negative abs absolute sign sgn
          relu exp expm1 log log2 log10 log1p sqrt rsqrt square sin cos tan tanh sigmoid erf
          reciprocal floor ceil round trunc fix frac clamp clip clamp_min clamp_max where lerp
          addcmul addcdiv hypot isnan isinf isfinite isposinf isneginf signbit logical_not eq
          ne lt le gt ge greater greater_equal less less_equal not_equal logical_and logical_or
          logical_xor bitwise_and bitwise_or bitwise_xor bitwise_not equal allclose isclose""",
    S: """view view_as reshape reshape_as flatten unflatten ravel permute transpose swapaxes
          swapdims t movedim moveaxis unsqueeze squeeze expand expand_as broadcast_to narrow
          select contiguous clone split tensor_split chunk unbind flip fliplr flipud repeat
          tile roll unfold type_as""",
    R: """sum mean prod max min amax amin argmax argmin aminmax var std var_mean std_mean
          logsumexp norm all any cumsum cumprod softmax log_softmax count_nonzero nansum
          median mode sort argsort topk kthvalue msort""",
    L: """matmul mm bmm mv dot outer inner addmm""",
    I: """gather scatter scatter_add index_select masked_fill masked_select nonzero take
          index_add index_fill index_copy index_put put_ masked_scatter""",
}
for _mod, _names in _METHODS.items():
    for _n in _names.split():
        if hasattr(_mod, _n):
            setattr(Tensor, _n, getattr(_mod, _n))

Tensor.T = property(lambda self: S.permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(lambda self: S.transpose(self, -2, -1))
Tensor.H = Tensor.T
Tensor.mH = Tensor.mT
Tensor.__getitem__ = I.getitem
Tensor.__setitem__ = lambda self, key, value: I.setitem(self, key, value)


# --- operators -------------------------------------------------------------------------------
def _r(fn):
    return lambda self, other: fn(other, self)


Tensor.__add__ = E.add
Tensor.__radd__ = lambda self, other: E.add(self, other)
Tensor.__sub__ = E.sub
Tensor.__rsub__ = lambda self, other: E.Sub.apply(other, self)
Tensor.__mul__ = E.mul
Tensor.__rmul__ = lambda self, other: E.Mul.apply(self, other)
Tensor.__truediv__ = E.div
Tensor.__rtruediv__ = lambda self, other: E.Div.apply(other, self)
Tensor.__floordiv__ = E.floor_divide
Tensor.__rfloordiv__ = _r(E.floor_divide)
Tensor.__mod__ = E.remainder
Tensor.__rmod__ = _r(E.remainder)
Tensor.__pow__ = E.pow
Tensor.__rpow__ = lambda self, other: E.Pow.apply(other, self)
Tensor.__matmul__ = L.matmul
Tensor.__rmatmul__ = _r(L.matmul)
Tensor.__neg__ = E.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = E.abs
Tensor.__invert__ = E.bitwise_not
Tensor.__and__ = E.bitwise_and
Tensor.__rand__ = _r(E.bitwise_and)
Tensor.__or__ = E.bitwise_or
Tensor.__ror__ = _r(E.bitwise_or)
Tensor.__xor__ = E.bitwise_xor
Tensor.__rxor__ = _r(E.bitwise_xor)
Tensor.__eq__ = E.eq
Tensor.__ne__ = E.ne
Tensor.__lt__ = E.lt
Tensor.__le__ = E.le
Tensor.__gt__ = E.gt
Tensor.__ge__ = E.ge


# --- in-place variants -----------------------------------------------------------------------
def _check_inplace(self):
    if grad_mode.state.enabled:
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation.")
        base = self._base
        if base is not None and base._requires_grad and grad_mode.state.enabled:
            if base.grad_fn is None:
                raise RuntimeError(
                    "a view of a leaf Variable that requires grad is being used in an in-place "
                    "operation.")
            raise RuntimeError(
                "numtorch does not support in-place operations on views of tensors that are part "
                "of an autograd graph (PyTorch rewrites the base's history; numtorch refuses "
                "rather than compute a wrong gradient). Use an out-of-place operation instead.")


def commit_inplace(self, result):
    """Write ``result`` into ``self``'s memory, bump the version, and take over its history."""
    _check_inplace(self)
    if result.dtype is not self.dtype:
        if not D.can_cast(result.dtype, self.dtype):
            raise RuntimeError(
                f"result type {result.dtype.name.capitalize()} can't be cast to the desired output "
                f"type {self.dtype.name.capitalize()}")
    if result._data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}")
    _core.kernels(self.device).elementwise.copy(result._data, self._data)
    self._ver.v += 1
    if result._requires_grad and grad_mode.state.enabled:
        self._requires_grad = True
        self.grad_fn = result.grad_fn
        self._out_nr = result._out_nr
    return self


def _inplace(fn):
    def method(self, *args, **kwargs):
        return commit_inplace(self, fn(self, *args, **kwargs))
    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place version of ``{fn.__name__}``: writes into self, bumps its version."
    return method


for _n in """add sub mul div floor_divide remainder pow neg abs sign relu exp expm1 log log2 log1p
             sqrt rsqrt sin cos tan tanh sigmoid erf reciprocal floor ceil round trunc clamp clip
             clamp_min clamp_max lerp addcmul addcdiv square fmod logical_not logical_and
             logical_or bitwise_and bitwise_or bitwise_xor bitwise_not masked_fill index_fill
             scatter scatter_add index_add index_copy index_put masked_scatter maximum minimum
             eq ne lt le gt ge""".split():
    _f = getattr(E, _n, None) or getattr(I, _n, None)
    setattr(Tensor, _n + "_", _inplace(_f))

Tensor.subtract_ = Tensor.sub_
Tensor.multiply_ = Tensor.mul_
Tensor.divide_ = Tensor.true_divide_ = Tensor.div_
Tensor.__iadd__ = Tensor.add_
Tensor.__isub__ = Tensor.sub_
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_
Tensor.__ifloordiv__ = Tensor.floor_divide_
Tensor.__imod__ = Tensor.remainder_
Tensor.__ipow__ = Tensor.pow_
Tensor.__iand__ = Tensor.bitwise_and_
Tensor.__ior__ = Tensor.bitwise_or_
Tensor.__ixor__ = Tensor.bitwise_xor_


def zero_(self):
    """Fill with zeros in place."""
    return fill_(self, 0)


def fill_(self, value):
    """Fill with ``value`` in place (a Python number or a one-element tensor)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                "dimensions.")
        value = value.item()
    _check_inplace(self)
    _core.fill(self, value)
    self._ver.v += 1
    if grad_mode.state.enabled and self._requires_grad:
        self.grad_fn = None  # constant now: no history (a non-leaf keeps requires_grad)
    return self


def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast, any dtype/device) into self in place."""
    if not isinstance(src, Tensor):
        src = _core.as_tensor_arg(src, self.device)
    if src.device != self.device:
        src = src.to(self.device)
    shape = _core.broadcast_shapes(src._data.shape, self._data.shape)
    if shape != self._data.shape:
        raise RuntimeError(
            f"The size of tensor a ({self._data.shape}) must match the size of tensor b "
            f"({src._data.shape})")
    if grad_mode.state.enabled and (src._requires_grad or self._requires_grad):
        return commit_inplace(self, S.expand(src.to(self.dtype), self._data.shape).clone())
    _check_inplace(self)
    import numpy as np
    data = src._data
    if self.device.type == "cpu" and np.may_share_memory(data, self._data):
        data = data.copy()
    _core.kernels(self.device).elementwise.cast(data, self._data)
    self._ver.v += 1
    return self


def _iadd_nograd(self, other):
    """``self += other`` outside autograd (gradient accumulation)."""
    _core.kernels(self.device).elementwise.add(self._data, other._data, self._data)
    self._ver.v += 1
    return self


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    from ._creation import rand
    return copy_(self, rand(*self.shape, generator=generator, dtype=self.dtype) * (b - a) + a)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    from ._creation import randn
    return copy_(self, randn(*self.shape, generator=generator, dtype=self.dtype) * std + mean)


def bernoulli_(self, p=0.5, *, generator=None):
    from ._creation import rand
    return copy_(self, (rand(*self.shape, generator=generator) < p).to(self.dtype))


def random_(self, low=0, high=None, *, generator=None):
    from ._creation import randint
    if high is None:
        low, high = 0, low if low else 2 ** 24
    return copy_(self, randint(low, high, tuple(self.shape), generator=generator))


def exponential_(self, lambd=1.0, *, generator=None):
    from ._creation import rand
    return copy_(self, -E.log1p(-rand(*self.shape, generator=generator, dtype=self.dtype)) / lambd)


for _f in (zero_, fill_, copy_, _iadd_nograd, uniform_, normal_, bernoulli_, random_, exponential_):
    setattr(Tensor, _f.__name__, _f)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    from ._creation import tensor
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad)


def _new_factory(name):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        from . import _creation
        f = getattr(_creation, name)
        return f(*size, dtype=dtype or self.dtype, device=device or self.device,
                 requires_grad=requires_grad)
    method.__name__ = "new_" + name
    return method


Tensor.new_tensor = new_tensor
for _n in ("zeros", "ones", "empty"):
    setattr(Tensor, "new_" + _n, _new_factory(_n))
Tensor.new_full = lambda self, size, fill_value, *, dtype=None, device=None, requires_grad=False: \
    __import__("numtorch")._creation.full(size, fill_value, dtype=dtype or self.dtype,
                                          device=device or self.device, requires_grad=requires_grad)
