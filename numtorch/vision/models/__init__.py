"""``numtorch.vision.models``: torchvision's model builders (ResNet, VGG) and weights.

>>> from numtorch.vision import models
>>> net = models.resnet18(num_classes=10)
>>> models.list_models(models)[:3]
['resnet101', 'resnet152', 'resnet18']
"""
from ._api import Weights, WeightsEnum, get_model, get_model_builder, get_model_weights, \
    get_weight, list_models
from .resnet import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
