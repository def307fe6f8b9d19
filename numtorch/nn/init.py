"""Parameter initialisation (PyTorch's ``nn.init``): in place, outside autograd."""
import math
import warnings

from ..autograd.grad_mode import no_grad
from .. import _creation as C

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
           "zeros_", "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.init.calculate_gain('relu'), nn.init.calculate_gain('tanh')
    (1.4142135623730951, 1.6666666666666667)
    """
    linear = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d"]
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> w = nn.init.uniform_(torch.empty(3, 4), -1.0, 1.0)
    >>> w.shape, bool((w.abs() <= 1).all())
    (torch.Size([3, 4]), True)
    """
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> nn.init.normal_(torch.empty(3, 4), std=0.02).shape
    torch.Size([3, 4])
    """
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b] (inverse-CDF method, as PyTorch).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> w = nn.init.trunc_normal_(torch.empty(100), a=-1.0, b=1.0)
    >>> bool((w.abs() <= 1).all())
    True
    """
    def cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_.")
    with no_grad():
        lo, hi = cdf((a - mean) / std), cdf((b - mean) / std)
        u = C.rand(*tensor.shape, generator=generator, dtype=tensor.dtype) * (2 * hi - 2 * lo) + (2 * lo - 1)
        u = u.clamp(-1 + 1e-7, 1 - 1e-7)
        # erfinv through Newton steps on erf (numtorch has no erfinv kernel)
        y = u * 0.8862269254527580  # sqrt(pi)/2 * u, a start close for |u| < 0.9
        for _ in range(30):
            y = y - (y.erf() - u) / (1.1283791670955126 * (-(y * y)).exp())
        return tensor.copy_((y * (std * math.sqrt(2.0)) + mean).clamp(a, b))


def constant_(tensor, val):
    """Fill ``tensor`` with ``val`` in place (and return it).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.init.constant_(torch.empty(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    """Fill ``tensor`` with ones in place.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.init.ones_(torch.empty(2))
    tensor([1., 1.])
    """
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill ``tensor`` with zeros in place.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.init.zeros_(torch.empty(2))
    tensor([0., 0.])
    """
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fill the 2-D ``tensor`` with the identity matrix in place.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.init.eye_(torch.empty(2, 3))
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        return tensor.copy_(C.eye(*tensor.shape, dtype=tensor.dtype))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> w = nn.init.xavier_uniform_(torch.empty(4, 2))
    >>> bool((w.abs() <= 1.0).all())
    True
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot initialisation, normal: std = gain * sqrt(2 / (fan_in + fan_out)).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> nn.init.xavier_normal_(torch.empty(4, 2)).shape
    torch.Size([4, 2])
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He initialisation, uniform: bound = gain * sqrt(3 / fan).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> w = nn.init.kaiming_uniform_(torch.empty(2, 6), nonlinearity='relu')
    >>> bool((w.abs() <= 1.0).all())
    True
    """
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op")
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He initialisation, normal: std = gain / sqrt(fan).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> nn.init.kaiming_normal_(torch.empty(2, 6), nonlinearity='relu').shape
    torch.Size([2, 6])
    """
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op")
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix from the QR of a Gaussian one (sign-corrected).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> w = nn.init.orthogonal_(torch.empty(3, 3))
    >>> torch.allclose(w @ w.t(), torch.eye(3), atol=1e-5)
    True
    """
    import numpy as np
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = C.randn(rows, cols, generator=generator, dtype=tensor.dtype).numpy().astype(np.float64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)  # a factorisation of an initial value, not a model computation
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    with no_grad():
        return tensor.copy_(C.tensor(q.reshape(tuple(tensor.shape)) * gain, dtype=tensor.dtype))


def _reset_weight_and_bias(weight, bias):
    """PyTorch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)) on the weight (which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))) and the same bound for the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)


# old names
uniform, normal, constant = uniform_, normal_, constant_
xavier_uniform, xavier_normal = xavier_uniform_, xavier_normal_
kaiming_uniform, kaiming_normal = kaiming_uniform_, kaiming_normal_
