"""Activation layers (thin wrappers over nn.functional)."""
from .. import functional as F
from .module import Module

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Softplus", "Hardtanh", "Mish", "Softmin", "Hardswish", "Hardsigmoid"]


class _Act(Module):
    fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self).fn(input, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_Act):
    """max(0, x); the gradient at 0 is 0 (PyTorch's convention).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.ReLU()
    >>> m(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([0., 0., 2.])
    """
    fn = staticmethod(F.relu)


class ReLU6(_Act):
    """Module form of ``F.relu6``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.ReLU6()
    >>> m(torch.tensor([-1.0, 3.0, 8.0]))
    tensor([0., 3., 6.])
    """
    fn = staticmethod(F.relu6)


class SiLU(_Act):
    """Module form of ``F.silu``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.SiLU()
    >>> m(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.2689,  0.0000,  1.7616])
    """
    fn = staticmethod(F.silu)


class Mish(_Act):
    """Module form of ``F.mish``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Mish()
    >>> m(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.3034,  0.0000,  1.9440])
    """
    fn = staticmethod(F.mish)


class Hardswish(_Act):
    """Module form of ``F.hardswish``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Hardswish()
    >>> m(torch.tensor([0.0, 1.0, 3.0]))
    tensor([0.0000, 0.6667, 3.0000])
    """
    fn = staticmethod(F.hardswish)


class Hardsigmoid(_Act):
    """Module form of ``F.hardsigmoid``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Hardsigmoid()
    >>> m(torch.tensor([-3.0, 0.0, 3.0]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    fn = staticmethod(F.hardsigmoid)


class Sigmoid(Module):
    """Module form of ``torch.sigmoid``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Sigmoid()
    >>> m(torch.tensor([0.0, 2.0]))
    tensor([0.5000, 0.8808])
    """
    def forward(self, input):
        return input.sigmoid()


class Tanh(Module):
    """Module form of ``torch.tanh``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Tanh()
    >>> m(torch.tensor([0.0, 100.0]))
    tensor([0., 1.])
    """
    def forward(self, input):
        return input.tanh()


class LeakyReLU(Module):
    """Module form of ``F.leaky_relu``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.LeakyReLU(0.1)
    >>> m(torch.tensor([-1.0, 2.0]))
    tensor([-0.1000,  2.0000])
    """
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """Module form of ``F.elu``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.ELU()
    >>> m(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.6321,  0.0000,  2.0000])
    """
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """GELU, exact (erf) or ``approximate='tanh'``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.GELU()
    >>> m(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.1587,  0.0000,  1.9545])
    """

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate='{self.approximate}'"


class Softplus(Module):
    """Module form of ``F.softplus``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Softplus()
    >>> m(torch.tensor([0.0]))
    tensor([0.6931])
    """
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """Module form of ``F.hardtanh``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Hardtanh()
    >>> m(torch.tensor([-2.0, 0.5, 2.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softmax(Module):
    """Module form of ``softmax`` along ``dim``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Softmax(dim=1)
    >>> m(torch.tensor([[0.0, 0.0]]))
    tensor([[0.5000, 0.5000]])
    """
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmin(Softmax):
    """Module form of ``F.softmin`` along ``dim``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Softmin(dim=0)
    >>> m(torch.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """
    def forward(self, input):
        return F.softmin(input, self.dim)


class LogSoftmax(Softmax):
    """Module form of ``log_softmax`` along ``dim``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.LogSoftmax(dim=0)
    >>> m(torch.tensor([0.0, 0.0]))
    tensor([-0.6931, -0.6931])
    """
    def forward(self, input):
        return F.log_softmax(input, self.dim)
