"""torchvision-style transforms on NumPy images (H, W[, C], as PIL would be) and CHW tensors.

Randomness comes from numtorch's global generator, so ``numtorch.manual_seed`` fixes it.

>>> import numpy as np
>>> from numtorch.vision import transforms
>>> t = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
>>> t(np.zeros((28, 28), np.uint8)).min().item()
-1.0
"""
import numbers

import numpy as np

__all__ = ["Compose", "ToTensor", "PILToTensor", "Normalize", "Lambda", "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomCrop", "CenterCrop", "ConvertImageDtype"]


def _torch():
    import numtorch
    return numtorch


def _is_pil(img):
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(img, Image.Image)


def _as_hwc_array(pic):
    """A NumPy (H, W, C) view of a PIL image or a NumPy (H, W) / (H, W, C) array."""
    if _is_pil(pic):
        arr = np.asarray(pic)
        if pic.mode == "1":
            arr = arr.astype(np.uint8) * 255
    elif isinstance(pic, np.ndarray):
        arr = pic
    else:
        raise TypeError(f"pic should be a PIL Image or a NumPy ndarray. Got {type(pic)}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"pic should be 2 or 3 dimensional. Got {arr.ndim} dimensions.")
    return arr


class Compose:
    """Apply ``transforms`` one after another.

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> import numpy as np
    >>> t = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    >>> t(np.array([[0, 255]], dtype=np.uint8))
    tensor([[[-1.,  1.]]])
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def _batched(self, images):
        # only when every step is deterministic and batch-aware (datasets' fast path)
        if not self.transforms or not all(hasattr(t, "_batched") for t in self.transforms):
            return None
        for t in self.transforms:
            images = t._batched(images)
            if images is None:
                return None
        return images

    def __repr__(self):
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{self.__class__.__name__}({body}\n)"


class ToTensor:
    """A PIL image or NumPy (H, W[, C]) array -> tensor (C, H, W); uint8 is scaled to float32
    in [0, 1], other dtypes keep their values (torchvision's rule).

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> import numpy as np
    >>> x = transforms.ToTensor()(np.array([[0, 51, 255]], dtype=np.uint8))
    >>> x.shape, x.dtype, [round(v, 4) for v in x.flatten().tolist()]
    (torch.Size([1, 1, 3]), torch.float32, [0.0, 0.2, 1.0])
    """

    def __call__(self, pic):
        torch = _torch()
        if isinstance(pic, torch.Tensor):  # leniency: a uint8 HxW[xC] tensor, like an array
            pic = pic.numpy()
        arr = _as_hwc_array(pic)
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8)
        if arr.shape[2] == 1:  # (H, W, 1) is already (1, H, W) in memory: no transpose
            t = torch.from_numpy(np.ascontiguousarray(arr).reshape(1, *arr.shape[:2]))
        else:
            t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()
        if t.dtype == torch.uint8:
            return t.to(torch.get_default_dtype()).div(255)
        return t

    def _batched(self, images):
        """Many uint8 (H, W) images at once, (N, H, W) -> (N, 1, H, W): the same values."""
        torch = _torch()
        t = torch.from_numpy(np.ascontiguousarray(images)[:, None])
        return t.to(torch.get_default_dtype()).div(255)

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class PILToTensor:
    """A PIL image or NumPy (H, W[, C]) array -> tensor (C, H, W) of the same dtype.

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> import numpy as np
    >>> transforms.PILToTensor()(np.zeros((2, 3, 3), dtype=np.uint8)).shape
    torch.Size([3, 2, 3])
    """

    def __call__(self, pic):
        torch = _torch()
        return torch.from_numpy(np.ascontiguousarray(_as_hwc_array(pic))).permute(2, 0, 1).contiguous()

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class ConvertImageDtype:
    """Convert a tensor image's dtype, rescaling between integer ranges and [0, 1] floats.

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> transforms.ConvertImageDtype(torch.float32)(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    tensor([[[0., 1.]]])
    """

    def __init__(self, dtype):
        self.dtype = dtype

    def __call__(self, image):
        torch = _torch()
        if image.dtype == self.dtype:
            return image
        if image.dtype.is_floating_point:
            if self.dtype.is_floating_point:
                return image.to(self.dtype)
            hi = float(np.iinfo(self.dtype.np).max)
            return image.mul(hi + 1.0 - 1e-3).to(self.dtype)
        hi = float(np.iinfo(image.dtype.np).max)
        if self.dtype.is_floating_point:
            return image.to(self.dtype).div_(hi)
        raise NotImplementedError("integer-to-integer image conversion")

    def __repr__(self):
        return f"{self.__class__.__name__}(dtype={self.dtype})"


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel ``c`` of a float tensor (..., C, H, W).

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> transforms.Normalize(mean=[0.5], std=[0.25])(torch.tensor([[[0.0, 1.0]]]))
    tensor([[[-2.,  2.]]])
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        torch = _torch()
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"Input tensor should be a numtorch tensor. Got {type(tensor)}.")
        if not tensor.dtype.is_floating_point:
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.dim() < 3:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). "
                             f"Got tensor.size() = {tuple(tensor.shape)}")
        mean, std = self._constants(tensor.dtype, tensor.device)
        if self.inplace:
            return tensor.sub_(mean).div_(std)
        return tensor.sub(mean).div(std)

    def _batched(self, tensor):
        return self(tensor) if isinstance(tensor, _torch().Tensor) else None

    def _constants(self, dtype, device):
        # built once per dtype/device: this runs once per image in a training loop
        key = (dtype, str(device))
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            torch = _torch()
            mean = torch.as_tensor(self.mean, dtype=dtype, device=device)
            std = torch.as_tensor(self.std, dtype=dtype, device=device)
            if bool((std == 0).any()):
                raise ValueError(f"std evaluated to zero after conversion to {dtype}, "
                                 f"leading to division by zero.")
            cache[key] = (mean.view(-1, 1, 1) if mean.dim() == 1 else mean,
                          std.view(-1, 1, 1) if std.dim() == 1 else std)
        return cache[key]

    def __repr__(self):
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user function.

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> transforms.Lambda(lambda x: x * 2)(torch.tensor([1, 2]))
    tensor([2, 4])
    """

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{self.__class__.__name__}()"


def _coin(p):
    return _torch().rand(1).item() < p


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p`` (tensors: last dim; NumPy images: axis 1).

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> transforms.RandomHorizontalFlip(p=1.0)(torch.tensor([[[1, 2, 3]]]))
    tensor([[[3, 2, 1]]])
    """

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if not _coin(self.p):
            return img
        if isinstance(img, np.ndarray):
            return np.ascontiguousarray(img[:, ::-1])
        return img.flip(-1)

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p`` (tensors: dim -2; NumPy images: axis 0).

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> transforms.RandomVerticalFlip(p=1.0)(torch.tensor([[[1], [2]]]))
    tensor([[[2],
             [1]]])
    """

    def __call__(self, img):
        if not _coin(self.p):
            return img
        if isinstance(img, np.ndarray):
            return np.ascontiguousarray(img[::-1])
        return img.flip(-2)


def _pair(size, name="size"):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name} should be an int or a sequence of 1 or 2 ints")
    return int(size[0]), int(size[1])


def _hw(img):
    return (img.shape[0], img.shape[1]) if isinstance(img, np.ndarray) else tuple(img.shape[-2:])


def _pad(img, left, top, right, bottom, fill=0, mode="constant"):
    """Pad the two spatial dims of a tensor (..., H, W) or a NumPy image (H, W[, C])."""
    if isinstance(img, np.ndarray):
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
        if mode == "constant":
            return np.pad(img, widths, mode="constant", constant_values=fill)
        return np.pad(img, widths, mode={"edge": "edge", "reflect": "reflect",
                                         "symmetric": "symmetric"}[mode])
    torch = _torch()
    h, w = img.shape[-2:]
    if mode != "constant":
        # reflection/edge padding is pure memory movement: do it on the NumPy view
        arr = img.detach().cpu().numpy()
        widths = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
        return torch.from_numpy(np.pad(arr, widths, mode=mode)).to(img.device)
    out = torch.full(tuple(img.shape[:-2]) + (h + top + bottom, w + left + right), fill,
                     dtype=img.dtype, device=img.device)
    out[..., top:top + h, left:left + w] = img
    return out


def _crop(img, i, j, h, w):
    if isinstance(img, np.ndarray):
        return np.ascontiguousarray(img[i:i + h, j:j + w])
    return img[..., i:i + h, j:j + w]


class RandomCrop:
    """Crop a random ``size`` window, after optional ``padding`` (int, (lr, tb) or
    (left, top, right, bottom)) filled with ``fill`` or by ``padding_mode``.

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> _ = torch.manual_seed(0)
    >>> transforms.RandomCrop(2, padding=1)(torch.ones(1, 4, 4)).shape
    torch.Size([1, 2, 2])
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _pair(size)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.padding_mode = padding_mode

    def _padding(self):
        p = self.padding
        if isinstance(p, numbers.Number):
            return int(p), int(p), int(p), int(p)
        if len(p) == 2:
            return int(p[0]), int(p[1]), int(p[0]), int(p[1])
        if len(p) == 4:
            return tuple(int(v) for v in p)
        raise ValueError("padding must be an int or a 2 or 4 element tuple")

    def __call__(self, img):
        torch = _torch()
        if self.padding is not None:
            img = _pad(img, *self._padding(), fill=self.fill, mode=self.padding_mode)
        h, w = _hw(img)
        th, tw = self.size
        if self.pad_if_needed and w < tw:
            img = _pad(img, tw - w, 0, tw - w, 0, fill=self.fill, mode=self.padding_mode)
        if self.pad_if_needed and h < th:
            img = _pad(img, 0, th - h, 0, th - h, fill=self.fill, mode=self.padding_mode)
        h, w = _hw(img)
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        i = int(torch.randint(0, h - th + 1, (1,)).item())
        j = int(torch.randint(0, w - tw + 1, (1,)).item())
        return _crop(img, i, j, th, tw)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class CenterCrop:
    """Crop the central ``size`` window.

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> img = torch.arange(16).reshape(1, 4, 4)
    >>> transforms.CenterCrop(2)(img)
    tensor([[[ 5,  6],
             [ 9, 10]]])
    """

    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, img):
        h, w = _hw(img)
        th, tw = self.size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        return _crop(img, int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)), th, tw)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size})"
