"""``numtorch.vision``: torchvision's ``datasets`` (MNIST, FashionMNIST) and ``transforms``.

PIL is not a dependency: images are NumPy ``uint8`` arrays (H, W) or (H, W, C) where
torchvision would hand out PIL images; ``transforms.ToTensor`` accepts both.

>>> from numtorch.vision import transforms
>>> import numpy as np
>>> transforms.ToTensor()(np.full((2, 2), 255, np.uint8)).shape
torch.Size([1, 2, 2])
"""
from . import datasets, transforms  # noqa: F401
