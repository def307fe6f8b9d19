"""dtypes and PyTorch's type promotion."""
import builtins as _b

import ml_dtypes
import numpy as np

__all__ = ["dtype", "float16", "bfloat16", "float32", "float64", "int64", "int32", "int16", "int8", "uint8",
           "bool", "half", "float", "double", "long", "int", "short", "get_default_dtype",
           "set_default_dtype", "promote_types", "result_type", "can_cast"]

_BOOL, _INT, _FLOAT = 0, 1, 2


class dtype:
    """A tensor element type, e.g. ``numtorch.float32``.

    >>> import numtorch as torch
    >>> torch.tensor([1, 2]).dtype
    torch.int64
    """

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "_cat", "_storage")

    def __init__(self, name, npdtype, cat):
        self.name = name
        # a storage-only dtype: Numba has no arithmetic for it on the CPU, so ops convert it to
        # float32, compute, and round the result back (float16, bfloat16)
        self._storage = name in ("float16", "bfloat16")
        self.np = np.dtype(npdtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = cat == _FLOAT
        self.is_signed = cat == _FLOAT or (cat == _INT and self.np.kind == "i")
        self._cat = cat

    @property
    def is_complex(self):
        return False

    def __repr__(self):
        # PyTorch prints torch.float32; users swap the import, so their doctests keep working
        return "torch." + self.name

    def __reduce__(self):
        return (_by_name.__getitem__, (self.name,))

    def to_real(self):
        return self


float16 = dtype("float16", np.float16, _FLOAT)
#: brain float: float32's exponent range in 16 bits (8-bit mantissa); NumPy's dtype from ml_dtypes
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, _FLOAT)
float32 = dtype("float32", np.float32, _FLOAT)
float64 = dtype("float64", np.float64, _FLOAT)
int64 = dtype("int64", np.int64, _INT)
int32 = dtype("int32", np.int32, _INT)
int16 = dtype("int16", np.int16, _INT)
int8 = dtype("int8", np.int8, _INT)
uint8 = dtype("uint8", np.uint8, _INT)
bool = dtype("bool", np.bool_, _BOOL)  # noqa: A001  (PyTorch's name)
half, float, double = float16, float32, float64  # noqa: A001
long, int, short = int64, int32, int16  # noqa: A001

_ALL = (float16, bfloat16, float32, float64, int64, int32, int16, int8, uint8, bool)
_by_name = {d.name: d for d in _ALL}
_by_np = {d.np: d for d in _ALL}

_default = [float32]


def get_default_dtype():
    """The dtype of float tensors created from Python floats (``float32`` unless changed).

    >>> import numtorch as torch
    >>> torch.get_default_dtype()
    torch.float32
    """
    return _default[0]


def set_default_dtype(d):
    """Set the default float dtype (``float32`` or ``float64``).

    >>> import numtorch as torch
    >>> torch.set_default_dtype(torch.float64)
    >>> torch.tensor([1.0]).dtype
    torch.float64
    >>> torch.set_default_dtype(torch.float32)
    """
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


def from_numpy(npdtype):
    """The numtorch dtype of a NumPy dtype; TypeError for unsupported ones."""
    try:
        return _by_np[np.dtype(npdtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(npdtype)}. The only supported types "
            "are: float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and "
            "bool.") from None


def to_dtype(d):
    """Accept a numtorch dtype, a NumPy dtype/type or a name ('float32')."""
    if isinstance(d, dtype):
        return d
    if isinstance(d, str):
        try:
            return _by_name[d.replace("torch.", "")]
        except KeyError:
            raise TypeError(f"unknown dtype {d!r}") from None
    if d is _b.float:
        return float64
    if d is _b.int:
        return int64
    if d is _b.bool:
        return bool
    return from_numpy(d)


def _int_promote(a, b):
    au, bu = a.np.kind == "u", b.np.kind == "u"
    if au == bu:
        return a if a.itemsize >= b.itemsize else b
    u, s = (a, b) if au else (b, a)
    if s.itemsize > u.itemsize:
        return s
    return {1: int16, 2: int32, 4: int64}.get(s.itemsize, int64)  # uint8 + int8 -> int16


def _promote(a, b):
    if a is b:
        return a
    if a._cat != b._cat:
        hi, lo = (a, b) if a._cat > b._cat else (b, a)
        return hi  # bool < int < float: the higher category wins whole
    if a._cat == _FLOAT:
        if a.itemsize == b.itemsize:  # float16 and bfloat16: neither holds the other
            return float32
        return a if a.itemsize >= b.itemsize else b
    if a._cat == _BOOL:
        return a
    return _int_promote(a, b)


_table = {(a, b): _promote(a, b) for a in _ALL for b in _ALL}


def promote_types(a, b):
    """The smallest dtype both ``a`` and ``b`` convert to (PyTorch's table).

    >>> import numtorch as torch
    >>> torch.promote_types(torch.int32, torch.float32)
    torch.float32
    """
    return _table[(a, b)]


def _combine(higher, lower):
    # torch's combine_categories: a lower-priority group only matters if it is of a higher kind
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.is_floating_point:
        return higher
    if higher is bool or lower.is_floating_point:
        return _table[(higher, lower)]
    return higher


def scalar_dtype(x):
    """dtype a Python scalar stands for in promotion (bool, int64, or the default float)."""
    if isinstance(x, _b.bool):
        return bool
    if isinstance(x, _b.int):
        return int64
    return _default[0]


def result_type(*args):
    """PyTorch's result dtype for tensors (dimensioned beat 0-d) and Python scalars."""
    dim = zero = wrapped = None
    for x in args:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dim = d if dim is None else _table[(dim, d)]
            else:
                zero = d if zero is None else _table[(zero, d)]
        else:
            d = scalar_dtype(x)
            wrapped = d if wrapped is None else _table[(wrapped, d)]
    return _combine(dim, _combine(zero, wrapped))


def can_cast(from_, to):
    """True if PyTorch allows casting ``from_`` to ``to`` in in-place ops (no kind demotion).

    >>> import numtorch as torch
    >>> torch.can_cast(torch.float64, torch.float32), torch.can_cast(torch.float32, torch.int32)
    (True, False)
    """
    return from_._cat <= to._cat
