"""Convolution kernels (``kernels/<device>/conv.py``) against NumPy references.

The references convolve tap by tap: for each kernel tap (i, j), the strided, dilated window
positions of a zero-padded input (``_patch``), contracted with that tap's weights per group.
The gradients are the same loops read backwards. On "cpu" every case runs (the GEMM and the
direct kernels, picked by the taps per output); on "cuda" (16 threads x 3 blocks in the
simulator) a tiny case and cases with groups, dilation, stride and asymmetric padding, whose
grid-stride and block loops run several rounds.
"""
import numba
import numpy as np
import pytest

from numtorch.kernels import policy

FLOATS = [np.float32, np.float64]


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: the full grid on "cpu", the lean one on "cuda"."""
    return [("cpu",) + tuple(c) for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def out_size(size, k, s, p, d, p_end=None):
    p_end = p if p_end is None else p_end
    return (size + p + p_end - d * (k - 1) - 1) // s + 1


# --------------------------------------------------------------------------------------------
# References: geom = (sh, sw, ph, pw, dh, dw, groups); only the leading pad is given, the output
# size implies the trailing one.
# --------------------------------------------------------------------------------------------
def _rows(i, k_step, stride, n_out):
    return i * k_step + stride * np.arange(n_out)


def _pad(x, kh, kw, geom, oh, ow):
    """x in float64, zero-padded: ph/pw before, enough after for every window."""
    sh, sw, ph, pw, dh, dw, _ = geom
    h, w = x.shape[2:]
    th = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - ph - h)
    tw = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - pw - w)
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, th), (pw, tw)))


def _patch(xp, i, j, geom, oh, ow):
    """(N, C, OH, OW): the input element that tap (i, j) reads for every output position."""
    sh, sw, _, _, dh, dw, _ = geom
    return xp[:, :, _rows(i, dh, sh, oh)][:, :, :, _rows(j, dw, sw, ow)]


def conv2d_ref(x, w, b, geom, oh, ow):
    o, cg, kh, kw = w.shape
    groups = geom[6]
    og = o // groups
    xp = _pad(x, kh, kw, geom, oh, ow)
    out = np.zeros((x.shape[0], o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            p = _patch(xp, i, j, geom, oh, ow)
            for q in range(groups):
                out[:, q * og:(q + 1) * og] += np.einsum(
                    "nchw,oc->nohw", p[:, q * cg:(q + 1) * cg], w[q * og:(q + 1) * og, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def conv2d_gx_ref(g, w, geom, x_shape):
    """The input gradient of conv2d_ref for output gradient g (each tap's reads, added back)."""
    sh, sw, ph, pw, dh, dw, groups = geom
    o, cg, kh, kw = w.shape
    og = o // groups
    oh, ow = g.shape[2:]
    h, wd = x_shape[2:]
    gxp = np.zeros_like(_pad(np.zeros(x_shape), kh, kw, geom, oh, ow))
    for i in range(kh):
        for j in range(kw):
            rows, cols = _rows(i, dh, sh, oh), _rows(j, dw, sw, ow)  # distinct within a tap
            for q in range(groups):
                gxp[:, q * cg:(q + 1) * cg, rows[:, None], cols[None, :]] += np.einsum(
                    "nohw,oc->nchw", g[:, q * og:(q + 1) * og], w[q * og:(q + 1) * og, :, i, j])
    return gxp[:, :, ph:ph + h, pw:pw + wd]


def conv2d_gw_ref(x, g, geom, w_shape):
    o, cg, kh, kw = w_shape
    groups = geom[6]
    og = o // groups
    oh, ow = g.shape[2:]
    xp = _pad(x, kh, kw, geom, oh, ow)
    gw = np.zeros(w_shape)
    for i in range(kh):
        for j in range(kw):
            p = _patch(xp, i, j, geom, oh, ow)
            for q in range(groups):
                gw[q * og:(q + 1) * og, :, i, j] = np.einsum(
                    "nohw,nchw->oc", g[:, q * og:(q + 1) * og], p[:, q * cg:(q + 1) * cg])
    return gw


# --------------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------------
# (N, C, H, W, O, KH, KW, stride, pad, dilation, groups, trailing pad (None = same as leading))
CONV = [
    (2, 3, 5, 6, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1, None),     # CPU: GEMM path
    (1, 1, 7, 7, 3, 3, 3, (2, 2), (1, 0), (1, 1), 1, None),     # 1 channel (CPU: direct)
    (2, 4, 6, 7, 4, 3, 2, (1, 2), (0, 1), (2, 1), 2, None),     # groups, dilation, stride
    (2, 4, 4, 5, 4, 3, 3, (1, 1), (1, 1), (1, 1), 4, None),     # depthwise
    (1, 2, 7, 5, 3, 1, 1, (2, 1), (0, 0), (1, 1), 1, None),     # 1x1
    (2, 2, 6, 6, 2, 2, 2, (1, 1), (0, 0), (2, 2), 2, (1, 1)),   # asymmetric ('same' even kernel)
    (1, 3, 4, 7, 2, 2, 3, (2, 2), (1, 1), (1, 2), 1, None),
    (2, 8, 6, 5, 4, 3, 3, (2, 1), (1, 0), (1, 2), 2, None),     # CPU: GEMMs per group
    (4, 8, 20, 20, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1, None),  # CPU: the parallel twins
]
CUDA_CONV = [(CONV[1], np.float32), (CONV[2], np.float64), (CONV[5], np.float32)]


def conv_case(case, dtype, rng):
    n, c, h, w_, o, kh, kw, (sh, sw), (ph, pw), (dh, dw), groups, tail = case
    th, tw = tail if tail else (ph, pw)
    oh, ow = out_size(h, kh, sh, ph, dh, th), out_size(w_, kw, sw, pw, dw, tw)
    x = rand(rng, (n, c, h, w_), dtype)
    w = rand(rng, (o, c // groups, kh, kw), dtype)
    b = rand(rng, (o,), dtype)
    return x, w, b, (sh, sw, ph, pw, dh, dw, groups), (n, o, oh, ow)


def forward(device, x, w, b, geom, oshape):
    """(host out, the device cols buffer that the backward reuses)."""
    cs = device.conv.conv2d_cols_shape(x.shape, w.shape, oshape)
    cols = None if cs is None else device.empty(cs, x.dtype)
    out = device.stale(oshape, x.dtype, 7.5)
    device.conv.conv2d_forward(device.to_device(x), device.to_device(w),
                               None if b is None else device.to_device(b), *geom, cols, out)
    return device.to_host(out), cols


def use_way(way, monkeypatch):
    """CPU: "tasks" (patches per image, BLAS from the kernel, whatever the work: a batch of one
    image still goes the other way), "tasks-python" (the same with the drivers run by Python,
    as while their parallel builds compile) or "batch" (the whole batch's patches, np.matmul:
    NumPy without a known CBLAS)."""
    from numtorch.kernels.cpu import conv
    if way == "batch":
        monkeypatch.setattr(conv, "_use_tasks", lambda: False)
    else:
        monkeypatch.setattr(policy, "PARALLEL_THRESHOLD", 1)
        if numba.get_num_threads() < 2:  # one thread: tasks need two, run them one by one
            monkeypatch.setattr(conv.numba, "get_num_threads", lambda: 2)
    if way == "tasks-python":
        monkeypatch.setattr(conv._blas, "run_tasks",
                            lambda kernel, nt, *args, work: kernel.serial(*args))


@pytest.mark.parametrize("device,case,dtype,way", cases(
    [(c, d, way) for c in CONV for d in FLOATS for way in ("tasks", "tasks-python", "batch")
     if c is not CONV[-1] or d == np.float32], [c + ("tasks",) for c in CUDA_CONV]),
    indirect=["device"])
def test_conv2d_forward_backward(device, case, dtype, way, rng, monkeypatch):
    use_way(way, monkeypatch)
    x, w, b, geom, oshape = conv_case(case, dtype, rng)
    bias = b if case[0] != 1 else None  # the batch-of-one cases run without bias
    t = tol(dtype) if case is not CONV[-1] else dict(rtol=1e-4, atol=1e-4)  # K = 72 in float32
    got, cols = forward(device, x, w, bias, geom, oshape)
    np.testing.assert_allclose(got, conv2d_ref(x, w, bias, geom, *oshape[2:]), **t)

    g = rand(rng, oshape, dtype)
    gx, gw, gb = (device.stale(s, dtype, 7.5) for s in (x.shape, w.shape, b.shape))
    device.conv.conv2d_backward(device.to_device(g), device.to_device(x), device.to_device(w),
                                cols, *geom, gx, gw, gb)
    np.testing.assert_allclose(device.to_host(gx), conv2d_gx_ref(g, w, geom, x.shape), **t)
    np.testing.assert_allclose(device.to_host(gw), conv2d_gw_ref(x, g, geom, w.shape), **t)
    np.testing.assert_allclose(device.to_host(gb), g.astype(np.float64).sum((0, 2, 3)), **t)


@pytest.mark.parametrize("device,case,way", cases(
    [(c, way) for c in (CONV[0], CONV[2], CONV[3], CONV[-1]) for way in ("tasks", "batch")],
    [(CONV[2], "tasks")]), indirect=["device"])
def test_conv2d_backward_partial_and_empty(device, case, way, rng, monkeypatch):
    use_way(way, monkeypatch)
    x, w, b, geom, oshape = conv_case(case, np.float64, rng)
    _, cols = forward(device, x, w, b, geom, oshape)
    g = rand(rng, oshape, np.float64)
    dg, dx, dw = device.to_device(g), device.to_device(x), device.to_device(w)
    gw = device.stale(w.shape, np.float64)
    device.conv.conv2d_backward(dg, dx, dw, cols, *geom, None, gw, None)  # only gw
    np.testing.assert_allclose(device.to_host(gw), conv2d_gw_ref(x, g, geom, w.shape), rtol=1e-11,
                               atol=1e-11)
    gx = device.stale(x.shape, np.float64)
    device.conv.conv2d_backward(dg, dx, dw, cols, *geom, gx, None, None)  # only gx
    np.testing.assert_allclose(device.to_host(gx), conv2d_gx_ref(g, w, geom, x.shape),
                               rtol=1e-11, atol=1e-11)
    gb = device.stale(b.shape, np.float64)
    device.conv.conv2d_backward(dg, dx, dw, cols, *geom, None, None, gb)  # only gb
    np.testing.assert_allclose(device.to_host(gb), g.sum((0, 2, 3)), rtol=1e-11)
    for want_gx in (False, True):  # gb with one other: the CPU sums it in the same pass over g
        gx = device.stale(x.shape, np.float64) if want_gx else None
        gw = None if want_gx else device.stale(w.shape, np.float64)
        gb = device.stale(b.shape, np.float64)
        device.conv.conv2d_backward(dg, dx, dw, cols, *geom, gx, gw, gb)
        np.testing.assert_allclose(device.to_host(gb), g.sum((0, 2, 3)), rtol=1e-11)
        if want_gx:
            np.testing.assert_allclose(device.to_host(gx), conv2d_gx_ref(g, w, geom, x.shape),
                                       rtol=1e-11, atol=1e-11)
        else:
            np.testing.assert_allclose(device.to_host(gw), conv2d_gw_ref(x, g, geom, w.shape),
                                       rtol=1e-11, atol=1e-11)
    # empty batch: forward writes nothing, backward zeroes the weight and bias gradients
    xe = np.empty((0,) + x.shape[1:])
    ge = np.empty((0,) + oshape[1:])
    assert forward(device, xe, w, b, geom, ge.shape)[0].shape == ge.shape
    gx, gw, gb = device.empty(xe.shape, np.float64), device.stale(w.shape, np.float64), \
        device.stale(b.shape, np.float64)
    cs = device.conv.conv2d_cols_shape(xe.shape, w.shape, ge.shape)
    cols = None if cs is None else device.empty(cs, np.float64)
    device.conv.conv2d_backward(device.to_device(ge), device.to_device(xe), dw, cols, *geom, gx,
                                gw, gb)
    assert (device.to_host(gw) == 0).all() and (device.to_host(gb) == 0).all()


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_needs_no_cols_buffer(device):
    for case in CONV:
        x, w, _, _, oshape = conv_case(case, np.float32, np.random.default_rng(0))
        assert device.conv.conv2d_cols_shape(x.shape, w.shape, oshape) is None  # direct kernels


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_odd_launch_sizes(device, monkeypatch, rng):
    """13 threads x 2 blocks: the grid-stride loops and the bias-gradient tree reduction with a
    block size that is no power of two."""
    monkeypatch.setattr(device.memory, "BLOCK", 13)
    monkeypatch.setattr(device.memory, "MAX_BLOCKS", 2)
    test_conv2d_forward_backward(device, CONV[2], np.float64, "tasks", rng, monkeypatch)


# --------------------------------------------------------------------------------------------
# conv_transpose2d: conv2d read backwards (its forward is conv2d's input gradient)
# --------------------------------------------------------------------------------------------
# (N, C, H, W, O/groups, KH, KW, stride, pad, dilation, groups, output_padding)
CONVT = [
    (2, 2, 4, 3, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1, (0, 0)),
    (1, 4, 3, 4, 1, 3, 2, (2, 2), (1, 0), (1, 2), 2, (1, 1)),
    (2, 2, 3, 3, 2, 2, 2, (2, 1), (0, 0), (2, 1), 2, (1, 0)),
    (1, 3, 5, 4, 2, 1, 3, (1, 2), (0, 1), (1, 1), 1, (0, 1)),
    (4, 8, 9, 9, 4, 3, 3, (2, 2), (1, 1), (1, 1), 2, (1, 1)),   # CPU: tasks in parallel
]


@pytest.mark.parametrize("device,case,dtype,way", cases(
    [(c, d, way) for c in CONVT for d in FLOATS for way in ("tasks", "tasks-python", "batch")],
    [(CONVT[1], np.float32, "tasks"), (CONVT[2], np.float64, "tasks")]), indirect=["device"])
def test_conv_transpose2d(device, case, dtype, way, rng, monkeypatch):
    use_way(way, monkeypatch)
    n, c, h, w_, og, kh, kw, (sh, sw), (ph, pw), (dh, dw), groups, (oph, opw) = case
    o = og * groups
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (w_ - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    geom = (sh, sw, ph, pw, dh, dw, groups)
    x = rand(rng, (n, c, h, w_), dtype)
    w = rand(rng, (c, og, kh, kw), dtype)  # read as a conv2d weight: C outputs, O/groups inputs
    b = rand(rng, (o,), dtype)
    bias = b if n == 2 else None
    out = device.stale((n, o, oh, ow), dtype, 7.5)
    dx, dw_ = device.to_device(x), device.to_device(w)
    device.conv.conv_transpose2d_forward(dx, dw_, None if bias is None else device.to_device(b),
                                         *geom, out)
    want = conv2d_gx_ref(x, w, geom, (n, o, oh, ow))
    if bias is not None:
        want = want + b[None, :, None, None]
    np.testing.assert_allclose(device.to_host(out), want, **tol(dtype))

    g = rand(rng, (n, o, oh, ow), dtype)
    dg = device.to_device(g)
    gx, gw, gb = (device.stale(s, dtype, 7.5) for s in (x.shape, w.shape, b.shape))
    device.conv.conv_transpose2d_backward(dg, dx, dw_, *geom, gx, gw, gb)
    want_gw = conv2d_gw_ref(g, x, geom, w.shape)  # g in the role of conv2d's input
    np.testing.assert_allclose(device.to_host(gx), conv2d_ref(g, w, None, geom, h, w_),
                               **tol(dtype))
    np.testing.assert_allclose(device.to_host(gw), want_gw, **tol(dtype))
    np.testing.assert_allclose(device.to_host(gb), g.astype(np.float64).sum((0, 2, 3)),
                               **tol(dtype))
    if n == 1:  # skipping gradients
        gw = device.stale(w.shape, dtype, 7.5)
        device.conv.conv_transpose2d_backward(dg, dx, dw_, *geom, None, gw, None)
        np.testing.assert_allclose(device.to_host(gw), want_gw, **tol(dtype))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_conv_transpose2d_empty(device):
    x = np.empty((0, 2, 3, 3))
    w = np.ones((2, 3, 2, 2))
    geom = (1, 1, 0, 0, 1, 1, 1)
    C = device.conv
    C.conv_transpose2d_forward(device.to_device(x), device.to_device(w), None, *geom,
                               device.empty((0, 3, 4, 4), np.float64))
    gw, gb = device.stale(w.shape, np.float64), device.stale((3,), np.float64)
    C.conv_transpose2d_backward(device.empty((0, 3, 4, 4), np.float64), device.to_device(x),
                                device.to_device(w), *geom, device.empty(x.shape, np.float64),
                                gw, gb)
    assert (device.to_host(gw) == 0).all() and (device.to_host(gb) == 0).all()
