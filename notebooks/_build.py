"""Regenerate the notebooks in this folder from the cell sources below (stored without outputs).

    .venv/bin/python notebooks/_build.py

Edit the cells here, not in the .ipynb files, then rerun; tests/test_notebooks.py executes them.
Every notebook is saved with the kernel ``python3`` (the kernelspec ipykernel installs in the venv).
"""
import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(text):
    return new_markdown_cell(text.strip("\n"))


def code(text):
    return new_code_cell(text.strip("\n"))


# --------------------------------------------------------------------------------------------
NB01 = [
    md("""
# 01 · Tensors and autograd

numtorch speaks PyTorch: `import numtorch as torch` and the code below is the code you would
write for PyTorch. Underneath, every op is a Numba-compiled Python loop. This notebook walks
through tensors, dtypes and type promotion, broadcasting, views that share memory, autograd,
and finally plugs a kernel *you* write with `@numba.njit` into autograd.
"""),
    code("""
import sys
import numpy as np
import numba
import numtorch as torch

print("python  ", sys.executable)
print("numtorch", torch.__version__, "| numba", numba.__version__, "| numpy", np.__version__)
torch.manual_seed(0)
"""),
    md("""
## Tensors and dtypes

Factory functions, shapes and dtypes look the way they do in PyTorch. The default float dtype is
`float32`, integer literals give `int64`.
"""),
    code("""
a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
b = torch.arange(6).reshape(2, 3)
c = torch.zeros(2, 3, dtype=torch.float64)
for name, t in [("a", a), ("b", b), ("c", c), ("randn", torch.randn(2, 3)), ("bool", a > 2)]:
    print(f"{name:6} shape={tuple(t.shape)} dtype={t.dtype}")
a
"""),
    md("""
### Type promotion

Mixing dtypes follows PyTorch's rules: a Python scalar does not widen a tensor
(`int64 tensor * 2.5` is `float32`, not `float64`), while two tensors promote to the wider
category and size.
"""),
    code("""
i64 = torch.tensor([1, 2, 3])
i32 = torch.tensor([1, 2, 3], dtype=torch.int32)
f32 = torch.tensor([1.0, 2.0, 3.0])
f64 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
cases = {
    "int64 + 1": i64 + 1,
    "int64 * 2.5": i64 * 2.5,
    "int32 + int64": i32 + i64,
    "int64 + float32": i64 + f32,
    "float32 + float64": f32 + f64,
    "int64 / int64": i64 / i64,          # true division always gives a float
    "int64 // 2": i64 // 2,
}
for expr, t in cases.items():
    print(f"{expr:18} -> {t.dtype}")
print("promote_types(int32, float32) =", torch.promote_types(torch.int32, torch.float32))
"""),
    md("""
## Broadcasting

Dimensions are aligned from the right; a size-1 (or missing) dimension is stretched without
copying.
"""),
    code("""
col = torch.arange(3.0).reshape(3, 1)      # (3, 1)
row = torch.tensor([10.0, 20.0, 30.0, 40.0])  # (4,)
table = col + row                          # (3, 4)
print(tuple(col.shape), "+", tuple(row.shape), "->", tuple(table.shape))
table
"""),
    code("""
# the usual pattern: subtract the per-column mean of a batch
x = torch.randn(5, 3)
centered = x - x.mean(0)          # (5, 3) - (3,)
print(centered.mean(0))           # ~0 in every column
"""),
    md("""
## Views share memory — and the version counter

`view`, `reshape` (when possible), slicing, `t()`, `transpose`, `unsqueeze` return *views*: new
tensor headers (shape, strides, offset) over the same storage. Writing through one is visible
through the other. Every in-place op bumps a **version counter** shared by all views of the
storage; autograd uses it to detect that a tensor it saved for backward was modified.
"""),
    code("""
base = torch.arange(12.0).reshape(3, 4)
row1 = base[1]          # a view: no copy
colT = base.t()         # a view with swapped strides

print("strides base", base.stride(), "| base.t()", colT.stride(), "| contiguous:", colT.is_contiguous())
print("row1 starts", row1.data_ptr() - base.data_ptr(), "bytes into base's storage")
print("versions before:", base._version, row1._version)
row1.mul_(100)          # in-place through the view ...
print("versions after: ", base._version, row1._version)   # ... bumps the shared counter
base                    # ... and base sees the write
"""),
    code("""
# autograd notices when a tensor saved for backward was modified in place
w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
h = w * 2
y = h ** 2               # pow saves h for backward (at h's current version)
h.add_(1)                # modifies h in place: its version moves on
try:
    y.sum().backward()
except RuntimeError as e:
    print("RuntimeError:", str(e)[:160], "...")
"""),
    code("""
# .clone() copies; .contiguous() copies only when needed
copy = base.clone()
copy[0, 0] = -1.0
print(base[0, 0].item(), copy[0, 0].item())
print(colT.contiguous().is_contiguous(), base.contiguous().data_ptr() == base.data_ptr())
"""),
    md("""
## Autograd on a small function

$f(x, w) = \\sum \\tanh(x w)^2$ — build it from tensor ops, call `backward()`, and compare the
gradient with the one written out by hand:
$\\partial f / \\partial w = x^\\top \\big(2 \\tanh(xw)(1 - \\tanh^2(xw))\\big)$.
"""),
    code("""
x = torch.randn(4, 3)
w = torch.randn(3, 2, requires_grad=True)
z = torch.tanh(x @ w)
f = (z ** 2).sum()
print("f =", f.item(), "| grad_fn:", f.grad_fn)
f.backward()

t = np.tanh(x.numpy() @ w.detach().numpy())
by_hand = x.numpy().T @ (2 * t * (1 - t ** 2))
print(w.grad)
print("matches the hand-written gradient:", np.allclose(w.grad.numpy(), by_hand, atol=1e-5))
"""),
    md("""
### Gradients accumulate — zero them between steps

`backward()` *adds* into `.grad`. That is what lets you sum gradients over several mini-batches,
and why a training loop calls `optimizer.zero_grad()` (or `p.grad.zero_()`) every step.
"""),
    code("""
p = torch.tensor([1.0, -2.0], requires_grad=True)
for i in range(3):
    (3 * p).sum().backward()
    print(f"after backward #{i + 1}: p.grad = {p.grad.tolist()}")
p.grad.zero_()
print("after p.grad.zero_():", p.grad.tolist())
"""),
    md("""
### `no_grad`: no graph, no memory for backward

Inside `torch.no_grad()` (evaluation, parameter updates) results do not require grad and no
graph is recorded. `detach()` does the same for a single tensor.
"""),
    code("""
p = torch.ones(3, requires_grad=True)
with torch.no_grad():
    q = p * 2
    print("inside no_grad:", q.requires_grad, q.grad_fn, "| grad enabled:", torch.is_grad_enabled())
r = p * 2
print("outside:       ", r.requires_grad, r.grad_fn)
print("detach():      ", r.detach().requires_grad)

# a manual SGD step is the classic use
(p ** 2).sum().backward()
with torch.no_grad():
    p -= 0.1 * p.grad
p.grad.zero_()
print("p after one step:", p.tolist(), "requires_grad:", p.requires_grad)
"""),
    md("""
## Your own Numba kernel as an autograd op

Write the forward computation as a plain loop with `@numba.njit`, wrap it in a
`torch.autograd.Function`, and give the backward rule. Here: a *soft-clip*
$y = x / (1 + |x|)$, with derivative $1 / (1 + |x|)^2$.

- `forward` gets tensors, runs the kernel on their NumPy arrays and returns a tensor;
- `backward` is written with **tensor ops**, so autograd can differentiate it again
  (double backward) — no second kernel needed.
"""),
    code("""
@numba.njit(cache=True)
def softclip_kernel(x, out):
    for i in range(x.size):
        v = x.flat[i]
        out.flat[i] = v / (1.0 + abs(v))


class SoftClip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        xs = np.ascontiguousarray(x.detach().numpy())
        out = np.empty_like(xs)
        softclip_kernel(xs, out)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out):
        x, = ctx.saved_tensors
        return grad_out / (1 + x.abs()) ** 2


softclip = SoftClip.apply
x = torch.linspace(-4, 4, 9, requires_grad=True)
y = softclip(x)
print(y)
y.sum().backward()
print(x.grad)
"""),
    md("""
`gradcheck` compares the analytical gradient from `backward` against central finite differences
(use `float64` inputs for a tight check); `gradgradcheck` does the same for the gradient of the
gradient.
"""),
    code("""
xd = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
print("gradcheck:    ", torch.autograd.gradcheck(softclip, (xd,)))
print("gradgradcheck:", torch.autograd.gradgradcheck(softclip, (xd,)))
"""),
    code("""
# a wrong backward is caught
class BadSoftClip(SoftClip):
    @staticmethod
    def backward(ctx, grad_out):
        x, = ctx.saved_tensors
        return grad_out / (1 + x.abs())          # forgot the square

try:
    torch.autograd.gradcheck(BadSoftClip.apply, (xd,))
except Exception as e:   # GradcheckError, a RuntimeError
    print(type(e).__name__, ":", str(e).splitlines()[0])
"""),
    md("""
## Double backward

With `create_graph=True`, the gradient is itself part of a graph and can be differentiated again:
second derivatives, Hessian-vector products, gradient penalties.
For $g(x) = x^3$: $g' = 3x^2$ and $g'' = 6x$. And through our own op:
$\\text{softclip}''(x) = -2\\,\\text{sign}(x) / (1 + |x|)^3$.
"""),
    code("""
x = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
g = x ** 3
dg, = torch.autograd.grad(g.sum(), x, create_graph=True)
d2g, = torch.autograd.grad(dg.sum(), x)
print("g'  =", dg.tolist(), " (3x^2)")
print("g'' =", d2g.tolist(), " (6x)")

x = torch.tensor([-1.5, 0.3, 2.0], dtype=torch.float64, requires_grad=True)
d1, = torch.autograd.grad(softclip(x).sum(), x, create_graph=True)
d2, = torch.autograd.grad(d1.sum(), x)
expected = -2 * np.sign(x.detach().numpy()) / (1 + np.abs(x.detach().numpy())) ** 3
print("softclip'' =", d2.tolist())
print("matches the formula:", np.allclose(d2.numpy(), expected))
"""),
    code("""
# a Hessian-vector product for a small quadratic: f(v) = 0.5 v^T A v, so H = A (symmetric part)
A = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
v = torch.tensor([1.0, -1.0], requires_grad=True)
f = 0.5 * (v @ (A @ v))
grad_f, = torch.autograd.grad(f, v, create_graph=True)
u = torch.tensor([1.0, 0.0])
hvp, = torch.autograd.grad(grad_f @ u, v)
print("grad =", grad_f.tolist(), "| H @ u =", hvp.tolist(), "(A's first column)")
"""),
]

# --------------------------------------------------------------------------------------------
NB02 = [
    md("""
# 02 · Train a CNN on Fashion-MNIST

The whole loop: load the data, look at it, train a small CNN with a progress bar, plot the
curves, read the confusion matrix, look at the mistakes, save and reload a checkpoint.
It is PyTorch code with the import swapped.

The first cell holds the knobs. A full run is `N_TRAIN = 60000`, `EPOCHS = 3` (a few minutes per
epoch on a laptop CPU); the test suite overrides them through environment variables to a small
slice so the notebook runs in seconds.
"""),
    code("""
import os

N_TRAIN = int(os.environ.get("NB_N_TRAIN", 60000))     # training images used
N_TEST = int(os.environ.get("NB_N_TEST", 10000))       # test images used
EPOCHS = int(os.environ.get("NB_EPOCHS", 3))
BATCH_SIZE = int(os.environ.get("NB_BATCH_SIZE", 64))
LR = 1e-3
SEED = 0
OUT_DIR = os.environ.get("NB_OUT_DIR", os.path.join("runs", "notebook_fashion_mnist"))
print(f"N_TRAIN={N_TRAIN} N_TEST={N_TEST} EPOCHS={EPOCHS} BATCH_SIZE={BATCH_SIZE} OUT_DIR={OUT_DIR}")
"""),
    code("""
import time

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import numtorch as torch
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.utils.data import DataLoader, Subset
from numtorch.vision import datasets, transforms

torch.manual_seed(SEED)
"""),
    md("""
## Data

The four IDX files come from Debian's package `dataset-fashion-mnist`
(`apt-get install dataset-fashion-mnist` puts them in `/usr/share/datasets/fashion-mnist`);
`$FASHION_MNIST` or `./data` work too. `ToTensor` scales the bytes to `[0, 1]`, `Normalize`
centres them with the training set's mean and standard deviation.
"""),
    code("""
def find_data():
    candidates = [os.environ.get("FASHION_MNIST"), "/usr/share/datasets/fashion-mnist",
                  "data", os.path.join("..", "data")]
    for c in filter(None, candidates):
        for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"):
            if os.path.exists(os.path.join(c, name)) or os.path.exists(os.path.join(c, "FashionMNIST", "raw", name)):
                return c
    raise FileNotFoundError("Fashion-MNIST not found: apt-get install dataset-fashion-mnist, "
                            "or put the four IDX files in ./data, or set $FASHION_MNIST")


root = find_data()
MEAN, STD = 0.2860, 0.3530
tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
full_train = datasets.FashionMNIST(root, train=True, transform=tf)
full_test = datasets.FashionMNIST(root, train=False, transform=tf)
classes = full_train.classes
train_set = Subset(full_train, range(min(N_TRAIN, len(full_train))))
test_set = Subset(full_test, range(min(N_TEST, len(full_test))))
print(f"data from {root}: train {len(train_set)}/{len(full_train)}, test {len(test_set)}/{len(full_test)}")
print("classes:", classes)
"""),
    code("""
fig, axes = plt.subplots(3, 8, figsize=(12, 5))
for ax, i in zip(axes.flat, range(24)):
    img, label = full_train[i]
    ax.imshow((img[0] * STD + MEAN).numpy(), cmap="gray_r")
    ax.set_title(classes[label], fontsize=8)
    ax.axis("off")
fig.suptitle("Fashion-MNIST: the first training images")
plt.tight_layout()
plt.show()
"""),
    md("""
## The model

Two 3×3 convolutions with ReLU and 2×2 max-pooling, then two linear layers — the same CNN as
`examples/train_fashion_mnist.py`.
"""),
    code("""
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)   # 32 x 14 x 14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)   # 64 x 7 x 7
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


model = CNN()
opt = torch.optim.Adam(model.parameters(), lr=LR)
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))
"""),
    md("""
## Training

`evaluate` runs under `no_grad` in `eval()` mode and returns the predictions too, for the
confusion matrix later. The first step includes Numba's compilation (or loading its on-disk
cache), so it is slower than the rest.
"""),
    code("""
g = torch.Generator().manual_seed(SEED)
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True, generator=g)
test_loader = DataLoader(test_set, batch_size=1000)


def evaluate(model, loader):
    model.eval()
    loss_sum, preds, labels = 0.0, [], []
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss_sum += F.cross_entropy(out, y, reduction="sum").item()
            preds.append(out.argmax(1).numpy())
            labels.append(y.numpy())
    preds, labels = np.concatenate(preds), np.concatenate(labels)
    return loss_sum / len(labels), float((preds == labels).mean()), preds, labels


history = {"step": [], "train_loss": [], "train_acc": [], "epoch": [], "test_loss": [], "test_acc": []}
step = 0
t_start = time.perf_counter()
for epoch in range(EPOCHS):
    model.train()
    bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{EPOCHS}", unit="batch")
    for x, y in bar:
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        step += 1
        history["step"].append(step)
        history["train_loss"].append(loss.item())
        history["train_acc"].append((out.argmax(1) == y).float().mean().item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    test_loss, test_acc, preds, labels = evaluate(model, test_loader)
    history["epoch"].append(step)
    history["test_loss"].append(test_loss)
    history["test_acc"].append(test_acc)
    print(f"epoch {epoch + 1}: test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")
print(f"trained {step} steps in {time.perf_counter() - t_start:.1f} s")
"""),
    code("""
def smooth(v, k=20):
    k = max(1, min(k, len(v) // 5 or 1))
    return np.convolve(v, np.ones(k) / k, mode="valid"), k


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
loss_s, k = smooth(np.array(history["train_loss"]))
acc_s, _ = smooth(np.array(history["train_acc"]))
steps = np.array(history["step"])[k - 1:]
ax1.plot(history["step"], history["train_loss"], alpha=0.25, label="train (per batch)")
ax1.plot(steps, loss_s, label=f"train (mean of {k})")
ax1.plot(history["epoch"], history["test_loss"], "o-", label="test")
ax1.set_xlabel("step"); ax1.set_ylabel("cross-entropy"); ax1.set_title("loss"); ax1.legend()
ax2.plot(steps, acc_s, label=f"train (mean of {k})")
ax2.plot(history["epoch"], history["test_acc"], "o-", label="test")
ax2.set_xlabel("step"); ax2.set_ylabel("accuracy"); ax2.set_title("accuracy"); ax2.legend()
plt.tight_layout()
plt.show()
"""),
    md("""
## Confusion matrix

Row = true class, column = predicted class, on the test images. Shirts, T-shirts, pullovers and
coats are the classes the model mixes up most.
"""),
    code("""
cm = np.zeros((10, 10), dtype=np.int64)
np.add.at(cm, (labels, preds), 1)
fig, ax = plt.subplots(figsize=(7, 6))
im = ax.imshow(cm, cmap="Blues")
ax.set_xticks(range(10), classes, rotation=60, ha="right")
ax.set_yticks(range(10), classes)
for i in range(10):
    for j in range(10):
        ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7,
                color="white" if cm[i, j] > cm.max() / 2 else "black")
ax.set_xlabel("predicted"); ax.set_ylabel("true")
ax.set_title(f"test accuracy {np.trace(cm) / cm.sum():.3f}")
fig.colorbar(im)
plt.tight_layout()
plt.show()
per_class = cm.diagonal() / np.maximum(cm.sum(1), 1)
for c, a in sorted(zip(classes, per_class), key=lambda t: t[1]):
    print(f"{c:12} {a:.3f}")
"""),
    code("""
wrong = np.flatnonzero(preds != labels)[:16]
print(f"{(preds != labels).sum()} of {len(labels)} test images misclassified; the first {len(wrong)}:")
if len(wrong):
    fig, axes = plt.subplots(2, 8, figsize=(12, 3.8))
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        img, label = test_set[int(i)]
        ax.imshow((img[0] * STD + MEAN).numpy(), cmap="gray_r")
        ax.set_title(f"true {classes[label]}\\npred {classes[preds[i]]}", fontsize=7, color="crimson")
    plt.tight_layout()
    plt.show()
"""),
    md("""
## Save and reload a checkpoint

`torch.save` writes PyTorch's zip format (a PyTorch install can read it, and vice versa);
`torch.load` never runs code from the file. Saving the optimizer state too lets training resume
exactly where it stopped.
"""),
    code("""
os.makedirs(OUT_DIR, exist_ok=True)
ckpt_path = os.path.join(OUT_DIR, "checkpoint.pt")
torch.save({"epoch": EPOCHS, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "test_accuracy": history["test_acc"][-1] if history["test_acc"] else None}, ckpt_path)
print(f"saved {ckpt_path} ({os.path.getsize(ckpt_path) / 1e6:.2f} MB)")

ckpt = torch.load(ckpt_path)
restored = CNN()
restored.load_state_dict(ckpt["model"])
restored_opt = torch.optim.Adam(restored.parameters(), lr=LR)
restored_opt.load_state_dict(ckpt["optimizer"])

_, acc_restored, preds_restored, _ = evaluate(restored, test_loader)
print(f"epoch {ckpt['epoch']}: saved accuracy {ckpt['test_accuracy']:.4f}, reloaded model {acc_restored:.4f}")
assert (preds_restored == preds).all(), "the reloaded model predicts differently"
"""),
]

# --------------------------------------------------------------------------------------------
NB05 = [
    md("""
# 05 · Performance

Small, quick versions of the benchmarks in `benchmarks/` (run those for the careful numbers):

1. GEMM throughput (GFLOP/s) by size: numtorch vs NumPy (OpenBLAS) vs PyTorch;
2. elementwise memory bandwidth (GB/s);
3. training steps of the Fashion-MNIST CNN: numtorch vs PyTorch;
4. where the time of a *first* call goes: Numba compilation with an empty cache vs loading the
   cached machine code.

Sizes come from environment variables so the test suite can run a tiny version. Numbers on a
shared or small machine are noisy; each is the best of a few repeats.
"""),
    code("""
import os

GEMM_SIZES = [int(s) for s in os.environ.get("NB_GEMM_SIZES", "64,128,256,512,1024").split(",")]
ELEMENTWISE_N = int(os.environ.get("NB_ELEMENTWISE_N", 1 << 24))
TRAIN_STEPS = int(os.environ.get("NB_TRAIN_STEPS", 20))
TRAIN_BATCH = int(os.environ.get("NB_TRAIN_BATCH", 64))
REPEATS = int(os.environ.get("NB_REPEATS", 5))
print(f"GEMM_SIZES={GEMM_SIZES} ELEMENTWISE_N={ELEMENTWISE_N} TRAIN_STEPS={TRAIN_STEPS} "
      f"TRAIN_BATCH={TRAIN_BATCH} REPEATS={REPEATS}")
"""),
    code("""
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit

import matplotlib.pyplot as plt
import numba
import numpy as np

import numtorch as nt

try:
    import torch
except ImportError:          # PyTorch is optional: its columns stay empty
    torch = None

print(f"numtorch {nt.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
      f"torch {torch.__version__ if torch else '(not installed)'}")
print(f"{os.cpu_count()} CPUs, numba threads {numba.get_num_threads()} ({numba.config.THREADING_LAYER})")


def best(fns, repeat=REPEATS):
    \"\"\"Best seconds per call of each function in the dict `fns`.

    A warm-up of each, then `repeat` rounds; in each round every function runs an auto-sized
    loop (~20 ms) in turn, so a burst of load from elsewhere on the machine hits all of them alike.
    \"\"\"
    number = {}
    for name, fn in fns.items():
        t_end = time.perf_counter() + 0.05          # warm up ~50 ms: compile, caches, thread pools
        while time.perf_counter() < t_end:
            fn()
        number[name] = max(1, int(0.02 / max(min(timeit.repeat(fn, number=1, repeat=3)), 1e-7)))
    t = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t[name] = min(t[name], timeit.timeit(fn, number=number[name]) / number[name])
    return t
"""),
    md("""
## 1 · GEMM

float32 `a @ b` for square `n × n` matrices, through the public `@` (so numtorch's per-call
overhead is included). 2n³ floating-point operations per product. numtorch's float matmul hands
anything above 16³ multiply-adds to NumPy's BLAS (`kernels/cpu/matmul.py` explains why), so at
these sizes the gap to NumPy is numtorch's per-call overhead; tiny and integer products run a
Numba loop kernel. numtorch and NumPy are timed in alternation; PyTorch after them, on its own:
its OpenMP threads and OpenBLAS's both keep spinning for a moment after each call, and
interleaved they fight over the cores of a small machine.
"""),
    code("""
gemm = {"numtorch": [], "numpy": [], "torch": []}
operands = {n: (np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32))
            for n in GEMM_SIZES}
for n, (a, b) in operands.items():
    ta, tb = nt.from_numpy(a), nt.from_numpy(b)
    for name, sec in best({"numtorch": lambda: ta @ tb, "numpy": lambda: a @ b}).items():
        gemm[name].append(2 * n ** 3 / sec / 1e9)
if torch is not None:
    for n, (a, b) in operands.items():
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        gemm["torch"].append(2 * n ** 3 / best({"torch": lambda: xa @ xb})["torch"] / 1e9)
for i, n in enumerate(GEMM_SIZES):
    print(f"n={n:5d}  " + "  ".join(f"{k} {v[i]:7.1f}" for k, v in gemm.items() if v) + "  GFLOP/s")

fig, ax = plt.subplots(figsize=(7, 4))
for name, vals in gemm.items():
    if vals:
        ax.plot(GEMM_SIZES, vals, "o-", label=name)
ax.set_xscale("log", base=2)
ax.set_xlabel("n (n × n @ n × n, float32)"); ax.set_ylabel("GFLOP/s"); ax.set_title("GEMM throughput")
ax.legend(); ax.grid(alpha=0.3)
plt.show()
"""),
    md("""
## 2 · Elementwise bandwidth

An elementwise op does almost no arithmetic per byte, so its speed is memory bandwidth:
`a + b` reads two arrays and writes one (3 × 4 bytes per float32 element). numtorch allocates its
result like PyTorch; NumPy is shown both allocating and writing into a preallocated `out`.
"""),
    code("""
n = ELEMENTWISE_N
a = np.random.rand(n).astype(np.float32)
b = np.random.rand(n).astype(np.float32)
o = np.empty_like(a)
ta, tb = nt.from_numpy(a), nt.from_numpy(b)
cases = {
    "numtorch a + b": lambda: ta + tb,
    "numtorch a.exp()": lambda: ta.exp(),
    "numpy a + b": lambda: a + b,
    "numpy add(out=)": lambda: np.add(a, b, out=o),
    "numpy exp(a)": lambda: np.exp(a),
}
seconds = best(cases)
if torch is not None:
    xa, xb = torch.from_numpy(a), torch.from_numpy(b)
    seconds.update(best({"torch a + b": lambda: xa + xb, "torch a.exp()": lambda: xa.exp()}))
bandwidth = {}
for name, sec in seconds.items():
    nbytes = (3 if "+" in name or "add" in name else 2) * 4 * n
    bandwidth[name] = nbytes / sec / 1e9
    print(f"{name:18} {bandwidth[name]:7.1f} GB/s")

fig, ax = plt.subplots(figsize=(7, 3.5))
names = list(bandwidth)
ax.barh(names, [bandwidth[k] for k in names],
        color=["C0" if k.startswith("numtorch") else "C1" if k.startswith("numpy") else "C2" for k in names])
ax.invert_yaxis()
ax.set_xlabel("GB/s"); ax.set_title(f"elementwise, {n / 1e6:.1f}M float32")
plt.tight_layout()
plt.show()
"""),
    md("""
## 3 · Training steps: numtorch vs PyTorch

The Fashion-MNIST CNN (conv 32, conv 64, fc 128, fc 10), Adam, cross-entropy, on random batches
of the same shape. A step is forward + backward + optimizer update; the first steps (compilation,
allocator warm-up) are not timed.
"""),
    code("""
def make_cnn(lib):
    nn, F = lib.nn, lib.nn.functional

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = nn.Linear(64 * 7 * 7, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1))))
    return CNN()


def step_times(lib, steps, warmup=2):
    lib.manual_seed(0)
    model = make_cnn(lib)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = lib.from_numpy(rng.standard_normal((TRAIN_BATCH, 1, 28, 28), dtype=np.float32))
    y = lib.from_numpy(rng.integers(0, 10, TRAIN_BATCH))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return np.array(times)


train_times = {"numtorch": step_times(nt, TRAIN_STEPS)}
if torch is not None:
    train_times["torch"] = step_times(torch, TRAIN_STEPS)
for name, t in train_times.items():
    print(f"{name:9} median {1e3 * np.median(t):7.1f} ms/step, best {1e3 * t.min():7.1f} ms, "
          f"{TRAIN_BATCH / np.median(t):7.0f} images/s")
if torch is not None:
    print(f"numtorch / torch (median): {np.median(train_times['numtorch']) / np.median(train_times['torch']):.2f}x")

fig, ax = plt.subplots(figsize=(7, 3.5))
for name, t in train_times.items():
    ax.plot(1e3 * t, "o-", label=name)
ax.set_xlabel("timed step"); ax.set_ylabel("ms"); ax.set_ylim(bottom=0)
ax.set_title(f"CNN training step, batch {TRAIN_BATCH}"); ax.legend()
plt.show()
"""),
    md("""
## 4 · Where the first call's time goes: compilation vs cache

Numba compiles a kernel to machine code the first time it is called with a new combination of
argument types, and numtorch keeps the result in an on-disk cache (`$NUMBA_CACHE_DIR`, by default
`~/.cache/numtorch/numba`). To see the cost we run the same script twice in **fresh processes**
sharing an **empty temporary cache**: the first run compiles everything (cold), the second loads
the cached machine code (warm).

The script times, in order: importing numtorch, the first elementwise op, the first reductions,
the first matmul, the first backward — and a fresh user kernel with `@numba.njit(cache=True)`,
its first call (compile or cache load) and its second call (the actual work).
"""),
    code("""
FIRST_CALLS = textwrap.dedent('''
    import json, time
    T = {}
    t = time.perf_counter()
    import numtorch as nt
    T["import numtorch"] = time.perf_counter() - t; t = time.perf_counter()
    x = nt.randn(64, 64, requires_grad=True)
    y = (x * 2 + x).exp()
    T["first elementwise"] = time.perf_counter() - t; t = time.perf_counter()
    x.sum(1); x.mean(); x.max(1)
    T["first reductions"] = time.perf_counter() - t; t = time.perf_counter()
    z = x @ x; x[:8, :8] @ x[:8, :8]      # 64x64 goes to BLAS, 8x8 to a Numba loop kernel
    T["first matmul"] = time.perf_counter() - t; t = time.perf_counter()
    (z.tanh() * y).sum().backward()
    T["first backward"] = time.perf_counter() - t

    import numba, numpy as np

    @numba.njit(cache=True)
    def my_kernel(a, out):
        for i in range(a.size):
            out.flat[i] = a.flat[i] * a.flat[i] + 1.0

    a = np.random.rand(1 << 16); out = np.empty_like(a)
    t = time.perf_counter(); my_kernel(a, out)
    T["my_kernel 1st call"] = time.perf_counter() - t
    t = time.perf_counter(); my_kernel(a, out)
    T["my_kernel 2nd call"] = time.perf_counter() - t
    print(json.dumps(T))
''')

with tempfile.TemporaryDirectory() as tmp:
    script = os.path.join(tmp, "first_calls.py")        # a file: Numba caches only file-based functions
    with open(script, "w") as f:
        f.write(FIRST_CALLS)
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "cache"))
    runs = {}
    for label in ("cold (empty cache)", "warm (cached)"):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr)
        runs[label] = json.loads(r.stdout.strip().splitlines()[-1])
        runs[label]["(process total)"] = time.perf_counter() - t

phases = list(runs["cold (empty cache)"])
print(f"{'':22}{'cold s':>10}{'warm s':>10}")
for p in phases:
    print(f"{p:22}{runs['cold (empty cache)'][p]:10.3f}{runs['warm (cached)'][p]:10.3f}")
"""),
    code("""
shown = [p for p in phases if p != "(process total)"]
fig, ax = plt.subplots(figsize=(8, 4))
ypos = np.arange(len(shown))
for k, (label, vals) in enumerate(runs.items()):
    ax.barh(ypos + 0.4 * k - 0.2, [vals[p] for p in shown], height=0.4, label=label)
ax.set_yticks(ypos, shown)
ax.invert_yaxis()
ax.set_xscale("log")
ax.set_xlabel("seconds (log scale)")
ax.set_title("first calls in a fresh process: compile vs cached")
ax.legend()
plt.tight_layout()
plt.show()
cold, warm = runs["cold (empty cache)"], runs["warm (cached)"]
print(f"compilation costs {cold['(process total)'] - warm['(process total)']:.1f} s once; "
      f"the cache brings a fresh process to its first backward in {sum(warm[p] for p in shown[:5]):.2f} s.")
"""),
]


def write(name, cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    print("wrote", path)


if __name__ == "__main__":
    write("01_tensors_and_autograd.ipynb", NB01)
    write("02_train_fashion_mnist.ipynb", NB02)
    write("05_performance.ipynb", NB05)
