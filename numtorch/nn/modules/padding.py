"""Padding layers: reflection, replication, zero, constant and circular padding of the last 1, 2
or 3 dims, each a thin layer over ``F.pad``."""
from .. import functional as F
from .module import Module

__all__ = ["ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
           "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
           "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "CircularPad1d", "CircularPad2d",
           "CircularPad3d"]


class _PadNd(Module):
    """``padding``: an int (every side) or a tuple (left, right, top, bottom, front, back)."""
    _mode = "constant"
    _nd = 1

    def __init__(self, padding):
        super().__init__()
        if isinstance(padding, (list, tuple)):
            self.padding = tuple(padding)
        else:
            self.padding = (int(padding),) * (2 * self._nd)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input):
        if input.dim() not in (self._nd + 1, self._nd + 2):
            raise ValueError(f"expected {self._nd + 1}D or {self._nd + 2}D input (got "
                             f"{input.dim()}D input)")
        return F.pad(input, self.padding, "circular")


class ReflectionPad1d(_PadNd):
    """Reflection padding of the last 1 dim of (N, C, W) or (C, W):
    the input mirrored at its borders, the edge not repeated.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ReflectionPad1d(2)(torch.tensor([[0.0, 1.0, 2.0]]))
    tensor([[2., 1., 0., 1., 2., 1., 0.]])
    """
    _mode = "reflect"
    _nd = 1


class ReflectionPad2d(_PadNd):
    """Reflection padding of the last 2 dims of (N, C, H, W) or (C, H, W):
    the input mirrored at its borders, the edge not repeated.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ReflectionPad2d(1)(torch.zeros(1, 2, 3, 4)).shape
    torch.Size([1, 2, 5, 6])
    """
    _mode = "reflect"
    _nd = 2


class ReflectionPad3d(_PadNd):
    """Reflection padding of the last 3 dims of (N, C, D, H, W) or (C, D, H, W):
    the input mirrored at its borders, the edge not repeated.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ReflectionPad3d(1)(torch.zeros(1, 2, 3, 4, 5)).shape
    torch.Size([1, 2, 5, 6, 7])
    """
    _mode = "reflect"
    _nd = 3


class ReplicationPad1d(_PadNd):
    """Replication padding of the last 1 dim of (N, C, W) or (C, W): the border values repeated.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ReplicationPad1d((1, 2))(torch.tensor([[0.0, 1.0]]))
    tensor([[0., 0., 1., 1., 1.]])
    """
    _mode = "replicate"
    _nd = 1


class ReplicationPad2d(_PadNd):
    """Replication padding of the last 2 dims of (N, C, H, W) or (C, H, W):
    the border values repeated.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ReplicationPad2d(1)(torch.zeros(1, 2, 3, 4)).shape
    torch.Size([1, 2, 5, 6])
    """
    _mode = "replicate"
    _nd = 2


class ReplicationPad3d(_PadNd):
    """Replication padding of the last 3 dims of (N, C, D, H, W) or (C, D, H, W):
    the border values repeated.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ReplicationPad3d(1)(torch.zeros(1, 2, 3, 4, 5)).shape
    torch.Size([1, 2, 5, 6, 7])
    """
    _mode = "replicate"
    _nd = 3


class ZeroPad1d(_ZeroPadNd):
    """Zero padding of the last 1 dim of (N, C, W) or (C, W): zeros.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ZeroPad1d((1, 0))(torch.tensor([[1.0, 2.0]]))
    tensor([[0., 1., 2.]])
    """
    _nd = 1


class ZeroPad2d(_ZeroPadNd):
    """Zero padding of the last 2 dims of (N, C, H, W) or (C, H, W): zeros.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ZeroPad2d(1)(torch.zeros(1, 2, 3, 4)).shape
    torch.Size([1, 2, 5, 6])
    """
    _nd = 2


class ZeroPad3d(_ZeroPadNd):
    """Zero padding of the last 3 dims of (N, C, D, H, W) or (C, D, H, W): zeros.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ZeroPad3d(1)(torch.zeros(1, 2, 3, 4, 5)).shape
    torch.Size([1, 2, 5, 6, 7])
    """
    _nd = 3


class ConstantPad1d(_ConstantPadNd):
    """Constant padding of the last 1 dim of (N, C, W) or (C, W): a constant ``value``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ConstantPad1d(1, 3.5)(torch.tensor([[1.0]]))
    tensor([[3.5000, 1.0000, 3.5000]])
    """
    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Constant padding of the last 2 dims of (N, C, H, W) or (C, H, W): a constant ``value``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ConstantPad2d(1, 2.0)(torch.zeros(1, 2, 3, 4)).shape
    torch.Size([1, 2, 5, 6])
    """
    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Constant padding of the last 3 dims of (N, C, D, H, W) or (C, D, H, W):
    a constant ``value``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.ConstantPad3d(1, 2.0)(torch.zeros(1, 2, 3, 4, 5)).shape
    torch.Size([1, 2, 5, 6, 7])
    """
    _nd = 3


class CircularPad1d(_CircularPadNd):
    """Circular padding of the last 1 dim of (N, C, W) or (C, W):
    the input wrapped around (periodic borders).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.CircularPad1d((1, 2))(torch.tensor([[0.0, 1.0, 2.0]]))
    tensor([[2., 0., 1., 2., 0., 1.]])
    """
    _nd = 1


class CircularPad2d(_CircularPadNd):
    """Circular padding of the last 2 dims of (N, C, H, W) or (C, H, W):
    the input wrapped around (periodic borders).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.CircularPad2d(1)(torch.zeros(1, 2, 3, 4)).shape
    torch.Size([1, 2, 5, 6])
    """
    _nd = 2


class CircularPad3d(_CircularPadNd):
    """Circular padding of the last 3 dims of (N, C, D, H, W) or (C, D, H, W):
    the input wrapped around (periodic borders).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.CircularPad3d(1)(torch.zeros(1, 2, 3, 4, 5)).shape
    torch.Size([1, 2, 5, 6, 7])
    """
    _nd = 3
