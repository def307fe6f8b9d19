"""Pooling layers over the fused pooling primitives and the pooling composites (adaptive max,
power-average, unpooling)."""
from .. import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "MaxUnpool1d", "MaxUnpool2d",
           "MaxUnpool3d"]


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Module form of ``F.max_pool1d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.MaxPool1d(2)(torch.tensor([[[1.0, 3.0, 2.0, 4.0]]]))
    tensor([[[3., 4.]]])
    """
    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """Max over windows; ``stride`` defaults to ``kernel_size``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.MaxPool2d(2)(torch.arange(16.0).reshape(1, 1, 4, 4))
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class _AvgPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Module form of ``F.avg_pool1d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AvgPool1d(2)(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]))
    tensor([[[1.5000, 3.5000]]])
    """
    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Module form of ``F.avg_pool2d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AvgPool2d(2)(torch.arange(16.0).reshape(1, 1, 4, 4))
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool2d(Module):
    """Module form of ``F.adaptive_avg_pool2d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AdaptiveAvgPool2d(1)(torch.ones(1, 3, 4, 4)).shape
    torch.Size([1, 3, 1, 1])
    """
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Module form of ``F.adaptive_avg_pool1d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AdaptiveAvgPool1d(2)(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]))
    tensor([[[1.5000, 3.5000]]])
    """
    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """Module form of ``F.adaptive_avg_pool3d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AdaptiveAvgPool3d(1)(torch.ones(1, 3, 2, 4, 4)).shape
    torch.Size([1, 3, 1, 1, 1])
    """
    def forward(self, input):
        return F.adaptive_avg_pool3d(input, self.output_size)


class _AdaptiveMaxPoolNd(Module):
    _fn = None

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return type(self)._fn(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Module form of ``F.adaptive_max_pool1d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AdaptiveMaxPool1d(2)(torch.tensor([[[1.0, 3.0, 2.0, 0.0, 5.0]]]))
    tensor([[[3., 5.]]])
    """
    _fn = F.adaptive_max_pool1d


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Module form of ``F.adaptive_max_pool2d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> values, indices = nn.AdaptiveMaxPool2d(1, return_indices=True)(torch.ones(1, 2, 3, 3))
    >>> values.shape, indices.flatten()
    (torch.Size([1, 2, 1, 1]), tensor([0, 0]))
    """
    _fn = F.adaptive_max_pool2d


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Module form of ``F.adaptive_max_pool3d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AdaptiveMaxPool3d((1, 2, 2))(torch.ones(1, 2, 3, 4, 4)).shape
    torch.Size([1, 2, 1, 2, 2])
    """
    _fn = F.adaptive_max_pool3d


class _LPPoolNd(Module):
    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Module form of ``F.lp_pool1d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.LPPool1d(2, 2)(torch.tensor([[[3.0, 4.0]]]))
    tensor([[[5.]]])
    """
    def forward(self, input):
        return F.lp_pool1d(input, float(self.norm_type), self.kernel_size, self.stride,
                           self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """Module form of ``F.lp_pool2d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.LPPool2d(1, 2)(torch.ones(1, 1, 4, 4)).shape
    torch.Size([1, 1, 2, 2])
    """
    def forward(self, input):
        return F.lp_pool2d(input, float(self.norm_type), self.kernel_size, self.stride,
                           self.ceil_mode)


class _MaxUnpoolNd(Module):
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()

        def tup(v):
            return tuple(v) if isinstance(v, (list, tuple)) else (v,) * self._nd
        self.kernel_size = tup(kernel_size)
        self.stride = tup(stride if stride is not None else kernel_size)
        self.padding = tup(padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Module form of ``F.max_unpool1d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> y, i = nn.MaxPool1d(2, return_indices=True)(torch.tensor([[[1.0, 3.0, 4.0, 2.0]]]))
    >>> nn.MaxUnpool1d(2)(y, i)
    tensor([[[0., 3., 4., 0.]]])
    """
    _nd = 1

    def forward(self, input, indices, output_size=None):
        return F.max_unpool1d(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)


class MaxUnpool2d(_MaxUnpoolNd):
    """Module form of ``F.max_unpool2d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> y, i = nn.MaxPool2d(2, return_indices=True)(torch.arange(16.0).reshape(1, 1, 4, 4))
    >>> nn.MaxUnpool2d(2)(y, i).shape
    torch.Size([1, 1, 4, 4])
    """
    _nd = 2

    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)


class MaxUnpool3d(_MaxUnpoolNd):
    """Module form of ``F.max_unpool3d``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.MaxUnpool3d(2)(torch.ones(1, 1, 1, 1, 1), torch.tensor([[[[[0]]]]])).shape
    torch.Size([1, 1, 2, 2, 2])
    """
    _nd = 3

    def forward(self, input, indices, output_size=None):
        return F.max_unpool3d(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)
