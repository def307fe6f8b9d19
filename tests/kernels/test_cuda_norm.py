"""numtorch.kernels.cuda.norm against numtorch.kernels.cpu.norm (in Numba's CUDA simulator).

Tiny shapes; conftest shrinks the launch to 16 threads x 3 blocks (tile 8), so the block loops
over channels/rows, the tree reductions and the column tiles all run several rounds.
"""
import numpy as np
import pytest

from numtorch.kernels.cpu import norm as C
from numtorch.kernels.cuda import memory
from numtorch.kernels.cuda import norm as G

FLOATS = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def dev(a):
    return memory.to_device(np.asarray(a))


def host(a):
    return memory.to_host(a)


def stale(shape, dtype):
    """A device array of garbage: kernels must overwrite every element they own."""
    return dev(np.full(shape, 7.5, dtype))


# --------------------------------------------------------------------------------------------
# batch norm
# --------------------------------------------------------------------------------------------
BN_SHAPES = [(3, 5, 7), (4, 3, 1), (2, 2, 20)]  # (N, C, L): L = 1 is BatchNorm1d on (N, C)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_norm_train_eval_backward(shape, dtype, rng):
    n, c, l_ = shape
    x = (rng.standard_normal(shape) * 2 + 50).astype(dtype)  # offset data: shifted sums
    w = rng.uniform(0.5, 1.5, c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    rm0 = rng.standard_normal(c).astype(dtype)
    rv0 = rng.uniform(0.5, 2, c).astype(dtype)

    # training with running stats update
    rm, rv = rm0.copy(), rv0.copy()
    mean, invstd, out = np.empty(c), np.empty(c), np.empty(shape, dtype)
    C.batch_norm_train(x, w, b, 1e-5, 0.1, rm, rv, mean, invstd, out)
    drm, drv = dev(rm0), dev(rv0)
    gmean, ginv, gout = stale(c, np.float64), stale(c, np.float64), stale(shape, dtype)
    dx = dev(x)
    G.batch_norm_train(dx, dev(w), dev(b), 1e-5, 0.1, drm, drv, gmean, ginv, gout)
    np.testing.assert_allclose(host(gmean), mean, rtol=1e-12)
    np.testing.assert_allclose(host(ginv), invstd, rtol=1e-9)
    np.testing.assert_allclose(host(gout), out, **tol(dtype))
    np.testing.assert_allclose(host(drm), rm, **tol(dtype))
    np.testing.assert_allclose(host(drv), rv, **tol(dtype))

    # backward with batch stats
    g = rng.standard_normal(shape).astype(dtype)
    gx, gw, gb = np.empty(shape, dtype), np.empty(c), np.empty(c)
    C.batch_norm_backward(x, g, w, mean, invstd, True, gx, gw, gb)
    dgx, dgw, dgb = stale(shape, dtype), stale(c, np.float64), stale(c, np.float64)
    G.batch_norm_backward(dx, dev(g), dev(w), gmean, ginv, True, dgx, dgw, dgb)
    np.testing.assert_allclose(host(dgx), gx, **tol(dtype))
    np.testing.assert_allclose(host(dgw), gw, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(host(dgb), gb, rtol=1e-9, atol=1e-9)

    # eval with running stats, then its backward (stats constants)
    C.batch_norm_eval(x, w, b, rm0, rv0, 1e-5, mean, invstd, out)
    G.batch_norm_eval(dx, dev(w), dev(b), dev(rm0), dev(rv0), 1e-5, gmean, ginv, gout)
    np.testing.assert_allclose(host(gmean), mean, rtol=1e-12)
    np.testing.assert_allclose(host(ginv), invstd, rtol=1e-12)
    np.testing.assert_allclose(host(gout), out, **tol(dtype))
    C.batch_norm_backward(x, g, w, mean, invstd, False, gx, gw, gb)
    G.batch_norm_backward(dx, dev(g), dev(w), gmean, ginv, False, dgx, dgw, dgb)
    np.testing.assert_allclose(host(dgx), gx, **tol(dtype))
    np.testing.assert_allclose(host(dgw), gw, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(host(dgb), gb, rtol=1e-9, atol=1e-9)


def test_batch_norm_train_without_running_stats_and_empty(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    mean, invstd, out = np.empty(3), np.empty(3), np.empty_like(x)
    C.batch_norm_train(x, w, b, 1e-3, 0.1, None, None, mean, invstd, out)
    gmean, ginv, gout = stale(3, np.float64), stale(3, np.float64), stale(x.shape, np.float32)
    G.batch_norm_train(dev(x), dev(w), dev(b), 1e-3, 0.1, None, None, gmean, ginv, gout)
    np.testing.assert_allclose(host(gout), out, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(host(ginv), invstd, rtol=1e-9)
    # empty batch: forward writes nothing, backward zeroes gw and gb
    xe = dev(np.empty((0, 3, 4), np.float32))
    G.batch_norm_train(xe, dev(w), dev(b), 1e-5, 0.1, None, None, gmean, ginv, xe)
    G.batch_norm_eval(xe, dev(w), dev(b), dev(w), dev(w), 1e-5, gmean, ginv, xe)
    gw, gb = stale(3, np.float64), stale(3, np.float64)
    G.batch_norm_backward(xe, xe, dev(w), gmean, ginv, True, xe, gw, gb)
    assert (host(gw) == 0).all() and (host(gb) == 0).all()


# --------------------------------------------------------------------------------------------
# layer norm
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7), (3, 37), (1, 1), (4, 9)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_layer_norm(shape, dtype, rng):
    m, d = shape
    x = (rng.standard_normal(shape) + 3).astype(dtype)
    w = rng.uniform(0.5, 1.5, d).astype(dtype)
    b = rng.standard_normal(d).astype(dtype)
    mean, rstd, out = np.empty(m), np.empty(m), np.empty(shape, dtype)
    C.layer_norm(x, w, b, 1e-5, mean, rstd, out)
    dx, dw = dev(x), dev(w)
    gmean, grstd, gout = stale(m, np.float64), stale(m, np.float64), stale(shape, dtype)
    G.layer_norm(dx, dw, dev(b), 1e-5, gmean, grstd, gout)
    np.testing.assert_allclose(host(gmean), mean, rtol=1e-12)
    np.testing.assert_allclose(host(grstd), rstd, rtol=1e-9)
    np.testing.assert_allclose(host(gout), out, **tol(dtype))

    g = rng.standard_normal(shape).astype(dtype)
    dg = dev(g)
    gx = np.empty(shape, dtype)
    C.layer_norm_backward(x, g, w, mean, rstd, gx)
    dgx = stale(shape, dtype)
    G.layer_norm_backward(dx, dg, dw, gmean, grstd, dgx)
    np.testing.assert_allclose(host(dgx), gx, **tol(dtype))

    gw, gb = np.empty(d), np.empty(d)
    C.layer_norm_affine_backward(x, g, mean, rstd, gw, gb)
    dgw, dgb = stale(d, np.float64), stale(d, np.float64)
    G.layer_norm_affine_backward(dx, dg, gmean, grstd, dgw, dgb)
    np.testing.assert_allclose(host(dgw), gw, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(host(dgb), gb, rtol=1e-9, atol=1e-9)


def test_layer_norm_empty():
    x = dev(np.empty((0, 4), np.float32))
    s = dev(np.empty(0))
    G.layer_norm(x, dev(np.ones(4, np.float32)), dev(np.zeros(4, np.float32)), 1e-5, s, s, x)
    G.layer_norm_backward(x, x, dev(np.ones(4, np.float32)), s, s, x)
    gw, gb = stale(4, np.float64), stale(4, np.float64)
    G.layer_norm_affine_backward(x, x, s, s, gw, gb)
    assert (host(gw) == 0).all() and (host(gb) == 0).all()


# --------------------------------------------------------------------------------------------
# cross entropy
# --------------------------------------------------------------------------------------------
def _ce_both(x, t, w, ignore, ls):
    """Run the CPU and CUDA forward; returns (cpu results, cuda device results)."""
    lse, loss = np.empty(t.shape), np.empty(t.shape, x.dtype)
    tot, err = np.zeros(2), np.zeros(2, np.int64)
    C.cross_entropy(x, t, w, ignore, ls, lse, loss, tot, err)
    dl, dloss = stale(t.shape, np.float64), stale(t.shape, x.dtype)
    dtot, derr = stale(2, np.float64), dev(np.zeros(2, np.int64))
    G.cross_entropy(dev(x), dev(t), dev(w), ignore, ls, dl, dloss, dtot, derr)
    return (lse, loss, tot, err), (dl, dloss, dtot, derr)


# (logits shape, ignore_index, label_smoothing, weighted): rows (n, C) with narrow C (thread per
# row) and wide C >= 64 (block per row), and the nd layout (outer, C, inner)
CE = [
    ((7, 5), -100, 0.0, False),
    ((7, 5), 2, 0.1, True),
    ((5, 70), -100, 0.0, True),
    ((4, 70), 3, 0.2, False),
    ((2, 4, 6), -100, 0.0, False),
    ((2, 3, 5), 1, 0.15, True),
]


@pytest.mark.parametrize("shape,ignore,ls,weighted", CE)
@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy(shape, ignore, ls, weighted, dtype, rng):
    c = shape[1]
    tshape = (shape[0],) + shape[2:]
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    t.reshape(-1)[1] = ignore if ignore < 0 else t.reshape(-1)[1]
    if ignore >= 0:
        t.reshape(-1)[2] = ignore
    w = (rng.uniform(0.2, 2, c) if weighted else np.ones(c)).astype(dtype)
    (lse, loss, tot, err), (dl, dloss, dtot, derr) = _ce_both(x, t, w, ignore, ls)
    assert not err.any() and not host(derr).any()
    np.testing.assert_allclose(host(dl), lse, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(host(dloss), loss, **tol(dtype))
    np.testing.assert_allclose(host(dtot), tot, rtol=1e-6 if dtype == np.float32 else 1e-12)
    kept = t != ignore
    assert (host(dloss)[~kept] == 0).all()

    # backward: a scalar upstream gradient (mean/sum) and a per-position one (reduction='none')
    dx, dt, dw = dev(x), dev(t), dev(w)
    gx = np.empty_like(x)
    C.cross_entropy_backward(x, t, w, ignore, ls, lse, 0.37, lse, False, gx)
    dgx = stale(x.shape, dtype)
    G.cross_entropy_backward(dx, dt, dw, ignore, ls, dl, 0.37, dl, False, dgx)
    np.testing.assert_allclose(host(dgx), gx, **tol(dtype))
    gv = rng.standard_normal(tshape).astype(dtype)
    C.cross_entropy_backward(x, t, w, ignore, ls, lse, 0.0, gv, True, gx)
    G.cross_entropy_backward(dx, dt, dw, ignore, ls, dl, 0.0, dev(gv), True, dgx)
    np.testing.assert_allclose(host(dgx), gx, **tol(dtype))


@pytest.mark.parametrize("shape", [(6, 5), (6, 70), (2, 4, 3)])
def test_cross_entropy_bad_target_sets_err(shape, rng):
    c = shape[1]
    tshape = (shape[0],) + shape[2:]
    x = rng.standard_normal(shape).astype(np.float32)
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    flat = t.reshape(-1)
    flat[1] = c + 3        # too large
    flat[4] = -5           # negative (and not ignore_index): the last bad one is reported
    flat[3] = -100         # ignored, not an error
    w = np.ones(c, np.float32)
    (lse, loss, tot, err), (dl, dloss, dtot, derr) = _ce_both(x, t, w, -100, 0.0)
    assert err.tolist() == [1, -5]
    np.testing.assert_array_equal(host(derr), err)
    np.testing.assert_allclose(host(dloss), loss, rtol=2e-5, atol=2e-5)  # bad positions: 0
    np.testing.assert_allclose(host(dtot), tot, rtol=1e-6)
    # the host raises like the CPU path does
    with pytest.raises(IndexError, match="Target -5 is out of bounds"):
        e = host(derr)
        if e[0]:
            raise IndexError(f"Target {int(e[1])} is out of bounds.")


def test_cross_entropy_empty_batch():
    x = np.empty((0, 5), np.float32)
    t = np.empty(0, np.int64)
    (lse, loss, tot, err), (dl, dloss, dtot, derr) = _ce_both(x, t, np.ones(5, np.float32),
                                                             -100, 0.0)
    np.testing.assert_array_equal(host(dtot), [0.0, 0.0])
    assert not host(derr).any()
    G.cross_entropy_backward(dev(x), dev(t), dev(np.ones(5, np.float32)), -100, 0.0, dl, 1.0,
                             dl, False, dev(np.empty_like(x)))


def test_same_public_api_as_cpu():
    public = {k for k, v in vars(C).items() if callable(v) and not k.startswith("_")
              and getattr(v, "__module__", "") == C.__name__}
    assert {"batch_norm_train", "layer_norm", "cross_entropy"} <= public
    for name in public:
        assert callable(getattr(G, name, None)), name


def test_odd_launch_sizes(monkeypatch, rng):
    """Reductions stay correct for a block size that is no power of two and a tile that does
    not divide it (13 threads, 2 blocks, 5 columns per tile)."""
    monkeypatch.setattr(memory, "BLOCK", 13)
    monkeypatch.setattr(memory, "MAX_BLOCKS", 2)
    monkeypatch.setattr(memory, "TILE", 5)
    x = rng.standard_normal((3, 4, 9))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    mean, invstd, out = np.empty(4), np.empty(4), np.empty_like(x)
    C.batch_norm_train(x, w, b, 1e-5, 0.1, None, None, mean, invstd, out)
    gout = stale(x.shape, np.float64)
    G.batch_norm_train(dev(x), dev(w), dev(b), 1e-5, 0.1, None, None, stale(4, np.float64),
                       stale(4, np.float64), gout)
    np.testing.assert_allclose(host(gout), out, rtol=1e-11, atol=1e-11)

    x2 = x.reshape(6, 18)
    g2 = rng.standard_normal(x2.shape)
    m, r, o = np.empty(6), np.empty(6), np.empty_like(x2)
    C.layer_norm(x2, np.ones(18), np.zeros(18), 1e-5, m, r, o)
    dm, dr, do = stale(6, np.float64), stale(6, np.float64), stale(x2.shape, np.float64)
    G.layer_norm(dev(x2), dev(np.ones(18)), dev(np.zeros(18)), 1e-5, dm, dr, do)
    np.testing.assert_allclose(host(do), o, rtol=1e-11, atol=1e-11)
    gw, gb = np.empty(18), np.empty(18)
    C.layer_norm_affine_backward(x2, g2, m, r, gw, gb)
    dgw, dgb = stale(18, np.float64), stale(18, np.float64)
    G.layer_norm_affine_backward(dev(x2), dev(g2), dm, dr, dgw, dgb)
    np.testing.assert_allclose(host(dgw), gw, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(host(dgb), gb, rtol=1e-11, atol=1e-11)

    xc = rng.standard_normal((3, 70))
    t = np.array([5, 69, 0])
    (lse, loss, tot, err), (dl, dloss, dtot, derr) = _ce_both(xc, t, np.ones(70), -100, 0.3)
    np.testing.assert_allclose(host(dl), lse, rtol=1e-12)
    np.testing.assert_allclose(host(dloss), loss, rtol=1e-11)
    np.testing.assert_allclose(host(dtot), tot, rtol=1e-11)
