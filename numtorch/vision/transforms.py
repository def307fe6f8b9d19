"""torchvision-style transforms on PIL images, NumPy images (H, W[, C], as PIL would be) and
(..., C, H, W) tensors. Each kind of image comes back as the same kind.

Randomness comes from numtorch's global generator, so ``numtorch.manual_seed`` fixes it.

>>> import numpy as np
>>> from numtorch.vision import transforms
>>> t = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
>>> t(np.zeros((28, 28), np.uint8)).min().item()
-1.0
"""
import enum
import math
import numbers

import numpy as np

__all__ = ["Compose", "ToTensor", "PILToTensor", "ToPILImage", "Normalize", "Lambda",
           "RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "CenterCrop", "Resize",
           "RandomResizedCrop", "InterpolationMode", "ConvertImageDtype"]


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
        if _is_pil(img):
            return img.transpose(0)  # Image.Transpose.FLIP_LEFT_RIGHT
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
        if _is_pil(img):
            return img.transpose(1)  # Image.Transpose.FLIP_TOP_BOTTOM
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
    if _is_pil(img):
        return img.height, img.width
    return (img.shape[0], img.shape[1]) if isinstance(img, np.ndarray) else tuple(img.shape[-2:])


def _pil_like(arr, img):
    """A PIL image holding the array ``arr`` (H, W[, C]) made from ``img`` (palette kept)."""
    from PIL import Image
    out = Image.fromarray(arr)
    if img.mode == "P" and img.getpalette() is not None:
        out.putpalette(img.getpalette())
    return out


def _pad(img, left, top, right, bottom, fill=0, mode="constant"):
    """Pad the two spatial dims of a tensor (..., H, W), a NumPy image (H, W[, C]) or a PIL
    image."""
    if _is_pil(img):
        return _pil_like(_pad(np.asarray(img), left, top, right, bottom, fill, mode), img)
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
    if _is_pil(img):  # PIL fills what lies outside the image with zeros
        return img.crop((j, i, j + w, i + h))
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


def _center_crop(img, size):
    h, w = _hw(img)
    th, tw = size
    if h < th or w < tw:  # torchvision pads a too-small image with zeros, then crops
        img = _pad(img, (tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                   (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0)
        h, w = _hw(img)
    return _crop(img, int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)), th, tw)


class CenterCrop:
    """Crop the central ``size`` window (a smaller image is first padded with zeros).

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
        return _center_crop(img, self.size)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size})"


class InterpolationMode(enum.Enum):
    """Resampling filters of :class:`Resize` (torchvision's names and values).

    >>> from numtorch.vision import transforms
    >>> transforms.InterpolationMode("bilinear")
    <InterpolationMode.BILINEAR: 'bilinear'>
    """
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# PIL's numbers for its filters (Image.Resampling): NEAREST 0, LANCZOS 1, BILINEAR 2, BICUBIC 3,
# BOX 4, HAMMING 5
_PIL_FILTER = {InterpolationMode.NEAREST: 0, InterpolationMode.NEAREST_EXACT: 0,
               InterpolationMode.LANCZOS: 1, InterpolationMode.BILINEAR: 2,
               InterpolationMode.BICUBIC: 3, InterpolationMode.BOX: 4,
               InterpolationMode.HAMMING: 5}


def _interpolation(mode):
    if isinstance(mode, InterpolationMode):
        return mode
    if isinstance(mode, int) and not isinstance(mode, bool):  # a PIL filter number
        for m, n in _PIL_FILTER.items():
            if n == mode and m is not InterpolationMode.NEAREST_EXACT:
                return m
    if isinstance(mode, str):
        return InterpolationMode(mode)
    raise TypeError("Argument interpolation should be an InterpolationMode or a corresponding "
                    f"Pillow integer constant, got {mode!r}")


def _resized_size(h, w, size, max_size):
    """torchvision's output size: an int (or 1-sequence) sets the shorter edge and keeps the
    aspect ratio (the longer edge truncated), capped by ``max_size``; a pair is (h, w)."""
    if isinstance(size, numbers.Number) or len(size) == 1:
        short_req = int(size if isinstance(size, numbers.Number) else size[0])
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = short_req, int(short_req * long / short)
        if max_size is not None:
            if max_size <= short_req:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the "
                                 f"requested size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of the "
                         "smaller edge, i.e. size should be an int or a sequence of length 1 "
                         "in torchscript mode.")
    return int(size[0]), int(size[1])


def _resize(img, out_hw, interpolation, antialias=True):
    """Resample a PIL image (by Pillow, as torchvision does), a NumPy image (through Pillow when
    installed) or a tensor (..., H, W) (by ``F.interpolate``) to ``out_hw``."""
    oh, ow = out_hw
    if _is_pil(img):
        if (img.height, img.width) == (oh, ow):
            return img
        return img.resize((ow, oh), _PIL_FILTER[interpolation])
    if isinstance(img, np.ndarray):
        try:
            from PIL import Image
        except ImportError:
            Image = None
        if Image is not None and img.dtype == np.uint8 and img.ndim in (2, 3) \
                and (img.ndim == 2 or img.shape[2] in (1, 3, 4)):
            squeeze = img.ndim == 3 and img.shape[2] == 1
            pil = Image.fromarray(img[:, :, 0] if squeeze else img)
            out = np.asarray(_resize(pil, out_hw, interpolation, antialias))
            return out[:, :, None] if squeeze else out
        torch = _torch()
        hwc = img if img.ndim == 3 else img[:, :, None]
        t = _resize(torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1))), out_hw,
                    interpolation, antialias)
        out = t.numpy().transpose(1, 2, 0)
        return np.ascontiguousarray(out if img.ndim == 3 else out[:, :, 0])
    return _resize_tensor(img, out_hw, interpolation, antialias)


def _resize_tensor(img, out_hw, interpolation, antialias):
    torch = _torch()
    import numtorch.nn.functional as F
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"img should be a PIL Image, a NumPy array or a Tensor. Got {type(img)}")
    if img.dim() < 2:
        raise ValueError(f"Expected a tensor image of size (..., H, W), got {tuple(img.shape)}")
    if tuple(img.shape[-2:]) == tuple(out_hw):
        return img
    modes = {InterpolationMode.NEAREST: "nearest", InterpolationMode.NEAREST_EXACT: "nearest-exact",
             InterpolationMode.BILINEAR: "bilinear", InterpolationMode.BICUBIC: "bicubic"}
    if interpolation not in modes:
        raise ValueError(f"Interpolation mode {interpolation.value!r} is unsupported with "
                         "Tensor input")
    mode = modes[interpolation]
    lead = tuple(img.shape[:-2])
    x = img.reshape((-1, 1) + tuple(img.shape[-2:]))
    integral = not x.dtype.is_floating_point
    if integral:
        x = x.to(torch.float32)
    aa = bool(antialias) and mode in ("bilinear", "bicubic")
    y = F.interpolate(x, size=list(out_hw), mode=mode, antialias=aa,
                      align_corners=False if mode in ("bilinear", "bicubic") else None)
    if integral:
        if mode == "bicubic":
            y = y.clamp(0, float(np.iinfo(img.dtype.np).max))
        y = y.round().to(img.dtype)
    return y.reshape(lead + tuple(out_hw))


class Resize:
    """Resize to ``size``: an int matches the shorter edge (keeping the aspect ratio, the longer
    edge at most ``max_size``), a pair ``(h, w)`` is the size. PIL images and uint8 NumPy
    images resample with Pillow (torchvision's results exactly); tensors with
    ``F.interpolate`` (anti-aliased when downscaling, as torchvision's default).

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> transforms.Resize(4)(torch.ones(3, 8, 12)).shape
    torch.Size([3, 4, 6])
    >>> x = torch.tensor([[[0., 0., 4., 4.], [0., 0., 4., 4.]]])
    >>> transforms.Resize((2, 2))(x)        # anti-aliased: each output sees 4 inputs
    tensor([[[0.5714, 3.4286],
             [0.5714, 3.4286]]])
    >>> transforms.Resize((2, 2), antialias=False)(x)
    tensor([[[0., 4.],
             [0., 4.]]])
    """

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias=True):
        if not isinstance(size, (numbers.Number, list, tuple)) or \
                (not isinstance(size, numbers.Number) and len(size) not in (1, 2)):
            raise TypeError(f"Size should be int or sequence of 1 or 2 ints. Got {size!r}")
        self.size = size
        self.max_size = max_size
        self.interpolation = _interpolation(interpolation)
        self.antialias = antialias

    def __call__(self, img):
        h, w = _hw(img)
        return _resize(img, _resized_size(h, w, self.size, self.max_size), self.interpolation,
                       self.antialias)

    def __repr__(self):
        return (f"{self.__class__.__name__}(size={self.size}, interpolation="
                f"{self.interpolation.value}, max_size={self.max_size}, "
                f"antialias={self.antialias})")


class RandomResizedCrop:
    """Crop a random window covering a ``scale`` fraction of the area with an aspect ratio in
    ``ratio`` (log-uniform), and resize it to ``size`` (torchvision's ten tries, then a
    central crop).

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> _ = torch.manual_seed(0)
    >>> transforms.RandomResizedCrop(4)(torch.rand(3, 10, 12)).shape
    torch.Size([3, 4, 4])
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias=True):
        self.size = _pair(size)
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            import warnings
            warnings.warn("Scale and ratio should be of kind (min, max)")
        self.scale, self.ratio = scale, ratio
        self.interpolation = _interpolation(interpolation)
        self.antialias = antialias

    @staticmethod
    def get_params(img, scale, ratio):
        """(top, left, height, width) of a random window of ``img``."""
        torch = _torch()
        h, w = _hw(img)
        area = h * w
        lo, hi = math.log(ratio[0]), math.log(ratio[1])
        for _ in range(10):
            target = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
            aspect = math.exp(torch.empty(1).uniform_(lo, hi).item())
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                i = int(torch.randint(0, h - ch + 1, size=(1,)).item())
                j = int(torch.randint(0, w - cw + 1, size=(1,)).item())
                return i, j, ch, cw
        in_ratio = w / h
        if in_ratio < min(ratio):
            cw, ch = w, int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            ch, cw = h, int(round(h * max(ratio)))
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, img):
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return _resize(_crop(img, i, j, h, w), self.size, self.interpolation, self.antialias)

    def __repr__(self):
        return (f"{self.__class__.__name__}(size={self.size}, scale={self.scale}, "
                f"ratio={self.ratio}, interpolation={self.interpolation.value}, "
                f"antialias={self.antialias})")


class ToPILImage:
    """A tensor (C, H, W) or NumPy image (H, W[, C]) -> PIL image (needs Pillow). Float values
    are taken as [0, 1] and scaled to bytes (``mul(255)``, truncated, as torchvision does).

    >>> import numtorch as torch
    >>> from numtorch.vision import transforms
    >>> img = transforms.ToPILImage()(torch.zeros(3, 4, 5))
    >>> img.mode, img.size
    ('RGB', (5, 4))
    """

    def __init__(self, mode=None):
        self.mode = mode

    def __call__(self, pic):
        try:
            from PIL import Image
        except ImportError:
            raise ImportError("ToPILImage needs Pillow: pip install pillow") from None
        torch = _torch()
        if isinstance(pic, torch.Tensor):
            if pic.dim() not in (2, 3):
                raise ValueError(f"pic should be 2/3 dimensional. Got {pic.dim()} dimensions.")
            if pic.dim() == 2:
                pic = pic.unsqueeze(0)
            if pic.dtype.is_floating_point and self.mode != "F":
                pic = pic.mul(255).to(torch.uint8)
            arr = pic.detach().cpu().numpy().transpose(1, 2, 0)
        elif isinstance(pic, np.ndarray):
            if pic.ndim not in (2, 3):
                raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
            arr = pic if pic.ndim == 3 else pic[:, :, None]
        else:
            raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
        arr = np.ascontiguousarray(arr)
        img = Image.fromarray(arr)
        return img.convert(self.mode) if self.mode is not None and img.mode != self.mode else img

    def __repr__(self):
        return f"{self.__class__.__name__}(mode={self.mode})"
