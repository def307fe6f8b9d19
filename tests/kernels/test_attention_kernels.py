"""Fused attention kernels (``kernels/<device>/attention.py``) against NumPy.

The reference materialises the (L, S) scores in float64: ``softmax(q k^T * scale [causal]) v``,
its log-sum-exp, and the textbook gradients (dP = gout v^T, dS = P * (dP - rowsum(gout * out)),
dq = dS k * scale, dk = dS^T q * scale, dv = P^T gout). On "cpu" the kernels' blocks are
shrunk so that the cases cross query blocks, key blocks (the online softmax's rescaling) and
groups of heads, and the parallel build runs; on "cuda" (the simulator) small shapes
take several rounds of the grid-stride loops.
"""
import numpy as np
import pytest

FLOATS = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


@np.errstate(invalid="ignore")  # inf - inf and NaN inputs give NaN, as in the kernels
def reference(q, k, v, scale, causal, gout):
    q, k, v, gout = (np.asarray(a, np.float64) for a in (q, k, v, gout))
    s = q @ np.swapaxes(k, 1, 2) * scale
    L, S = s.shape[1:]
    if causal:
        s = np.where(np.arange(S)[None, :] <= np.arange(L)[:, None], s, -np.inf)
    m = s.max(-1, keepdims=True, initial=-np.inf)
    e = np.exp(s - np.where(np.isfinite(m), m, 0))
    den = e.sum(-1, keepdims=True)
    p = np.where(den > 0, e / np.where(den > 0, den, 1), 0)
    out = p @ v
    with np.errstate(divide="ignore"):
        lse = np.where(den[..., 0] > 0, (m + np.log(den))[..., 0], -np.inf)
    dp = gout @ np.swapaxes(v, 1, 2)
    ds = p * (dp - (gout * out).sum(-1, keepdims=True))
    return out, lse, ds @ k * scale, np.swapaxes(ds, 1, 2) @ q * scale, np.swapaxes(p, 1, 2) @ gout


def _run(device, q, k, v, scale, causal, gout, heads=False):
    """The kernels on (B, n, e) arrays passed as (B1, H, n, e) with B1 = 2 for even B, else 1;
    ``heads``: as views of (B1, n, H, e) memory (the heads of a projection: strided,
    unit-stride rows). Results back as (B, ...)."""
    dt = q.dtype
    B, L, _ = q.shape
    b1 = 2 if B % 2 == 0 and B else 1

    def four(a):
        a = a.reshape((b1, a.shape[0] // b1) + a.shape[1:])
        return np.ascontiguousarray(a.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3) if heads else a

    q4, k4, v4, g4 = (four(a) for a in (q, k, v, gout))
    dq, dk, dv = (device.stale(a.shape, dt) for a in (q4, k4, v4))
    out, lse, delta = device.stale(q4.shape[:3] + (v.shape[2],), dt), \
        device.stale(q4.shape[:3], np.float64), device.stale(q4.shape[:3], np.float64)
    qd, kd, vd, gd = (a if device.name == "cpu" else device.to_device(a) for a in (q4, k4, v4, g4))
    device.attention.attention_forward(qd, kd, vd, scale, causal, out, lse)
    device.attention.attention_backward(qd, kd, vd, out, gd, lse, scale, causal, delta, dq, dk,
                                        dv)
    return [device.to_host(a).reshape((B,) + a.shape[2:]) for a in (out, lse, dq, dk, dv)]


CASES = [  # (B, L, S, E, Ev, causal), cpu only when large
    (2, 3, 5, 4, 3, False),
    (2, 5, 3, 4, 2, True),
    (1, 4, 4, 3, 3, True),
    (3, 70, 130, 5, 6, False),   # several query and key blocks
    (2, 130, 70, 4, 3, True),
    (3, 40, 37, 3, 2, True),     # causal with fewer keys than queries
    (2, 3, 0, 4, 3, False),      # no keys: zeros, lse -inf, zero gradients
    (0, 3, 4, 2, 2, True),
    (2, 3, 4, 0, 3, False),      # E == 0: every score is 0
]


def _params():
    for c in CASES:
        for dt in FLOATS:
            for dev in ("cpu", "cpu-parallel", "cuda"):
                # the simulator runs each small case once, in float64; the parallel build (the
                # same bodies under prange) once, in float32: each of its specialisations costs
                # seconds of cold compilation
                if (dev == "cpu" or (dev == "cpu-parallel" and dt == np.float32)
                        or (dev == "cuda" and max(c[1:3]) <= 8 and dt == np.float64)):
                    yield pytest.param(dev, c, dt, id=f"{dev}-{c}-{dt.__name__}")


@pytest.mark.parametrize("device,case,dtype", list(_params()), indirect=["device"])
def test_attention_kernels_match_reference(device, case, dtype, rng):
    B, L, S, E, Ev, causal = case
    if device.is_cuda and (L > 8 or S > 8 or dtype == np.float32):
        pytest.skip("the simulator runs the small cases in float64")
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((B, L, E), (B, S, E), (B, S, Ev)))
    gout = rng.standard_normal((B, L, Ev)).astype(dtype)
    scale = 0.7
    got = _run(device, q, k, v, scale, causal, gout)
    want = reference(q, k, v, scale, causal, gout)
    for name, g, w in zip(("out", "lse", "dq", "dk", "dv"), got, want):
        np.testing.assert_allclose(g, w, **tol(dtype), err_msg=name)


@pytest.mark.parametrize("way", ["tasks", "tasks-split", "blocks"])
@pytest.mark.parametrize("heads", [False, True], ids=["contiguous", "head-views"])
@pytest.mark.parametrize("blocks", [((0, 8),), ((0, 4), (64, 16))], ids=["q8", "q4-q16"])
@pytest.mark.parametrize("case", [c for c in CASES if max(c[1:3]) > 8], ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("device", ["cpu"], indirect=True)
def test_cpu_attention_across_blocks_and_head_groups(device, case, dtype, blocks, heads, way, rng,
                                                     monkeypatch):
    """The CPU kernels' blocking shrunk: 4-16 queries and 16 keys per block, 2 heads per group
    (the defaults put these shapes in one block); operands contiguous or strided head views;
    both ways: tasks calling BLAS from the kernel (the backward a task per head, or per half of
    a head's keys with their dq parts summed: several key blocks each) and blocks from Python
    (np.matmul)."""
    from numtorch.kernels.cpu import _blas, attention
    if way != "blocks" and not _blas.AVAILABLE:
        pytest.skip("no CBLAS found in NumPy's libraries: the kernels take the other way")
    monkeypatch.setattr(attention, "QBLOCKS", blocks)
    monkeypatch.setattr(attention, "CAUSAL_QBLOCKS", blocks)
    monkeypatch.setattr(attention, "KBLOCK", 16)
    monkeypatch.setattr(attention, "SCRATCH", 2 * 16 * blocks[-1][1] + 5)
    if way != "blocks":
        monkeypatch.setattr(attention, "_key_chunks", lambda heads, S, nk: 1 + (way != "tasks"))
    else:
        monkeypatch.setattr(attention, "_use_tasks", lambda *arrays: False)
    B, L, S, E, Ev, causal = case
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((B, L, E), (B, S, E), (B, S, Ev)))
    gout = rng.standard_normal((B, L, Ev)).astype(dtype)
    got = _run(device, q, k, v, 0.7, causal, gout, heads)
    want = reference(q, k, v, 0.7, causal, gout)
    for name, g, w in zip(("out", "lse", "dq", "dk", "dv"), got, want):
        np.testing.assert_allclose(g, w, **tol(dtype), err_msg=name)


def test_cpu_attention_takes_blocks_where_blas_cannot(rng):
    """Rows BLAS cannot take (a broadcast query row: leading dimension 0 < E) go the np.matmul
    way, with the same results."""
    from numtorch.kernels.cpu import attention
    q = np.broadcast_to(rng.standard_normal((1, 1, 1, 4)), (1, 1, 6, 4))
    k, v = rng.standard_normal((1, 1, 5, 4)), rng.standard_normal((1, 1, 5, 3))
    assert not attention._use_tasks(q, k, v)
    out, lse = np.empty((1, 1, 6, 3)), np.empty((1, 1, 6))
    attention.attention_forward(q, k, v, 0.5, True, out, lse)
    want = reference(q[0], k[0], v[0], 0.5, True, np.zeros((1, 6, 3)))
    np.testing.assert_allclose(out[0], want[0], **tol(np.float64))
    np.testing.assert_allclose(lse[0], want[1], **tol(np.float64))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_attention_kernels_propagate_nan_and_inf(device, rng):
    q, k, v = (rng.standard_normal((1, 3, 2)) for _ in range(3))
    q[0, 1, 0] = np.nan   # row 1: NaN scores -> NaN output
    k[0, 2, 1] = np.inf   # key 2: +-inf scores in the other rows
    out, lse, *_ = _run(device, q, k, v, 1.0, False, np.ones((1, 3, 2)))
    assert np.isnan(out[0, 1]).all() and np.isnan(lse[0, 1])
    ref = reference(q, k, v, 1.0, False, np.ones((1, 3, 2)))[0]
    for i in (0, 2):  # a +inf score gives NaN (inf - inf), a -inf one weight 0: as the reference
        np.testing.assert_array_equal(np.isnan(out[0, i]), np.isnan(ref[0, i]))
        np.testing.assert_allclose(out[0, i][~np.isnan(ref[0, i])],
                                   ref[0, i][~np.isnan(ref[0, i])], rtol=1e-12)
