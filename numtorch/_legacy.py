"""PyTorch's legacy tensor types: ``torch.FloatTensor(2, 3)``, ``torch.LongTensor([1, 2])``,
``isinstance(x, torch.FloatTensor)``, ``x.type(torch.DoubleTensor)``.

Each is a class whose call makes a CPU :class:`Tensor` of its dtype (through the legacy
``Tensor(*sizes)`` / ``Tensor(data)`` constructor) and whose ``isinstance`` check asks for that
dtype on the CPU, as PyTorch's tensor types do.
"""
from . import _dtype as D
from ._tensor import Tensor


class _LegacyTensorType(type):
    def __call__(cls, *args, device=None):
        if device is not None and str(device) != "cpu":
            raise RuntimeError(f"legacy constructor expects device type: cpu but device type: "
                               f"{device} was passed")
        return Tensor(*args, dtype=cls.dtype)

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and obj.device.type == "cpu"

    def __repr__(cls):
        return f"<class 'torch.{cls.__name__}'>"


def _legacy(name, dtype):
    doc = f"""CPU tensors of dtype ``{dtype}``: ``{name}(*sizes)`` (uninitialised) or
    ``{name}(data)``.

    >>> import numtorch as torch
    >>> torch.{name}([1, 2]).dtype, isinstance(torch.{name}(2), torch.{name})
    ({dtype}, True)
    """
    return _LegacyTensorType(name, (), {"dtype": dtype, "__doc__": doc, "__module__": "numtorch"})


FloatTensor = _legacy("FloatTensor", D.float32)
DoubleTensor = _legacy("DoubleTensor", D.float64)
HalfTensor = _legacy("HalfTensor", D.float16)
LongTensor = _legacy("LongTensor", D.int64)
IntTensor = _legacy("IntTensor", D.int32)
ShortTensor = _legacy("ShortTensor", D.int16)
CharTensor = _legacy("CharTensor", D.int8)
ByteTensor = _legacy("ByteTensor", D.uint8)
BoolTensor = _legacy("BoolTensor", D.bool)
