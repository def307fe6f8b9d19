"""Fused optimizer updates (``kernels/<device>/optim.py``) against NumPy references.

Each case runs several steps of one update from the same parameter, state and gradients, and
compares the parameter and every state array after each step with a NumPy reference written
after ``torch.optim``'s single-tensor code: float64 arithmetic, each state value stored in the
parameter's dtype and read back before use. On "cpu" the parameter also comes above the
parallel threshold; on "cuda" (16 threads x 3 blocks in the simulator) its 101 elements make
every thread loop and are not a multiple of the block, in float32 (and float64 for Adam).
"""
import itertools

import numpy as np
import pytest

from numtorch.kernels import policy

STEPS = 4
DTYPES = [np.float32, np.float64]
BIG = policy.PARALLEL_THRESHOLD + 7


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: the full grid on "cpu", the lean one on "cuda"."""
    return [("cpu",) + tuple(c) for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


CPU_GRID = [(d, n) for d in DTYPES for n in (101, BIG)]
GRID = cases(CPU_GRID, [(np.float32, 101)])


def close(got, want, dtype):
    # The kernels may contract to FMA (CPU fast-math, GPU): a last-bit float64 difference can
    # flip a float32 rounding, so values that cancel towards 0 get an absolute tolerance of
    # 1e-6 of the O(1) data scale.
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12 if dtype == np.float64 else 1e-6)


def f64(a):
    return np.asarray(a, np.float64)


def store(a, v):
    """a[...] = v, rounded to a's dtype; returns the stored value read back as float64."""
    a[...] = v
    return f64(a)


def lerp(a, b, w):
    # PyTorch's lerp: two branches keep the result exact at w = 0 and w = 1
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1.0 - w)


def sgd_ref(p, g, buf, lr, momentum, dampening, wd, nesterov, maximize, first):
    g = -f64(g) if maximize else f64(g)
    if wd:
        g = g + wd * f64(p)
    if momentum:
        b = store(buf, g if first else f64(buf) * momentum + (1.0 - dampening) * g)
        g = g + momentum * b if nesterov else b
    store(p, f64(p) - lr * g)


def adam_moments(p, g, m, v, lr, beta1, beta2, wd, maximize, decoupled):
    """The Adam family's common first half: weight decay (L2 or decoupled) and both moments,
    stored; returns the effective gradient and the new moments in float64."""
    g = -f64(g) if maximize else f64(g)
    if wd:
        if decoupled:
            store(p, f64(p) * (1.0 - lr * wd))
        else:
            g = g + wd * f64(p)
    return (g, store(m, lerp(f64(m), g, 1.0 - beta1)),
            store(v, f64(v) * beta2 + (1.0 - beta2) * g * g))


def adam_ref(p, g, m, v, vmax, lr, beta1, beta2, eps, wd, step, amsgrad, maximize, decoupled):
    g, m_, v_ = adam_moments(p, g, m, v, lr, beta1, beta2, wd, maximize, decoupled)
    if amsgrad:
        v_ = store(vmax, np.maximum(f64(vmax), v_))  # NaN propagates
    with np.errstate(invalid="ignore"):
        denom = np.sqrt(v_) / (1.0 - beta2 ** step) ** 0.5 + eps
    store(p, f64(p) - lr / (1.0 - beta1 ** step) * (m_ / denom))


def rmsprop_ref(p, g, sq, gavg, buf, lr, alpha, eps, wd, momentum, centered, maximize):
    g = -f64(g) if maximize else f64(g)
    if wd:
        g = g + wd * f64(p)
    s = store(sq, f64(sq) * alpha + (1.0 - alpha) * g * g)
    with np.errstate(invalid="ignore"):
        if centered:
            ga = store(gavg, lerp(f64(gavg), g, 1.0 - alpha))
            avg = np.sqrt(s - ga * ga) + eps
        else:
            avg = np.sqrt(s) + eps
    if momentum > 0:
        store(p, f64(p) - lr * store(buf, f64(buf) * momentum + g / avg))
    else:
        store(p, f64(p) - lr * (g / avg))


def adagrad_ref(p, g, ssum, lr, lr_decay, eps, wd, step, maximize):
    g = -f64(g) if maximize else f64(g)
    if wd:
        g = g + wd * f64(p)
    s = store(ssum, f64(ssum) + g * g)
    store(p, f64(p) - lr / (1.0 + (step - 1.0) * lr_decay) * (g / (np.sqrt(s) + eps)))


def run(device, rng, dtype, n, used, kernel, ref, *hyper):
    """STEPS updates of ``kernel(param, grad, *state, *hyper(step))`` on the device and of
    ``ref`` on NumPy copies; ``used[k]`` says whether state k is live (else an empty array)."""
    param = rng.standard_normal(n).astype(dtype)
    # nonzero starting state (as after earlier steps), second moments above first moments squared
    state = [(np.abs(rng.standard_normal(n)) * 0.1 + 0.5 * (k == 0)).astype(dtype) if u
             else np.empty(0, dtype) for k, u in enumerate(used)]
    dparam = device.to_device(param)
    dstate = [device.to_device(s) for s in state]
    for step in range(1, STEPS + 1):
        grad = rng.standard_normal(n).astype(dtype)
        args = hyper[0](step)
        ref(param, grad, *state, *args)
        kernel(dparam, device.to_device(grad), *dstate, *args, work=n)
        close(device.to_host(dparam), param, dtype)
        for ds, s in zip(dstate, state):
            assert ds.shape == s.shape
            close(device.to_host(ds), s, dtype)
    assert np.isfinite(param).all()


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_sgd_every_option(device, dtype, n, rng):
    for momentum, dampening, wd, nesterov, maximize in itertools.product(
            (0.0, 0.9), (0.0, 0.25), (0.0, 0.01), (False, True), (False, True)):
        if momentum == 0 and (dampening or nesterov):
            continue  # those options only act through the buffer
        run(device, rng, dtype, n, [momentum != 0], device.optim.sgd_step, sgd_ref,
            lambda step: (0.05, momentum, dampening, wd, nesterov, maximize, step == 1))


@pytest.mark.parametrize("device,dtype,n", cases(CPU_GRID, [(d, 101) for d in DTYPES]),
                         indirect=["device"])
def test_adam_every_option(device, dtype, n, rng):
    for wd, amsgrad, maximize, decoupled in itertools.product(
            (0.0, 0.1), (False, True), (False, True), (False, True)):
        run(device, rng, dtype, n, [True, True, amsgrad], device.optim.adam_step, adam_ref,
            lambda step: (0.01, 0.9, 0.999, 1e-8, wd, float(step), amsgrad, maximize, decoupled))


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_rmsprop_every_option(device, dtype, n, rng):
    for wd, momentum, centered, maximize in itertools.product(
            (0.0, 0.05), (0.0, 0.5), (False, True), (False, True)):
        run(device, rng, dtype, n, [True, centered, momentum > 0], device.optim.rmsprop_step,
            rmsprop_ref, lambda step: (0.01, 0.99, 1e-8, wd, momentum, centered, maximize))


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_adagrad_every_option(device, dtype, n, rng):
    for lr_decay, wd, maximize in itertools.product((0.0, 0.01), (0.0, 0.1), (False, True)):
        run(device, rng, dtype, n, [True], device.optim.adagrad_step, adagrad_ref,
            lambda step: (0.1, lr_decay, 1e-10, wd, float(step), maximize))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_small_and_empty(device, rng):
    # a size below one block and an empty parameter
    for n in (0, 5):
        p, g = rng.standard_normal(n), rng.standard_normal(n)
        dp, dg = device.to_device(p), device.to_device(g)
        device.optim.sgd_step(dp, dg, device.to_device(np.empty(0)), 0.1, 0.0, 0.0, 0.0, False,
                              False, True, work=n)
        sgd_ref(p, g, np.empty(0), 0.1, 0.0, 0.0, 0.0, False, False, True)
        np.testing.assert_array_equal(device.to_host(dp), p)
        s = np.zeros(n)
        ds = device.to_device(s)
        device.optim.adagrad_step(dp, dg, ds, 0.1, 0.0, 1e-10, 0.0, 1, False, work=n)
        adagrad_ref(p, g, s, 0.1, 0.0, 1e-10, 0.0, 1.0, False)
        close(device.to_host(dp), p, np.float64)
        close(device.to_host(ds), s, np.float64)


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_without_work_keyword(device, rng):
    # ``work=`` is optional on CUDA (the launch covers param.shape[0])
    p, g = rng.standard_normal(5), rng.standard_normal(5)
    dp = device.to_device(p)
    device.optim.sgd_step(dp, device.to_device(g), device.to_device(np.empty(0)), 0.1, 0.0, 0.0,
                          0.0, False, False, True)
    sgd_ref(p, g, np.empty(0), 0.1, 0.0, 0.0, 0.0, False, False, True)
    np.testing.assert_array_equal(device.to_host(dp), p)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_nan_propagates(device):
    # a NaN gradient reaches its own parameter and state only; amsgrad's maximum keeps the NaN
    g = np.array([np.nan, 1.0, -2.0, 0.5])
    p = np.ones(4)
    st = [np.zeros(4) for _ in range(3)]
    dp, dst = device.to_device(p), [device.to_device(s) for s in st]
    device.optim.adam_step(dp, device.to_device(g), *dst, 0.1, 0.9, 0.999, 1e-8, 0.0, 1.0, True,
                           False, False, work=4)
    adam_ref(p, g, *st, 0.1, 0.9, 0.999, 1e-8, 0.0, 1.0, True, False, False)
    np.testing.assert_array_equal(device.to_host(dp), p)
    for d, s in zip(dst, st):
        np.testing.assert_array_equal(device.to_host(d), s)
    assert np.isnan(p[0]) and np.isfinite(p[1:]).all()
    assert np.isnan(st[2][0])


def adadelta_ref(p, g, sq, acc, lr, rho, eps, wd, maximize):
    g = -f64(g) if maximize else f64(g)
    if wd:
        g = g + wd * f64(p)
    s = store(sq, f64(sq) * rho + (1.0 - rho) * g * g)
    delta = np.sqrt(f64(acc) + eps) / np.sqrt(s + eps) * g
    store(acc, f64(acc) * rho + (1.0 - rho) * delta * delta)
    store(p, f64(p) - lr * delta)


def adamax_ref(p, g, m, u, lr, beta1, beta2, eps, wd, step, maximize):
    g = -f64(g) if maximize else f64(g)
    if wd:
        g = g + wd * f64(p)
    m_ = store(m, lerp(f64(m), g, 1.0 - beta1))
    u_ = store(u, np.maximum(f64(u) * beta2, np.abs(g) + eps))
    store(p, f64(p) - lr / (1.0 - beta1 ** step) * (m_ / u_))


def nadam_ref(p, g, m, v, lr, beta1, beta2, eps, wd, step, mu, mu_next, mu_product, decoupled,
              maximize):
    g, m_, v_ = adam_moments(p, g, m, v, lr, beta1, beta2, wd, maximize, decoupled)
    denom = np.sqrt(v_ / (1.0 - beta2 ** step)) + eps
    store(p, f64(p) + (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom))
    store(p, f64(p) + (-lr * mu_next / (1.0 - mu_product * mu_next)) * (m_ / denom))


def radam_ref(p, g, m, v, lr, beta1, beta2, eps, wd, step, decoupled, maximize):
    g, m_, v_ = adam_moments(p, g, m, v, lr, beta1, beta2, wd, maximize, decoupled)
    bc2 = 1.0 - beta2 ** step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * beta2 ** step / bc2
    bce = m_ / (1.0 - beta1 ** step)
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        store(p, f64(p) - bce * lr * (bc2 ** 0.5 / (np.sqrt(v_) + eps)) * rect)
    else:
        store(p, f64(p) - bce * lr)


def asgd_ref(p, g, ax, eta, mu, lambd, wd, maximize):
    g = -f64(g) if maximize else f64(g)
    if wd:
        g = g + wd * f64(p)
    store(p, f64(p) * (1.0 - lambd * eta))
    p_ = store(p, f64(p) - eta * g)
    store(ax, f64(ax) + (p_ - f64(ax)) * mu if mu != 1.0 else p_)


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_adadelta_every_option(device, dtype, n, rng):
    for wd, maximize in itertools.product((0.0, 0.1), (False, True)):
        run(device, rng, dtype, n, [True, True], device.optim.adadelta_step, adadelta_ref,
            lambda step: (1.0, 0.9, 1e-6, wd, maximize))


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_adamax_every_option(device, dtype, n, rng):
    for wd, maximize in itertools.product((0.0, 0.1), (False, True)):
        run(device, rng, dtype, n, [True, True], device.optim.adamax_step, adamax_ref,
            lambda step: (0.01, 0.9, 0.999, 1e-8, wd, float(step), maximize))


def _nadam_mus(step, beta1=0.9, momentum_decay=4e-3):
    mu = lambda k: beta1 * (1.0 - 0.5 * 0.96 ** (k * momentum_decay))  # noqa: E731
    return mu(step), mu(step + 1), float(np.prod([mu(k) for k in range(1, step + 1)]))


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_nadam_every_option(device, dtype, n, rng):
    for wd, decoupled, maximize in itertools.product((0.0, 0.1), (False, True), (False, True)):
        run(device, rng, dtype, n, [True, True], device.optim.nadam_step, nadam_ref,
            lambda step: (0.01, 0.9, 0.999, 1e-8, wd, float(step), *_nadam_mus(step),
                          decoupled, maximize))


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_radam_every_option(device, dtype, n, rng):
    # beta2 = 0.9 from step 4: rho_t passes 5 at step 6, so both branches run within STEPS
    for beta2, wd, decoupled, maximize in itertools.product(
            (0.9, 0.999), (0.0, 0.1), (False, True), (False, True)):
        run(device, rng, dtype, n, [True, True], device.optim.radam_step, radam_ref,
            lambda step: (0.01, 0.9, beta2, 1e-8, wd, float(step + 3), decoupled, maximize))


@pytest.mark.parametrize("device,dtype,n", GRID, indirect=["device"])
def test_asgd_every_option(device, dtype, n, rng):
    # mu = 1 copies the parameter into ax; mu < 1 averages (steps past t0)
    for wd, maximize in itertools.product((0.0, 0.1), (False, True)):
        run(device, rng, dtype, n, [True], device.optim.asgd_step, asgd_ref,
            lambda step: (0.1 / (1.0 + 1e-3 * step) ** 0.75, 1.0 / max(1.0, step - 2.0), 0.01,
                          wd, maximize))
