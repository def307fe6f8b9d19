"""Tensor factories: ``tensor``, ``zeros``, ``arange``, ``randn``, ... (PyTorch's signatures)."""
import builtins
import collections.abc
import math

import numpy as np

from . import _dtype as D
from ._device import as_device
from ._random import rng
from ._registry import op
from ._tensor import Tensor
from ._tracing import state as _listen

def _to_array(data, dtype=None):
    """A fresh NumPy array from Python data / NumPy / tensors, with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data.detach().cpu()._data
        return arr.astype(dtype.np) if dtype is not None else arr.copy()
    if isinstance(data, np.ndarray):
        if dtype is None:
            D.from_numpy(data.dtype)
            return data.copy()
        return data.astype(dtype.np)
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat_first(data)):
        data = _tensors_to_lists(data)
    if dtype is None:
        try:
            dtype = _infer(data)
        except TypeError:
            if not _has_other_sequences(data):
                raise
            data = _plain(data)  # deque, range, array.array...: any sequence, as PyTorch takes
            dtype = _infer(data)
    try:
        arr = np.array(data, dtype=dtype.np)
    except (ValueError, TypeError) as e:
        raise ValueError(f"could not convert data to a tensor: {e}") from None
    if arr.dtype == object:
        raise TypeError(f"can't convert {type(data).__name__} of mixed types to a tensor")
    return arr


def _is_other_sequence(x):
    return isinstance(x, collections.abc.Sequence) and not isinstance(x, (list, tuple, str, bytes))


def _has_other_sequences(data):
    stack = [data]
    while stack:
        x = stack.pop()
        if _is_other_sequence(x):
            return True
        if isinstance(x, (list, tuple)):
            stack.extend(x)
    return False


def _plain(data):
    """``data`` with every sequence (nested too) as a list."""
    if isinstance(data, (list, tuple)) or _is_other_sequence(data):
        return [_plain(x) for x in data]
    return data


def _flat_first(data):
    while isinstance(data, (list, tuple)) and data:
        yield from data
        return


def _tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_tensors_to_lists(x) for x in data]
    return data


def _infer(data):
    kinds = set()
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, builtins.bool) or isinstance(x, np.bool_):
            kinds.add(0)
        elif isinstance(x, (builtins.int, np.integer)):
            kinds.add(1)
        elif isinstance(x, (builtins.float, np.floating)):
            kinds.add(2)
        elif isinstance(x, complex):
            raise TypeError("numtorch has no complex dtypes")
        else:
            raise TypeError(f"Could not infer dtype of {type(x).__name__}")
    if 2 in kinds:
        return D.get_default_dtype()
    if 1 in kinds:
        return D.int64
    if 0 in kinds:
        return D.bool
    return D.get_default_dtype()


def _finish(arr, dtype, device, requires_grad):
    if _listen.capture is not None:  # a constant made on the host inside numtorch.compile
        _listen.capture.host_array(arr)
    t = Tensor._make(arr, dtype)
    device = as_device(device)
    if device.type != "cpu":
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


@op(method=False, kind="factory")
def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor copying ``data`` (nested lists, numbers, NumPy arrays, tensors).

    >>> import numtorch as torch
    >>> torch.tensor([[1, 2], [3, 4]], dtype=torch.float64)
    tensor([[1., 2.],
            [3., 4.]], dtype=torch.float64)
    """
    dt = D.to_dtype(dtype) if dtype is not None else None
    if isinstance(data, Tensor) and dt is None:
        dt = data.dtype
    arr = _to_array(data, dt)
    return _finish(arr, dt or D.from_numpy(arr.dtype), device, requires_grad)


@op(method=False, kind="factory")
def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    """A 0-d tensor holding ``s`` (default float dtype).

    >>> import numtorch as torch
    >>> torch.scalar_tensor(3)
    tensor(3.)
    """
    return tensor(s, dtype=dtype or D.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


@op("asarray", method=False, kind="factory")
def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a tensor or NumPy array when it can.

    >>> import numtorch as torch
    >>> import numpy as np
    >>> a = np.array([1.0, 2.0])
    >>> t = torch.as_tensor(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 2.], dtype=torch.float64)
    """
    dt = D.to_dtype(dtype) if dtype is not None else None
    dev = as_device(device) if device is not None else None
    if isinstance(data, Tensor):
        out = data
        if dt is not None and dt is not data.dtype:
            out = out.to(dt)
        if dev is not None and dev != out.device:
            out = out.to(dev)
        return out
    if isinstance(data, np.ndarray) and (dt is None or dt.np == data.dtype) and \
            (dev is None or dev.type == "cpu"):
        return from_numpy(data)
    if not isinstance(data, (np.ndarray, list, tuple)) and \
            hasattr(data, "__cuda_array_interface__"):
        # a CuPy/PyTorch/Numba GPU array: shared, no copy (real GPUs only)
        from .ops._core import kernels
        gpu = as_device("cuda")
        arr = kernels(gpu).memory.from_interface(data)
        out = Tensor._make(arr, D.from_numpy(arr.dtype), gpu)
        return out.to(device=dev, dtype=dt)
    return tensor(data, dtype=dt, device=dev)


@op(method=False, kind="factory")
def from_numpy(ndarray):
    """A CPU tensor sharing memory with ``ndarray`` (writes through both ways).

    >>> import numtorch as torch
    >>> import numpy as np
    >>> a = np.arange(3)
    >>> t = torch.from_numpy(a)
    >>> a[0] = 7
    >>> t
    tensor([7, 1, 2])
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    dt = D.from_numpy(ndarray.dtype)
    if any(s < 0 for s in ndarray.strides):
        raise ValueError(
            "At least one stride in the given numpy array is negative, and tensors with negative "
            "strides are not currently supported. (You can probably work around this by making a "
            "copy of your array  with array.copy().) ")
    if not ndarray.dtype.isnative:
        raise ValueError("given numpy array has byte order different from the native byte order")
    return Tensor._make(ndarray, dt)


def _int_arg(x):
    """``x`` as a Python int when it is an integer (Python, NumPy, or a one-element integer
    tensor, as PyTorch accepts), else None: floats and bools are not sizes."""
    if type(x) is builtins.int:
        return x
    if isinstance(x, (builtins.int, np.integer)) and not isinstance(x, builtins.bool):
        return builtins.int(x)
    if isinstance(x, Tensor) and x.numel() == 1 and not x.dtype.is_floating_point and \
            x.dtype is not D.bool:
        return builtins.int(x.item())
    return None


def _sizes(sizes, size, name):
    """A factory's ``*sizes`` or its ``size=`` keyword (PyTorch takes either, not both)."""
    if size is None:
        return sizes
    if sizes:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    return (size,)


def _size(size, name, arg="size"):
    """The checked shape of factory ``name``: ``size`` is its ``*size`` (ints, or one sequence);
    a single count such as ``randperm``'s ``n`` comes as ``(n,)`` with its ``arg`` name.
    PyTorch's errors: TypeError for anything but integers (floats, bools, float tensors),
    RuntimeError for a negative dimension."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for i, s in enumerate(size):
        n = _int_arg(s)
        if n is None:
            want = "int" if arg != "size" else "tuple of ints"
            raise TypeError(f"{name}(): argument '{arg}' must be {want}, but found element of "
                            f"type {type(s).__name__} at pos {i}")
        out.append(n)
    size = tuple(out)
    for s in size:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return size


_core = None  # numtorch.ops._core, imported on first use (the ops import this module)


def _alloc(size, dtype, device, fill=None):
    global _core
    if _core is None:
        from .ops import _core
    dtype = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    device = as_device(device)
    t = _core.empty(size, dtype, device)
    if fill is not None:
        _core.fill(t, fill)
    return t


@op(method=False, kind="factory")
def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None, pin_memory=False,
          memory_format=None):
    """An uninitialised tensor.

    >>> import numtorch as torch
    >>> torch.empty(2, 3).shape
    torch.Size([2, 3])
    """
    return _finish_grad(_alloc(_size(_sizes(sizes, size, "empty"), "empty"), dtype, device), requires_grad)


def _finish_grad(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


@op(method=False, kind="factory")
def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor with the given ``size`` and ``stride``.

    >>> import numtorch as torch
    >>> torch.empty_strided((2, 3), (1, 2)).stride()
    (1, 2)
    """
    size, stride = _size((size,), "empty_strided"), tuple(int(s) for s in stride)
    if len(stride) != len(size) or any(s < 0 for s in stride):
        raise RuntimeError(
            f"mismatch in length of strides and shape, or negative stride: size {list(size)}, "
            f"stride {list(stride)}")
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    span = 1 + builtins.sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
    buf = np.empty(span, dt.np)  # the storage the strides walk over
    arr = np.lib.stride_tricks.as_strided(buf, size, tuple(s * dt.itemsize for s in stride))
    return _finish(arr, dt, device, requires_grad)


@op(method=False, kind="factory")
def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None):
    """A tensor of zeros.

    >>> import numtorch as torch
    >>> torch.zeros(2, 3).shape
    torch.Size([2, 3])
    """
    return _finish_grad(_alloc(_size(_sizes(sizes, size, "zeros"), "zeros"), dtype, device, 0), requires_grad)


@op(method=False, kind="factory")
def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None):
    """A tensor of ones.

    >>> import numtorch as torch
    >>> torch.ones(2, 3)
    tensor([[1., 1., 1.],
            [1., 1., 1.]])
    """
    return _finish_grad(_alloc(_size(_sizes(sizes, size, "ones"), "ones"), dtype, device, 1), requires_grad)


@op(method=False, kind="factory")
def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor filled with ``fill_value`` (its dtype follows the value when not given).

    >>> import numtorch as torch
    >>> torch.full((2, 2), 7)
    tensor([[7, 7],
            [7, 7]])
    """
    if dtype is None:
        dtype = D.scalar_dtype(fill_value)
    return _finish_grad(_alloc(_size((size,), "full"), dtype, device, fill_value), requires_grad)


def _like(t, dtype, device):
    return (D.to_dtype(dtype) if dtype is not None else t.dtype,
            as_device(device) if device is not None else t.device)


@op(method=False, kind="factory")
def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    """An uninitialised tensor with ``input``'s shape (and dtype unless given).

    >>> import numtorch as torch
    >>> torch.empty_like(torch.zeros(2, 3, dtype=torch.int64)).dtype
    torch.int64
    """
    dt, dev = _like(input, dtype, device)
    return _finish_grad(_alloc(input._data.shape, dt, dev), requires_grad)


@op(method=False, kind="factory")
def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    """A tensor of zeros shaped like ``input``.

    >>> import numtorch as torch
    >>> torch.zeros_like(torch.ones(2, 3))
    tensor([[0., 0., 0.],
            [0., 0., 0.]])
    """
    dt, dev = _like(input, dtype, device)
    return _finish_grad(_alloc(input._data.shape, dt, dev, 0), requires_grad)


@op(method=False, kind="factory")
def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    """A tensor of ones shaped like ``input``.

    >>> import numtorch as torch
    >>> torch.ones_like(torch.zeros(2, 2, dtype=torch.int64))
    tensor([[1, 1],
            [1, 1]])
    """
    dt, dev = _like(input, dtype, device)
    return _finish_grad(_alloc(input._data.shape, dt, dev, 1), requires_grad)


@op(method=False, kind="factory")
def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None):
    """A tensor shaped like ``input`` filled with ``fill_value``.

    >>> import numtorch as torch
    >>> torch.full_like(torch.zeros(3), 2.5)
    tensor([2.5000, 2.5000, 2.5000])
    """
    dt, dev = _like(input, dtype, device)
    return _finish_grad(_alloc(input._data.shape, dt, dev, fill_value), requires_grad)


@op(method=False, kind="factory")
def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` up to (not including) ``end`` by ``step``.

    >>> import numtorch as torch
    >>> torch.arange(5)
    tensor([0, 1, 2, 3, 4])
    >>> torch.arange(1, 2.5, 0.5)
    tensor([1.0000, 1.5000, 2.0000])
    """
    if end is None:
        start, end = 0, start
    args = [a.item() if isinstance(a, Tensor) else a for a in (start, end, step)]
    start, end, step = args
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if not builtins.all(math.isfinite(a) for a in args):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        dtype = D.get_default_dtype() if any(isinstance(a, builtins.float) for a in args) else D.int64
    dtype = D.to_dtype(dtype)
    n = builtins.max(int(math.ceil((end - start) / step)), 0)
    arr = start + step * np.arange(n, dtype=np.float64 if dtype.is_floating_point else np.int64)
    return _finish(arr.astype(dtype.np), dtype, device, requires_grad)


def _steps(steps, name):
    """``linspace``/``logspace``'s ``steps``: an integer (``_size``'s rule), not negative."""
    n = _int_arg(steps)
    if n is None:
        raise TypeError(f"{name}(): argument 'steps' must be int, not {type(steps).__name__}")
    if n < 0:
        raise RuntimeError("number of steps must be non-negative")
    return n


@op(method=False, kind="factory")
def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    >>> import numtorch as torch
    >>> torch.linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    dtype = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    steps = _steps(steps, "linspace")
    arr = np.linspace(start, end, steps).astype(dtype.np)
    return _finish(arr, dtype, device, requires_grad)


@op(method=False, kind="factory")
def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values from ``base ** start`` to ``base ** end``, evenly spaced in the exponent.

    >>> import numtorch as torch
    >>> torch.logspace(0, 2, 3)
    tensor([  1.,  10., 100.])
    """
    dtype = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    steps = _steps(steps, "logspace")
    arr = np.logspace(start, end, steps, base=base).astype(dtype.np)
    return _finish(arr, dtype, device, requires_grad)


@op(method=False, kind="factory")
def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """The identity matrix (``n x m``).

    >>> import numtorch as torch
    >>> torch.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    dtype = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    n, m = _size((n, n if m is None else m), "eye", "n")
    return _finish(np.eye(n, m, dtype=dtype.np), dtype, device, requires_grad)


def _float_dtype(dtype):
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"\"check_uniform_bounds\" not implemented for '{dt.name}'")
    return dt


@op(method=False, kind="factory")
def rand(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1).

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> x = torch.rand(2, 3)
    >>> x.shape, bool(((x >= 0) & (x < 1)).all())
    (torch.Size([2, 3]), True)
    """
    dt = _float_dtype(dtype)
    src = np.float64 if dt is D.float64 else np.float32
    arr = _drawn(lambda s: rng(generator).random(s, dtype=src),
                 _size(_sizes(sizes, size, "rand"), "rand"), dt)
    return _finish(arr, dt, device, requires_grad)


@op(method=False, kind="factory")
def randn(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.randn(2, 3).shape
    torch.Size([2, 3])
    """
    dt = _float_dtype(dtype)
    src = np.float64 if dt is D.float64 else np.float32
    arr = _drawn(lambda s: rng(generator).standard_normal(s, dtype=src),
                 _size(_sizes(sizes, size, "randn"), "randn"), dt)
    return _finish(arr, dt, device, requires_grad)


def _drawn(draw, shape, dt):
    """``draw(shape)`` (random samples from NumPy's generator) as ``dt``; inside
    numtorch.compile's capture the array is drawn afresh on every replay."""
    arr = draw(shape).astype(dt.np, copy=False)
    if _listen.capture is not None:
        _listen.capture.host_random(arr, lambda out: out.__setitem__(Ellipsis, draw(out.shape)))
    return arr


@op(method=False, kind="factory")
def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False):
    """Integers uniform in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randint(0, 10, (3,))
    >>> x.shape, x.dtype
    (torch.Size([3]), torch.int64)
    """
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' must be tuple of ints, not "
                        f"{type(size).__name__}")
    size = _size((size,), "randint")
    dt = D.to_dtype(dtype) if dtype is not None else D.int64
    arr = _drawn(lambda s: rng(generator).integers(low, high, size=s), size, dt)
    return _finish(arr, dt, device, requires_grad)


@op(method=False, kind="factory")
def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of ``0..n-1``.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> sorted(torch.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    dt = D.to_dtype(dtype) if dtype is not None else D.int64
    n, = _size((n,), "randperm", "n")
    if _listen.capture is not None:
        _listen.capture.graph_break("randperm")
    return _finish(rng(generator).permutation(n).astype(dt.np), dt, device, requires_grad)


@op(method=False, kind="factory")
def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    """Uniform [0, 1) samples shaped like ``input``.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.rand_like(torch.zeros(2, 2)).shape
    torch.Size([2, 2])
    """
    dt, dev = _like(input, dtype, device)
    return rand(*input.shape, dtype=dt, device=dev, requires_grad=requires_grad)


@op(method=False, kind="factory")
def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    """Standard normal samples shaped like ``input``.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.randn_like(torch.zeros(4)).shape
    torch.Size([4])
    """
    dt, dev = _like(input, dtype, device)
    return randn(*input.shape, dtype=dt, device=dev, requires_grad=requires_grad)


@op(method=False, kind="factory")
def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False):
    """Random integers in [low, high) shaped like ``input``.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.randint_like(torch.zeros(2, 2), 10).shape
    torch.Size([2, 2])
    """
    dt, dev = _like(input, dtype, device)
    return randint(low, high, tuple(input.shape), dtype=dt, device=dev)


@op(method=False, kind="factory")
def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None):
    """Normal samples with the given mean and std (tensors broadcast).

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.normal(0.0, 1.0, size=(2, 3)).shape
    torch.Size([2, 3])
    """
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        shape = ref.shape if size is None else size
        return randn(*shape, generator=generator, dtype=ref.dtype, device=ref.device) * std + mean
    return randn(*size, generator=generator, dtype=dtype, device=device) * std + mean


@op(method=False, kind="factory")
def bernoulli(input, p=None, *, generator=None):
    """1 with probability ``input`` (or ``p``), else 0.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.bernoulli(torch.tensor([0.0, 1.0, 1.0]))
    tensor([0., 1., 1.])
    """
    probs = input if p is None else full_like(input, p)
    u = rand(*input.shape, generator=generator, dtype=input.dtype if input.dtype.is_floating_point else None,
             device=input.device)
    return (u < probs).to(input.dtype)


@op(method=False, kind="factory")
def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Sample category indices from (unnormalised) row probabilities.

    >>> import numtorch as torch
    >>> _ = torch.manual_seed(0)
    >>> torch.multinomial(torch.tensor([0.0, 1.0, 0.0]), 2, replacement=True)
    tensor([1, 1])
    """
    p = input.detach().cpu().double().numpy()
    rows = p.reshape(-1, p.shape[-1])
    g = rng(generator)
    out = []
    for r in rows:
        if (r < 0).any() or not np.isfinite(r).all() or r.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > (r > 0).sum():
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        out.append(g.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum()))
    arr = np.array(out, dtype=np.int64).reshape(p.shape[:-1] + (num_samples,))
    return _finish(arr, D.int64, input.device, False)


# --- Tensor.new_*: factories that default to this tensor's dtype and device -------------------
@op(function=False, kind="factory")
def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """``tensor(data)`` with this tensor's dtype and device unless given.

    >>> import numtorch as torch
    >>> torch.zeros(1, dtype=torch.float64).new_tensor([1, 2])
    tensor([1., 2.], dtype=torch.float64)
    """
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad)


@op(function=False, kind="factory")
def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``full(size, fill_value)`` with this tensor's dtype and device unless given.

    >>> import numtorch as torch
    >>> torch.zeros(1).new_full((2,), 7)
    tensor([7., 7.])
    """
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad)


def _new_factory(factory):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return factory(*size, dtype=dtype or self.dtype, device=device or self.device,
                       requires_grad=requires_grad)
    method.__name__ = method.__qualname__ = "new_" + factory.__name__
    method.__doc__ = f"``{factory.__name__}(*size)`` with this tensor's dtype and device unless given."
    return op(function=False, kind="factory")(method)


for _f in (zeros, ones, empty):
    _new_factory(_f)
