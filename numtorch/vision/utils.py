"""torchvision's ``utils.make_grid`` and ``utils.save_image``: a batch of images -> one picture.

``make_grid`` is tensor code (any device); ``save_image`` encodes with Pillow, which numtorch
does not require: it is imported on first use (``pip install pillow``).

>>> import numtorch as torch
>>> from numtorch.vision.utils import make_grid
>>> make_grid(torch.zeros(4, 3, 8, 8), nrow=2).shape
torch.Size([3, 22, 22])
"""
import math
import os

import numpy as np

__all__ = ["make_grid", "save_image"]


def _torch():
    import numtorch
    return numtorch


def _pil_image(who):
    """``PIL.Image``, or an ImportError that says ``who`` needs Pillow and how to get it."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(f"{who} needs Pillow to encode and decode images, which is not "
                          f"installed: pip install pillow") from e
    return Image


def _norm_(img, low, high):
    # torchvision's norm_ip: clamp to [low, high], then map it onto [0, 1], in place
    img.clamp_(min=low, max=high)
    img.sub_(low).div_(max(high - low, 1e-5))


def _norm_range_(t, value_range):
    if value_range is not None:
        _norm_(t, value_range[0], value_range[1])
    else:
        _norm_(t, float(t.min()), float(t.max()))


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False,
              pad_value=0.0):
    """Tile a batch of images (B, C, H, W), or a list of (C, H, W) images, into one image
    (C, rows * (H + padding) + padding, cols * (W + padding) + padding), ``nrow`` images a row.

    A single image (C, H, W) or (H, W) comes back without a grid; one-channel images become
    three-channel ones (as torchvision does). ``normalize`` maps ``value_range`` (a tuple; by
    default the tensor's min and max, or each image's with ``scale_each``) onto [0, 1] after
    clamping to it. The gaps are ``pad_value``. The input is never modified; the grid does not
    require grad.

    >>> import numtorch as torch
    >>> from numtorch.vision.utils import make_grid
    >>> batch = torch.arange(4.).reshape(4, 1, 1, 1)    # four 1x1 one-channel images
    >>> grid = make_grid(batch, nrow=2, padding=1, pad_value=-1)
    >>> grid.shape
    torch.Size([3, 5, 5])
    >>> grid[0]
    tensor([[-1., -1., -1., -1., -1.],
            [-1.,  0., -1.,  1., -1.],
            [-1., -1., -1., -1., -1.],
            [-1.,  2., -1.,  3., -1.],
            [-1., -1., -1., -1., -1.]])
    >>> make_grid(batch, nrow=4, padding=0, normalize=True)[0]
    tensor([[0.0000, 0.3333, 0.6667, 1.0000]])
    """
    torch = _torch()
    if not torch.is_tensor(tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not torch.is_tensor(t):
                    raise TypeError(f"tensor or list of tensors expected, got a list containing "
                                    f"{type(t)}")
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if nrow < 1:
        raise ValueError(f"nrow must be at least 1, got {nrow}")
    with torch.no_grad():
        if isinstance(tensor, list):
            tensor = torch.stack(tensor, dim=0)
        if tensor.dim() not in (2, 3, 4):
            raise ValueError(f"make_grid expects a 4-D batch (B, C, H, W), one image (C, H, W) or "
                             f"(H, W), or a list of images; got shape {tuple(tensor.shape)}")
        if tensor.dim() == 2:  # one image H x W
            tensor = tensor.unsqueeze(0)
        if tensor.dim() == 3:  # one image C x H x W
            if tensor.size(0) == 1:  # one channel -> three
                tensor = torch.cat((tensor, tensor, tensor), 0)
            tensor = tensor.unsqueeze(0)
        if tensor.size(1) == 1:  # one-channel images -> three channels
            tensor = torch.cat((tensor, tensor, tensor), 1)

        if normalize:
            if value_range is not None and not isinstance(value_range, tuple):
                raise TypeError("value_range has to be a tuple (min, max) if specified. min and "
                                "max are numbers")
            tensor = tensor.clone()  # the normalisation below works in place
            if scale_each:
                for t in tensor:  # each image (a view) on its own
                    _norm_range_(t, value_range)
            else:
                _norm_range_(tensor, value_range)

        if tensor.size(0) == 1:
            return tensor.squeeze(0)

        n, c, h, w = tensor.shape
        cols = min(nrow, n)
        rows = -(-n // cols)
        step_h, step_w = h + padding, w + padding  # an image and the gap after it
        grid = tensor.new_full((c, rows * step_h + padding, cols * step_w + padding), pad_value)
        for k in range(n):
            top = padding + (k // cols) * step_h
            left = padding + (k % cols) * step_w
            grid[:, top:top + h, left:left + w] = tensor[k]
        return grid


def save_image(tensor, fp, format=None, **kwargs):
    """Write an image, or a batch as one ``make_grid`` picture (``kwargs`` go to it), to ``fp``.

    Values in [0, 1] become bytes as torchvision makes them (``x * 255 + 0.5`` clamped to
    [0, 255], truncated to uint8), encoded by Pillow. ``fp`` is a path (the format comes from
    its extension unless ``format`` is given) or a binary file object (then pass ``format``).
    A path is written atomically: a temporary file beside it, renamed over it once complete,
    so a reader never sees a partial image.

    >>> import numtorch as torch
    >>> import os, tempfile
    >>> from numtorch.vision.utils import save_image
    >>> path = os.path.join(tempfile.mkdtemp(), "samples.png")
    >>> save_image(torch.rand(16, 1, 28, 28), path, nrow=4)
    >>> from PIL import Image
    >>> Image.open(path).size, Image.open(path).mode
    ((122, 122), 'RGB')
    """
    torch = _torch()
    Image = _pil_image("save_image")
    with torch.no_grad():
        grid = make_grid(tensor, **kwargs)
        # + 0.5 after scaling to [0, 255]: the cast to uint8 then rounds to the nearest integer
        ndarr = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8)
        ndarr = np.ascontiguousarray(ndarr.numpy())
    im = Image.fromarray(ndarr)
    if not isinstance(fp, (str, bytes, os.PathLike)):
        im.save(fp, format=format)
        return
    path = os.fsdecode(fp)
    if format is None:  # as Pillow does for a path; the temporary file's name has no extension
        ext = os.path.splitext(path)[1].lower()
        format = Image.registered_extensions().get(ext)
        if format is None:
            raise ValueError(f"unknown file extension: {ext}")
    from ..serialization import _write_atomically
    _write_atomically(path, lambda fh: im.save(fh, format=format))
