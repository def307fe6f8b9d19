"""The resampling layers, normalisation composites, distances and losses of nn (pixel and channel
shuffles, padding modes, interpolation, fold/unfold, adaptive max / LP pooling, unpooling,
instance / RMS / local response norm, dropout variants, bilinear, the margin and likelihood
losses) and their modules.

One table, ``CASES``, drives three tests. A case is ``fn(F, *tensors)`` (the same code runs on
numtorch and on torch), a builder of its NumPy inputs and a NumPy reference written with loops
or textbook formulas:

- ``test_reference``: numtorch against the NumPy reference (always runs);
- ``test_torch``: forward and every input gradient against torch (when torch imports);
- ``test_gradcheck``: float64 numerical gradients of a random projection of the output.

Then modules (state_dict names, repr, module == functional), errors, running statistics and
the random layers.
"""
import itertools
import math
import warnings
import zlib

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from numtorch import nn

try:
    import torch
except ImportError:  # the NumPy references still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch (the oracle) is not installed")

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def R(*shape):
    """A builder of a standard normal array (drawn from the case's generator)."""
    return lambda g: g.standard_normal(shape)


def I(values):  # noqa: E743 - an integer (index/target) input
    return lambda g: np.asarray(values, dtype=np.int64)


class Case:
    """``diff``: the positions of the inputs that get gradients (default: every float input;
    torch gives none to targets that only select a branch, and refuses some). ``gradcheck``:
    False where the gradient is by design not the derivative (a clamp in value only)."""

    def __init__(self, name, fn, inputs, ref, diff=None, gradcheck=True):
        self.name, self.fn, self.inputs, self.ref, self.diff = name, fn, inputs, ref, diff
        self.gradcheck = gradcheck

    def arrays(self, dtype=np.float64):
        g = np.random.default_rng(zlib.crc32(self.name.encode()))
        out = []
        for b in self.inputs:
            a = b(g)
            out.append(a.astype(dtype) if a.dtype.kind == "f" else a)
        return out


def _tensors(mod, arrays, diff=()):
    return [mod.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]


def _diff(case, arrays):
    if case.diff is not None:
        return case.diff
    return tuple(i for i, a in enumerate(arrays) if a.dtype.kind == "f")


def _first(y):
    return y[0] if isinstance(y, tuple) else y


# --------------------------------------------------------------------------------------------
# NumPy references (loops and textbook formulas, independent of the implementation)
# --------------------------------------------------------------------------------------------
def ref_pixel_shuffle(x, r):
    n, c, h, w = x.shape
    out = np.zeros((n, c // (r * r), h * r, w * r))
    for ci in range(c):
        oc, k = divmod(ci, r * r)
        out[:, oc, k // r::r, k % r::r] = x[:, ci]
    return out


def ref_pixel_unshuffle(x, r):
    n, c, h, w = x.shape
    out = np.zeros((n, c * r * r, h // r, w // r))
    for ci in range(c * r * r):
        oc, k = divmod(ci, r * r)
        out[:, ci] = x[:, oc, k // r::r, k % r::r]
    return out


def ref_channel_shuffle(x, g):
    c = x.shape[1]
    return np.stack([x[:, (k % g) * (c // g) + k // g] for k in range(c)], 1)


def _geom(h, w, k, d, p, s):
    return tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                 for n, kk, dd, pp, ss in zip((h, w), k, d, p, s))


def ref_unfold(x, k, d=(1, 1), p=(0, 0), s=(1, 1)):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    oh, ow = _geom(h, w, k, d, p, s)
    out = np.zeros((n, c * k[0] * k[1], oh * ow))
    for ci in range(c):
        for i in range(k[0]):
            for j in range(k[1]):
                for y in range(oh):
                    for z in range(ow):
                        out[:, (ci * k[0] + i) * k[1] + j, y * ow + z] = \
                            xp[:, ci, i * d[0] + y * s[0], j * d[1] + z * s[1]]
    return out


def ref_fold(cols, size, k, d=(1, 1), p=(0, 0), s=(1, 1)):
    n = cols.shape[0]
    c = cols.shape[1] // (k[0] * k[1])
    oh, ow = _geom(size[0], size[1], k, d, p, s)
    out = np.zeros((n, c, size[0] + 2 * p[0], size[1] + 2 * p[1]))
    for ci in range(c):
        for i in range(k[0]):
            for j in range(k[1]):
                for y in range(oh):
                    for z in range(ow):
                        out[:, ci, i * d[0] + y * s[0], j * d[1] + z * s[1]] += \
                            cols[:, (ci * k[0] + i) * k[1] + j, y * ow + z]
    return out[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]


def _keys(x, a=-0.75):
    """Keys' cubic convolution kernel."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a if x < 2 else 0.0


def ref_resize_axis(x, axis, m, mode, align_corners=False, scale=None):
    """Resample one axis of ``x`` to ``m`` samples."""
    xs = np.moveaxis(x, axis, -1)
    n = xs.shape[-1]
    ratio = 1 / scale if scale else n / m
    out = np.zeros(xs.shape[:-1] + (m,))
    for o in range(m):
        if mode == "nearest":
            out[..., o] = xs[..., min(math.floor(o * ratio), n - 1)]
        elif mode == "nearest-exact":
            out[..., o] = xs[..., min(math.floor((o + 0.5) * ratio), n - 1)]
        elif mode == "area":
            a, b = o * n // m, -(-(o + 1) * n // m)
            out[..., o] = xs[..., a:b].mean(-1)
        else:
            if align_corners:
                pos = o * (n - 1) / (m - 1) if m > 1 else 0.0
            else:
                pos = (o + 0.5) * ratio - 0.5
            if mode == "linear":
                pos = max(pos, 0.0)
                i0 = min(math.floor(pos), n - 1)
                t = pos - i0
                out[..., o] = (1 - t) * xs[..., i0] + t * xs[..., min(i0 + 1, n - 1)]
            else:  # cubic: four taps, indices clamped into the input
                i0 = math.floor(pos)
                for k in range(-1, 3):
                    out[..., o] += _keys(pos - (i0 + k)) * xs[..., min(max(i0 + k, 0), n - 1)]
    return np.moveaxis(out, -1, axis)


def ref_aa_axis(x, axis, m, cubic=False, align_corners=False):
    """Anti-aliased resize of one axis, output by output as PIL's resampler writes it: the
    filter (triangle, or Keys' cubic with a = -0.5) widened by the downscale factor, clipped
    to the input and its weights renormalised."""
    xs = np.moveaxis(x, axis, -1)
    n = xs.shape[-1]
    s = ((n - 1) / (m - 1) if m > 1 else 0.0) if align_corners else n / m
    widen = max(s, 1.0)
    half = (2.0 if cubic else 1.0) * widen

    def f(t):
        t = abs(t)
        if not cubic:
            return max(0.0, 1.0 - t)
        a = -0.5
        if t < 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0
    out = np.zeros(xs.shape[:-1] + (m,))
    for o in range(m):
        c = s * (o + 0.5)
        lo, hi = max(int(c - half + 0.5), 0), min(int(c + half + 0.5), n)
        ws = [f((j - c + 0.5) / widen) for j in range(lo, hi)]
        for j, w in zip(range(lo, hi), ws):
            out[..., o] += w / sum(ws) * xs[..., j]
    return np.moveaxis(out, -1, axis)


def ref_interpolate(x, sizes, mode, align_corners=False, scales=None):
    for k, m in enumerate(sizes):
        x = ref_resize_axis(x, 2 + k, m, mode, align_corners, scales[k] if scales else None)
    return x


def _window(o, n, m):
    return o * n // m, -(-(o + 1) * n // m)


def ref_adaptive_max(x, outs):
    """(values, flat indices within each plane) of adaptive max pooling, N-d."""
    lead, spatial = x.shape[:2], x.shape[2:]
    vals, idx = np.zeros(lead + tuple(outs)), np.zeros(lead + tuple(outs), dtype=np.int64)
    for o in np.ndindex(*outs):
        sl = tuple(slice(*_window(oi, n, m)) for oi, n, m in zip(o, spatial, outs))
        win = x[(slice(None), slice(None)) + sl]
        flat = win.reshape(lead + (-1,))
        k = flat.argmax(-1)
        vals[(slice(None), slice(None)) + o] = flat.max(-1)
        pos = np.unravel_index(k, win.shape[2:])
        idx[(slice(None), slice(None)) + o] = np.ravel_multi_index(
            tuple(p + s.start for p, s in zip(pos, sl)), spatial)
    return vals, idx


def ref_adaptive_avg(x, outs):
    for k, m in enumerate(outs):
        x = ref_resize_axis(x, 2 + k, m, "area")
    return x


def ref_lp_pool(x, p, k, s):
    k, s = np.atleast_1d(k), np.atleast_1d(s)
    spatial = x.shape[2:]
    outs = [(n - kk) // ss + 1 for n, kk, ss in zip(spatial, k, s)]
    out = np.zeros(x.shape[:2] + tuple(outs))
    for o in np.ndindex(*outs):
        sl = tuple(slice(oi * ss, oi * ss + kk) for oi, ss, kk in zip(o, s, k))
        win = x[(slice(None), slice(None)) + sl]
        out[(slice(None), slice(None)) + o] = (win ** p).sum(tuple(range(2, x.ndim))) ** (1 / p)
    return out


def ref_max_unpool(v, idx, outs):
    n, c = v.shape[:2]
    out = np.zeros((n, c, math.prod(outs)))
    for a in range(n):
        for b in range(c):
            out[a, b, idx[a, b].reshape(-1)] = v[a, b].reshape(-1)
    return out.reshape((n, c) + tuple(outs))


def ref_instance_norm(x, w=None, b=None, eps=1e-5):
    ax = tuple(range(2, x.ndim))
    y = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return y * (1 if w is None else w.reshape(shape)) + (0 if b is None else b.reshape(shape))


def ref_lrn(x, size, alpha=1e-4, beta=0.75, k=1.0):
    c = x.shape[1]
    out = np.zeros_like(x)
    for ci in range(c):
        lo, hi = max(ci - size // 2, 0), min(ci + (size - 1) // 2, c - 1)
        s = (x[:, lo:hi + 1] ** 2).sum(1)
        out[:, ci] = x[:, ci] / (k + alpha * s / size) ** beta
    return out


def _norm(x, p, axis=-1):
    return np.linalg.norm(x, ord=p, axis=axis)


def ref_cosine(a, b, dim=1, eps=1e-8):
    a, b = np.broadcast_arrays(a, b)
    na = np.maximum(np.linalg.norm(a, axis=dim, keepdims=True), eps)
    nb = np.maximum(np.linalg.norm(b, axis=dim, keepdims=True), eps)
    return (a / na * b / nb).sum(dim)


def ref_pdist(x, p):
    n = x.shape[0]
    return np.array([_norm(x[i] - x[j], p) for i in range(n) for j in range(i + 1, n)])


def _red(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def _softplus(v):
    return np.logaddexp(0, v)


def ref_multi_margin(x, y, p=1, margin=1.0, w=None):
    n, c = x.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                z = max(0.0, margin - x[i, y[i]] + x[i, j]) ** p
                out[i] += z * (1 if w is None else w[y[i]])
    return out / c


def ref_multilabel_margin(x, y):
    n, c = x.shape
    out = np.zeros(n)
    for i in range(n):
        listed = []
        for t in y[i]:
            if t == -1:
                break
            listed.append(t)
        for j in listed:
            for k in range(c):
                if k not in listed:
                    out[i] += max(0.0, 1 - (x[i, j] - x[i, k]))
    return out / c


def ref_gaussian_nll(x, t, v, eps=1e-6, full=False):
    v = np.maximum(v, eps)
    return 0.5 * (np.log(v) + (x - t) ** 2 / v) + (0.5 * math.log(2 * math.pi) if full else 0)


def ref_poisson_full(x, t, eps=1e-8):
    loss = x - t * np.log(x + eps)
    st = np.where(t > 1, t * np.log(np.where(t > 1, t, 1)) - t
                  + 0.5 * np.log(2 * math.pi * np.where(t > 1, t, 1)), 0)
    return loss + st


def ref_ctc(x, targets, in_len, tg_len, blank=0):
    """Brute force: the probability of every path of the input length that collapses (merge
    repeats, drop blanks) to the target."""
    lp = x - np.log(np.exp(x).sum(2, keepdims=True))
    out = []
    for n in range(x.shape[1]):
        want, p = list(targets[n][:tg_len[n]]), 0.0
        for path in itertools.product(range(x.shape[2]), repeat=in_len[n]):
            got = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
            if got == want:
                p += math.exp(sum(lp[t, n, c] for t, c in enumerate(path)))
        out.append(-math.log(p) if p > 0 else math.inf)
    return np.array(out)


def _sgn(*shape):
    return lambda g: np.where(g.random(shape) < 0.5, -1.0, 1.0)


def _pos(*shape):
    return lambda g: g.uniform(0.2, 2.0, shape)


def _pool_indices(x, k):  # max_pool2d's flat indices of a (1, 1, 4, 6) input, k x k windows
    n, c, h, w = x.shape
    idx = np.zeros((n, c, h // k, w // k), dtype=np.int64)
    for a, b in np.ndindex(h // k, w // k):
        win = x[0, 0, a * k:a * k + k, b * k:b * k + k]
        i, j = np.unravel_index(win.argmax(), win.shape)
        idx[0, 0, a, b] = (a * k + i) * w + b * k + j
    return idx


_UNPOOL_X = np.random.default_rng(5).standard_normal((1, 1, 4, 6))

# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------
CASES = [
    # shuffles
    Case("pixel_shuffle", lambda F, x: F.pixel_shuffle(x, 2), [R(2, 8, 2, 3)],
         lambda x: ref_pixel_shuffle(x, 2)),
    Case("pixel_unshuffle", lambda F, x: F.pixel_unshuffle(x, 2), [R(2, 2, 4, 6)],
         lambda x: ref_pixel_unshuffle(x, 2)),
    Case("channel_shuffle", lambda F, x: F.channel_shuffle(x, 3), [R(2, 6, 2)],
         lambda x: ref_channel_shuffle(x, 3)),
    # padding modes (NumPy's np.pad is the reference)
    Case("pad_reflect", lambda F, x: F.pad(x, (2, 1, 1, 2), mode="reflect"), [R(2, 3, 4, 5)],
         lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2), (2, 1)), mode="reflect")),
    Case("pad_replicate", lambda F, x: F.pad(x, (3, 0), mode="replicate"), [R(2, 3)],
         lambda x: np.pad(x, ((0, 0), (3, 0)), mode="edge")),
    Case("pad_circular3d", lambda F, x: F.pad(x, (1, 2, 2, 0, 1, 1), mode="circular"),
         [R(1, 2, 3, 3, 4)],
         lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 0), (1, 2)), mode="wrap")),
    Case("pad_circular_crop", lambda F, x: F.pad(x, (-1, 2), mode="circular"), [R(2, 5)],
         lambda x: x[:, [1, 2, 3, 4, 1, 2]]),
    # sliding blocks
    Case("unfold", lambda F, x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
         [R(2, 2, 4, 5)], lambda x: ref_unfold(x, (2, 3), (1, 2), (1, 1), (2, 1))),
    Case("unfold_unbatched", lambda F, x: F.unfold(x, 2), [R(2, 3, 3)],
         lambda x: ref_unfold(x[None], (2, 2))[0]),
    Case("fold", lambda F, x: F.fold(x, (4, 5), (2, 3), padding=1, stride=(2, 1)),
         [R(1, 12, 3 * 5)], lambda x: ref_fold(x, (4, 5), (2, 3), (1, 1), (1, 1), (2, 1))),
    # interpolation
    Case("nearest1d", lambda F, x: F.interpolate(x, size=7), [R(2, 2, 5)],
         lambda x: ref_interpolate(x, (7,), "nearest")),
    Case("nearest2d_scale", lambda F, x: F.interpolate(x, scale_factor=(1.5, 0.5)),
         [R(1, 2, 4, 6)], lambda x: ref_interpolate(x, (6, 3), "nearest", scales=(1.5, 0.5))),
    Case("nearest_exact3d", lambda F, x: F.interpolate(x, size=(3, 2, 5), mode="nearest-exact"),
         [R(1, 1, 2, 3, 4)], lambda x: ref_interpolate(x, (3, 2, 5), "nearest-exact")),
    Case("linear", lambda F, x: F.interpolate(x, size=7, mode="linear"), [R(2, 2, 4)],
         lambda x: ref_interpolate(x, (7,), "linear")),
    Case("linear_ac", lambda F, x: F.interpolate(x, scale_factor=0.6, mode="linear",
                                                 align_corners=True), [R(1, 2, 6)],
         lambda x: ref_interpolate(x, (3,), "linear", True)),
    Case("interp_bilinear", lambda F, x: F.interpolate(x, scale_factor=(1.7, 0.8),
                                                       mode="bilinear"),
         [R(1, 2, 3, 5)],
         lambda x: ref_interpolate(x, (5, 4), "linear", scales=(1.7, 0.8))),
    Case("interp_bilinear_ac", lambda F, x: F.interpolate(x, size=(4, 2), mode="bilinear",
                                                   align_corners=True), [R(2, 1, 3, 3)],
         lambda x: ref_interpolate(x, (4, 2), "linear", True)),
    Case("bicubic", lambda F, x: F.interpolate(x, size=(5, 3), mode="bicubic"), [R(1, 2, 3, 4)],
         lambda x: ref_interpolate(x, (5, 3), "cubic")),
    Case("bilinear_antialias", lambda F, x: F.interpolate(x, size=(3, 7), mode="bilinear",
                                                          antialias=True), [R(1, 2, 8, 5)],
         lambda x: ref_aa_axis(ref_aa_axis(x, 2, 3), 3, 7)),
    Case("bicubic_antialias_ac", lambda F, x: F.interpolate(x, size=(2, 4), mode="bicubic",
                                                            antialias=True, align_corners=True),
         [R(2, 1, 7, 9)],
         lambda x: ref_aa_axis(ref_aa_axis(x, 2, 2, True, True), 3, 4, True, True)),
    Case("trilinear_ac", lambda F, x: F.interpolate(x, size=(3, 4, 2), mode="trilinear",
                                                    align_corners=True), [R(1, 1, 2, 3, 3)],
         lambda x: ref_interpolate(x, (3, 4, 2), "linear", True)),
    Case("area2d", lambda F, x: F.interpolate(x, size=(2, 3), mode="area"), [R(1, 2, 5, 4)],
         lambda x: ref_interpolate(x, (2, 3), "area")),
    Case("area3d", lambda F, x: F.interpolate(x, size=(1, 2, 3), mode="area"), [R(1, 1, 2, 3, 5)],
         lambda x: ref_interpolate(x, (1, 2, 3), "area")),
    # pooling composites
    Case("adaptive_max_pool1d", lambda F, x: F.adaptive_max_pool1d(x, 3, return_indices=True),
         [R(2, 3, 7)], lambda x: ref_adaptive_max(x, (3,))),
    Case("adaptive_max_pool2d", lambda F, x: F.adaptive_max_pool2d(x, (2, 4), True),
         [R(2, 1, 5, 6)], lambda x: ref_adaptive_max(x, (2, 4))),
    Case("adaptive_max_pool2d_unbatched", lambda F, x: F.adaptive_max_pool2d(x, (3, None)),
         [R(2, 4, 3)], lambda x: ref_adaptive_max(x[None], (3, 3))[0][0]),
    Case("adaptive_max_pool3d", lambda F, x: F.adaptive_max_pool3d(x, (2, 1, 2), True),
         [R(1, 1, 3, 2, 5)], lambda x: ref_adaptive_max(x, (2, 1, 2))),
    Case("adaptive_avg_pool3d", lambda F, x: F.adaptive_avg_pool3d(x, (2, 3, 2)),
         [R(1, 1, 3, 4, 3)], lambda x: ref_adaptive_avg(x, (2, 3, 2))),
    Case("lp_pool1d", lambda F, x: F.lp_pool1d(x, 2, 3, 2), [R(2, 2, 7)],
         lambda x: ref_lp_pool(x, 2, 3, 2)),
    Case("lp_pool2d", lambda F, x: F.lp_pool2d(x, 3, (2, 2)), [_pos(1, 2, 4, 4)],
         lambda x: ref_lp_pool(x, 3, (2, 2), (2, 2))),
    Case("max_unpool2d", lambda F, v, i: F.max_unpool2d(v, i, 2, output_size=(4, 6)),
         [R(1, 1, 2, 3), I(_pool_indices(_UNPOOL_X, 2))],
         lambda v, i: ref_max_unpool(v, i, (4, 6))),
    Case("max_unpool3d", lambda F, v, i: F.max_unpool3d(v, i, (1, 2, 2)),
         [R(1, 1, 2, 1, 2), I([[[[[0, 3]], [[5, 6]]]]])],
         lambda v, i: ref_max_unpool(v, i, (2, 2, 4))),
    Case("max_unpool1d", lambda F, v, i: F.max_unpool1d(v, i, 2, stride=3),
         [R(1, 2, 3), I([[[0, 4, 7], [1, 3, 6]]])], lambda v, i: ref_max_unpool(v, i, (8,))),
    # normalisation composites
    Case("instance_norm", lambda F, x, w, b: F.instance_norm(x, weight=w, bias=b),
         [R(2, 3, 4), R(3), R(3)], ref_instance_norm),
    Case("instance_norm2d", lambda F, x: F.instance_norm(x, eps=0.1), [R(1, 2, 3, 3)],
         lambda x: ref_instance_norm(x, eps=0.1)),
    Case("rms_norm", lambda F, x, w: F.rms_norm(x, (2, 3), w, eps=1e-3), [R(2, 2, 3), R(2, 3)],
         lambda x, w: x / np.sqrt((x ** 2).mean((1, 2), keepdims=True) + 1e-3) * w),
    Case("local_response_norm", lambda F, x: F.local_response_norm(x, 3, 0.5, 0.7, 2.0),
         [R(2, 5, 3)], lambda x: ref_lrn(x, 3, 0.5, 0.7, 2.0)),
    Case("local_response_norm4d", lambda F, x: F.local_response_norm(x, 2, alpha=1.0),
         [R(1, 3, 2, 2)], lambda x: ref_lrn(x, 2, 1.0)),
    # linear maps and distances
    Case("bilinear", lambda F, a, b, w, c: F.bilinear(a, b, w, c),
         [R(2, 3, 2), R(2, 3, 4), R(5, 2, 4), R(5)],
         lambda a, b, w, c: np.einsum("...i,kij,...j->...k", a, w, b) + c),
    Case("cosine_similarity", lambda F, a, b: F.cosine_similarity(a, b),
         [R(3, 4), R(1, 4)], ref_cosine),
    Case("cosine_similarity_dim0", lambda F, a, b: F.cosine_similarity(a, b, 0, 1e-3),
         [lambda g: np.concatenate([g.standard_normal((3, 2)), np.full((3, 1), 1e-5)], 1),
          R(3, 3)], lambda a, b: ref_cosine(a, b, 0, 1e-3), gradcheck=False),
    Case("pairwise_distance", lambda F, a, b: F.pairwise_distance(a, b, 3.0),
         [R(4, 3), R(4, 3)], lambda a, b: _norm(a - b + 1e-6, 3)),
    Case("pdist", lambda F, x: F.pdist(x, 1.0), [R(4, 3)], lambda x: ref_pdist(x, 1)),
    # losses
    Case("margin_ranking_loss",
         lambda F, a, b, t: F.margin_ranking_loss(a, b, t, 0.3, reduction="sum"),
         [R(6), R(6), _sgn(6)], lambda a, b, t: np.maximum(0, -t * (a - b) + 0.3).sum()),
    Case("hinge_embedding_loss",
         lambda F, x, t: F.hinge_embedding_loss(x, t, 0.7, reduction="none"),
         [R(3, 4), _sgn(3, 4)], lambda x, t: np.where(t == 1, x, np.maximum(0, 0.7 - x)),
         diff=(0,)),
    Case("soft_margin_loss", lambda F, x, t: F.soft_margin_loss(x, t), [R(3, 4), _sgn(3, 4)],
         lambda x, t: _softplus(-t * x).mean(), diff=(0,)),
    Case("multilabel_soft_margin_loss",
         lambda F, x, t, w: F.multilabel_soft_margin_loss(x, t, w, reduction="none"),
         [R(3, 4), lambda g: (g.random((3, 4)) < 0.5) * 1.0, _pos(4)],
         lambda x, t, w: (w * (t * _softplus(-x) + (1 - t) * _softplus(x))).mean(1)),
    Case("cosine_embedding_loss",
         lambda F, a, b, t: F.cosine_embedding_loss(a, b, t, 0.2, reduction="none"),
         [R(4, 3), R(4, 3), _sgn(4)],
         lambda a, b, t: np.where(t == 1, 1 - ref_cosine(a, b, 1, 0),
                                  np.maximum(0, ref_cosine(a, b, 1, 0) - 0.2)), diff=(0, 1)),
    Case("triplet_margin_loss",
         lambda F, a, p, n: F.triplet_margin_loss(a, p, n, 0.5, p=1, swap=True, reduction="sum"),
         [R(4, 3), R(4, 3), R(4, 3)],
         lambda a, p, n: np.maximum(0, 0.5 + _norm(a - p + 1e-6, 1) - np.minimum(
             _norm(a - n + 1e-6, 1), _norm(p - n + 1e-6, 1))).sum()),
    Case("triplet_margin_with_distance_loss",
         lambda F, a, p, n: F.triplet_margin_with_distance_loss(
             a, p, n, distance_function=lambda u, v: (u - v).abs().sum(-1), margin=2.0),
         [R(4, 3), R(4, 3), R(4, 3)],
         lambda a, p, n: np.maximum(0, 2 + np.abs(a - p).sum(1) - np.abs(a - n).sum(1)).mean()),
    Case("multi_margin_loss",
         lambda F, x, t, w: F.multi_margin_loss(x, t, p=2, margin=0.7, weight=w, reduction="none"),
         [R(4, 3), I([0, 2, 1, 2]), _pos(3)],
         lambda x, t, w: ref_multi_margin(x, t, 2, 0.7, w), diff=(0,)),
    Case("multilabel_margin_loss", lambda F, x, t: F.multilabel_margin_loss(x, t, reduction="sum"),
         [R(3, 4), I([[3, 0, -1, 1], [0, 1, 2, 3], [2, -1, 0, 0]])],
         lambda x, t: ref_multilabel_margin(x, t).sum()),
    Case("poisson_nll_loss", lambda F, x, t: F.poisson_nll_loss(x, t), [R(3, 4), _pos(3, 4)],
         lambda x, t: (np.exp(x) - t * x).mean()),
    Case("poisson_nll_loss_full",
         lambda F, x, t: F.poisson_nll_loss(x, t, log_input=False, full=True, reduction="none"),
         [_pos(3, 4), lambda g: g.integers(0, 4, (3, 4)) * 1.0], ref_poisson_full, diff=(0,)),
    Case("gaussian_nll_loss", lambda F, x, t, v: F.gaussian_nll_loss(x, t, v, full=True),
         [R(3, 4), R(3, 4), _pos(3, 1)],
         lambda x, t, v: ref_gaussian_nll(x, t, v, full=True).mean()),
    Case("gaussian_nll_loss_homoscedastic",
         lambda F, x, t, v: F.gaussian_nll_loss(x, t, v, reduction="none"),
         [R(3, 4), R(3, 4), _pos(3)], lambda x, t, v: ref_gaussian_nll(x, t, v[:, None])),
    Case("ctc_loss", lambda F, x, t: F.ctc_loss(x.log_softmax(2), t, [4, 3], [2, 1],
                                                reduction="none"),
         [R(4, 2, 3), I([[1, 1], [2, 0]])], lambda x, t: ref_ctc(x, t, [4, 3], [2, 1])),
    Case("ctc_loss_concatenated", lambda F, x, t: F.ctc_loss(x.log_softmax(2), t, [3, 4], [2, 0],
                                                             blank=2),
         [R(4, 2, 3), I([0, 1])],
         lambda x, t: (ref_ctc(x, [[0, 1], []], [3, 4], [2, 0], blank=2) / [2, 1]).mean()),
    Case("kl_div_log_target",
         lambda F, x, t: F.kl_div(x, t, reduction="batchmean", log_target=True),
         [R(3, 4), R(3, 4)], lambda x, t: (np.exp(t) * (t - x)).sum() / 3),
]
_IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference(case, dtype):
    arrays = case.arrays(dtype)
    out = case.fn(F, *_tensors(numtorch, arrays))
    want = case.ref(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays])
    if isinstance(want, tuple):  # (values, int64 indices)
        np.testing.assert_array_equal(out[1].numpy(), want[1])
        assert out[1].dtype == numtorch.int64
        out, want = out[0], want[0]
    out = _first(out)
    assert out.dtype.np == np.dtype(dtype)
    assert tuple(out.shape) == np.shape(want)
    np.testing.assert_allclose(out.numpy(), want, **TOL[dtype])


@needs_torch
@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_torch(case):
    arrays = case.arrays(np.float32)
    diff = _diff(case, arrays)
    tt, nt = _tensors(torch, arrays, diff), _tensors(numtorch, arrays, diff)
    yt, yn = case.fn(torch.nn.functional, *tt), case.fn(F, *nt)
    if isinstance(yt, tuple):
        np.testing.assert_array_equal(yn[1].numpy(), yt[1].numpy())
        yt, yn = yt[0], yn[0]
    assert tuple(yn.shape) == tuple(yt.shape)
    np.testing.assert_allclose(yn.detach().numpy(), yt.detach().numpy(), **TOL[np.float32])
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(np.float32)
    (yt * torch.tensor(g)).sum().backward()
    (yn * numtorch.tensor(g)).sum().backward()
    for i in diff:
        np.testing.assert_allclose(nt[i].grad.numpy(), tt[i].grad.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("case", [c for c in CASES if c.gradcheck],
                         ids=[c.name for c in CASES if c.gradcheck])
def test_gradcheck(case):
    arrays = case.arrays(np.float64)
    xs = _tensors(numtorch, arrays, _diff(case, arrays))
    out = _first(case.fn(F, *xs))
    w = numtorch.tensor(np.random.default_rng(2).standard_normal(tuple(out.shape)))

    def projected(*ts):  # one scalar: one backward instead of a full Jacobian
        return (_first(case.fn(F, *ts)) * w).sum()
    assert numtorch.autograd.gradcheck(projected, tuple(xs), atol=1e-6, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# modules: module == functional, state_dict names, repr (PyTorch's)
# --------------------------------------------------------------------------------------------
MODULES = [
    (lambda nn: nn.PixelShuffle(2), lambda F, x: F.pixel_shuffle(x, 2), (1, 4, 2, 2), []),
    (lambda nn: nn.PixelUnshuffle(2), lambda F, x: F.pixel_unshuffle(x, 2), (1, 1, 2, 4), []),
    (lambda nn: nn.ChannelShuffle(2), lambda F, x: F.channel_shuffle(x, 2), (1, 4, 2), []),
    (lambda nn: nn.ReflectionPad1d(2), lambda F, x: F.pad(x, (2, 2), "reflect"), (2, 4), []),
    (lambda nn: nn.ReflectionPad2d((1, 0, 2, 1)),
     lambda F, x: F.pad(x, (1, 0, 2, 1), "reflect"), (1, 3, 4), []),
    (lambda nn: nn.ReflectionPad3d(1), lambda F, x: F.pad(x, (1,) * 6, "reflect"),
     (1, 1, 2, 2, 3), []),
    (lambda nn: nn.ReplicationPad1d((0, 2)), lambda F, x: F.pad(x, (0, 2), "replicate"),
     (1, 2, 3), []),
    (lambda nn: nn.ReplicationPad2d(1), lambda F, x: F.pad(x, (1,) * 4, "replicate"),
     (1, 2, 2), []),
    (lambda nn: nn.ReplicationPad3d((1, 0, 0, 1, 1, 0)),
     lambda F, x: F.pad(x, (1, 0, 0, 1, 1, 0), "replicate"), (1, 2, 2, 2), []),
    (lambda nn: nn.ZeroPad1d(1), lambda F, x: F.pad(x, (1, 1)), (2, 3), []),
    (lambda nn: nn.ZeroPad2d((1, 2, 0, 1)), lambda F, x: F.pad(x, (1, 2, 0, 1)), (1, 2, 2), []),
    (lambda nn: nn.ZeroPad3d(1), lambda F, x: F.pad(x, (1,) * 6), (1, 1, 1, 2), []),
    (lambda nn: nn.ConstantPad1d((2, 0), 1.5), lambda F, x: F.pad(x, (2, 0), value=1.5),
     (2, 3), []),
    (lambda nn: nn.ConstantPad2d(1, -1.0), lambda F, x: F.pad(x, (1,) * 4, value=-1.0),
     (1, 2, 2), []),
    (lambda nn: nn.ConstantPad3d(1, 2.0), lambda F, x: F.pad(x, (1,) * 6, value=2.0),
     (1, 1, 2, 2), []),
    (lambda nn: nn.CircularPad1d(1), lambda F, x: F.pad(x, (1, 1), "circular"), (1, 2, 3), []),
    (lambda nn: nn.CircularPad2d((1, 0, 1, 2)),
     lambda F, x: F.pad(x, (1, 0, 1, 2), "circular"), (1, 1, 3, 3), []),
    (lambda nn: nn.CircularPad3d(1), lambda F, x: F.pad(x, (1,) * 6, "circular"),
     (1, 1, 2, 2, 2), []),
    (lambda nn: nn.Upsample(scale_factor=2, mode="bilinear"),
     lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear"), (1, 1, 2, 3), []),
    (lambda nn: nn.UpsamplingNearest2d(size=(3, 5)),
     lambda F, x: F.interpolate(x, (3, 5)), (1, 1, 2, 3), []),
    (lambda nn: nn.UpsamplingBilinear2d(scale_factor=1.5),
     lambda F, x: F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True),
     (1, 1, 2, 3), []),
    (lambda nn: nn.Fold((3, 4), 2), lambda F, x: F.fold(x, (3, 4), 2), (1, 8, 6), []),
    (lambda nn: nn.Unfold(2, padding=1), lambda F, x: F.unfold(x, 2, padding=1),
     (1, 2, 3, 3), []),
    (lambda nn: nn.AdaptiveMaxPool1d(2), lambda F, x: F.adaptive_max_pool1d(x, 2),
     (1, 2, 5), []),
    (lambda nn: nn.AdaptiveMaxPool2d((2, 3)), lambda F, x: F.adaptive_max_pool2d(x, (2, 3)),
     (1, 2, 5, 4), []),
    (lambda nn: nn.AdaptiveMaxPool3d(1), lambda F, x: F.adaptive_max_pool3d(x, 1),
     (1, 2, 2, 2), []),
    (lambda nn: nn.AdaptiveAvgPool3d((1, 2, 1)), lambda F, x: F.adaptive_avg_pool3d(x, (1, 2, 1)),
     (1, 2, 2, 3, 2), []),
    (lambda nn: nn.LPPool1d(2, 2), lambda F, x: F.lp_pool1d(x, 2.0, 2), (1, 2, 4), []),
    (lambda nn: nn.LPPool2d(1, 2, stride=1), lambda F, x: F.lp_pool2d(x, 1.0, 2, 1),
     (1, 1, 3, 3), []),
    (lambda nn: nn.InstanceNorm1d(3), lambda F, x: F.instance_norm(x), (2, 3, 4), []),
    (lambda nn: nn.InstanceNorm2d(2, affine=True), lambda F, x: F.instance_norm(x),
     (1, 2, 3, 3), ["weight", "bias"]),
    (lambda nn: nn.InstanceNorm3d(2, affine=True, track_running_stats=True),
     lambda F, x: F.instance_norm(x), (1, 2, 2, 2, 2),
     ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]),
    (lambda nn: nn.RMSNorm([2, 3]), lambda F, x: F.rms_norm(x, (2, 3)), (2, 2, 3), ["weight"]),
    (lambda nn: nn.LocalResponseNorm(3), lambda F, x: F.local_response_norm(x, 3),
     (1, 4, 2), []),
]


def _module_input(shape):
    return np.random.default_rng(3).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("make,fn,shape,names", MODULES, ids=[str(i) for i in range(len(MODULES))])
def test_module(make, fn, shape, names):
    m = make(nn)
    x = numtorch.tensor(_module_input(shape))
    np.testing.assert_allclose(m(x).detach().numpy(), fn(F, x).detach().numpy(), rtol=1e-6,
                               atol=1e-6)
    assert list(m.state_dict()) == names
    if torch is not None:
        tm = make(torch.nn)
        assert repr(m) == repr(tm)
        assert list(m.state_dict()) == list(tm.state_dict())
        np.testing.assert_allclose(m(x).detach().numpy(),
                                   tm(torch.tensor(_module_input(shape))).detach().numpy(),
                                   rtol=2e-5, atol=1e-6)


LOSS_MODULES = [  # (make(nn, T), pick the arguments, state_dict names)
    (lambda nn, T: nn.MarginRankingLoss(0.1), lambda a: (a["v"], a["w"], a["s"]), []),
    (lambda nn, T: nn.HingeEmbeddingLoss(0.5, reduction="sum"), lambda a: (a["v"], a["s"]), []),
    (lambda nn, T: nn.SoftMarginLoss(), lambda a: (a["v"], a["s"]), []),
    (lambda nn, T: nn.MultiLabelSoftMarginLoss(weight=T.ones(3)),
     lambda a: (a["x"], a["y"]), ["weight"]),
    (lambda nn, T: nn.CosineEmbeddingLoss(0.1), lambda a: (a["x"], a["y"], a["s"]), []),
    (lambda nn, T: nn.TripletMarginLoss(swap=True), lambda a: (a["x"], a["y"], a["z"]), []),
    (lambda nn, T: nn.TripletMarginWithDistanceLoss(margin=0.5),
     lambda a: (a["x"], a["y"], a["z"]), []),
    (lambda nn, T: nn.MultiMarginLoss(weight=T.ones(3)), lambda a: (a["x"], a["idx"]),
     ["weight"]),
    (lambda nn, T: nn.MultiLabelMarginLoss(), lambda a: (a["x"], a["lab"]), []),
    (lambda nn, T: nn.PoissonNLLLoss(full=True), lambda a: (a["x"], a["y"]), []),
    (lambda nn, T: nn.GaussianNLLLoss(), lambda a: (a["x"], a["y"], a["z"]), []),
    (lambda nn, T: nn.KLDivLoss(reduction="batchmean"), lambda a: (a["x"], a["y"]), []),
    (lambda nn, T: nn.CTCLoss(zero_infinity=True),
     lambda a: (a["x"].reshape(3, 2, 2).log_softmax(2), a["ones"], [3, 2], [1, 1]), []),
]


def _loss_inputs(T):
    g = np.random.default_rng(4)

    def pos(*shape):
        return T.tensor(g.uniform(0.5, 1.5, shape).astype(np.float32))
    return dict(x=T.tensor(g.standard_normal((4, 3)).astype(np.float32)), y=pos(4, 3),
                z=pos(4, 3), v=pos(4), w=pos(4), s=T.tensor([1.0, -1.0, 1.0, -1.0]),
                idx=T.tensor([0, 2, 1, 1]), ones=T.tensor([[1], [1]]),
                lab=T.tensor([[2, 0, -1], [1, -1, 0], [0, 1, 2], [-1, 0, 0]]))


@pytest.mark.parametrize("make,pick,names", LOSS_MODULES,
                         ids=[str(i) for i in range(len(LOSS_MODULES))])
def test_loss_module(make, pick, names):
    m = make(nn, numtorch)
    y = m(*pick(_loss_inputs(numtorch)))
    assert y.ndim == 0 and math.isfinite(y.item())
    assert list(m.state_dict()) == names
    if torch is not None:
        tm = make(torch.nn, torch)
        assert repr(m) == repr(tm)
        assert list(m.state_dict()) == list(tm.state_dict())
        np.testing.assert_allclose(y.numpy(), tm(*pick(_loss_inputs(torch))).numpy(), rtol=1e-5,
                                   atol=1e-6)


# --------------------------------------------------------------------------------------------
# errors: PyTorch's exception types and messages
# --------------------------------------------------------------------------------------------
Z = numtorch.zeros
L = numtorch.tensor
ERRORS = [
    (lambda: F.pixel_shuffle(Z(5, 2, 2), 2), RuntimeError, "divisible by the square of"),
    (lambda: F.pixel_shuffle(Z(4, 2), 2), RuntimeError, "at least 3 dimensions"),
    (lambda: F.pixel_unshuffle(Z(1, 3, 4), 2), RuntimeError, r"input.size\(-2\)=3"),
    (lambda: F.channel_shuffle(Z(1, 4, 2), 3), RuntimeError, "Got 4 channels and 3 groups"),
    (lambda: F.pad(Z(2, 3, 4), (1, 1, 1, 1, 1, 1), mode="reflect"), NotImplementedError,
     "Padding size 6 is not supported for 3D input tensor"),
    (lambda: F.pad(Z(2, 3), (1, 1), mode="wrap"), NotImplementedError,
     "Unrecognised padding mode wrap"),
    (lambda: F.pad(Z(1, 2, 3), (3, 0), mode="reflect"), RuntimeError,
     r"padding \(3, 0\) at dimension 2 of input \[1, 2, 3\]"),
    (lambda: F.pad(Z(1, 2, 3), (4, 0), mode="circular"), RuntimeError, "wrapping around more"),
    (lambda: F.pad(Z(1, 2, 0), (1, 1), mode="replicate"), RuntimeError, "non-zero dimensions"),
    (lambda: nn.CircularPad2d(1)(Z(2, 2)), ValueError, r"expected 3D or 4D input \(got 2D"),
    (lambda: F.unfold(Z(1, 2, 5, 5), 6), RuntimeError, r"sliding blocks as \(0, 0\)"),
    (lambda: F.unfold(Z(1, 2, 5, 5), (2, 3, 4)), RuntimeError, "kernel_size equals to 2"),
    (lambda: F.unfold(Z(1, 2, 5, 5), 2, stride=0), RuntimeError, "stride should be greater"),
    (lambda: F.unfold(L([[[[1, 2], [3, 4]]]]), 1), NotImplementedError, "'Long'"),
    (lambda: F.fold(Z(1, 7, 4), (3, 3), 2), RuntimeError, r"input.size\(1\)=7"),
    (lambda: F.fold(Z(1, 8, 5), (3, 3), 2), RuntimeError,
     r"2 \* 2 = 4, but got input.size\(2\)=5"),
    (lambda: F.interpolate(Z(1, 2, 5)), ValueError, "either size or scale_factor"),
    (lambda: F.interpolate(Z(1, 2, 5), 3, 2.0), ValueError, "only one of size or scale_factor"),
    (lambda: F.interpolate(Z(1, 2, 5), (3, 4)), ValueError, "same number of spatial dimensions"),
    (lambda: F.interpolate(Z(1, 1, 3, 3), [4.5, 3]), TypeError, "expected size to be one of int"),
    (lambda: F.interpolate(Z(1, 2, 5), 3, mode="bilinear"), NotImplementedError,
     "Got 3D input, but bilinear mode needs 4D input"),
    (lambda: F.interpolate(Z(1, 2, 5, 5), 3, mode="cubic"), NotImplementedError, r"\(got cubic\)"),
    (lambda: F.interpolate(Z(1, 2, 5), 3, align_corners=True), ValueError,
     "align_corners option can only be set"),
    (lambda: F.interpolate(Z(1, 2, 5, 5), scale_factor=0.1), RuntimeError,
     r"input \(H: 5, W: 5\) output \(H: 0, W: 0\)"),
    (lambda: F.interpolate(Z(1, 2, 5), 3, recompute_scale_factor=True), ValueError,
     "not meaningful with an explicit size"),
    (lambda: F.interpolate(Z(1, 2, 5), 3, mode="linear", antialias=True),
     ValueError, "Anti-alias option is restricted to bilinear, bicubic"),
    (lambda: F.adaptive_max_pool2d(Z(1, 2, 5, 5, 2), 3), RuntimeError, "Expected 3D or 4D"),
    (lambda: F.adaptive_max_pool2d(Z(1, 2, 0, 5), 3), RuntimeError, "dimension 2 being empty"),
    (lambda: F.adaptive_max_pool1d(Z(5), 3), RuntimeError, "Expected 2 to 3 dimensions"),
    (lambda: F.max_unpool2d(Z(1, 1, 2, 2), L([[[[0, 1], [2, 20]]]]), 2), RuntimeError,
     "invalid max index: 20"),
    (lambda: F.max_unpool2d(Z(1, 1, 2, 2), Z(1, 1, 2, 2, dtype=numtorch.int64), 2,
                            output_size=(6, 5)), ValueError, "must be between 2 and 6"),
    (lambda: F.instance_norm(Z(2, 3, 1)), ValueError, "more than 1 spatial element"),
    (lambda: F.instance_norm(Z(2, 3, 4), weight=Z(2)), RuntimeError,
     "weight should contain 6 elements not 4"),
    (lambda: F.instance_norm(Z(2, 3, 4), use_input_stats=False), RuntimeError,
     "running_mean and running_var to be defined"),
    (lambda: nn.InstanceNorm1d(3)(Z(2, 3, 4, 5)), ValueError, r"expected 2D or 3D input \(got 4D"),
    (lambda: nn.InstanceNorm1d(3, affine=True)(Z(2, 4, 5)), ValueError,
     r"size at dim=1 to match num_features \(3\)"),
    (lambda: F.rms_norm(Z(3, 4), (3,)), RuntimeError, r"Given normalized_shape=\[3\]"),
    (lambda: F.local_response_norm(Z(3, 4), 2), ValueError, "Expected 3D or higher"),
    (lambda: F.bilinear(Z(2, 3), Z(3, 4), Z(5, 3, 4)), RuntimeError,
     "batch dimensions do not match"),
    (lambda: F.bilinear(Z(2, 3), Z(2, 4), Z(5, 3, 5)), RuntimeError,
     "input2 size does not match weight size: got 4 but expected 5"),
    (lambda: F.pdist(Z(3, 4, 2)), RuntimeError, "pdist only supports 2D tensors, got: 3D"),
    (lambda: F.margin_ranking_loss(Z(3), Z(3), Z(2, 3)), RuntimeError,
     "All input tensors should have same dimension"),
    (lambda: F.cosine_embedding_loss(Z(3, 4), Z(3, 4), Z(3, 1)), RuntimeError,
     "0D or 1D target tensor expected"),
    (lambda: F.cosine_embedding_loss(Z(3, 4, 2), Z(3, 4, 2), Z(3)), RuntimeError,
     "1D target tensor expects 2D input tensors"),
    (lambda: F.triplet_margin_loss(Z(3, 4), Z(3), Z(3, 4)), RuntimeError,
     "anchor 2D, positive 1D, and negative 2D"),
    (lambda: F.triplet_margin_with_distance_loss(Z(2, 3), Z(2, 3), Z(2, 3), margin=0),
     ValueError, "margin must be greater than 0"),
    (lambda: F.multi_margin_loss(Z(3, 4), L([0, 1, 4])), RuntimeError, "target out of range"),
    (lambda: F.multi_margin_loss(Z(3, 4), L([0, 1, 3]), p=3), ValueError,
     "only p == 1 and p == 2"),
    (lambda: F.multi_margin_loss(Z(3, 4), L([0.0, 1.0, 2.0])), RuntimeError,
     "expected scalar type Long but found Float"),
    (lambda: F.multilabel_margin_loss(Z(2, 3), L([[0, -1, 5], [0, 1, 2]])), RuntimeError,
     "'target' is out of range"),
    (lambda: F.multilabel_margin_loss(Z(2, 3), L([[0, 1]] * 2)), RuntimeError,
     "inconsistent target size"),
    (lambda: F.gaussian_nll_loss(Z(3, 4), Z(3, 4), -numtorch.ones(3, 4)), ValueError,
     "var has negative entry"),
    (lambda: F.gaussian_nll_loss(Z(3, 4), Z(3, 4), numtorch.ones(4)), ValueError,
     "var is of incorrect size"),
    (lambda: F.soft_margin_loss(Z(3), Z(3), reduction="avg"), ValueError, "avg is not a valid"),
    (lambda: F.dropout1d(Z(2, 3, 4, 5)), RuntimeError, "dropout1d: Expected 2D or 3D input"),
    (lambda: F.alpha_dropout(Z(3), 1.5), ValueError, "between 0 and 1, but got 1.5"),
]


@pytest.mark.parametrize("call,exc,match", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------------------------
# running statistics, unbatched inputs, random layers
# --------------------------------------------------------------------------------------------
def test_instance_norm_running_stats():
    x = np.random.default_rng(6).standard_normal((3, 2, 5))
    m = nn.InstanceNorm1d(2, momentum=0.3, track_running_stats=True).double()
    m(numtorch.tensor(x))
    mean = x.mean(2).mean(0)
    var = x.var(2, ddof=1).mean(0)  # unbiased per-plane variances, averaged over the batch
    np.testing.assert_allclose(m.running_mean.numpy(), 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), 0.7 + 0.3 * var, rtol=1e-12)
    m.eval()  # normalises with the running statistics now
    y = m(numtorch.tensor(x[0]))  # unbatched (C, L)
    want = (x[0] - m.running_mean.numpy()[:, None]) / np.sqrt(m.running_var.numpy()[:, None]
                                                               + 1e-5)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    if torch is not None:
        tm = torch.nn.InstanceNorm1d(2, momentum=0.3, track_running_stats=True).double()
        tm(torch.tensor(x))
        np.testing.assert_allclose(m.running_var.numpy(), tm.running_var.numpy(), rtol=1e-12)


def test_dropout_variants():
    numtorch.manual_seed(0)
    x = numtorch.ones(8, 6, 5)
    y = F.dropout1d(x, 0.5)  # whole channels: 0 or 2 along L
    assert all(len(set(row.tolist())) == 1 for row in y.reshape(48, 5))
    assert set(y.flatten().tolist()) == {0.0, 2.0}
    yu = F.dropout1d(numtorch.ones(6, 5), 0.5)  # unbatched: one draw per channel too
    assert all(len(set(row.tolist())) == 1 for row in yu)
    y3 = nn.Dropout3d(0.5)(numtorch.ones(2, 3, 2, 2, 2))
    assert all(len(set(c.flatten().tolist())) == 1 for c in y3.reshape(6, 8))
    assert F.dropout3d(y3, 0.5, training=False) is y3
    z = numtorch.randn(40000)
    a = F.alpha_dropout(z, 0.3, training=True)  # keeps mean 0 and variance 1
    assert abs(a.mean().item()) < 0.03 and abs(a.std().item() - 1) < 0.03
    fa = F.feature_alpha_dropout(numtorch.ones(4, 6, 3), 0.5, training=True)
    assert all(len(set(c.tolist())) == 1 for c in fa.reshape(24, 3))
    assert nn.AlphaDropout(0.2).eval()(z) is z
    w = numtorch.ones(3, 4, requires_grad=True)
    F.dropout1d(w, 0.5).sum().backward()
    assert set(w.grad.flatten().tolist()) <= {0.0, 2.0}


def test_ctc_impossible_and_unbatched():
    x = numtorch.tensor(np.random.default_rng(8).standard_normal((2, 2, 3)), requires_grad=True)
    lp = x.log_softmax(2)
    t = numtorch.tensor([[1, 1], [2, 0]])  # "1 1" needs a blank between: 3 frames, only 2 here
    loss = F.ctc_loss(lp, t, [2, 2], [2, 1], reduction="none")
    assert math.isinf(loss[0].item()) and math.isfinite(loss[1].item())
    z = F.ctc_loss(lp, t, [2, 2], [2, 1], reduction="sum", zero_infinity=True)
    z.backward()
    assert np.isfinite(x.grad.numpy()).all() and not x.grad.numpy()[:, 0].any()
    empty = F.ctc_loss(lp, numtorch.tensor([], dtype=numtorch.int64), [2, 1], [0, 0],
                       reduction="none")  # only the all-blank paths
    np.testing.assert_allclose(empty.detach().numpy(), ref_ctc(x.detach().numpy(), [[], []],
                                                               [2, 1], [0, 0]), rtol=1e-12)
    one = F.ctc_loss(lp[:, 1], numtorch.tensor([2]), [2], [1], reduction="none")
    assert one.shape == () and abs(one.item() - loss[1].item()) < 1e-12
    with pytest.raises(RuntimeError, match="input_lengths to have value at most 2"):
        F.ctc_loss(lp, t, [3, 2], [2, 1])
    with pytest.raises(RuntimeError, match="blank must be in label range"):
        F.ctc_loss(lp, t, [2, 2], [2, 1], blank=3)
    with pytest.raises(RuntimeError, match="size at least 3 at dimension 1"):
        F.ctc_loss(lp, t, [2, 2], [3, 1])
    if torch is not None:
        tl = torch.nn.functional.ctc_loss(torch.tensor(lp.detach().numpy()), torch.tensor(
            t.numpy()), [2, 2], [2, 1], reduction="none")
        np.testing.assert_allclose(loss.detach().numpy(), tl.numpy(), rtol=1e-12)
        assert repr(nn.CTCLoss(blank=1)) == repr(torch.nn.CTCLoss(blank=1))


def test_pool_aliases_and_unpool_modules():
    x = numtorch.tensor(_module_input((1, 2, 4, 4, 4)))
    v, i = F.adaptive_max_pool2d_with_indices(x[0], 2)
    w, j = F.adaptive_max_pool2d(x[0], 2, return_indices=True)
    assert v.equal(w) and i.equal(j)
    assert F.adaptive_max_pool1d_with_indices(x[0, 0], 3)[1].equal(
        F.adaptive_max_pool1d(x[0, 0], 3, True)[1])
    assert F.adaptive_max_pool3d_with_indices(x, 2)[1].equal(F.adaptive_max_pool3d(x, 2, True)[1])
    assert F.native_channel_shuffle(x, 2).equal(F.channel_shuffle(x, 2))
    for nd in (1, 2):
        xi = x[0, :, 0] if nd == 1 else x[0]
        if nd == 1:
            y, idx = F.max_pool1d_with_indices(xi, 2)
        else:
            y, idx = F.max_pool2d_with_indices(xi, 2)
        m = (nn.MaxUnpool1d if nd == 1 else nn.MaxUnpool2d)(2)
        back = m(y, idx)
        np.testing.assert_array_equal(back.numpy(), ref_max_unpool(y.numpy(), idx.numpy(),
                                                                   tuple(back.shape[2:])))
        if torch is not None:
            assert repr(m) == repr((torch.nn.MaxUnpool1d if nd == 1 else torch.nn.MaxUnpool2d)(2))
    y, idx = F.max_pool2d(x.reshape(1, 2, 8, 8), 2, return_indices=True)
    u = nn.MaxUnpool3d((1, 2, 2))(y.reshape(1, 2, 1, 4, 4), idx.reshape(1, 2, 1, 4, 4),
                                  output_size=(1, 8, 8))
    np.testing.assert_array_equal(u.reshape(1, 2, 8, 8).numpy(), F.max_unpool2d(y, idx, 2).numpy())


def test_gumbel_softmax():
    numtorch.manual_seed(1)
    logits = numtorch.tensor([[0.0, 1.0, -1.0]]).expand(4000, 3)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    assert set(hard.flatten().tolist()) == {0.0, 1.0} and (hard.sum(1) == 1).all().item()
    p = np.exp([0.0, 1.0, -1.0]) / np.exp([0.0, 1.0, -1.0]).sum()  # the Gumbel-max trick
    np.testing.assert_allclose(hard.mean(0).numpy(), p, atol=0.03)
    w = numtorch.arange(3.0).reshape(3, 1)
    grads = []
    for hard in (False, True):  # the same noise: hard passes the soft sample's gradient
        numtorch.manual_seed(2)
        x = numtorch.zeros(2, 3, 4, requires_grad=True)
        y = F.gumbel_softmax(x, hard=hard, dim=1)
        assert np.allclose(y.sum(1).detach().numpy(), 1)
        (y * w).sum().backward()
        grads.append(x.grad.numpy())
    assert np.abs(grads[0]).sum() > 0
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)


def test_upsample_deprecated_aliases():
    x = numtorch.tensor(np.random.default_rng(7).standard_normal((1, 1, 2, 3)))
    with pytest.warns(UserWarning, match="deprecated"):
        y = F.upsample_bilinear(x, scale_factor=2)
    np.testing.assert_allclose(y.numpy(), ref_interpolate(x.numpy(), (4, 6), "linear", True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert F.upsample(x, size=(3, 3)).shape == F.upsample_nearest(x, size=(3, 3)).shape
