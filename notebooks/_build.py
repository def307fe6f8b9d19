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
NB03 = [
    md("""
# 03 · Write your own kernel: a fused Swish, on the CPU and in CUDA

Swish (SiLU when $\\beta = 1$) is $y = x\\,\\sigma(\\beta x)$. Written with framework ops,
`x * torch.sigmoid(beta * x)` runs three kernels forward (and more backward), each reading and
writing a whole tensor. A **fused** kernel reads `x` once and writes `y` once; its backward reads
`x` and the incoming gradient once and writes `dx` once.

This notebook writes that op

1. as an `@numba.njit` CPU kernel (forward + backward), wraps it in a
   `numtorch.autograd.Function`, checks it with `gradcheck`, uses it in an `nn.Module` and times
   it against the composed version;
2. as a `@numba.cuda.jit` kernel with a grid-stride loop, run through **Numba's CUDA simulator**
   and checked against the CPU kernel.

   Then the CUDA kernel becomes an autograd op on numtorch **CUDA tensors**: numtorch's own
   kernels (`numtorch.kernels.cuda`) are written exactly like it, and
   `numtorch.cuda.as_device_array` / `from_device_array` hand a tensor's device memory to your
   kernel and back without copies.

The CUDA cells need the `cuda` extra: `pip install -e ".[cuda]"` (`numba-cuda` and the
`nvidia-cuda-runtime` wheel, enough for the simulator). Without it they print a message and
skip.
"""),
    code("""
import os
import sys

# The CUDA simulator runs @cuda.jit kernels as Python threads on the CPU: no GPU needed.
# It must be switched on BEFORE numba (or numtorch, which imports numba) is imported.
# On a machine with an NVIDIA GPU (and numba-cuda[cu12] / [cu13]), set NB_CUDA_SIMULATOR=0 (or
# delete the next lines): the same kernels then compile to PTX and run on the GPU for real.
USE_CUDA_SIMULATOR = os.environ.get("NB_CUDA_SIMULATOR", "1") != "0"
if USE_CUDA_SIMULATOR:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
if "numba" in sys.modules:
    print("warning: numba was imported before this cell: restart the kernel for the setting to apply")

N_BENCH = int(os.environ.get("NB_KERNEL_N", 1 << 20))   # elements in the CPU timing
N_CUDA = int(os.environ.get("NB_CUDA_N", 3000))         # elements for the CUDA check (simulator: keep small)
REPEATS = int(os.environ.get("NB_REPEATS", 5))
print(f"USE_CUDA_SIMULATOR={USE_CUDA_SIMULATOR} N_BENCH={N_BENCH} N_CUDA={N_CUDA} REPEATS={REPEATS}")
"""),
    code("""
import math
import time
import timeit

import matplotlib.pyplot as plt
import numba
import numpy as np

import numtorch as torch
import numtorch.nn as nn

print("numtorch", torch.__version__, "| numba", numba.__version__, "| numpy", np.__version__)
print("numtorch.cuda.is_available():", torch.cuda.is_available(),
      "(the simulator)" if torch.cuda.is_available() and torch.cuda.is_simulator() else "")
torch.manual_seed(0)
"""),
    md("""
## The math

With $s = \\sigma(\\beta x) = 1 / (1 + e^{-\\beta x})$ and $y = x s$:

$$\\frac{dy}{dx} = s + \\beta x\\, s (1 - s) = s + \\beta y (1 - s),$$

so backward is $dx = g \\cdot \\big(s + \\beta x s (1 - s)\\big)$: one pass over `x` and `g`,
recomputing $s$ instead of saving it (recomputing an `exp` is cheaper than storing and reading
back a whole tensor). $\\sigma$ is evaluated in the stable form: $e^{-|\\beta x|}$ never
overflows.

## 1 · The CPU kernels (`@numba.njit`)

Plain loops over flat arrays. `parallel=True` with `numba.prange` splits the loop over the
cores; `cache=True` keeps the machine code on disk for the next session. The kernels take the
output array from the caller (numtorch's kernel convention) and are compiled once per dtype.

One detail decides the speed: `math.exp` compiles to a call into the C math library *per
element*, and a call inside the loop stops LLVM from vectorising it (SIMD). numtorch's own
kernels use a branch-free `exp` written in Numba that vectorises
(`numtorch.kernels.cpu._vmath.exp`, accurate to ~1e-13), and the compile flags of
`numtorch.kernels.policy` (fast-math without `nnan`/`ninf`, NumPy's error model). We do the
same; the timing section shows what `math.exp` would cost.
"""),
    code("""
from numtorch.kernels.cpu._vmath import exp as vexp     # an exp that vectorises
from numtorch.kernels.policy import FASTMATH

JIT = dict(fastmath=FASTMATH, error_model="numpy")


@numba.njit(inline="always", **JIT)
def _sigmoid(z):
    e = vexp(-z if z >= 0 else z)       # exp(-|z|) is in (0, 1]: never overflows
    return 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)    # selects, not branches: SIMD stays


@numba.njit(parallel=True, cache=True, **JIT)
def swish_fwd_kernel(x, beta, out):
    for i in numba.prange(x.size):
        v = x[i]
        out[i] = v * _sigmoid(beta * v)


@numba.njit(parallel=True, cache=True, **JIT)
def swish_bwd_kernel(x, grad_out, beta, grad_in):
    for i in numba.prange(x.size):
        v = x[i]
        s = _sigmoid(beta * v)
        grad_in[i] = grad_out[i] * (s + beta * v * s * (1.0 - s))


# a quick check against NumPy
xa = np.linspace(-30, 30, 13)
ya = np.empty_like(xa)
swish_fwd_kernel(xa, 1.5, ya)
print(np.allclose(ya, xa / (1 + np.exp(-1.5 * xa))))
"""),
    md("""
## Wrapping the kernels in an autograd `Function`

`forward` runs the forward kernel on the tensor's NumPy array (numtorch CPU tensors share memory
with NumPy: no copy) and saves `x`; `backward` runs the backward kernel. `beta` is a plain Python
number, so its gradient is `None`. Because `backward` calls a kernel instead of Tensor ops, this
op supports first derivatives only; for double backward write `backward` with Tensor ops, as
notebook 01 does.
"""),
    code("""
def _flat(t):
    \"\"\"A contiguous 1-D NumPy view (or copy) of a CPU tensor.\"\"\"
    return np.ascontiguousarray(t.detach().numpy()).reshape(-1)


class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta=1.0):
        xs = _flat(x)
        out = np.empty_like(xs)
        swish_fwd_kernel(xs, xs.dtype.type(beta), out)   # beta in x's dtype: float32 stays float32
        ctx.save_for_backward(x)
        ctx.beta = beta
        return torch.from_numpy(out.reshape(tuple(x.shape)))

    @staticmethod
    def backward(ctx, grad_out):
        x, = ctx.saved_tensors
        xs, gs = _flat(x), _flat(grad_out)
        grad_in = np.empty_like(xs)
        swish_bwd_kernel(xs, gs, xs.dtype.type(ctx.beta), grad_in)
        return torch.from_numpy(grad_in.reshape(tuple(x.shape))), None


def swish(x, beta=1.0):
    return SwishFunction.apply(x, beta)


def swish_composed(x, beta=1.0):
    return x * torch.sigmoid(beta * x)


x = torch.linspace(-3, 3, 7, requires_grad=True)
y = swish(x, 1.5)
y.sum().backward()
x2 = x.detach().clone().requires_grad_(True)
swish_composed(x2, 1.5).sum().backward()
print("y      ", y)
print("dy/dx  ", x.grad)
print("same as composed ops:", np.allclose(y.detach().numpy(), swish_composed(x2, 1.5).detach().numpy(), atol=1e-6),
      np.allclose(x.grad.numpy(), x2.grad.numpy(), atol=1e-6))
"""),
    md("""
`gradcheck` compares the kernel's backward with central finite differences of its forward, in
`float64`, for several values of $\\beta$ (including large inputs, where the stable sigmoid
matters).
"""),
    code("""
xd = (4 * torch.randn(5, 7, dtype=torch.float64)).requires_grad_(True)
for beta in (1.0, 0.3, 2.5):
    ok = torch.autograd.gradcheck(lambda t: swish(t, beta), (xd,))
    print(f"gradcheck beta={beta}: {ok}")

big = torch.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=torch.float64)
print("no overflow at large |x|:", swish(big, 1.0).tolist())
"""),
    md("""
## In an `nn.Module`

A module holds the op's configuration and calls the `Function` in `forward`. Two copies of a
small MLP with the same initial weights — one with the fused Swish, one with the composed ops —
trained side by side on a toy regression, must follow the same loss curve.
"""),
    code("""
class Swish(nn.Module):
    def __init__(self, beta=1.0, fused=True):
        super().__init__()
        self.beta, self.fused = beta, fused

    def forward(self, x):
        return swish(x, self.beta) if self.fused else swish_composed(x, self.beta)

    def extra_repr(self):
        return f"beta={self.beta}, fused={self.fused}"


def make_mlp(fused):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 64), Swish(1.5, fused), nn.Linear(64, 64), Swish(1.5, fused),
                         nn.Linear(64, 1))


xs = torch.linspace(-3, 3, 256).unsqueeze(1)
ys = torch.sin(2 * xs) + 0.1 * xs ** 2
curves = {}
for fused in (True, False):
    model = make_mlp(fused)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(150):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xs), ys)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    curves["fused kernel" if fused else "composed ops"] = losses
print(make_mlp(True))
a, b = curves["fused kernel"], curves["composed ops"]
print(f"final loss: fused {a[-1]:.5f}, composed {b[-1]:.5f}; "
      f"max |difference| over the curve {max(abs(p - q) for p, q in zip(a, b)):.2e}")

fig, ax = plt.subplots(figsize=(6, 3))
for name, c in curves.items():
    ax.plot(c, label=name, ls="-" if "fused" in name else "--")
ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_ylabel("MSE"); ax.legend()
ax.set_title("same training with the fused and the composed Swish")
plt.tight_layout()
plt.show()
"""),
    md("""
## Timing: fused kernel vs composed ops

On a float32 CPU tensor of `N_BENCH` elements (about a million by default): forward alone, and
forward + backward. "raw kernel" calls the Numba kernels on preallocated NumPy arrays — the floor,
without framework overhead; the gap between it and "fused kernel" is the framework's share
(allocating the output — fresh memory costs page faults —, recording the graph, the gradient
buffer). "raw, math.exp" is the forward kernel with `math.exp`: the cost of a loop that does not
vectorise. Each number is the best of a few interleaved repeats after a warm-up; on a busy
machine they move by tens of percent from run to run.
"""),
    code("""
def best_ms(fns, repeat=REPEATS):
    \"\"\"Best milliseconds per call of each function in the dict ``fns``: after a warm-up
    (compilation or cache load), ``repeat`` rounds in which every function runs an auto-sized
    loop (~20 ms) in turn, so load from elsewhere on the machine hits all of them alike.\"\"\"
    number = {}
    for k, fn in fns.items():
        fn(); fn()
        number[k] = max(1, int(0.02 / max(min(timeit.repeat(fn, number=1, repeat=3)), 1e-6)))
    t = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t[k] = min(t[k], timeit.timeit(fn, number=number[k]) / number[k])
    return {k: 1e3 * v for k, v in t.items()}


@numba.njit(parallel=True, cache=True, **JIT)
def swish_fwd_libm(x, beta, out):            # the same forward with math.exp: not vectorised
    for i in numba.prange(x.size):
        v = x[i]
        z = beta * v
        e = math.exp(-z if z >= 0 else z)
        out[i] = v * (1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e))


xb = torch.randn(N_BENCH)
gb = torch.randn(N_BENCH)
xg = xb.clone().requires_grad_(True)
beta = 1.5
xa, ga = xb.numpy(), gb.numpy()
oa = np.empty_like(xa)
b32 = np.float32(beta)


def fwd_bwd(f):
    def run():
        xg.grad = None
        f(xg, beta).backward(gb)
    return run


with torch.no_grad():
    t_fwd = best_ms({"composed ops": lambda: swish_composed(xb, beta),
                     "fused kernel": lambda: swish(xb, beta),
                     "raw kernel": lambda: swish_fwd_kernel(xa, b32, oa),
                     "raw, math.exp": lambda: swish_fwd_libm(xa, b32, oa)})
t_both = best_ms({"composed ops": fwd_bwd(swish_composed),
                  "fused kernel": fwd_bwd(swish),
                  "raw kernel": lambda: (swish_fwd_kernel(xa, b32, oa), swish_bwd_kernel(xa, ga, b32, oa))})

print(f"{N_BENCH} float32 elements, {numba.get_num_threads()} Numba threads")
print(f"{'':15}{'forward ms':>12}{'fwd+bwd ms':>12}")
for k in t_fwd:
    print(f"{k:15}{t_fwd[k]:12.3f}{t_both.get(k, float('nan')):12.3f}")
print(f"fused vs composed: forward {t_fwd['composed ops'] / t_fwd['fused kernel']:.1f}x, "
      f"forward+backward {t_both['composed ops'] / t_both['fused kernel']:.1f}x faster")

fig, ax = plt.subplots(figsize=(7, 3))
names = list(t_both)
pos = np.arange(len(names))
ax.barh(pos - 0.2, [t_fwd[k] for k in names], height=0.4, label="forward")
ax.barh(pos + 0.2, [t_both[k] for k in names], height=0.4, label="forward + backward")
ax.set_yticks(pos, names); ax.invert_yaxis()
ax.set_xlabel("ms (lower is better)"); ax.set_title(f"Swish on {N_BENCH / 1e6:.2f}M float32")
ax.legend()
plt.tight_layout()
plt.show()
"""),
    md("""
## 2 · The same op as a CUDA kernel (`@cuda.jit`)

A CUDA kernel is the body of *one thread*. `cuda.grid(1)` is this thread's global index,
`cuda.gridsize(1)` the total number of threads in the launch. The **grid-stride loop** lets a
launch of any size cover an array of any size: thread `t` handles elements `t`, `t + stride`,
`t + 2·stride`, … — so the launch configuration is a tuning choice, not a correctness one.
`kernel[blocks, threads_per_block](args)` launches it.

Under the simulator (`NUMBA_ENABLE_CUDASIM=1`) every CUDA thread is a Python thread: correct,
easy to debug (`print` and out-of-bounds errors work), but slow — keep arrays to a few thousand
elements. We launch 4 blocks of 64 threads over `N_CUDA` elements, so every thread loops several
times and the tail is partial.
"""),
    code("""
try:
    from numba import cuda
    HAVE_CUDA = cuda.is_available()
    why = "" if HAVE_CUDA else "numba.cuda found no GPU (set NB_CUDA_SIMULATOR=1 to use the simulator)"
except Exception as e:            # numba-cuda or the CUDA runtime wheel is not installed
    cuda, HAVE_CUDA = None, False
    why = f"numba.cuda cannot be imported ({type(e).__name__}: {e}); pip install -e '.[cuda]'"

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
if HAVE_CUDA:
    print("numba.cuda:", "the CUDA simulator (CPU threads)" if SIMULATED else cuda.get_current_device().name)
else:
    print("skipping the CUDA cells:", why)
"""),
    code("""
if HAVE_CUDA:
    @cuda.jit(device=True)
    def sigmoid_dev(z):
        e = math.exp(-abs(z))
        return 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)

    @cuda.jit
    def swish_fwd_cuda(x, beta, out):
        start = cuda.grid(1)              # this thread's global index
        stride = cuda.gridsize(1)         # threads in the whole grid
        for i in range(start, x.size, stride):
            v = x[i]
            out[i] = v * sigmoid_dev(beta * v)

    @cuda.jit
    def swish_bwd_cuda(x, grad_out, beta, grad_in):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, x.size, stride):
            v = x[i]
            s = sigmoid_dev(beta * v)
            grad_in[i] = grad_out[i] * (s + beta * v * s * (1.0 - s))

    # the simulator: a few small blocks; a GPU: enough blocks to fill it, each thread still loops
    THREADS = 64 if SIMULATED else 256
    def blocks_for(n):
        return 4 if SIMULATED else min(1024, (n + THREADS - 1) // THREADS)
    print(f"launch: {blocks_for(N_CUDA)} blocks x {THREADS} threads = {blocks_for(N_CUDA) * THREADS} "
          f"threads for {N_CUDA} elements")
else:
    print("skipped:", why)
"""),
    md("""
Check the CUDA kernels against the CPU kernels, forward and backward, in float64 and float32.
Device arrays make the data movement explicit: `cuda.to_device` copies host → device,
`device_array_like` allocates on the device, `copy_to_host` copies back.
"""),
    code("""
if HAVE_CUDA:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        x_h = (5 * rng.standard_normal(N_CUDA)).astype(dtype)
        g_h = rng.standard_normal(N_CUDA).astype(dtype)
        b = dtype(1.5)
        ref_y, ref_dx = np.empty_like(x_h), np.empty_like(x_h)
        swish_fwd_kernel(x_h, b, ref_y)
        swish_bwd_kernel(x_h, g_h, b, ref_dx)

        d_x, d_g = cuda.to_device(x_h), cuda.to_device(g_h)
        d_y, d_dx = cuda.device_array_like(d_x), cuda.device_array_like(d_x)
        swish_fwd_cuda[blocks_for(N_CUDA), THREADS](d_x, b, d_y)
        swish_bwd_cuda[blocks_for(N_CUDA), THREADS](d_x, d_g, b, d_dx)
        cuda.synchronize()
        y_h, dx_h = d_y.copy_to_host(), d_dx.copy_to_host()
        err_y = np.max(np.abs(y_h - ref_y)) / np.max(np.abs(ref_y))
        err_dx = np.max(np.abs(dx_h - ref_dx)) / np.max(np.abs(ref_dx))
        print(f"{np.dtype(dtype).name}: max error / max value: forward {err_y:.1e}, backward {err_dx:.1e}")
        assert np.allclose(y_h, ref_y, rtol=rtol, atol=1e-6) and np.allclose(dx_h, ref_dx, rtol=rtol, atol=1e-6)
    print(f"CUDA kernels match the CPU kernels ({time.perf_counter() - t0:.2f} s"
          f"{' in the simulator' if SIMULATED else ''})")
else:
    print("skipped:", why)
"""),
    md("""
### The CUDA kernel behind autograd, on numtorch CUDA tensors

The `Function` below takes CUDA tensors: `torch.cuda.as_device_array` gives the kernel the
tensor's device memory (no copy), the output is allocated by numtorch (`torch.empty_like`, from
its caching allocator), and nothing crosses to the host. `gradcheck` runs on a float64 CUDA
tensor; then the op sits in a module moved to the GPU with `.to("cuda")`.
"""),
    code("""
if HAVE_CUDA:
    def _dev(t):
        # a CUDA tensor's memory as a flat Numba device array (no copy)
        return torch.cuda.as_device_array(t.detach().contiguous().reshape(-1))

    class SwishCudaFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, beta=1.0):
            y = torch.empty_like(x)
            n = x.numel()
            swish_fwd_cuda[blocks_for(n), THREADS](_dev(x), x.new_tensor(beta).item(), _dev(y))
            ctx.save_for_backward(x)
            ctx.beta = beta
            return y

        @staticmethod
        def backward(ctx, grad_out):
            x, = ctx.saved_tensors
            dx = torch.empty_like(x)
            swish_bwd_cuda[blocks_for(x.numel()), THREADS](_dev(x), _dev(grad_out), ctx.beta,
                                                          _dev(dx))
            return dx, None

    class SwishCuda(nn.Module):
        def __init__(self, beta=1.0):
            super().__init__()
            self.beta = beta

        def forward(self, x):
            return SwishCudaFunction.apply(x, self.beta)

    t0 = time.perf_counter()
    xc = (3 * torch.randn(4, 5, dtype=torch.float64, device="cuda")).requires_grad_(True)
    print("gradcheck through the CUDA kernels on a CUDA tensor:",
          torch.autograd.gradcheck(lambda t: SwishCudaFunction.apply(t, 1.5), (xc,)),
          f"({time.perf_counter() - t0:.1f} s)")
    net = nn.Sequential(nn.Linear(6, 8), SwishCuda(1.5), nn.Linear(8, 2)).to("cuda")
    out = net(torch.randn(3, 6, device="cuda"))
    out.sum().backward()
    print("output", tuple(out.shape), "on", out.device, "| grad of the first weight on",
          net[0].weight.grad.device)
else:
    print("skipped:", why)
"""),
    md("""
## Where to go from here

- A real GPU: install `numba-cuda[cu12]` or `[cu13]`, run this notebook with
  `NB_CUDA_SIMULATOR=0` — the kernels above compile for the GPU unchanged. Launches cost
  roughly 10 µs each, so fusing ops matters even more there than on the CPU.
- Inside numtorch, a kernel lives in `kernels/cpu/<family>.py` and its `@cuda.jit` twin in
  `kernels/cuda/<family>.py` (both compiled through `kernels/policy.py`), and one `Function`
  subclass in `numtorch/ops/` calls `kernels(device).<family>.<name>`.
"""),
]

# --------------------------------------------------------------------------------------------
NB04 = [
    md("""
# 04 · Distributed data-parallel training (DDP over MPI)

`numtorch.nn.parallel.DistributedDataParallel` is PyTorch's DDP for numtorch's CPU tensors, on
top of `numtorch.distributed` (collectives over MPI through mpi4py). You start N processes
(*ranks*) with `mpiexec -n N python train.py`; every rank holds a full copy of the model, trains
on its own shard of the data, and the ranks average their gradients every step so all copies
stay identical.

## How it works

1. **Process group.** `dist.init_process_group("mpi")` joins the job started by `mpiexec`
   (rank and world size come from MPI).
2. **Same start.** Wrapping the model, `DDP(model)` checks that every rank built the same
   parameter shapes and dtypes, then **broadcasts rank 0's parameters and buffers** to all ranks
   (one flat message per dtype) — the ranks may have initialised differently, they start equal.
3. **Buckets.** The gradients are assigned to flat **buckets** walking the parameters in
   **reverse registration order** (backward produces the last layer's gradients first): a small
   first bucket (1 MiB, so communication starts early), then buckets of up to `bucket_cap_mb`
   (25 MB by default). Each parameter's gradient has a fixed slot in its bucket's flat buffer.
4. **Overlap.** Every parameter gets a *post-accumulate-grad hook*. When backward has written a
   parameter's gradient, the hook copies it into its bucket slot; when a bucket's last gradient is
   in, the hook starts that bucket's **non-blocking allreduce** (`MPI_Iallreduce`) and backward
   carries on computing the gradients of earlier layers while the bucket travels. Buckets start in
   the same order on every rank. The hook of the last bucket waits for all of them, divides by the
   world size and writes the averaged gradients back into `.grad`. So when `loss.backward()`
   returns, every rank holds the same averaged gradient, and `opt.step()` makes the same update
   everywhere — no parameter is ever sent after the initial broadcast.
5. **Data.** `DistributedSampler` gives rank *r* of *N* the indices `r, r + N, r + 2N, …` of a
   permutation every rank computes from the same seed; `sampler.set_epoch(e)` reshuffles per
   epoch, identically on all ranks. With a fixed per-rank batch size, N ranks process N times the
   images per step and an epoch takes 1/N of the steps.
6. **Fail-fast.** Once the group is initialised, an uncaught exception in any rank **aborts the
   whole job** (instead of leaving the other ranks blocked forever in a collective);
   `init_process_group(timeout=...)` bounds how long a collective may wait, and collectives that
   do not match across ranks (shapes, dtypes, ops) raise an error naming the ranks.

Below, the notebook writes a small training script to a temporary folder, runs it with 1 and with
2 ranks, reads every rank's results (JSON) back, checks that the ranks end with **bit-identical
parameters**, and plots throughput. The full-size example is
`mpiexec -n 2 .venv/bin/python examples/train_fashion_mnist.py` (it switches to DDP by itself
when launched with more than one rank).
"""),
    code("""
import os

SAMPLES = int(os.environ.get("NB_DDP_SAMPLES", 16384))   # synthetic training set size
EPOCHS = int(os.environ.get("NB_DDP_EPOCHS", 3))
BATCH = int(os.environ.get("NB_DDP_BATCH", 64))          # per rank
TIMEOUT = int(os.environ.get("NB_DDP_TIMEOUT", 300))     # seconds per mpiexec launch
print(f"SAMPLES={SAMPLES} EPOCHS={EPOCHS} BATCH={BATCH} (per rank) TIMEOUT={TIMEOUT}s")
"""),
    code("""
import importlib.util
import json
import signal
import subprocess
import sys
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

# the MPI launcher of this interpreter's environment (pip install mpi4py mpich puts it there)
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and os.path.exists(MPIEXEC)
if HAVE_MPI:
    print("mpiexec:", MPIEXEC, "|", os.cpu_count(), "CPUs")
else:
    print("mpi4py or mpiexec not found next to", sys.executable,
          "- install the mpi extra (pip install -e '.[mpi]'); the MPI cells below are skipped")

WORK = tempfile.mkdtemp(prefix="numtorch_ddp_")
SCRIPT = os.path.join(WORK, "ddp_train.py")
print("work folder:", WORK)
"""),
    md("""
## The training script

A 3-layer MLP on a synthetic 10-class problem (784 features, like a flattened Fashion-MNIST
image: class centres plus noise, the same data set on every rank from a fixed seed). It is an
ordinary numtorch training loop plus the four DDP lines: `init_process_group`,
`DistributedSampler`, `DDP(model)`, `set_epoch`. Each rank seeds its initial weights
*differently* on purpose, to show that DDP's broadcast makes them equal. `bucket_cap_mb=0.05`
splits this small model's ~0.65 MB of gradients into two buckets (the default, 25 MB, would
give one).

Each rank writes a JSON file: its throughput (images/s after the first warm-up steps, from the
median step time, which a burst of other load on the machine barely moves, and from the total
time), its loss
curve and final loss, a SHA-256 of its parameters' bytes before and after wrapping and at the end,
the time backward spent waiting for communication, and the bucket layout.
"""),
    code("""
%%writefile {SCRIPT}
\"\"\"Data-parallel training of a small MLP: mpiexec -n N python ddp_train.py OUT_DIR\"\"\"
import hashlib
import json
import os
import sys
import time

import numpy as np

import numtorch as torch
import numtorch.distributed as dist
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.nn.parallel import DistributedDataParallel as DDP
from numtorch.utils.data import DataLoader, DistributedSampler, TensorDataset

out_dir = sys.argv[1]
SAMPLES = int(os.environ.get("DDP_SAMPLES", 16384))
EPOCHS = int(os.environ.get("DDP_EPOCHS", 3))
BATCH = int(os.environ.get("DDP_BATCH", 64))
WARMUP = 5   # steps not timed (compilation, caches)

dist.init_process_group("mpi", timeout=120)
rank, world = dist.get_rank(), dist.get_world_size()

# the same data set on every rank: 10 class centres in 784 dimensions plus noise
rng = np.random.default_rng(0)
centres = 0.1 * rng.standard_normal((10, 784)).astype(np.float32)
labels = rng.integers(0, 10, SAMPLES)
images = centres[labels] + rng.standard_normal((SAMPLES, 784)).astype(np.float32)
dataset = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
sampler = DistributedSampler(dataset, shuffle=True, seed=0)       # this rank's 1/world share
loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler, drop_last=True)


def checksum(module):
    h = hashlib.sha256()
    for p in module.parameters():
        h.update(p.detach().numpy().tobytes())
    return h.hexdigest()[:16]


torch.manual_seed(100 + rank)          # different initial weights on every rank ...
net = nn.Sequential(nn.Linear(784, 192), nn.ReLU(), nn.Linear(192, 96), nn.ReLU(), nn.Linear(96, 10))
before = checksum(net)
model = DDP(net, bucket_cap_mb=0.05)   # ... until DDP broadcasts rank 0's
after = checksum(net)
opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)

losses, step_times, seen, t_start, step = [], [], 0, None, 0
for epoch in range(EPOCHS):
    sampler.set_epoch(epoch)           # a new shuffle per epoch, the same on every rank
    for x, y in loader:
        if step == WARMUP:
            t_start, seen = time.perf_counter(), 0
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()                # gradients are averaged over the ranks in here
        opt.step()
        losses.append(loss.item())
        if step >= WARMUP:
            step_times.append(time.perf_counter() - t0)
        seen += y.shape[0]
        step += 1
elapsed = time.perf_counter() - t_start

red = model.reducer
result = {
    "rank": rank, "world_size": world, "steps": step, "images": seen, "seconds": elapsed,
    "img_per_s": seen / elapsed,                       # over the whole timed run
    "img_per_s_median": BATCH / float(np.median(step_times)),   # robust to bursts of other load
    "losses": losses, "final_loss": float(np.mean(losses[-10:])),
    "checksum_before_ddp": before, "checksum_after_ddp": after, "checksum_final": checksum(net),
    "param_sum": float(sum(p.detach().numpy().astype(np.float64).sum() for p in net.parameters())),
    "comm_wait_ms_per_step": 1e3 * red.stats["wait_s"] / max(red.stats["iters"], 1),
    "buckets": [{"params": [red.names[i] for i in b.params],
                 "kbytes": b.flat.numel() * b.flat.element_size() / 1024} for b in red.buckets],
}
with open(os.path.join(out_dir, f"world{world}_rank{rank}.json"), "w") as f:
    json.dump(result, f)
dist.destroy_process_group()
"""),
    md("""
## Launch with 1 and with 2 ranks

`mpiexec -n N <this python> ddp_train.py OUT` — always the interpreter of this environment
(`sys.executable`), never a bare `python`. The launch runs in its own process group with a
timeout, so a hung job is killed as a whole (mpiexec and every rank). MPI picks each rank's
share of the cores: with 2 ranks on a 2-core machine each rank's Numba and BLAS thread pools get
one core, where the single rank had both: do not expect a 2x speed-up on such a machine, and
on a machine shared with other work the numbers move a lot from run to run. Real gains come from more cores or more machines
(`mpiexec -hosts node1,node2 -n 4 ...`).
"""),
    code("""
def launch(n, script, *args, env=None, timeout=TIMEOUT):
    \"\"\"Run ``mpiexec -n n python script args``; return (exit code, output, seconds).\"\"\"
    cmd = [MPIEXEC, "-n", str(n), sys.executable, script, *args]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)      # mpiexec, its proxies and every rank
        out, _ = p.communicate()
        raise RuntimeError(f"{' '.join(cmd)} timed out after {timeout} s:\\n{out[-2000:]}")
    return p.returncode, out, time.perf_counter() - t0


results = {}
if HAVE_MPI:
    env = dict(os.environ, DDP_SAMPLES=str(SAMPLES), DDP_EPOCHS=str(EPOCHS), DDP_BATCH=str(BATCH))
    for n in (1, 2):
        out_dir = os.path.join(WORK, f"out{n}")
        os.makedirs(out_dir, exist_ok=True)
        rc, out, sec = launch(n, SCRIPT, out_dir, env=env)
        if rc != 0:
            raise RuntimeError(f"mpiexec -n {n} failed (exit {rc}):\\n{out[-3000:]}")
        results[n] = [json.load(open(os.path.join(out_dir, f"world{n}_rank{r}.json"))) for r in range(n)]
        print(f"{n} rank(s): job took {sec:.1f} s (start-up and compile-cache loading included)")
else:
    print("skipped: no MPI")
"""),
    md("""
## Results: identical parameters, throughput

After training, every rank's parameters must be **bit-for-bit identical**: they started equal
(broadcast) and received the same averaged gradients every step. Before wrapping they were not.
"""),
    code("""
if results:
    for n, ranks in results.items():
        print(f"--- {n} rank(s)")
        for r in ranks:
            print(f"rank {r['rank']}: {r['steps']} steps, {r['img_per_s_median']:6.0f} img/s "
                  f"(median step; mean {r['img_per_s']:6.0f}), final loss "
                  f"{r['final_loss']:.4f}, comm wait {r['comm_wait_ms_per_step']:.2f} ms/step, params "
                  f"before DDP {r['checksum_before_ddp']} after {r['checksum_after_ddp']} "
                  f"final {r['checksum_final']} (sum {r['param_sum']:.6f})")
    two = results[2]
    assert two[0]["checksum_before_ddp"] != two[1]["checksum_before_ddp"], "ranks seeded alike?"
    assert len({r["checksum_after_ddp"] for r in two}) == 1, "the broadcast did not equalise"
    assert len({r["checksum_final"] for r in two}) == 1, "the ranks' parameters diverged"
    print("\\n2 ranks: different before DDP, identical after the broadcast and after training")
    print("buckets (reverse parameter order):")
    for i, b in enumerate(two[0]["buckets"]):
        print(f"  bucket {i}: {b['kbytes']:7.1f} KiB  {b['params']}")
else:
    print("skipped: no MPI")
"""),
    code("""
if results:
    one, two = results[1], results[2]
    total2 = sum(r["img_per_s_median"] for r in two)
    labels = ["1 rank", "2 ranks: rank 0", "2 ranks: rank 1", "2 ranks: total"]
    values = [one[0]["img_per_s_median"], two[0]["img_per_s_median"], two[1]["img_per_s_median"], total2]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    ax1.bar(labels, values, color=["C0", "C1", "C1", "C2"])
    for i, v in enumerate(values):
        ax1.text(i, v, f"{v:.0f}", ha="center", va="bottom")
    ax1.set_ylabel("images / s"); ax1.set_title(f"training throughput, batch {BATCH} per rank")
    ax1.tick_params(axis="x", labelsize=8)
    for n, ranks in results.items():
        for r in ranks:
            ax2.plot(r["losses"], lw=0.8, label=f"{n} rank(s), rank {r['rank']}")
    ax2.set_yscale("log"); ax2.set_xlabel("step"); ax2.set_ylabel("local batch loss")
    ax2.set_title("loss per rank"); ax2.legend()
    plt.tight_layout()
    plt.show()
    print(f"2 ranks vs 1: {total2 / one[0]['img_per_s_median']:.2f}x the images per second "
          f"on {os.cpu_count()} CPUs; {two[0]['steps']} steps instead of {one[0]['steps']} "
          f"for the same {EPOCHS} epochs")
else:
    print("skipped: no MPI")
"""),
    md("""
With 2 ranks each epoch takes half the steps (each rank sees half of the data), so the loss
curves are shorter; each rank's curve is the loss of *its own* batches, which differ, while the
parameters stay the same.

## Fail-fast: one rank fails, the job ends

Without help, an exception in one rank leaves the others waiting forever in their next
collective. numtorch installs an exception hook at `init_process_group` that aborts the whole MPI
job. Here rank 1 raises while rank 0 waits in a barrier:
"""),
    code("""
CRASH = os.path.join(WORK, "crash.py")
with open(CRASH, "w") as f:
    f.write('''
import numtorch.distributed as dist
dist.init_process_group("mpi", timeout=60)
if dist.get_rank() == 1:
    raise ValueError("rank 1 hit a bug")
dist.barrier()          # rank 0 would wait here forever without fail-fast
print("unreachable")
''')

if HAVE_MPI:
    rc, out, sec = launch(2, CRASH, timeout=90)
    print(f"exit code {rc} after {sec:.1f} s")
    print("\\n".join(l for l in out.splitlines() if "Error" in l or "abort" in l.lower())[:1500])
    assert rc != 0 and "unreachable" not in out
else:
    print("skipped: no MPI")
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


# --------------------------------------------------------------------------------------------
NB06 = [
    md("""
# 06 · Sequence models: a character-level language model

An LSTM and a small GPT learn English one character at a time, from the text of Debian's
`fortunes` package (`apt-get install fortunes`, or `bash scripts/char_lm.sh`, which installs it).
Both are ordinary PyTorch modules from `examples/char_lm.py`: `nn.LSTM` runs its fused cell
kernel each time step, the GPT's causal self-attention is `F.scaled_dot_product_attention(...,
is_causal=True)`, which runs the fused online-softmax kernel (no T x T matrix is stored). Same
data, same optimizer, same number of steps: we plot both validation losses and sample text.
"""),
    code("""
import os, sys, time
import numpy as np
import matplotlib.pyplot as plt
import numtorch as torch
import numtorch.nn.functional as F

sys.path.insert(0, os.path.join(os.pardir, "examples"))
import char_lm as lm   # the example's data, models and sampling

STEPS = int(os.environ.get("NB_LM_STEPS", 300))      # training steps per model
EVAL_EVERY = max(1, STEPS // 6)
BATCH, SEQ = 32, 64
torch.manual_seed(0)

root = os.environ.get("FORTUNES_DIR") or "/usr/share/games/fortunes"
if os.path.isdir(root) and lm.fortune_files(root):
    train_text, val_text = lm.split_corpus(lm.load_fortunes(root), seed=0)
    source = f"fortunes ({root})"
else:  # still real English: this repository's own documentation
    docs = [os.path.join(os.pardir, "README.md"), os.path.join(os.pardir, "docs", "ARCHITECTURE.md")]
    text = "".join(ch for p in docs for ch in open(p, encoding="utf-8").read() if ch in lm.VOCAB)
    cut = int(len(text) * 0.9)
    train_text, val_text = text[:cut], text[cut:]
    source = "numtorch's README and ARCHITECTURE (fortunes is not installed)"
train, val = lm.encode(train_text), lm.encode(val_text)
print(f"corpus: {source}: {len(train):,} training and {len(val):,} validation characters,"
      f" vocabulary {len(lm.VOCAB)}")
print(val_text[:300])
"""),
    md("""
## Two models, one loop

`lm.random_batch` cuts random windows of `SEQ + 1` characters; the loss is the cross-entropy of
the next character. The validation loss is measured on the same fixed windows each time.
"""),
    code("""
def val_loss(model, n_batches=4):
    model.eval()
    starts = torch.arange(0, len(val) - SEQ - 1, SEQ)[:n_batches * BATCH]
    with torch.no_grad():
        win = val[starts[:, None] + torch.arange(SEQ + 1)]
        logits, _ = model(win[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1))
    model.train()
    return loss.item()


def fit(model, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    curve = [(0, val_loss(model))]
    t0 = time.perf_counter()
    for step in range(1, STEPS + 1):
        x, y = lm.random_batch(train, BATCH, SEQ, g, "cpu")
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % EVAL_EVERY == 0 or step == STEPS:
            curve.append((step, val_loss(model)))
    ms = 1000 * (time.perf_counter() - t0) / STEPS
    return curve, ms


models = {
    "LSTM": lm.LSTMLM(len(lm.VOCAB), d_model=64, hidden=128, num_layers=2),
    "GPT": lm.GPT(len(lm.VOCAB), SEQ, d_model=64, n_layers=2, n_heads=4),
}
curves = {}
for name, model in models.items():
    n = sum(p.numel() for p in model.parameters())
    curves[name], ms = fit(model, lr=3e-3)
    print(f"{name:4} {n:8,} parameters  {ms:6.1f} ms/step  validation loss "
          f"{curves[name][0][1]:.3f} -> {curves[name][-1][1]:.3f}")
    assert curves[name][-1][1] < curves[name][0][1] - 0.5, "the validation loss did not fall"
"""),
    code("""
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, c in curves.items():
    ax.plot([s for s, _ in c], [l for _, l in c], marker="o", label=name)
ax.axhline(np.log(len(lm.VOCAB)), color="gray", ls=":", label="uniform guess")
ax.set_xlabel("training step"); ax.set_ylabel("validation loss (nats / char)")
ax.legend(); ax.set_title("character-level LM"); plt.show()
"""),
    md("""
## Samples

Temperature sampling with `torch.multinomial` from a seeded generator. After a few hundred steps
the models have learned spaces, common short words and line breaks; train longer with
`bash scripts/char_lm.sh --model gpt --epochs 5` for readable text.
"""),
    code("""
for name, model in models.items():
    print(f"--- {name}")
    print(lm.sample(model, "The ", 200, 0.8, 0, "cpu"))
"""),
]


# --------------------------------------------------------------------------------------------
NB07 = [
    md("""
# 07 · Static graphs: trace, compile, export

numtorch runs eagerly, op by op, like PyTorch. This notebook shows the static side:

1. `torch.jit.trace` records the ops of one call into a small graph you can print;
2. `torch.compile` captures a whole training step at the kernel level and replays it: the same
   kernels on the same arrays, so the results equal eager ones bit for bit, minus the Python
   overhead of dispatch and autograd bookkeeping;
3. `torch.onnx.export` writes the traced graph as an ONNX model that onnxruntime runs.
"""),
    code("""
import os
import time
import numpy as np
import matplotlib.pyplot as plt
import numtorch as torch
import numtorch.nn as nn
import numtorch.nn.functional as F

STEPS = int(os.environ.get("NB_COMPILE_STEPS", 20))
OUT_DIR = os.environ.get("NB_OUT_DIR", os.path.join("runs", "notebook_static_graphs"))
os.makedirs(OUT_DIR, exist_ok=True)
torch.set_num_threads(1)  # comparable timings on a shared machine


class CNN(nn.Module):  # the seed CNN
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
"""),
    md("""
## 1. Trace: the ops of one call

One node per autograd `Function` application, with its output type; parameters appear under
their names. `Linear` is a transpose, a matrix product and a bias add.
"""),
    code("""
torch.manual_seed(0)
cnn = CNN().eval()
traced = torch.jit.trace(cnn, torch.randn(2, 1, 28, 28))
print(traced.graph)
x = torch.randn(2, 1, 28, 28)
print("traced == eager:", torch.equal(traced(x), cnn(x)))
"""),
    md("""
## 2. Compile a training step

The first call runs eagerly, the second captures, the rest replay. Python statements in the step
run only at the capture; the optimizer's `step()` runs eagerly inside each replay, so Adam's step
count and a scheduler's learning rate stay live.
"""),
    code("""
def make_step(model, compiled):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return torch.compile(step) if compiled else step


rng = np.random.default_rng(0)
batches = [(torch.tensor(rng.standard_normal((32, 1, 28, 28)).astype(np.float32)),
            torch.tensor(rng.integers(0, 10, 32))) for _ in range(4)]

results = {}
for compiled in (False, True):
    torch.manual_seed(0)
    model = CNN()
    step = make_step(model, compiled)
    losses = [step(*batches[i % 4]).item() for i in range(6)]
    results[compiled] = (losses, [p.detach().numpy().copy() for p in model.parameters()])
    if compiled:
        print(step.stats)
same = results[False][0] == results[True][0] and all(
    np.array_equal(a, b) for a, b in zip(results[False][1], results[True][1]))
print("losses", [round(v, 4) for v in results[True][0]])
print("compiled == eager, bit for bit:", same)
assert same
"""),
    md("""
## 3. Where the time goes

Per-step times of the MLP and the CNN, eager and compiled (best of `STEPS`). The MLP's step is
short, so the Python overhead a replay removes is a large share of it; the CNN's time is almost
all inside the convolution and GEMM kernels, which a replay runs unchanged.
"""),
    code("""
def best_step_ms(make, compiled, batch=32):
    torch.manual_seed(0)
    step = make_step(make(), compiled)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(STEPS + 3):
        t0 = time.perf_counter()
        step(x, y)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


timings = {name: [best_step_ms(make, c) for c in (False, True)]
           for name, make in (("MLP 784-256-10", mlp), ("seed CNN", CNN))}
for name, (e, c) in timings.items():
    print(f"{name:15} eager {e:7.2f} ms   compiled {c:7.2f} ms   ratio {c / e:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, (name, (e, c)) in zip(axes, timings.items()):
    ax.bar(["eager", "compiled"], [e, c], color=["tab:gray", "tab:blue"])
    ax.set_title(name)
    ax.set_ylabel("ms per training step")
fig.tight_layout()
fig.savefig(os.path.join(OUT_DIR, "compile_timing.png"))
plt.show()
"""),
    md("""
## Graph breaks

Reading a value on the host inside a compiled function (`.item()`, `if tensor:`, printing) cannot
be replayed: that call runs eagerly instead (or, with `fullgraph=True`, raises naming the line).
`torch.compiler.explain` says why.
"""),
    code("""
def clipped(x):
    if x.abs().max().item() > 1:  # a host read
        return x.clamp(-1, 1)
    return x

print(torch.compiler.explain(clipped)(torch.randn(5)))
"""),
    md("""
## 4. Export to ONNX and run it in onnxruntime

The export traces the model in eval mode; `dynamic_axes` keeps the batch size symbolic, so the
file runs at batch sizes other than the traced one.
"""),
    code("""
try:
    import onnx
    import onnxruntime as ort
except ImportError:
    onnx = None
    print("onnx / onnxruntime not installed: pip install numtorch[onnx] onnxruntime")

if onnx is not None:
    path = os.path.join(OUT_DIR, "seed_cnn.onnx")
    torch.onnx.export(cnn, torch.randn(2, 1, 28, 28), path, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"},
                                                             "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = torch.randn(7, 1, 28, 28)  # not the traced batch size
    got = session.run(None, {"image": x.numpy()})[0]
    want = cnn(x).detach().numpy()
    print("nodes:", [n.op_type for n in onnx.load(path).graph.node])
    print("max |onnxruntime - numtorch| =", float(np.abs(got - want).max()))
    assert np.allclose(got, want, rtol=1e-5, atol=1e-5)
"""),
]


def write(name, cells):
    for i, cell in enumerate(cells):  # stable ids: regenerating leaves unchanged notebooks as is
        cell["id"] = f"{name.split('_')[0]}-{i:03d}"
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
    write("03_write_your_own_kernel.ipynb", NB03)
    write("04_distributed_training.ipynb", NB04)
    write("05_performance.ipynb", NB05)
    write("06_sequence_models.ipynb", NB06)
    write("07_static_graphs.ipynb", NB07)
