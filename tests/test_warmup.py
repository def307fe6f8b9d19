"""``python -m numtorch.warmup`` fills Numba's on-disk cache: a fresh process then loads the
kernels of a training step instead of compiling them, and a second warmup compiles nothing.

Counts, not seconds: compilations are Numba's ``numba:compile`` events (fired on cache misses
only), loads the dispatchers' cache hits. The MLP workload keeps the cold run short (the
``--quick`` set, with the CNN, takes about a minute alone on 2 cores)."""
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="nothing compiles without the JIT")

# examples/train_fashion_mnist.py's MLP at its batch size, a last partial batch and its
# evaluation: batch sizes the warmup never ran, so only the cache can spare the compiles
STEP = """
import gc
from numba.core import event
from numba.core.dispatcher import _DispatcherBase

compiled = []

class Count(event.Listener):
    def on_start(self, e):
        compiled.append(e.data["dispatcher"].py_func.__qualname__)

    def on_end(self, e):
        pass

event.register("numba:compile", Count())
import numtorch as torch
import numtorch.nn as nn
import numtorch.nn.functional as F

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for b in (64, 37):
    x, y = torch.randn(b, 1, 28, 28), torch.randint(0, 10, (b,))
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    loss.item()
model.eval()
with torch.no_grad():
    out = model(x)
    F.cross_entropy(out, y, reduction="sum").item()
    (out.argmax(1) == y).sum().item()
loaded = sum(len(getattr(o, "_cache_hits", ())) for o in gc.get_objects()
             if isinstance(o, _DispatcherBase))
print("compiled", len(compiled), "loaded", loaded, sorted(set(compiled)))
"""


def _run(args, env, cwd):
    r = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _warmup(env, cwd):
    out = _run(["-m", "numtorch.warmup", "--only", "mlp", "--no-progress"], env, cwd)
    m = re.search(r"(\d+) kernels compiled, (\d+) loaded; cache: (.+)$", out.strip())
    assert m, out
    return int(m[1]), int(m[2]), m[3]


def test_warmup_fills_the_cache_a_fresh_process_loads(tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    compiled, loaded, where = _warmup(env, tmp_path)
    assert compiled > 0 and where == str(cache)
    assert any(cache.rglob("*.nbi"))

    step = tmp_path / "step.py"
    step.write_text(STEP)
    out = _run([str(step)], env, tmp_path).split()
    assert out[:2] == ["compiled", "0"] and out[2] == "loaded" and int(out[3]) > 0, out

    again, loaded_again, _ = _warmup(env, tmp_path)  # safe to rerun: loads everything
    assert again == 0 and loaded_again > 0
