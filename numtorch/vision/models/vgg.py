"""VGG 11/13/16/19, with and without batch norm (``torchvision.models.vgg``).

``features`` is one ``nn.Sequential`` numbered as torchvision numbers it (conv, [bn,] ReLU per
layer, a max-pool after each stage), so ``vgg16().features[:23]`` cuts at the same layer and
torchvision's checkpoints load with ``load_state_dict(strict=True)``.
"""
from ... import nn
from ._api import WeightsEnum, _imagenet, _load_weights, _override, _register_model

__all__ = ["VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG13_Weights",
           "VGG13_BN_Weights", "VGG16_Weights", "VGG16_BN_Weights", "VGG19_Weights",
           "VGG19_BN_Weights", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
           "vgg19", "vgg19_bn"]


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman, 2014): ``features``, a 7x7 adaptive average pool and a
    classifier of three linear layers (25088 -> 4096 -> 4096 -> ``num_classes``) with ReLU and
    ``dropout`` between them. Any input of at least 32x32 works.

    ``init_weights``: convolutions ``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` with
    zero bias, batch norms weight 1 bias 0, linear layers N(0, 0.01) with zero bias (False
    keeps PyTorch's layer defaults, e.g. before loading a checkpoint).

    >>> import numtorch as torch
    >>> from numtorch.vision.models.vgg import VGG, make_layers
    >>> features = make_layers([8, "M", 512, "M"])
    >>> features(torch.randn(1, 3, 32, 32)).shape
    torch.Size([1, 512, 8, 8])
    >>> net = VGG(features, num_classes=10).eval()  # 120M weights: seconds  # doctest: +SKIP
    >>> net(torch.randn(1, 3, 32, 32)).shape  # doctest: +SKIP
    torch.Size([1, 10])
    """

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def make_layers(cfg, batch_norm=False):
    """The ``features`` of a VGG from ``cfg``: an int is a 3x3 convolution (padding 1) to that
    many channels followed by [BatchNorm2d and] ReLU, ``"M"`` a 2x2 max-pool of stride 2.

    >>> from numtorch.vision.models.vgg import make_layers
    >>> make_layers([16, "M"], batch_norm=True)  # doctest: +NORMALIZE_WHITESPACE
    Sequential(
      (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
      (1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, bias=True,
                       track_running_stats=True)
      (2): ReLU(inplace=True)
      (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    )
    """
    layers = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


# Channels of each 3x3 convolution, "M" for a max-pool: the configurations A, B, D, E of the
# paper (11, 13, 16 and 19 weight layers).
_CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def _vgg(cfg, batch_norm, weights, progress, **kwargs):
    if weights is not None:
        kwargs["init_weights"] = False  # the checkpoint overwrites every tensor
        if weights.meta["num_classes"] is not None:
            _override(kwargs, "num_classes", weights.meta["num_classes"])
    model = VGG(make_layers(_CFGS[cfg], batch_norm=batch_norm), **kwargs)
    return model if weights is None else _load_weights(model, weights, progress)


def _vgg_imagenet(file_name, num_params, acc1, acc5, num_classes=1000):
    return _imagenet(file_name, num_params, acc1, acc5, min_size=(32, 32),
                     num_classes=num_classes)


class VGG11_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg11` (ImageNet-1K, acc@1 69.02).

    >>> from numtorch.vision.models import VGG11_Weights
    >>> VGG11_Weights.DEFAULT.url
    'https://download.pytorch.org/models/vgg11-8a719046.pth'
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg11-8a719046.pth", 132863336, 69.020, 88.628)
    DEFAULT = IMAGENET1K_V1


class VGG11_BN_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg11_bn` (ImageNet-1K, acc@1 70.37).

    >>> from numtorch.vision.models import VGG11_BN_Weights
    >>> VGG11_BN_Weights.DEFAULT.url
    'https://download.pytorch.org/models/vgg11_bn-6002323d.pth'
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg11_bn-6002323d.pth", 132868840, 70.370, 89.810)
    DEFAULT = IMAGENET1K_V1


class VGG13_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg13` (ImageNet-1K, acc@1 69.928).

    >>> from numtorch.vision.models import VGG13_Weights
    >>> VGG13_Weights.DEFAULT.url
    'https://download.pytorch.org/models/vgg13-19584684.pth'
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg13-19584684.pth", 133047848, 69.928, 89.246)
    DEFAULT = IMAGENET1K_V1


class VGG13_BN_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg13_bn` (ImageNet-1K, acc@1 71.586).

    >>> from numtorch.vision.models import VGG13_BN_Weights
    >>> VGG13_BN_Weights.DEFAULT.url
    'https://download.pytorch.org/models/vgg13_bn-abd245e5.pth'
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg13_bn-abd245e5.pth", 133053736, 71.586, 90.374)
    DEFAULT = IMAGENET1K_V1


class VGG16_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg16`: ImageNet-1K (acc@1 71.592), and
    ``IMAGENET1K_FEATURES`` (for the ``features`` only, as used in SSD; its classifier is not
    trained and ``num_classes`` is free).

    >>> from numtorch.vision.models import VGG16_Weights
    >>> VGG16_Weights.IMAGENET1K_FEATURES.meta["num_classes"] is None
    True
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg16-397923af.pth", 138357544, 71.592, 90.382)
    IMAGENET1K_FEATURES = _vgg_imagenet("vgg16_features-amdegroot-88682ab5.pth", 138357544,
                                        float("nan"), float("nan"), num_classes=None)
    DEFAULT = IMAGENET1K_V1


class VGG16_BN_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg16_bn` (ImageNet-1K, acc@1 73.36).

    >>> from numtorch.vision.models import VGG16_BN_Weights
    >>> VGG16_BN_Weights.DEFAULT.url
    'https://download.pytorch.org/models/vgg16_bn-6c64b313.pth'
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg16_bn-6c64b313.pth", 138365992, 73.360, 91.516)
    DEFAULT = IMAGENET1K_V1


class VGG19_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg19` (ImageNet-1K, acc@1 72.376).

    >>> from numtorch.vision.models import VGG19_Weights
    >>> VGG19_Weights.DEFAULT.url
    'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth'
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg19-dcbb9e9d.pth", 143667240, 72.376, 90.876)
    DEFAULT = IMAGENET1K_V1


class VGG19_BN_Weights(WeightsEnum):
    """Pretrained weights for :func:`vgg19_bn` (ImageNet-1K, acc@1 74.218).

    >>> from numtorch.vision.models import VGG19_BN_Weights
    >>> VGG19_BN_Weights.DEFAULT.url
    'https://download.pytorch.org/models/vgg19_bn-c79401a0.pth'
    """
    IMAGENET1K_V1 = _vgg_imagenet("vgg19_bn-c79401a0.pth", 143678248, 74.218, 91.842)
    DEFAULT = IMAGENET1K_V1


@_register_model(VGG11_Weights)
def vgg11(*, weights=None, progress=True, **kwargs):
    """VGG-11 (configuration A: 8 convolutions, 3 linear layers).

    ``weights``: None (random initialisation), a :class:`VGG11_Weights` member or its name
    (``"DEFAULT"``), downloaded through :mod:`numtorch.hub`; ``progress``: show the download's
    progress bar; ``kwargs`` go to :class:`VGG` (``num_classes``, ``dropout``,
    ``init_weights``; ``num_classes`` must match the weights' when weights are given: ValueError
    otherwise). The deprecated ``pretrained=True`` means the default weights. Every VGG has
    over 130M parameters (most in the classifier): building one takes a few seconds.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg11).DEFAULT
    VGG11_Weights.IMAGENET1K_V1
    >>> net = models.vgg11(weights="DEFAULT")  # doctest: +SKIP
    """
    weights = VGG11_Weights.verify(weights)
    return _vgg("A", False, weights, progress, **kwargs)


@_register_model(VGG11_BN_Weights)
def vgg11_bn(*, weights=None, progress=True, **kwargs):
    """VGG-11 with batch norm after each convolution; arguments as :func:`vgg11`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg11_bn).DEFAULT
    VGG11_BN_Weights.IMAGENET1K_V1
    >>> len(models.vgg11_bn().features)  # doctest: +SKIP
    29
    """
    weights = VGG11_BN_Weights.verify(weights)
    return _vgg("A", True, weights, progress, **kwargs)


@_register_model(VGG13_Weights)
def vgg13(*, weights=None, progress=True, **kwargs):
    """VGG-13 (configuration B: 10 convolutions); arguments as :func:`vgg11`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg13).DEFAULT
    VGG13_Weights.IMAGENET1K_V1
    >>> len(models.vgg13().features)  # doctest: +SKIP
    25
    """
    weights = VGG13_Weights.verify(weights)
    return _vgg("B", False, weights, progress, **kwargs)


@_register_model(VGG13_BN_Weights)
def vgg13_bn(*, weights=None, progress=True, **kwargs):
    """VGG-13 with batch norm; arguments as :func:`vgg11`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg13_bn).DEFAULT
    VGG13_BN_Weights.IMAGENET1K_V1
    >>> len(models.vgg13_bn().features)  # doctest: +SKIP
    35
    """
    weights = VGG13_BN_Weights.verify(weights)
    return _vgg("B", True, weights, progress, **kwargs)


@_register_model(VGG16_Weights)
def vgg16(*, weights=None, progress=True, **kwargs):
    """VGG-16 (configuration D: 13 convolutions); arguments as :func:`vgg11`.

    ``vgg16(weights=VGG16_Weights.IMAGENET1K_V1).features`` is the usual perceptual-loss
    network (its layers 3, 8, 15 and 22 are relu1_2, relu2_2, relu3_3 and relu4_3).

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg16).DEFAULT
    VGG16_Weights.IMAGENET1K_V1
    >>> weights = models.VGG16_Weights.IMAGENET1K_V1
    >>> features = models.vgg16(weights=weights).features  # doctest: +SKIP
    >>> features[22]  # doctest: +SKIP
    ReLU(inplace=True)
    """
    weights = VGG16_Weights.verify(weights)
    return _vgg("D", False, weights, progress, **kwargs)


@_register_model(VGG16_BN_Weights)
def vgg16_bn(*, weights=None, progress=True, **kwargs):
    """VGG-16 with batch norm; arguments as :func:`vgg11`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg16_bn).DEFAULT
    VGG16_BN_Weights.IMAGENET1K_V1
    >>> len(models.vgg16_bn().features)  # doctest: +SKIP
    44
    """
    weights = VGG16_BN_Weights.verify(weights)
    return _vgg("D", True, weights, progress, **kwargs)


@_register_model(VGG19_Weights)
def vgg19(*, weights=None, progress=True, **kwargs):
    """VGG-19 (configuration E: 16 convolutions); arguments as :func:`vgg11`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg19).DEFAULT
    VGG19_Weights.IMAGENET1K_V1
    >>> len(models.vgg19().features)  # doctest: +SKIP
    37
    """
    weights = VGG19_Weights.verify(weights)
    return _vgg("E", False, weights, progress, **kwargs)


@_register_model(VGG19_BN_Weights)
def vgg19_bn(*, weights=None, progress=True, **kwargs):
    """VGG-19 with batch norm; arguments as :func:`vgg11`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.vgg19_bn).DEFAULT
    VGG19_BN_Weights.IMAGENET1K_V1
    >>> len(models.vgg19_bn().features)  # doctest: +SKIP
    53
    """
    weights = VGG19_BN_Weights.verify(weights)
    return _vgg("E", True, weights, progress, **kwargs)

