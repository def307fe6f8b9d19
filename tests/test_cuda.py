"""The CUDA device model end to end: devices, transfers, memory, errors, modules, optimizers,
checkpoints and a short training run — in Numba's CUDA simulator on CI, on a GPU where present.

(The op table runs on CUDA in ``test_ops.py::test_op_cuda``; the kernels one by one against the
CPU kernels in ``tests/kernels/test_cuda_*.py``.)
"""
import gc

import numpy as np
import pytest

import numtorch as torch
import numtorch.nn as nn
import numtorch.nn.functional as F

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device and no simulator")

try:
    import torch as real_torch
except ImportError:
    real_torch = None


def test_device_queries():
    assert torch.cuda.is_available() is True
    assert torch.cuda.device_count() >= 1
    assert torch.cuda.current_device() == 0
    torch.cuda.set_device(0)
    torch.cuda.set_device("cuda:0")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        torch.cuda.set_device(torch.cuda.device_count())
    torch.cuda.synchronize()
    assert isinstance(torch.cuda.get_device_name(), str)
    assert torch.device("cuda:0") == torch.device("cuda", 0)


def test_round_trip_and_factories(rng):
    a = rng.standard_normal((3, 5)).astype(np.float32)
    x = torch.tensor(a, device="cuda")
    assert x.device == torch.device("cuda:0") and x.is_cuda  # "cuda" means the current device
    np.testing.assert_array_equal(x.cpu().numpy(), a)
    y = torch.from_numpy(a).cuda()
    assert str(y.device) == "cuda:0"
    np.testing.assert_array_equal(y.cpu().numpy(), a)
    for t in (torch.zeros(2, 3, device="cuda"), torch.ones(4, device="cuda", dtype=torch.int64),
              torch.full((2,), 7.5, device="cuda"), torch.arange(5, device="cuda"),
              torch.eye(3, device="cuda"), torch.rand(3, device="cuda"),
              torch.empty(2, 2, device="cuda"), torch.zeros_like(x)):
        assert t.device.type == "cuda"
    np.testing.assert_array_equal(torch.full((2,), 7.5, device="cuda").cpu().numpy(), [7.5, 7.5])
    np.testing.assert_array_equal(torch.arange(5, device="cuda").cpu().numpy(), np.arange(5))
    # a strided view moves as its values
    np.testing.assert_array_equal(x.t().cpu().numpy(), a.T)
    np.testing.assert_array_equal(x[:, 1::2].cpu().numpy(), a[:, 1::2])
    assert x.sum().item() == pytest.approx(float(a.sum(dtype=np.float64)), rel=1e-5)


def test_numpy_refuses_and_mixing_devices_raises():
    x = torch.ones(3, device="cuda")
    with pytest.raises(TypeError, match="can't convert cuda"):
        x.numpy()
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        x + torch.ones(3)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        torch.matmul(torch.ones(2, 3, device="cuda"), torch.ones(3, 2))
    # a 0-d CPU tensor mixes with any device, as in PyTorch
    assert (x * torch.tensor(2.0)).device.type == "cuda"


def test_caching_allocator_reuses_blocks():
    gc.collect()  # CUDA tensors of earlier tests held in reference cycles go first
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    x = torch.empty(1000, device="cuda")
    assert torch.cuda.memory_allocated() >= base + 4000
    reserved = torch.cuda.memory_reserved()
    del x
    gc.collect()
    assert torch.cuda.memory_allocated() == base
    y = torch.empty(1000, device="cuda")  # the freed block comes back: nothing new reserved
    assert torch.cuda.memory_reserved() == reserved
    assert torch.cuda.max_memory_allocated() >= base + 4000
    del y
    gc.collect()
    torch.cuda.empty_cache()
    assert torch.cuda.memory_reserved() < reserved


def test_views_share_memory_on_the_device():
    x = torch.zeros(4, 3, device="cuda")
    v = x[1]
    v.fill_(2.0)
    x.t()[0].add_(1.0)
    expect = np.zeros((4, 3), np.float32)
    expect[1] = 2
    expect[:, 0] += 1
    np.testing.assert_array_equal(x.cpu().numpy(), expect)
    assert x.storage_offset() == 0 and v.storage_offset() == 3


def test_index_errors_are_checked_before_kernels_run():
    x = torch.arange(5.0, device="cuda")
    with pytest.raises(IndexError, match="out of bounds"):
        x[torch.tensor([0, 7], device="cuda")]
    with pytest.raises(RuntimeError, match="out of bounds"):  # PyTorch's type for gather
        torch.gather(x, 0, torch.tensor([5], device="cuda"))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(torch.zeros(2, 3, device="cuda"), torch.tensor([0, 3], device="cuda"))


def test_autograd_on_the_device_and_gradient_moves_back(rng):
    a = rng.standard_normal((4, 3))
    x = torch.tensor(a, requires_grad=True)
    y = (x.cuda() * 3.0).tanh().sum()
    y.backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 3 * (1 - np.tanh(3 * a) ** 2), rtol=1e-6)


def _cnn():
    # no conv bias: batch norm cancels it, its gradient is rounding noise that Adam would
    # normalise into full-size steps of arbitrary sign
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_module_trains_the_same_on_cuda_as_on_cpu(opt, rng):
    torch.manual_seed(0)
    cpu = _cnn()
    gpu = _cnn().to("cuda")
    gpu.load_state_dict(cpu.state_dict())
    assert all(p.device.type == "cuda" for p in gpu.parameters())
    assert all(b.device.type == "cuda" for b in gpu.buffers())
    make = (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)) if opt == "sgd" else \
        (lambda ps: torch.optim.Adam(ps, lr=1e-2))
    oc, og = make(cpu.parameters()), make(gpu.parameters())
    x = rng.standard_normal((5, 1, 7, 7)).astype(np.float32)
    t = rng.integers(0, 4, 5)
    for _ in range(3):
        for model, o, dev in ((cpu, oc, "cpu"), (gpu, og, "cuda")):
            o.zero_grad()
            loss = F.cross_entropy(model(torch.tensor(x, device=dev)), torch.tensor(t, device=dev))
            loss.backward()
            o.step()
    for (n, pc), pg in zip(cpu.state_dict().items(), gpu.state_dict().values()):
        assert pg.device.type == "cuda", n
        np.testing.assert_allclose(pg.cpu().numpy(), pc.numpy(), rtol=2e-4, atol=2e-5, err_msg=n)


def test_checkpoint_of_cuda_tensors(tmp_path):
    m = nn.Linear(3, 2).cuda()
    torch.save({"model": m.state_dict(), "step": 3}, tmp_path / "c.pt")
    back = torch.load(tmp_path / "c.pt")
    assert back["model"]["weight"].device.type == "cuda"
    np.testing.assert_array_equal(back["model"]["weight"].cpu().numpy(), m.weight.detach().cpu().numpy())
    on_cpu = torch.load(tmp_path / "c.pt", map_location="cpu")
    assert on_cpu["model"]["bias"].device.type == "cpu"
    mapped = torch.load(tmp_path / "c.pt", map_location={"cuda:0": "cpu"})
    assert mapped["model"]["bias"].device.type == "cpu"
    back2 = torch.load(tmp_path / "c.pt", map_location=lambda t, loc: t)
    assert back2["model"]["bias"].device.type == "cpu"
    # a CPU checkpoint loads onto the GPU
    torch.save({"w": torch.ones(2)}, tmp_path / "cpu.pt")
    assert torch.load(tmp_path / "cpu.pt", map_location="cuda")["w"].device.type == "cuda"


@pytest.mark.skipif(real_torch is None, reason="torch (the format oracle) is not installed")
def test_cuda_checkpoint_is_readable_by_pytorch(tmp_path):
    torch.save({"w": torch.arange(3.0, device="cuda")}, tmp_path / "g.pt")
    # PyTorch without CUDA reads it with map_location, as it would its own GPU checkpoint
    w = real_torch.load(tmp_path / "g.pt", map_location="cpu")["w"]
    np.testing.assert_array_equal(w.numpy(), [0.0, 1.0, 2.0])


def test_cuda_array_interface_needs_a_real_gpu():
    x = torch.ones(2)
    with pytest.raises(AttributeError, match="non-CUDA"):
        x.__cuda_array_interface__
    g = torch.ones(2, device="cuda")
    if torch.cuda.is_simulator():
        with pytest.raises(AttributeError):
            g.__cuda_array_interface__
    else:
        iface = g.__cuda_array_interface__
        assert iface["shape"] == (2,) and iface["typestr"] == "<f4"
        from numba import cuda
        np.testing.assert_array_equal(cuda.as_cuda_array(g).copy_to_host(), [1.0, 1.0])
        back = torch.as_tensor(cuda.as_cuda_array(g))
        assert back.device.type == "cuda" and back.data_ptr() == g.data_ptr()


# --- every layer and loss on cuda gives the CPU's outputs and gradients ---------------------------
LAYERS = [
    ("Linear", lambda: nn.Linear(5, 3), (4, 5)),
    ("Bilinear", lambda: nn.Bilinear(3, 4, 2), [(2, 3), (2, 4)]),
    ("Conv1d", lambda: nn.Conv1d(2, 3, 3, padding=1), (2, 2, 7)),
    ("Conv2d-groups-stride", lambda: nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2), (1, 4, 6, 5)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), (1, 2, 3, 4)),
    ("MaxPool1d", lambda: nn.MaxPool1d(2), (2, 3, 8)),
    ("AvgPool2d", lambda: nn.AvgPool2d(2, padding=1), (1, 2, 5, 5)),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((2, 3)), (1, 2, 5, 7)),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(3), (5, 3)),
    ("LayerNorm", lambda: nn.LayerNorm(6), (3, 6)),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), (2, 4, 3)),
    ("Embedding", lambda: nn.Embedding(7, 3, padding_idx=0), "idx"),
    ("Dropout", lambda: nn.Dropout(0.5), (4, 6)),
    ("Dropout2d", lambda: nn.Dropout2d(0.5), (2, 4, 3, 3)),
    ("activations", lambda: nn.Sequential(nn.LeakyReLU(0.1), nn.ELU(), nn.GELU(), nn.SiLU(),
                                          nn.GELU(approximate="tanh"), nn.Softplus(), nn.Hardtanh(),
                                          nn.Tanh(), nn.Sigmoid()), (3, 5)),
    ("Softmax", lambda: nn.Softmax(dim=1), (3, 5)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), (3, 5)),
    ("Unflatten", lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, 2))), (2, 6)),
]

LOSSES = [
    ("MSELoss", nn.MSELoss(), "same"),
    ("L1Loss", nn.L1Loss(reduction="sum"), "same"),
    ("SmoothL1Loss", nn.SmoothL1Loss(beta=0.5), "same"),
    ("HuberLoss", nn.HuberLoss(delta=0.7), "same"),
    ("CrossEntropyLoss", nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=2), "class"),
    ("CrossEntropyLoss-probs", nn.CrossEntropyLoss(), "probs"),
    ("NLLLoss", nn.NLLLoss(reduction="none"), "class"),
    ("BCELoss", nn.BCELoss(), "unit"),
    ("BCEWithLogitsLoss", nn.BCEWithLogitsLoss(pos_weight=None), "unit"),
    ("KLDivLoss", nn.KLDivLoss(reduction="batchmean", log_target=True), "same"),
]


def _pair(make, rng):
    torch.manual_seed(3)
    cpu = make()
    gpu = make().to("cuda")
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu


def _compare(c, g, what, rtol=1e-5, atol=1e-6):
    assert g.device.type == "cuda", what
    np.testing.assert_allclose(g.detach().cpu().numpy(), c.detach().numpy(), rtol=rtol,
                               atol=atol, err_msg=what)


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[x[0] for x in LAYERS])
def test_layer_on_cuda_matches_cpu(name, make, shape, rng):
    cpu, gpu = _pair(make, rng)
    if shape == "idx":
        idx = rng.integers(0, 7, (3, 4))
        ins_c, ins_g = [torch.tensor(idx)], [torch.tensor(idx, device="cuda")]
    else:
        shapes = shape if isinstance(shape, list) else [shape]
        arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        ins_c = [torch.tensor(a, requires_grad=True) for a in arrs]
        ins_g = [torch.tensor(a, device="cuda", requires_grad=True) for a in arrs]
    torch.manual_seed(11)
    out_c = cpu(*ins_c)
    torch.manual_seed(11)  # dropout masks: the same generator draws them on both devices
    out_g = gpu(*ins_g)
    _compare(out_c, out_g, f"{name} forward")
    seed = rng.standard_normal(tuple(out_c.shape)).astype(np.float32)
    (out_c * torch.tensor(seed)).sum().backward()
    (out_g * torch.tensor(seed, device="cuda")).sum().backward()
    for a, b in zip(ins_c, ins_g):
        if a.requires_grad:
            _compare(a.grad, b.grad, f"{name} input grad", 1e-4, 1e-5)
    for (k, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        _compare(p.grad, q.grad, f"{name} grad of {k}", 1e-4, 1e-5)
    for (k, b), q in zip(cpu.named_buffers(), gpu.buffers()):
        _compare(b, q, f"{name} buffer {k}")


@pytest.mark.parametrize("name,loss,kind", LOSSES, ids=[x[0] for x in LOSSES])
def test_loss_on_cuda_matches_cpu(name, loss, kind, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    if kind == "same":
        t = rng.standard_normal((4, 3)).astype(np.float32)
    elif kind == "class":
        t = rng.integers(0, 3, 4)
        x = np.log(np.abs(x) + 0.1) if name == "NLLLoss" else x
    elif kind == "probs":
        t = rng.dirichlet(np.ones(3), 4).astype(np.float32)
    else:
        t = rng.random((4, 3)).astype(np.float32)
        x = 1 / (1 + np.exp(-x)) if name == "BCELoss" else x
    xc, xg = torch.tensor(x, requires_grad=True), torch.tensor(x, device="cuda", requires_grad=True)
    lc, lg = loss(xc, torch.tensor(t)), loss(xg, torch.tensor(t, device="cuda"))
    _compare(lc, lg, f"{name} value")
    lc.sum().backward()
    lg.sum().backward()
    _compare(xc.grad, xg.grad, f"{name} grad", 1e-4, 1e-5)


OPTIMIZERS = {
    "SGD-nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                               weight_decay=1e-2),
    "Adam-amsgrad": lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True),
    "AdamW": lambda ps: torch.optim.AdamW(ps, lr=1e-2),
    "RMSprop-centered": lambda ps: torch.optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
    "Adagrad": lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=1e-3),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_on_cuda_matches_cpu(name, rng):
    cpu, gpu = _pair(lambda: nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)), rng)
    oc, og = OPTIMIZERS[name](cpu.parameters()), OPTIMIZERS[name](gpu.parameters())
    x = rng.standard_normal((6, 4)).astype(np.float32)
    for _ in range(4):
        for m, o, dev in ((cpu, oc, "cpu"), (gpu, og, "cuda")):
            o.zero_grad()
            (m(torch.tensor(x, device=dev)) ** 2).mean().backward()
            o.step()
    for (k, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        _compare(p, q, f"{name}: {k}", 1e-4, 1e-6)
    # the optimizer state lives on the GPU too and round-trips through state_dict
    state = og.state_dict()["state"][0]
    assert all(v.device.type == "cuda" for k, v in state.items()
               if isinstance(v, torch.Tensor) and v.ndim > 0)
