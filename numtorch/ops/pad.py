"""Padding: constant padding is a primitive (one fill and one strided copy forward; backward is
the same op with negated pads, so it crops); the reflect, replicate and circular modes gather
along each padded dim with ``index_select``.
"""
import numpy as np

from .._registry import functional_op
from .. import _dtype as D
from .._creation import tensor
from ..autograd.function import Function
from ._core import empty, fill, kernels
from .indexing import index_select


class Pad(Function):
    """Constant padding (negative pads crop); backward is the same op with negated pads."""

    @staticmethod
    def forward(ctx, x, pads, value):
        nd = x.ndim
        shape = list(x.shape)
        src, dst = [slice(None)] * nd, [slice(None)] * nd
        for k in range(len(pads) // 2):
            d = nd - 1 - k
            lo, hi, s = pads[2 * k], pads[2 * k + 1], x.shape[d]
            n = s + lo + hi
            if n < 0:
                raise RuntimeError(
                    f"The input size {s}, plus negative padding {lo} and {hi} resulted in a "
                    f"negative output size, which is invalid. Check dimension {d} of your input.")
            shape[d] = n
            a = max(-lo, 0)
            c = max(0, s - a - max(-hi, 0))
            src[d] = slice(a, a + c)
            dst[d] = slice(max(lo, 0), max(lo, 0) + c)
        out = empty(tuple(shape), x.dtype, x.device)  # a fill, then one strided copy
        fill(out, value)
        if all(sl.stop > sl.start for sl in src if sl.start is not None):
            kernels(x.device).elementwise.copy(x._data[tuple(src)], out._data[tuple(dst)])
        ctx.pads = pads
        return out

    @staticmethod
    def backward(ctx, g):
        return Pad.apply(g, tuple(-p for p in ctx.pads), 0), None, None


def _pad_index(n, lo, hi, mode):
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":  # PyTorch crops first: the period is what negative pads leave
        a, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        if m <= 0:  # nothing left to repeat (PyTorch reads uninitialised memory here)
            if i.size:
                raise RuntimeError("circular padding: negative padding leaves nothing to wrap "
                                   f"around but the output has size {i.size}")
            return i
        return a + np.mod(np.arange(-max(lo, 0), m + max(hi, 0)), m)
    # reflect (the edge is not repeated)
    period = 2 * (n - 1)
    i = np.mod(i, period) if period else np.zeros_like(i)
    return np.where(i >= n, period - i, i)


@functional_op()
def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left_last, right_last, left_prev, ...)``.

    Modes ``'constant'`` (with ``value``; negative pads crop), ``'reflect'``, ``'replicate'``,
    ``'circular'``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.pad(torch.tensor([1.0, 2.0]), (1, 2))
    tensor([0., 1., 2., 0., 0.])
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.ndim}")
    if mode == "constant":
        return Pad.apply(input, pad, 0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value not in (None, 0):
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    npad = len(pad) // 2  # PyTorch pads 1 to 3 trailing dims of a batched or unbatched input
    if npad > 3 or input.ndim not in (npad + 1, npad + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {input.ndim}D "
                                  "input tensor.")
    spatial = tuple(input.shape)[1 if input.ndim == npad + 2 else 0:]  # all but a batch dim
    if mode != "circular" and 0 in spatial:
        raise RuntimeError(
            f"Expected {npad + 1}D or {npad + 2}D (batch mode) tensor with possibly 0 batch size "
            f"and other non-zero dimensions for input, but got: {list(input.shape)}")
    out = input
    for k in range(npad):
        d = input.ndim - 1 - k
        lo, hi, n = pad[2 * k], pad[2 * k + 1], input.shape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #{4 + 2 * k}: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {d} of input "
                f"{list(input.shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        idx = tensor(_pad_index(n, lo, hi, mode), dtype=D.int64, device=input.device)
        out = index_select(out, d, idx)
    return out
