"""ResNet, ResNeXt and Wide ResNet (``torchvision.models.resnet``).

Module names, parameter and buffer names and shapes are torchvision's, so its checkpoints load
with ``load_state_dict(strict=True)`` and the pretrained weights it publishes can be used.
The bottleneck puts the stride on its 3x3 convolution (ResNet V1.5), as torchvision does.
"""
from ... import nn
from ._api import WeightsEnum, _imagenet, _load_weights, _override, _register_model

# as torchvision: the blocks and conv helpers are importable from this module, not exported
# by numtorch.vision.models
__all__ = ["ResNet", "ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights",
           "ResNet101_Weights", "ResNet152_Weights", "ResNeXt50_32X4D_Weights",
           "ResNeXt101_32X8D_Weights", "ResNeXt101_64X4D_Weights", "Wide_ResNet50_2_Weights",
           "Wide_ResNet101_2_Weights", "resnet18", "resnet34", "resnet50", "resnet101",
           "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
           "wide_resnet50_2", "wide_resnet101_2"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """A 3x3 convolution without bias, padded to keep the size (at stride 1).

    >>> from numtorch.vision.models.resnet import conv3x3
    >>> conv3x3(16, 32, stride=2)
    Conv2d(16, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)
    """
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """A 1x1 convolution without bias.

    >>> from numtorch.vision.models.resnet import conv1x1
    >>> conv1x1(16, 64)
    Conv2d(16, 64, kernel_size=(1, 1), stride=(1, 1), bias=False)
    """
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))) + x).

    ``downsample`` maps ``x`` to the output's shape when the stride or the width changes.
    The output has ``planes * BasicBlock.expansion`` (= ``planes``) channels.

    >>> import numtorch as torch
    >>> from numtorch.vision.models.resnet import BasicBlock
    >>> BasicBlock(8, 8)(torch.randn(1, 8, 5, 5)).shape
    torch.Size([1, 8, 5, 5])
    """
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (strided, grouped) -> 1x1 (expand) convolutions with a shortcut.

    The output has ``planes * Bottleneck.expansion`` (= ``4 * planes``) channels; the inner
    width is ``int(planes * base_width / 64) * groups`` (ResNeXt and Wide ResNet change it).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> from numtorch.vision.models.resnet import Bottleneck
    >>> block = Bottleneck(16, 4)
    >>> block(torch.randn(1, 16, 5, 5)).shape
    torch.Size([1, 16, 5, 5])
    """
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A residual network: a 7x7 stem, four stages of ``block`` (``layers[i]`` blocks each,
    64/128/256/512 planes, stride 2 from the second stage on), global average pooling and a
    linear classifier ``fc``.

    ``zero_init_residual``: start each block's last BatchNorm at weight 0, so every block begins
    as the identity. ``groups``/``width_per_group``: ResNeXt and Wide ResNet widths.
    ``replace_stride_with_dilation``: three bools, dilate stages 2-4 instead of striding.
    ``norm_layer``: the normalisation class (``nn.BatchNorm2d``).

    Initialisation: convolutions ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``,
    normalisation weights 1 and biases 0, ``fc`` PyTorch's default for ``nn.Linear``.

    >>> import numtorch as torch
    >>> from numtorch.vision.models.resnet import ResNet, BasicBlock
    >>> net = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, "
                             f"got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2,
                                       dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2,
                                       dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2,
                                       dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                last = (m.bn3 if isinstance(m, Bottleneck) else
                        m.bn2 if isinstance(m, BasicBlock) else None)
                if last is not None and last.weight is not None:
                    nn.init.constant_(last.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        """One stage: ``blocks`` blocks, the first one striding (or dilating) and widening."""
        norm_layer = self._norm_layer
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       norm_layer(planes * block.expansion))
        stage = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                       previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            stage.append(block(self.inplanes, planes, groups=self.groups,
                               base_width=self.base_width, dilation=self.dilation,
                               norm_layer=norm_layer))
        return nn.Sequential(*stage)

    def _forward_impl(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))

    def forward(self, x):
        return self._forward_impl(x)


def _resnet(block, layers, weights, progress, **kwargs):
    if weights is not None and weights.meta["num_classes"] is not None:
        _override(kwargs, "num_classes", weights.meta["num_classes"])
    model = ResNet(block, layers, **kwargs)
    return model if weights is None else _load_weights(model, weights, progress)


class ResNet18_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnet18` (ImageNet-1K, acc@1 69.758).

    >>> from numtorch.vision.models import ResNet18_Weights
    >>> ResNet18_Weights.DEFAULT.meta["num_params"]
    11689512
    """
    IMAGENET1K_V1 = _imagenet("resnet18-f37072fd.pth", 11689512, 69.758, 89.078)
    DEFAULT = IMAGENET1K_V1


class ResNet34_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnet34` (ImageNet-1K, acc@1 73.314).

    >>> from numtorch.vision.models import ResNet34_Weights
    >>> ResNet34_Weights.DEFAULT.url
    'https://download.pytorch.org/models/resnet34-b627a593.pth'
    """
    IMAGENET1K_V1 = _imagenet("resnet34-b627a593.pth", 21797672, 73.314, 91.420)
    DEFAULT = IMAGENET1K_V1


class ResNet50_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnet50`: V1 (acc@1 76.13) and V2 (80.858, the default).

    >>> from numtorch.vision.models import ResNet50_Weights
    >>> ResNet50_Weights.DEFAULT
    ResNet50_Weights.IMAGENET1K_V2
    """
    IMAGENET1K_V1 = _imagenet("resnet50-0676ba61.pth", 25557032, 76.130, 92.862)
    IMAGENET1K_V2 = _imagenet("resnet50-11ad3fa6.pth", 25557032, 80.858, 95.434)
    DEFAULT = IMAGENET1K_V2


class ResNet101_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnet101`: V1 (acc@1 77.374) and V2 (81.886, default).

    >>> from numtorch.vision.models import ResNet101_Weights
    >>> [w.name for w in ResNet101_Weights]
    ['IMAGENET1K_V1', 'IMAGENET1K_V2']
    """
    IMAGENET1K_V1 = _imagenet("resnet101-63fe2227.pth", 44549160, 77.374, 93.546)
    IMAGENET1K_V2 = _imagenet("resnet101-cd907fc2.pth", 44549160, 81.886, 95.780)
    DEFAULT = IMAGENET1K_V2


class ResNet152_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnet152`: V1 (acc@1 78.312) and V2 (82.284, default).

    >>> from numtorch.vision.models import ResNet152_Weights
    >>> ResNet152_Weights.DEFAULT.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    82.284
    """
    IMAGENET1K_V1 = _imagenet("resnet152-394f9c45.pth", 60192808, 78.312, 94.046)
    IMAGENET1K_V2 = _imagenet("resnet152-f82ba261.pth", 60192808, 82.284, 96.002)
    DEFAULT = IMAGENET1K_V2


class ResNeXt50_32X4D_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnext50_32x4d`: V1 (acc@1 77.618), V2 (81.198, default).

    >>> from numtorch.vision.models import ResNeXt50_32X4D_Weights
    >>> ResNeXt50_32X4D_Weights.DEFAULT
    ResNeXt50_32X4D_Weights.IMAGENET1K_V2
    """
    IMAGENET1K_V1 = _imagenet("resnext50_32x4d-7cdf4587.pth", 25028904, 77.618, 93.698)
    IMAGENET1K_V2 = _imagenet("resnext50_32x4d-1a0047aa.pth", 25028904, 81.198, 95.340)
    DEFAULT = IMAGENET1K_V2


class ResNeXt101_32X8D_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnext101_32x8d`: V1 (acc@1 79.312), V2 (82.834, default).

    >>> from numtorch.vision.models import ResNeXt101_32X8D_Weights
    >>> ResNeXt101_32X8D_Weights.DEFAULT
    ResNeXt101_32X8D_Weights.IMAGENET1K_V2
    """
    IMAGENET1K_V1 = _imagenet("resnext101_32x8d-8ba56ff5.pth", 88791336, 79.312, 94.526)
    IMAGENET1K_V2 = _imagenet("resnext101_32x8d-110c445d.pth", 88791336, 82.834, 96.228)
    DEFAULT = IMAGENET1K_V2


class ResNeXt101_64X4D_Weights(WeightsEnum):
    """Pretrained weights for :func:`resnext101_64x4d` (ImageNet-1K, acc@1 83.246).

    >>> from numtorch.vision.models import ResNeXt101_64X4D_Weights
    >>> ResNeXt101_64X4D_Weights.DEFAULT
    ResNeXt101_64X4D_Weights.IMAGENET1K_V1
    """
    IMAGENET1K_V1 = _imagenet("resnext101_64x4d-173b62eb.pth", 83455272, 83.246, 96.454)
    DEFAULT = IMAGENET1K_V1


class Wide_ResNet50_2_Weights(WeightsEnum):
    """Pretrained weights for :func:`wide_resnet50_2`: V1 (acc@1 78.468), V2 (81.602, default).

    >>> from numtorch.vision.models import Wide_ResNet50_2_Weights
    >>> Wide_ResNet50_2_Weights.DEFAULT
    Wide_ResNet50_2_Weights.IMAGENET1K_V2
    """
    IMAGENET1K_V1 = _imagenet("wide_resnet50_2-95faca4d.pth", 68883240, 78.468, 94.086)
    IMAGENET1K_V2 = _imagenet("wide_resnet50_2-9ba9bcbe.pth", 68883240, 81.602, 95.758)
    DEFAULT = IMAGENET1K_V2


class Wide_ResNet101_2_Weights(WeightsEnum):
    """Pretrained weights for :func:`wide_resnet101_2`: V1 (acc@1 78.848), V2 (82.51, default).

    >>> from numtorch.vision.models import Wide_ResNet101_2_Weights
    >>> Wide_ResNet101_2_Weights.DEFAULT
    Wide_ResNet101_2_Weights.IMAGENET1K_V2
    """
    IMAGENET1K_V1 = _imagenet("wide_resnet101_2-32ee1156.pth", 126886696, 78.848, 94.284)
    IMAGENET1K_V2 = _imagenet("wide_resnet101_2-d733dc28.pth", 126886696, 82.510, 96.020)
    DEFAULT = IMAGENET1K_V2


@_register_model(ResNet18_Weights)
def resnet18(*, weights=None, progress=True, **kwargs):
    """ResNet-18 (He et al., 2015): BasicBlocks [2, 2, 2, 2].

    ``weights``: None (random initialisation), a :class:`ResNet18_Weights` member or its name
    (``"DEFAULT"``), downloaded through :mod:`numtorch.hub`; ``progress``: show the download's
    progress bar; ``kwargs`` go to :class:`ResNet` (``num_classes`` must then match the
    weights: ValueError otherwise). The deprecated ``pretrained=True`` means the default weights.

    >>> import numtorch as torch
    >>> from numtorch.vision import models
    >>> net = models.resnet18(num_classes=10).eval()
    >>> net(torch.randn(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    >>> net = models.resnet18(weights=models.ResNet18_Weights.DEFAULT)  # doctest: +SKIP
    """
    weights = ResNet18_Weights.verify(weights)
    return _resnet(BasicBlock, [2, 2, 2, 2], weights, progress, **kwargs)


@_register_model(ResNet34_Weights)
def resnet34(*, weights=None, progress=True, **kwargs):
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; arguments as :func:`resnet18`.

    >>> from numtorch.vision import models
    >>> len(models.resnet34().layer3)
    6
    """
    weights = ResNet34_Weights.verify(weights)
    return _resnet(BasicBlock, [3, 4, 6, 3], weights, progress, **kwargs)


@_register_model(ResNet50_Weights)
def resnet50(*, weights=None, progress=True, **kwargs):
    """ResNet-50: Bottlenecks [3, 4, 6, 3]; arguments as :func:`resnet18`.

    >>> from numtorch.vision import models
    >>> models.resnet50().fc
    Linear(in_features=2048, out_features=1000, bias=True)
    """
    weights = ResNet50_Weights.verify(weights)
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


@_register_model(ResNet101_Weights)
def resnet101(*, weights=None, progress=True, **kwargs):
    """ResNet-101: Bottlenecks [3, 4, 23, 3]; arguments as :func:`resnet18`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.resnet101).DEFAULT
    ResNet101_Weights.IMAGENET1K_V2
    >>> len(models.resnet101().layer3)  # 44.5M parameters: a few seconds  # doctest: +SKIP
    23
    """
    weights = ResNet101_Weights.verify(weights)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


@_register_model(ResNet152_Weights)
def resnet152(*, weights=None, progress=True, **kwargs):
    """ResNet-152: Bottlenecks [3, 8, 36, 3]; arguments as :func:`resnet18`.

    >>> from numtorch.vision import models
    >>> models.get_model_weights(models.resnet152).DEFAULT
    ResNet152_Weights.IMAGENET1K_V2
    >>> len(models.resnet152().layer3)  # 60M parameters: a few seconds  # doctest: +SKIP
    36
    """
    weights = ResNet152_Weights.verify(weights)
    return _resnet(Bottleneck, [3, 8, 36, 3], weights, progress, **kwargs)


@_register_model(ResNeXt50_32X4D_Weights)
def resnext50_32x4d(*, weights=None, progress=True, **kwargs):
    """ResNeXt-50 32x4d (Xie et al., 2016): resnet50 with 32 groups of width 4.

    >>> from numtorch.vision import models
    >>> models.resnext50_32x4d().layer1[0].conv2.groups
    32
    """
    weights = ResNeXt50_32X4D_Weights.verify(weights)
    _override(kwargs, "groups", 32)
    _override(kwargs, "width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


@_register_model(ResNeXt101_32X8D_Weights)
def resnext101_32x8d(*, weights=None, progress=True, **kwargs):
    """ResNeXt-101 32x8d: resnet101 with 32 groups of width 8.

    >>> from numtorch.vision import models
    >>> models.get_model_weights("resnext101_32x8d").DEFAULT
    ResNeXt101_32X8D_Weights.IMAGENET1K_V2
    >>> models.resnext101_32x8d().layer1[0].conv2.out_channels  # doctest: +SKIP
    256
    """
    weights = ResNeXt101_32X8D_Weights.verify(weights)
    _override(kwargs, "groups", 32)
    _override(kwargs, "width_per_group", 8)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


@_register_model(ResNeXt101_64X4D_Weights)
def resnext101_64x4d(*, weights=None, progress=True, **kwargs):
    """ResNeXt-101 64x4d: resnet101 with 64 groups of width 4.

    >>> from numtorch.vision import models
    >>> models.get_model_weights("resnext101_64x4d").DEFAULT.meta["num_params"]
    83455272
    >>> models.resnext101_64x4d().layer1[0].conv2.groups  # doctest: +SKIP
    64
    """
    weights = ResNeXt101_64X4D_Weights.verify(weights)
    _override(kwargs, "groups", 64)
    _override(kwargs, "width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


@_register_model(Wide_ResNet50_2_Weights)
def wide_resnet50_2(*, weights=None, progress=True, **kwargs):
    """Wide ResNet-50-2 (Zagoruyko & Komodakis, 2016): resnet50 with bottlenecks twice as wide.

    >>> from numtorch.vision import models
    >>> models.get_model_weights("wide_resnet50_2").DEFAULT.meta["num_params"]
    68883240
    >>> models.wide_resnet50_2().layer1[0].conv2.out_channels  # doctest: +SKIP
    128
    """
    weights = Wide_ResNet50_2_Weights.verify(weights)
    _override(kwargs, "width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


@_register_model(Wide_ResNet101_2_Weights)
def wide_resnet101_2(*, weights=None, progress=True, **kwargs):
    """Wide ResNet-101-2: resnet101 with bottlenecks twice as wide.

    >>> from numtorch.vision import models
    >>> models.get_model_weights("wide_resnet101_2").DEFAULT.meta["num_params"]
    126886696
    >>> models.wide_resnet101_2().layer1[0].conv2.out_channels  # doctest: +SKIP
    128
    """
    weights = Wide_ResNet101_2_Weights.verify(weights)
    _override(kwargs, "width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)
