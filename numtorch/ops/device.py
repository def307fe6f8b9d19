"""Moving tensors between devices (the gradient moves back)."""
from ..autograd.function import Function
from .._tensor import Tensor


def _host_contiguous(t):
    """``t``'s data as a C-contiguous array on its own device (a copy kernel if strided)."""
    return t._data if t._data.flags.c_contiguous else t.contiguous()._data


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, device):
        ctx.device = x.device
        from .. import cuda
        src = _host_contiguous(x)
        if x.device.type == "cpu":                       # host -> device
            data = cuda._to_device(src, device)
        elif device.type == "cpu":                       # device -> host (synchronises)
            data = cuda._to_host(src)
        else:                                            # device -> device
            data = cuda._to_device(cuda._to_host(src), device)
        return Tensor._make(data, x.dtype, device)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.device), None
