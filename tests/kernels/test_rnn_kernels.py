"""Fused LSTM/GRU step kernels (``kernels/<device>/rnn.py``) against NumPy.

The references are the textbook cell equations in float64 (PyTorch's gate order: LSTM i, f, g, o;
GRU r, z, n with n = tanh(gi_n + r * (gh_n + b_hn))) and their derivatives written out by hand,
checked here once against central differences of the reference itself. On "cpu" the serial and
the parallel builds run; on "cuda" (16 threads x 3 blocks in the simulator) a shape whose
B * H units take several rounds of the grid-stride loop.
"""
import numpy as np
import pytest

FLOATS = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def sig(x):
    return 1 / (1 + np.exp(-x))


def lstm_ref(xg, hg, c_prev):
    a = np.asarray(xg, np.float64) + hg
    i, f, g, o = np.split(a, 4, axis=1)
    i, f, g, o = sig(i), sig(f), np.tanh(g), sig(o)
    c = f * c_prev + i * g
    return np.concatenate([i, f, g, o], 1), c, o * np.tanh(c)


def lstm_backward_ref(gh, gc, xg, hg, c_prev):
    act, c, _ = lstm_ref(xg, hg, c_prev)
    i, f, g, o = np.split(act, 4, axis=1)
    tc = np.tanh(c)
    dc = gc + gh * o * (1 - tc ** 2)
    gates = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                            gh * tc * o * (1 - o)], 1)
    return gates, dc * f


def gru_ref(gi, gh, bhh, h_prev):
    gi, gh = np.asarray(gi, np.float64), np.asarray(gh, np.float64) + bhh
    ir, iz, in_ = np.split(gi, 3, axis=1)
    hr, hz, hn = np.split(gh, 3, axis=1)
    r, z = sig(ir + hr), sig(iz + hz)
    n = np.tanh(in_ + r * hn)
    return np.concatenate([r, z, n, hn], 1), (1 - z) * n + z * h_prev


def gru_backward_ref(gout, gi, gh, bhh, h_prev):
    ws, _ = gru_ref(gi, gh, bhh, h_prev)
    r, z, n, hn = np.split(ws, 4, axis=1)
    dn = gout * (1 - z) * (1 - n ** 2)
    dz = gout * (h_prev - n) * z * (1 - z)
    dr = dn * hn * r * (1 - r)
    return (np.concatenate([dr, dz, dn], 1), np.concatenate([dr, dz, dn * r], 1), gout * z)


def _inputs(rng, dtype, b, h, gates):
    # pre-activations up to +-6: both tails of sigmoid and tanh
    return [(rng.uniform(-3, 3, (b, gates * h))).astype(dtype) for _ in range(2)] + \
        [rng.standard_normal((b, h)).astype(dtype)]


def test_references_match_finite_differences(rng):
    # the hand-written reference gradients, once, against central differences in float64
    b, h, eps = 2, 3, 1e-6
    xg, hg, c0 = _inputs(rng, np.float64, b, h, 4)
    w_h, w_c = rng.standard_normal((b, h)), rng.standard_normal((b, h))

    def loss_lstm(xg_, c_):
        _, c, hh = lstm_ref(xg_, hg, c_)
        return (w_h * hh).sum() + (w_c * c).sum()

    gg, gc = lstm_backward_ref(w_h, w_c, xg, hg, c0)
    for arr, grad in ((xg, gg), (c0, gc)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            d = np.zeros_like(arr)
            d[idx] = eps
            num[idx] = (loss_lstm(xg + d if arr is xg else xg, c0 + d if arr is c0 else c0)
                        - loss_lstm(xg - d if arr is xg else xg,
                                    c0 - d if arr is c0 else c0)) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)

    gi, gh, h0 = _inputs(rng, np.float64, b, h, 3)
    bhh = rng.standard_normal(3 * h)
    args = [gi, gh, bhh, h0]
    ggi, ggh, gh0 = gru_backward_ref(w_h, *args)
    dh0_total = gh0  # h_prev enters only directly here (gh is an independent input)
    for k, grad in ((0, ggi), (1, ggh), (2, ggh.sum(0)), (3, dh0_total)):
        num = np.zeros_like(args[k])
        for idx in np.ndindex(args[k].shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            num[idx] = ((w_h * gru_ref(*plus)[1]).sum() - (w_h * gru_ref(*minus)[1]).sum()) / (
                2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


# (device, shape, dtype); the parallel build (the same body under prange) in one dtype only:
# each of its specialisations costs seconds of cold compilation
CASES = [(d, s, t) for d in ("cpu", "cuda") for t in FLOATS
         for s in ({"cpu": ((1, 1), (3, 5), (0, 4)), "cuda": ((3, 17),)}[d])]
CASES += [("cpu-parallel", (3, 5), np.float32)]  # cuda: 51 units, several rounds of 48 threads


@pytest.mark.parametrize("device,shape,dtype", CASES, indirect=["device"])
def test_lstm_cell_forward_backward(device, shape, dtype, rng):
    b, h = shape
    xg, hg, c0 = _inputs(rng, dtype, b, h, 4)
    gh, gc = (rng.standard_normal((b, h)).astype(dtype) for _ in range(2))
    R = device.rnn
    act, c, hh = (device.stale(s, dtype) for s in ((b, 4 * h), (b, h), (b, h)))
    dxg, dhg, dc0 = device.to_device(xg), device.to_device(hg), device.to_device(c0)
    R.lstm_cell(dxg, dhg, dc0, act, c, hh)
    ref_act, ref_c, ref_h = lstm_ref(xg, hg, c0.astype(np.float64))
    for got, want in ((act, ref_act), (c, ref_c), (hh, ref_h)):
        assert device.to_host(got).dtype == dtype
        np.testing.assert_allclose(device.to_host(got), want, **tol(dtype))

    gg, gcp = device.stale((b, 4 * h), dtype), device.stale((b, h), dtype)
    R.lstm_cell_backward(device.to_device(gh), device.to_device(gc), act, dc0, c, gg, gcp)
    want_g, want_c = lstm_backward_ref(gh.astype(np.float64), gc, xg, hg, c0.astype(np.float64))
    np.testing.assert_allclose(device.to_host(gg), want_g, **tol(dtype))
    np.testing.assert_allclose(device.to_host(gcp), want_c, **tol(dtype))
    # inputs are only read
    np.testing.assert_array_equal(device.to_host(dxg), xg)
    np.testing.assert_array_equal(device.to_host(dc0), c0)


@pytest.mark.parametrize("device,shape,dtype", CASES, indirect=["device"])
def test_gru_cell_forward_backward(device, shape, dtype, rng):
    b, h = shape
    gi, gh, h0 = _inputs(rng, dtype, b, h, 3)
    bhh = rng.standard_normal(3 * h).astype(dtype)
    gout = rng.standard_normal((b, h)).astype(dtype)
    R = device.rnn
    ws, hh = device.stale((b, 4 * h), dtype), device.stale((b, h), dtype)
    dh0 = device.to_device(h0)
    R.gru_cell(device.to_device(gi), device.to_device(gh), device.to_device(bhh), dh0, ws, hh)
    ref_ws, ref_h = gru_ref(gi, gh, bhh.astype(np.float64), h0.astype(np.float64))
    np.testing.assert_allclose(device.to_host(ws), ref_ws, **tol(dtype))
    np.testing.assert_allclose(device.to_host(hh), ref_h, **tol(dtype))

    ggi, ggh = device.stale((b, 3 * h), dtype), device.stale((b, 3 * h), dtype)
    gh0 = device.stale((b, h), dtype)
    R.gru_cell_backward(device.to_device(gout), dh0, ws, ggi, ggh, gh0)
    want = gru_backward_ref(gout.astype(np.float64), gi, gh, bhh.astype(np.float64),
                            h0.astype(np.float64))
    for got, w in zip((ggi, ggh, gh0), want):
        np.testing.assert_allclose(device.to_host(got), w, **tol(dtype))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_saturated_gates_and_nan(device):
    # |pre-activation| of 1000 and inf: exp overflows unless taken of -|x|; the results are the
    # exact limits. A NaN pre-activation gives NaN in its unit only (third column).
    b, h = 1, 3
    nan, inf = np.nan, np.inf
    xg = np.array([[1000, -1000, 0.5, inf, -inf, 0.5, 1000, -1000, nan, 1000, -inf, 0.5]])
    hg = np.zeros_like(xg)
    c0 = np.array([[2.0, -3.0, 1.0]])
    R = device.rnn
    act, c, hh = (device.stale(s, np.float64) for s in ((b, 4 * h), (b, h), (b, h)))
    R.lstm_cell(device.to_device(xg), device.to_device(hg), device.to_device(c0), act, c, hh)
    s5 = 1 / (1 + np.exp(-0.5))
    exact = dict(rtol=1e-14, atol=0)  # the limits 0, 1, -1 exactly
    np.testing.assert_allclose(device.to_host(act), [[1, 0, s5, 1, 0, s5, 1, -1, nan, 1, 0, s5]],
                               **exact)
    np.testing.assert_allclose(device.to_host(c), [[3.0, 0.0, nan]], **exact)
    np.testing.assert_allclose(device.to_host(hh), [[np.tanh(3.0), 0.0, nan]], **exact)
    # tanh at +-inf, in its small-argument branch (|x| < 0.2 on the CPU) and past it: the GRU's
    # n = tanh(gi_n + r * (gh_n + b_hn)) with gh_n + b_hn = 0, against NumPy
    n_pre = np.array([inf, -inf, -1e-9, 0.19, -0.21])
    gi = np.concatenate([np.zeros(10), n_pre])[None, :]
    ws, hg2 = device.stale((1, 20), np.float64), device.stale((1, 5), np.float64)
    R.gru_cell(device.to_device(gi), device.to_device(np.zeros((1, 15))),
               device.to_device(np.zeros(15)), device.to_device(np.zeros((1, 5))), ws, hg2)
    np.testing.assert_allclose(device.to_host(ws)[0, 10:15], np.tanh(n_pre), rtol=1e-14, atol=0)


# --- lstm_layer: every step of a layer in one call --------------------------------------------

def layer_plan(batch_sizes, reverse):
    """(offs, rows) of lstm_layer for packed steps of ``batch_sizes`` rows, run forwards or
    backwards in time."""
    starts = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    order = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    return (np.array([starts[t] for t in order], np.int64),
            np.array([batch_sizes[t] for t in order], np.int64))


def _prev(offs, rows, s, out, cs, h0, c0):
    """Step s's previous hidden and cell states: the previous step's rows, then h0's, c0's."""
    n = rows[s]
    po, m = (offs[s - 1], min(n, rows[s - 1])) if s else (0, 0)
    return (np.concatenate([out[po:po + m], h0[m:n]]), np.concatenate([cs[po:po + m], c0[m:n]]))


def layer_ref(xp, h0, c0, whh, offs, rows):
    N, H = xp.shape[0], h0.shape[1]
    act, cs, out = np.zeros((N, 4 * H)), np.zeros((N, H)), np.zeros((N, H))
    for s, (o, n) in enumerate(zip(offs, rows)):
        hp, cp = _prev(offs, rows, s, out, cs, h0, c0)
        act[o:o + n], cs[o:o + n], out[o:o + n] = lstm_ref(xp[o:o + n], hp @ whh.T, cp)
    return act, cs, out


def layer_backward_ref(gout, dh_n, dc_n, xp, h0, c0, whh, offs, rows):
    """(gg, gh0, gc0) by the chain rule through the steps."""
    _, cs, out = layer_ref(xp, h0, c0, whh, offs, rows)
    gg = np.zeros((xp.shape[0], whh.shape[0]))
    dh, dc, gh0, gc0 = dh_n.copy(), dc_n.copy(), np.zeros(h0.shape), np.zeros(c0.shape)
    for s in range(len(offs) - 1, -1, -1):
        o, n = offs[s], rows[s]
        hp, cp = _prev(offs, rows, s, out, cs, h0, c0)
        g, gcp = lstm_backward_ref(dh[:n] + gout[o:o + n], dc[:n], xp[o:o + n], hp @ whh.T, cp)
        gg[o:o + n] = g
        ghp = g @ whh
        m = min(n, rows[s - 1]) if s else 0  # rows m.. of h_prev, c_prev were h0's, c0's
        dh[:m], dc[:m] = ghp[:m], gcp[:m]
        gh0[m:n], gc0[m:n] = ghp[m:], gcp[m:]
    return gg, gh0, gc0


LAYER_SIZES = {"packed": [3, 3, 2, 1], "full": [4, 4, 4]}
# (device, way, batch sizes, reverse, H, dtype): "steps" is the loop from Python (no CBLAS),
# "tasks-3" three uneven chunks of hidden units
LAYER_CASES = [("cpu", w, b, r, 5, t) for w in ("tasks", "steps") for b in LAYER_SIZES
               for r in (False, True) for t in FLOATS]
LAYER_CASES += [("cpu-parallel", w, "packed", r, 40, np.float32) for w in ("tasks", "tasks-3")
                for r in (False, True)]
LAYER_CASES += [("cuda", "steps", "packed", r, 3, t) for r in (False, True) for t in FLOATS]


@pytest.mark.parametrize("device,way,sizes,reverse,H,dtype", LAYER_CASES, indirect=["device"])
def test_lstm_layer_forward_backward(device, way, sizes, reverse, H, dtype, rng, monkeypatch):
    from numtorch.kernels.cpu import rnn
    if way == "steps":
        monkeypatch.setattr(rnn, "_use_tasks", lambda: False)
    if way == "tasks-3":
        monkeypatch.setattr(rnn, "_chunk_bounds",
                            lambda H, parallel: np.array([0, 16, 17, H], np.int64))
    offs, rows = layer_plan(LAYER_SIZES[sizes], reverse)
    N, B = int(rows.sum()), int(rows.max())
    xp = rng.uniform(-2, 2, (N, 4 * H)).astype(dtype)
    h0, c0 = (rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    whh = (rng.standard_normal((4 * H, H)) / np.sqrt(H)).astype(dtype)
    R = device.rnn
    act, cs, out = (device.stale(s, dtype) for s in ((N, 4 * H), (N, H), (N, H)))
    d = [device.to_device(a) for a in (xp, h0, c0, whh)]
    R.lstm_layer(*d, offs, rows, act, cs, out)
    wide = [a.astype(np.float64) for a in (xp, h0, c0, whh)]
    for got, want in zip((act, cs, out), layer_ref(*wide, offs, rows)):
        np.testing.assert_allclose(device.to_host(got), want, **tol(dtype))

    gout = rng.standard_normal((N, H)).astype(dtype)
    dh_n, dc_n = (rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    gg, dh, dc = device.stale((N, 4 * H), dtype), device.to_device(dh_n), device.to_device(dc_n)
    R.lstm_layer_backward(device.to_device(gout), act, cs, d[2], d[3], offs, rows, gg, dh, dc)
    want = layer_backward_ref(gout.astype(np.float64), dh_n, dc_n, *wide, offs, rows)
    for got, w in zip((gg, dh, dc), want, strict=True):
        np.testing.assert_allclose(device.to_host(got), w, **tol(dtype))
    for a, host in zip(d, (xp, h0, c0, whh)):  # inputs are only read
        np.testing.assert_array_equal(device.to_host(a), host)
