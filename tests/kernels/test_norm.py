"""Normalisation and fused cross-entropy kernels (``kernels/<device>/norm.py``) against NumPy.

The references are the textbook formulas in float64 (batch statistics over N and L, layer
statistics over a row, log-softmax + NLL with class weights and label smoothing) and their
derivatives. On "cpu" every shape runs; on "cuda" (16 threads x 3 blocks, tile 8 in the
simulator) a few whose block loops over channels/rows, tree reductions and column tiles run
several rounds, and the narrow (thread per row), wide (block per row) and N-d cross-entropy
layouts.
"""
import numpy as np
import pytest

FLOATS = [np.float32, np.float64]
STAT = dict(rtol=1e-9, atol=1e-9)  # float64 statistics and weight gradients


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: the full grid on "cpu", the lean one on "cuda"."""
    return [("cpu",) + tuple(c) for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def f64(a):
    return np.asarray(a, np.float64)


# --------------------------------------------------------------------------------------------
# batch norm: x (N, C, L), statistics per channel over N and L
# --------------------------------------------------------------------------------------------
def bn_stats(x, eps):
    x = f64(x)
    mean = x.mean((0, 2))
    var = x.var((0, 2))
    return mean, 1 / np.sqrt(var + eps), var


def bn_apply(x, w, b, mean, invstd):
    return (f64(x) - mean[:, None]) * invstd[:, None] * f64(w)[:, None] + f64(b)[:, None]


def bn_backward_ref(x, g, w, mean, invstd, training):
    x, g = f64(x), f64(g)
    xhat = (x - mean[:, None]) * invstd[:, None]
    gw = (g * xhat).sum((0, 2))
    gb = g.sum((0, 2))
    k = (f64(w) * invstd)[:, None]
    if not training:  # constant statistics
        return g * k, gw, gb
    return k * (g - g.mean((0, 2))[:, None] - xhat * (g * xhat).mean((0, 2))[:, None]), gw, gb


BN_SHAPES = [(3, 5, 7), (4, 3, 1), (2, 2, 20), (8, 16, 300)]  # L = 1: BatchNorm1d on (N, C)
BN_CPU = [(s, d) for s in BN_SHAPES[:3] for d in FLOATS] + [(BN_SHAPES[3], np.float32)]


@pytest.mark.parametrize("device,shape,dtype", cases(BN_CPU, [((3, 5, 7), np.float32),
                                                             ((2, 2, 20), np.float64)]),
                         indirect=["device"])
def test_batch_norm_train_eval_backward(device, shape, dtype, rng):
    n, c, l_ = shape
    N = device.norm
    x = (rng.standard_normal(shape) * 2 + 50).astype(dtype)  # offset data: shifted sums
    w = rng.uniform(0.5, 1.5, c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    rm0 = rng.standard_normal(c).astype(dtype)
    rv0 = rng.uniform(0.5, 2, c).astype(dtype)
    dx, dw, db = device.to_device(x), device.to_device(w), device.to_device(b)

    # training, with the running statistics updated (the unbiased variance)
    mean, invstd, var = bn_stats(x, 1e-5)
    drm, drv = device.to_device(rm0), device.to_device(rv0)
    dmean, dinv, dout = device.stale(c, np.float64), device.stale(c, np.float64), \
        device.stale(shape, dtype)
    N.batch_norm_train(dx, dw, db, 1e-5, 0.1, drm, drv, dmean, dinv, dout)
    np.testing.assert_allclose(device.to_host(dmean), mean, rtol=1e-12)
    np.testing.assert_allclose(device.to_host(dinv), invstd, rtol=1e-9)
    np.testing.assert_allclose(device.to_host(dout), bn_apply(x, w, b, mean, invstd), **tol(dtype))
    cnt = n * l_
    np.testing.assert_allclose(device.to_host(drm), 0.9 * f64(rm0) + 0.1 * mean, **tol(dtype))
    np.testing.assert_allclose(device.to_host(drv), 0.9 * f64(rv0) + 0.1 * var * cnt / (cnt - 1),
                               **tol(dtype))

    # backward with the batch statistics
    g = rng.standard_normal(shape).astype(dtype)
    dg = device.to_device(g)
    gx, gw, gb = device.stale(shape, dtype), device.stale(c, np.float64), \
        device.stale(c, np.float64)
    N.batch_norm_backward(dx, dg, dw, dmean, dinv, True, gx, gw, gb)
    wx, ww, wb = bn_backward_ref(x, g, w, mean, invstd, True)
    np.testing.assert_allclose(device.to_host(gx), wx, **tol(dtype))
    np.testing.assert_allclose(device.to_host(gw), ww, **STAT)
    np.testing.assert_allclose(device.to_host(gb), wb, **STAT)

    # eval with the running statistics, then its backward (statistics constant)
    N.batch_norm_eval(dx, dw, db, device.to_device(rm0), device.to_device(rv0), 1e-5, dmean, dinv,
                      dout)
    mean, invstd = f64(rm0), 1 / np.sqrt(f64(rv0) + 1e-5)
    np.testing.assert_allclose(device.to_host(dmean), mean, rtol=1e-12)
    np.testing.assert_allclose(device.to_host(dinv), invstd, rtol=1e-12)
    np.testing.assert_allclose(device.to_host(dout), bn_apply(x, w, b, mean, invstd), **tol(dtype))
    N.batch_norm_backward(dx, dg, dw, dmean, dinv, False, gx, gw, gb)
    wx, ww, wb = bn_backward_ref(x, g, w, mean, invstd, False)
    np.testing.assert_allclose(device.to_host(gx), wx, **tol(dtype))
    np.testing.assert_allclose(device.to_host(gw), ww, **STAT)
    np.testing.assert_allclose(device.to_host(gb), wb, **STAT)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_batch_norm_without_running_stats_and_empty(device, rng):
    N = device.norm
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    dw, db = device.to_device(w), device.to_device(b)
    mean, invstd, out = device.stale(3, np.float64), device.stale(3, np.float64), \
        device.stale(x.shape, np.float32)
    N.batch_norm_train(device.to_device(x), dw, db, 1e-3, 0.1, None, None, mean, invstd, out)
    m, r, _ = bn_stats(x, 1e-3)
    np.testing.assert_allclose(device.to_host(out), bn_apply(x, w, b, m, r), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(device.to_host(invstd), r, rtol=1e-9)
    # empty batch: forward writes nothing, backward zeroes gw and gb
    xe = device.to_device(np.empty((0, 3, 4), np.float32))
    N.batch_norm_train(xe, dw, db, 1e-5, 0.1, None, None, mean, invstd, xe)
    N.batch_norm_eval(xe, dw, db, dw, dw, 1e-5, mean, invstd, xe)
    gw, gb = device.stale(3, np.float64), device.stale(3, np.float64)
    N.batch_norm_backward(xe, xe, dw, mean, invstd, True, xe, gw, gb)
    assert (device.to_host(gw) == 0).all() and (device.to_host(gb) == 0).all()


# --------------------------------------------------------------------------------------------
# layer norm: x (M, D), statistics per row
# --------------------------------------------------------------------------------------------
def ln_stats(x, eps):
    x = f64(x)
    return x.mean(1), 1 / np.sqrt(x.var(1) + eps)


@pytest.mark.parametrize("device,shape,dtype", cases(
    [(s, d) for s in [(5, 7), (3, 37), (1, 1), (4, 9)] for d in FLOATS]
    + [((300, 200), np.float32)], [((1, 1), np.float32), ((3, 37), np.float64)]),
    indirect=["device"])
def test_layer_norm(device, shape, dtype, rng):
    m, d = shape
    N = device.norm
    x = (rng.standard_normal(shape) + 3).astype(dtype)
    w = rng.uniform(0.5, 1.5, d).astype(dtype)
    b = rng.standard_normal(d).astype(dtype)
    dx, dw = device.to_device(x), device.to_device(w)
    mean, rstd, out = device.stale(m, np.float64), device.stale(m, np.float64), \
        device.stale(shape, dtype)
    N.layer_norm(dx, dw, device.to_device(b), 1e-5, mean, rstd, out)
    wm, wr = ln_stats(x, 1e-5)
    xhat = (f64(x) - wm[:, None]) * wr[:, None]
    np.testing.assert_allclose(device.to_host(mean), wm, rtol=1e-12)
    np.testing.assert_allclose(device.to_host(rstd), wr, rtol=1e-9)
    np.testing.assert_allclose(device.to_host(out), xhat * f64(w) + f64(b), **tol(dtype))

    g = rng.standard_normal(shape).astype(dtype)
    dg = device.to_device(g)
    gx = device.stale(shape, dtype)
    N.layer_norm_backward(dx, dg, dw, mean, rstd, gx)
    gxh = f64(g) * f64(w)  # the gradient of xhat
    want = wr[:, None] * (gxh - gxh.mean(1, keepdims=True)
                          - xhat * (gxh * xhat).mean(1, keepdims=True))
    np.testing.assert_allclose(device.to_host(gx), want, **tol(dtype))

    gw, gb = device.stale(d, np.float64), device.stale(d, np.float64)
    N.layer_norm_affine_backward(dx, dg, mean, rstd, gw, gb)
    np.testing.assert_allclose(device.to_host(gw), (f64(g) * xhat).sum(0), **STAT)
    np.testing.assert_allclose(device.to_host(gb), f64(g).sum(0), **STAT)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_layer_norm_empty(device):
    N = device.norm
    x = device.to_device(np.empty((0, 4), np.float32))
    s = device.to_device(np.empty(0))
    ones = device.to_device(np.ones(4, np.float32))
    N.layer_norm(x, ones, device.to_device(np.zeros(4, np.float32)), 1e-5, s, s, x)
    N.layer_norm_backward(x, x, ones, s, s, x)
    gw, gb = device.stale(4, np.float64), device.stale(4, np.float64)
    N.layer_norm_affine_backward(x, x, s, s, gw, gb)
    assert (device.to_host(gw) == 0).all() and (device.to_host(gb) == 0).all()


# --------------------------------------------------------------------------------------------
# cross entropy: logits (n, C) or (outer, C, inner), class-index targets
# --------------------------------------------------------------------------------------------
def rows(x):
    """Logits as (positions, C): (n, C) as is, (outer, C, inner) with C last."""
    return f64(x) if x.ndim == 2 else f64(x).transpose(0, 2, 1).reshape(-1, x.shape[1])


def ce_ref(x, t, w, ignore, ls):
    """(lse, loss, totals [sum of loss, sum of w[t]], kept) per position (t's shape)."""
    xr, tr, w = rows(x), t.reshape(-1), f64(w)
    C = xr.shape[1]
    kept = (tr != ignore) & (tr >= 0) & (tr < C)
    m = xr.max(1, keepdims=True)
    lse = (m + np.log(np.exp(xr - m).sum(1, keepdims=True)))[:, 0]
    tk = np.where(kept, tr, 0)
    nll = lse - xr[np.arange(len(tr)), tk]
    smooth = (w[None, :] * (lse[:, None] - xr)).sum(1) / C
    loss = np.where(kept, (1 - ls) * w[tk] * nll + ls * smooth, 0.0)
    lse = np.where(kept, lse, 0.0)
    return (lse.reshape(t.shape), loss.reshape(t.shape),
            np.array([loss.sum(), w[tk][kept].sum()]), kept.reshape(t.shape))


def ce_grad_ref(x, t, w, ignore, ls, scale):
    """d loss / d x for an upstream gradient ``scale`` per position (t's shape)."""
    xr, tr, w = rows(x), t.reshape(-1), f64(w)
    C = xr.shape[1]
    kept = (tr != ignore) & (tr >= 0) & (tr < C)
    tk = np.where(kept, tr, 0)
    p = np.exp(xr - xr.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(C)[tk]
    wt = w[tk][:, None]
    # (1 - ls) w_t (p - onehot) + ls / C (W p - w)
    g = (1 - ls) * wt * (p - onehot) + ls / C * (w.sum() * p - w[None, :])
    g *= np.where(kept, np.broadcast_to(scale, t.shape).reshape(-1), 0.0)[:, None]
    if x.ndim == 2:
        return g
    outer, _, inner = x.shape
    return g.reshape(outer, inner, C).transpose(0, 2, 1)


def ce_run(device, x, t, w, ignore, ls):
    """(lse, loss, totals, err) of the forward kernel, on the host."""
    lse, loss = device.stale(t.shape, np.float64), device.stale(t.shape, x.dtype)
    tot, err = device.stale(2, np.float64), device.to_device(np.zeros(2, np.int64))
    device.norm.cross_entropy(device.to_device(x), device.to_device(t), device.to_device(w),
                              ignore, ls, lse, loss, tot, err)
    return lse, loss, tot, err


# (logits shape, ignore_index, label_smoothing, weighted): rows (n, C) with narrow C (CUDA: a
# thread per row) and wide C >= 64 (CUDA: a block per row), and the N-d layout (outer, C, inner)
CE = [
    ((7, 5), -100, 0.0, False),
    ((7, 5), 2, 0.1, True),
    ((5, 70), -100, 0.0, True),
    ((4, 70), 3, 0.2, False),
    ((2, 4, 6), -100, 0.0, False),
    ((2, 3, 5), 1, 0.15, True),
]
CE_CPU = [c + (d,) for c in CE for d in FLOATS] + [((3000, 40), 3, 0.1, True, np.float32),
                                                   ((8, 10, 500), -100, 0.1, True, np.float32)]
CE_CUDA = [CE[1] + (np.float32,), CE[2] + (np.float64,), CE[5] + (np.float32,)]


@pytest.mark.parametrize("device,shape,ignore,ls,weighted,dtype", cases(CE_CPU, CE_CUDA),
                         indirect=["device"])
def test_cross_entropy(device, shape, ignore, ls, weighted, dtype, rng):
    c = shape[1]
    tshape = (shape[0],) + shape[2:]
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    if ignore >= 0:
        t.reshape(-1)[2] = ignore
    else:
        t.reshape(-1)[1] = ignore
    w = (rng.uniform(0.2, 2, c) if weighted else np.ones(c)).astype(dtype)
    lse, loss, tot, err = ce_run(device, x, t, w, ignore, ls)
    wlse, wloss, wtot, kept = ce_ref(x, t, w, ignore, ls)
    assert not device.to_host(err).any()
    r = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(device.to_host(lse), wlse, rtol=r)
    np.testing.assert_allclose(device.to_host(loss), wloss, **tol(dtype))
    np.testing.assert_allclose(device.to_host(tot), wtot, rtol=r)
    assert (device.to_host(loss)[~kept] == 0).all()

    # backward: a scalar upstream gradient (mean/sum) and a per-position one (reduction='none')
    dx, dt, dw = device.to_device(x), device.to_device(t), device.to_device(w)
    gx = device.stale(x.shape, dtype)
    device.norm.cross_entropy_backward(dx, dt, dw, ignore, ls, lse, 0.37, lse, False, gx)
    np.testing.assert_allclose(device.to_host(gx), ce_grad_ref(x, t, w, ignore, ls, 0.37),
                               **tol(dtype))
    gv = rng.standard_normal(tshape).astype(dtype)
    device.norm.cross_entropy_backward(dx, dt, dw, ignore, ls, lse, 0.0, device.to_device(gv),
                                       True, gx)
    np.testing.assert_allclose(device.to_host(gx), ce_grad_ref(x, t, w, ignore, ls, f64(gv)),
                               **tol(dtype))


@pytest.mark.parametrize("device,shape", cases([((6, 5),), ((6, 70),), ((2, 4, 3),)],
                                               [((6, 70),), ((2, 4, 3),)]), indirect=["device"])
def test_cross_entropy_bad_target_sets_err(device, shape, rng):
    c = shape[1]
    tshape = (shape[0],) + shape[2:]
    x = rng.standard_normal(shape).astype(np.float32)
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    flat = t.reshape(-1)
    flat[1] = c + 3        # too large
    flat[4] = -5           # negative (and not ignore_index): the last bad one is reported
    flat[3] = -100         # ignored, not an error
    w = np.ones(c, np.float32)
    lse, loss, tot, err = ce_run(device, x, t, w, -100, 0.0)
    assert device.to_host(err).tolist() == [1, -5]
    _, wloss, wtot, _ = ce_ref(x, t, w, -100, 0.0)  # bad positions: loss 0, not in the totals
    np.testing.assert_allclose(device.to_host(loss), wloss, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(device.to_host(tot), wtot, rtol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_cross_entropy_empty_batch(device):
    x = np.empty((0, 5), np.float32)
    t = np.empty(0, np.int64)
    w = np.ones(5, np.float32)
    lse, loss, tot, err = ce_run(device, x, t, w, -100, 0.0)
    np.testing.assert_array_equal(device.to_host(tot), [0.0, 0.0])
    assert not device.to_host(err).any()
    device.norm.cross_entropy_backward(device.to_device(x), device.to_device(t),
                                       device.to_device(w), -100, 0.0, lse, 1.0, lse, False,
                                       device.empty(x.shape, np.float32))


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_odd_launch_sizes(device, monkeypatch, rng):
    """Reductions stay correct for a block size that is no power of two and a tile that does
    not divide it (13 threads, 2 blocks, 5 columns per tile)."""
    monkeypatch.setattr(device.memory, "BLOCK", 13)
    monkeypatch.setattr(device.memory, "MAX_BLOCKS", 2)
    monkeypatch.setattr(device.memory, "TILE", 5)
    test_batch_norm_train_eval_backward(device, (3, 4, 9), np.float64, rng)
    test_layer_norm(device, (6, 18), np.float64, rng)
    test_cross_entropy(device, (3, 70), -100, 0.3, False, np.float64, rng)
