"""Activation layers (thin wrappers over nn.functional)."""
from ... import _creation as C
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Softplus", "Hardtanh", "Mish", "Softmin", "Hardswish", "Hardsigmoid",
           "PReLU", "RReLU", "Hardshrink", "Softshrink", "Threshold", "GLU", "CELU", "SELU",
           "Softsign", "Tanhshrink", "LogSigmoid", "Softmax2d"]


def _inplace_str(inplace):
    return ", inplace=True" if inplace else ""


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
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_str(self.inplace)


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


class SELU(_Act):
    """Module form of ``F.selu``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.SELU()
    >>> m(torch.tensor([0.0, 1.0]))
    tensor([0.0000, 1.0507])
    """
    fn = staticmethod(F.selu)


class CELU(Module):
    """Module form of ``F.celu``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.CELU(alpha=2.0)
    >>> m(torch.tensor([-1.0, 2.0]))
    tensor([-0.7869,  2.0000])
    """
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + _inplace_str(self.inplace)


class Threshold(Module):
    """Module form of ``F.threshold``: ``value`` where ``x <= threshold``, else ``x``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Threshold(1.0, -1.0)
    >>> m(torch.tensor([0.5, 2.0]))
    tensor([-1.,  2.])
    """
    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + _inplace_str(self.inplace)


class RReLU(Module):
    """Module form of ``F.rrelu``: random slopes in ``[lower, upper)`` while training, their
    mean in evaluation.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.RReLU(0.1, 0.3).eval()
    >>> m(torch.tensor([-1.0, 2.0]))
    tensor([-0.2000,  2.0000])
    """
    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + _inplace_str(self.inplace)


class PReLU(Module):
    """Leaky ReLU with learnable slopes: one for all channels (``num_parameters=1``) or one per
    channel (dim 1 of the input); the parameter ``weight`` starts at ``init``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.PReLU()
    >>> m(torch.tensor([-2.0, 2.0]))
    tensor([-0.5000,  2.0000], grad_fn=<WhereBackward0>)
    """
    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(C.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Hardshrink(Module):
    """Module form of ``F.hardshrink``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Hardshrink()
    >>> m(torch.tensor([-1.0, 0.3, 2.0]))
    tensor([-1.,  0.,  2.])
    """
    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """Module form of ``F.softshrink``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.Softshrink()
    >>> m(torch.tensor([-1.0, 0.3, 2.0]))
    tensor([-0.5000,  0.0000,  1.5000])
    """
    def forward(self, input):
        return F.softshrink(input, self.lambd)


class GLU(Module):
    """Module form of ``F.glu`` along ``dim``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> m = nn.GLU()
    >>> m(torch.tensor([1.0, 2.0, 0.0, 0.0]))
    tensor([0.5000, 1.0000])
    """
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softsign(Module):
    """Module form of ``F.softsign``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.Softsign()(torch.tensor([-1.0, 3.0]))
    tensor([-0.5000,  0.7500])
    """
    def forward(self, input):
        return F.softsign(input)


class Tanhshrink(Module):
    """Module form of ``F.tanhshrink``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.Tanhshrink()(torch.tensor([0.0]))
    tensor([0.])
    """
    def forward(self, input):
        return F.tanhshrink(input)


class LogSigmoid(Module):
    """Module form of ``F.logsigmoid``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.LogSigmoid()(torch.tensor([0.0]))
    tensor([-0.6931])
    """
    def forward(self, input):
        return F.logsigmoid(input)


class Softmax2d(Module):
    """Softmax over the channels (dim -3) of a (C, H, W) or (N, C, H, W) input.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.Softmax2d()(torch.zeros(1, 2, 1, 1)).flatten()
    tensor([0.5000, 0.5000])
    """
    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D instead")
        return F.softmax(input, -3)
