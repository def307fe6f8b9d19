"""CUDA optimizer kernels (numtorch.kernels.cuda.optim) against the CPU kernels, in the simulator.

Each case runs several steps of the same update on the CPU and the GPU from the same parameter,
state and gradients and compares the parameter and every state array after each step. Sizes
span several blocks and wrap the grid-stride loop (the tests launch 16 threads x 3 blocks).
"""
import itertools

import numpy as np
import pytest

from numtorch.kernels.cpu import optim as C
from numtorch.kernels.cuda import memory as M
from numtorch.kernels.cuda import optim as G

N = 101  # > 48 threads of the shrunk grid: every thread loops; not a multiple of the block
STEPS = 4
DTYPES = [np.float32, np.float64]


def _close(got, want, dtype):
    # Both sides compute in float64 and round the same stores, but the CPU build may contract
    # and reassociate (policy.FASTMATH) and a GPU contracts to FMA: a last-bit float64 difference
    # can flip a float32 rounding, so values that cancel towards 0 get an absolute tolerance of
    # 1e-6 of the O(1) data scale.
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12 if dtype == np.float64 else 1e-6)


def _run(rng, dtype, n, nstate, used, cpu_step, gpu_step):
    """Run STEPS updates; ``used[k]`` says whether state k is live (else it is an empty array).

    ``cpu_step(step, param, grad, *state)`` / ``gpu_step(...)`` call the kernels; ``step`` counts
    from 1.
    """
    param = rng.standard_normal(n).astype(dtype)
    # nonzero starting state (as after earlier steps), second moments above first moments squared
    state = [(np.abs(rng.standard_normal(n)) * 0.1 + 0.5 * (k == 0)).astype(dtype) if u
             else np.empty(0, dtype) for k, u in enumerate(used[:nstate])]
    dparam = M.to_device(param)
    dstate = [M.to_device(s) for s in state]
    for step in range(1, STEPS + 1):
        grad = rng.standard_normal(n).astype(dtype)
        cpu_step(step, param, grad, *state)
        gpu_step(step, dparam, M.to_device(grad), *dstate)
        _close(M.to_host(dparam), param, dtype)
        for ds, s in zip(dstate, state):
            assert ds.shape == s.shape
            _close(M.to_host(ds), s, dtype)
    assert np.isfinite(param).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_every_option(dtype, rng):
    for momentum, dampening, wd, nesterov, maximize in itertools.product(
            (0.0, 0.9), (0.0, 0.25), (0.0, 0.01), (False, True), (False, True)):
        if momentum == 0 and (dampening or nesterov):
            continue  # those options only act through the buffer

        def step_fn(kern):
            def f(step, p, g, buf):
                kern(p, g, buf, 0.05, momentum, dampening, wd, nesterov, maximize, step == 1,
                     work=p.size)
            return f

        _run(rng, dtype, N, 1, [momentum != 0], step_fn(C.sgd_step), step_fn(G.sgd_step))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_every_option(dtype, rng):
    for wd, amsgrad, maximize, decoupled in itertools.product(
            (0.0, 0.1), (False, True), (False, True), (False, True)):
        def step_fn(kern):
            def f(step, p, g, m, v, vmax):
                kern(p, g, m, v, vmax, 0.01, 0.9, 0.999, 1e-8, wd, float(step), amsgrad,
                     maximize, decoupled, work=p.size)
            return f

        _run(rng, dtype, N, 3, [True, True, amsgrad], step_fn(C.adam_step), step_fn(G.adam_step))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_every_option(dtype, rng):
    for wd, momentum, centered, maximize in itertools.product(
            (0.0, 0.05), (0.0, 0.5), (False, True), (False, True)):
        def step_fn(kern):
            def f(step, p, g, sq, gavg, buf):
                kern(p, g, sq, gavg, buf, 0.01, 0.99, 1e-8, wd, momentum, centered, maximize,
                     work=p.size)
            return f

        _run(rng, dtype, N, 3, [True, centered, momentum > 0], step_fn(C.rmsprop_step),
             step_fn(G.rmsprop_step))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adagrad_every_option(dtype, rng):
    for lr_decay, wd, maximize in itertools.product((0.0, 0.01), (0.0, 0.1), (False, True)):
        def step_fn(kern):
            def f(step, p, g, ssum):
                kern(p, g, ssum, 0.1, lr_decay, 1e-10, wd, float(step), maximize, work=p.size)
            return f

        _run(rng, dtype, N, 1, [True], step_fn(C.adagrad_step), step_fn(G.adagrad_step))


def test_without_work_keyword_small_and_empty(rng):
    # ``work=`` is optional; a size below one block and an empty parameter both work
    for n in (0, 5):
        p = rng.standard_normal(n)
        g = rng.standard_normal(n)
        dp = M.to_device(p)
        G.sgd_step(dp, M.to_device(g), M.to_device(np.empty(0)), 0.1, 0.0, 0.0, 0.0, False,
                   False, True)
        C.sgd_step(p, g, np.empty(0), 0.1, 0.0, 0.0, 0.0, False, False, True, work=n)
        np.testing.assert_array_equal(M.to_host(dp), p)
        ds = M.to_device(np.zeros(n))
        G.adagrad_step(dp, M.to_device(g), ds, 0.1, 0.0, 1e-10, 0.0, 1, False)
        s = np.zeros(n)
        C.adagrad_step(p, g, s, 0.1, 0.0, 1e-10, 0.0, 1.0, False, work=n)
        _close(M.to_host(dp), p, np.float64)
        _close(M.to_host(ds), s, np.float64)


def test_nan_propagates_like_cpu():
    # NaN gradients and amsgrad's NaN-propagating maximum behave as on the CPU
    g = np.array([np.nan, 1.0, -2.0, 0.5])
    p = np.ones(4)
    st = [np.zeros(4) for _ in range(3)]
    dp, dst = M.to_device(p), [M.to_device(s) for s in st]
    C.adam_step(p, g, *st, 0.1, 0.9, 0.999, 1e-8, 0.0, 1.0, True, False, False, work=4)
    G.adam_step(dp, M.to_device(g), *dst, 0.1, 0.9, 0.999, 1e-8, 0.0, 1.0, True, False, False)
    np.testing.assert_array_equal(M.to_host(dp), p)
    for d, s in zip(dst, st):
        np.testing.assert_array_equal(M.to_host(d), s)
    assert np.isnan(p[0]) and np.isfinite(p[1:]).all()
