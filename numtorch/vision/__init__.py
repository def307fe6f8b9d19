"""``numtorch.vision``: numtorch's torchvision — ``datasets`` (MNIST, FashionMNIST, FakeData,
ImageFolder), ``transforms``, ``utils`` (make_grid, save_image) and ``models`` (ResNet, VGG).
A PyTorch program switches with ``import numtorch.vision as torchvision``.

Images are NumPy ``uint8`` arrays (H, W) or (H, W, C) where torchvision hands out PIL images;
the transforms take PIL images, such arrays and tensors alike. Pillow is optional (the
``vision`` extra): decoding files (ImageFolder), ``save_image`` and resizing NumPy images the
way Pillow does need it.

>>> from numtorch.vision import transforms
>>> import numpy as np
>>> transforms.ToTensor()(np.full((2, 2), 255, np.uint8)).shape
torch.Size([1, 2, 2])
"""
from . import datasets, models, transforms, utils  # noqa: F401
