"""Dropout layers: active in training mode only."""
from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout"]


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p (scaling the rest by 1/(1-p)) in training.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> drop = nn.Dropout(0.5).eval()
    >>> drop(torch.ones(3))
    tensor([1., 1., 1.])
    """

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels with probability p in training.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> nn.Dropout2d(0.5)(torch.ones(1, 3, 2, 2)).shape
    torch.Size([1, 3, 2, 2])
    """

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability p in training.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> _ = torch.manual_seed(0)
    >>> nn.Dropout1d(0.5)(torch.ones(2, 3, 4)).shape
    torch.Size([2, 3, 4])
    """

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.Dropout3d(0.5).eval()(torch.ones(1, 2, 1, 1, 1)).flatten()
    tensor([1., 1.])
    """

    def forward(self, input):
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps SELU's self-normalisation (mean 0, variance 1) in training.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.AlphaDropout(0.2).eval()(torch.ones(3))
    tensor([1., 1., 1.])
    """

    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """:class:`AlphaDropout` of whole channels of (N, C, *).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> nn.FeatureAlphaDropout(0.2).eval()(torch.ones(1, 2, 2)).shape
    torch.Size([1, 2, 2])
    """

    def forward(self, input):
        return F.feature_alpha_dropout(input, self.p, self.training)
