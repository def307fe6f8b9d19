"""numtorch.amp.GradScaler against PyTorch's: the same scales, skipped steps, parameters and
state dicts over a run with overflowing steps, the errors for misuse, and the disabled paths."""
import numpy as np
import pytest

import numtorch as nt

try:
    import torch
except ImportError:
    torch = None


def _run(lib, steps, scaler_kw, bad_steps, device="cpu"):
    """A linear model trained with a GradScaler; gradients of ``bad_steps`` get an inf (or
    NaN) injected after backward. Returns (scales, losses, weights, state_dict)."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    x = lib.tensor(rng.standard_normal((8, 3)).astype(np.float32)).to(device)
    y = lib.tensor(rng.standard_normal((8, 2)).astype(np.float32)).to(device)
    w = lib.nn.Parameter(lib.tensor(w0).to(device))
    opt = lib.optim.SGD([w], lr=0.05, momentum=0.9)
    scaler = lib.amp.GradScaler(device, **scaler_kw)
    scales, losses = [], []
    for step in range(steps):
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        scaler.scale(loss).backward()
        if step in bad_steps:
            with lib.no_grad():
                w.grad[0, 0] = bad_steps[step]
        if step % 2:  # unscale_ explicitly (for gradient clipping) on odd steps
            scaler.unscale_(opt)
            lib.nn.utils.clip_grad_norm_([w], 10.0)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        losses.append(float(loss.detach()))
    return scales, losses, w.detach().cpu().numpy(), scaler.state_dict()


BAD = {2: float("inf"), 3: float("nan"), 9: float("-inf")}
KW = dict(init_scale=2.0 ** 10, growth_interval=3)


def test_scaling_run_matches_the_rules():
    scales, losses, w, sd = _run(nt, 12, KW, BAD)
    # backoff after each bad step, growth after 3 good steps in a row
    assert scales == [1024, 1024, 512, 256, 256, 256, 512, 512, 512, 256, 256, 256]
    assert np.all(np.isfinite(losses)) and np.isfinite(w).all()
    assert sd == {"scale": 256.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                  "growth_interval": 3, "_growth_tracker": 2}


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
def test_matches_torch():
    a = _run(nt, 12, KW, BAD)
    b = _run(torch, 12, KW, BAD)
    assert a[0] == b[0]
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-5, atol=1e-6)
    assert a[3] == b[3]


@pytest.mark.skipif(not nt.cuda.is_available(), reason="no CUDA device and no simulator")
def test_on_cuda_like_cpu():
    a = _run(nt, 6, KW, {2: float("inf")}, "cuda")
    b = _run(nt, 6, KW, {2: float("inf")})
    assert a[0] == b[0]
    np.testing.assert_allclose(a[2], b[2], rtol=1e-5, atol=1e-6)


def test_misuse_raises_and_disabled_passes_through():
    w = nt.nn.Parameter(nt.ones(2))
    opt = nt.optim.SGD([w], lr=0.1)
    s = nt.amp.GradScaler("cpu")
    s.scale(w.sum()).backward()
    s.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        s.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        s.unscale_(opt)
    with pytest.raises(RuntimeError, match="Closure"):
        s.update(), s.step(opt, closure=lambda: 0)
    with pytest.raises(ValueError, match="growth factor"):
        nt.amp.GradScaler("cpu", growth_factor=1.0)
    off = nt.amp.GradScaler("cpu", enabled=False)
    loss = w.sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
    s2 = nt.amp.GradScaler("cpu")
    s2.load_state_dict({"scale": 8.0, "growth_factor": 4.0, "backoff_factor": 0.25,
                        "growth_interval": 7, "_growth_tracker": 1})
    assert s2.get_scale() == 8.0 and s2.get_growth_interval() == 7
    assert float(s2.scale(nt.tensor(2.0))) == 16.0


def test_torch_cuda_amp_spelling():
    from numtorch.cuda.amp import GradScaler
    with pytest.warns(FutureWarning, match="torch.amp.GradScaler"):
        s = nt.cuda.amp.GradScaler(init_scale=4.0)
    assert GradScaler is nt.cuda.amp.GradScaler and isinstance(s, nt.amp.GradScaler)
    assert s.is_enabled() == nt.cuda.is_available()
