"""Capture: record what one eager run did at the kernel level, so it can be replayed.

While a :class:`Capture` is installed (``numtorch._tracing.state.capture``), every op gets its
kernel namespace through :meth:`Capture.kernels`, which hands out recording wrappers: each kernel
(or launcher) call is appended to :attr:`Capture.steps` with the very arrays it was given. The
run itself is an ordinary eager run (its results are real); a replay calls the same kernels on
the same arrays in the same order, so it computes what eager execution computes, bit for bit,
without Python-level op dispatch, autograd bookkeeping or allocation.

What is not a kernel call is handled where it happens:
- arrays made on the host inside the run (``numtorch.tensor``, ``zeros``, ... through
  ``_creation._finish``) are snapshotted and restored at their point in the replay, and random
  draws (``rand``, ``randn``: dropout) are drawn afresh; other random draws are graph breaks;
- host reads (``item()``, ``bool(t)``, ``tolist()``, ``numpy()``, printing) are graph breaks:
  the run goes on eagerly and the capture is marked unusable (or, with ``fullgraph``, raises);
- an optimizer ``step()`` runs eagerly at its point of every replay (an *island*): its step count
  and learning rate are live Python state, so Adam and schedulers replay exactly;
- the leaves whose ``.grad`` the engine set are remembered, so a replay leaves ``.grad`` as the
  eager run did.
Python statements of the captured code run only during the capture (as with CUDA graphs).
"""
import os
import sys

import numpy as np

from .. import _tracing
from ._proxy import KernelNamespace

__all__ = ["Capture", "GraphBreakError", "replay"]


class GraphBreakError(RuntimeError):
    """Raised inside a ``fullgraph=True`` capture where the code needs values on the host or does
    something a replay cannot repeat.

    >>> import numtorch as torch
    >>> f = torch.compile(lambda x: float(x.sum()), fullgraph=True)
    >>> f(torch.ones(2))  # the first call is eager
    2.0
    >>> f(torch.ones(2))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    numtorch.compiler._capture.GraphBreakError: numtorch.compile(fullgraph=True): Tensor.item() reads ...
    """


_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_KERNELS = os.path.join(os.path.dirname(_PKG), "kernels")


def user_frame():
    """``file:line`` of the innermost frame outside numtorch (where the user's code is)."""
    f = sys._getframe(1)
    while f is not None:
        fn = os.path.abspath(f.f_code.co_filename)
        if not (fn.startswith(_PKG) or fn.startswith(_KERNELS)):
            return f"{f.f_code.co_filename}:{f.f_lineno}"
        f = f.f_back
    return "<unknown>"


# --- replay steps ------------------------------------------------------------------------------
# A step is a tuple ``(kind, a, b, c)``; kinds are small ints so replay is one tight loop.
CALL, CALL_KW, COPY_RESULT, RESTORE, REDRAW, ISLAND = range(6)


def replay(steps):
    """Run recorded steps in order."""
    for kind, a, b, c in steps:
        if kind == CALL:
            a(*b)
        elif kind == CALL_KW:
            a(*b, **c)
        elif kind == COPY_RESULT:  # a call that returns a new array (a device copy): refresh ours
            new = a(*b)
            if hasattr(c, "copy_to_device"):
                c.copy_to_device(new)
            else:
                np.copyto(c, new)
        elif kind == RESTORE:
            np.copyto(a, b)
        elif kind == REDRAW:
            b(a)
        else:  # ISLAND
            a()


class _Recorded:
    """A kernel (or launcher) that records its calls into the capture."""
    __slots__ = ("fn", "cap", "name", "returns_array")

    def __init__(self, fn, cap, name, returns_array=False):
        self.fn, self.cap, self.name, self.returns_array = fn, cap, name, returns_array

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        cap = self.cap
        if cap.recording:
            if self.returns_array:
                cap.steps.append((COPY_RESULT, self.fn, args, out))
            elif out is not None:
                if any(isinstance(a, np.ndarray) or hasattr(a, "copy_to_device") for a in args):
                    cap.graph_break(f"kernel {self.name} returned a value to Python")
                return out  # shape arithmetic (no array in, a value out): nothing to replay
            elif kwargs:
                cap.steps.append((CALL_KW, self.fn, args, kwargs))
            else:
                cap.steps.append((CALL, self.fn, args, None))
            cap.n_kernels += 1
        return out


_MEMORY_COPIES = frozenset(("to_device", "to_host"))
_MEMORY_KERNELS = frozenset(("concatenate",))  # memory functions that write an output


class Capture:
    """One recording. Install with ``with Capture(...) as cap:``; afterwards ``cap.steps`` is the
    replay program and ``cap.breaks`` says why it cannot be used (empty when it can)."""

    def __init__(self, fullgraph=False):
        self.fullgraph = fullgraph
        self.steps = []
        self.breaks = []
        self.recording = True
        self.n_kernels = 0
        self.n_islands = 0
        self.allocated = []    # the arrays ops allocated (ops._core.empty): the memory plan's
        self.leaves = {}       # id -> leaf whose .grad the engine set
        self._backends = {}
        self._hosted = set()   # ids of host arrays already registered
        self._keep = []        # keeps registered host arrays alive (ids stay unique)

    def __enter__(self):
        if _tracing.state.capture is not None:
            raise RuntimeError("numtorch.compile: a compiled function called another one while it "
                               "was being captured (nested capture is not supported)")
        _tracing.state.capture = self
        return self

    def __exit__(self, *exc):
        _tracing.state.capture = None
        self.recording = False  # kernel proxies an op kept (in a closure) record nothing more
        return False

    # --- hooks the lower layers call (through numtorch._tracing) --------------------------------
    def kernels(self, pkg):
        b = self._backends.get(id(pkg))
        if b is None:
            b = self._backends[id(pkg)] = KernelNamespace(pkg, self._recorded)
        return b

    def _recorded(self, family, name, obj):
        """What the ops get for ``<family>.<name>``: kernels and launchers record their calls;
        of the memory module, only the copies between devices and the functions that write an
        output (views and allocation need nothing: the recorded arrays stay alive)."""
        if family == "memory":
            if name in _MEMORY_COPIES:  # they return new arrays: a replay copies into ours
                return _Recorded(obj, self, f"memory.{name}", returns_array=True)
            if name in _MEMORY_KERNELS:
                return _Recorded(obj, self, f"memory.{name}")
            return obj
        if callable(obj) and not isinstance(obj, type):
            return _Recorded(obj, self, f"{family}.{name}")
        return obj

    def graph_break(self, reason):
        where = user_frame()
        msg = f"{reason} (at {where})"
        if self.fullgraph:
            raise GraphBreakError(
                f"numtorch.compile(fullgraph=True): {msg} cannot be captured: a replay does not run "
                "Python code between kernels. Move it out of the compiled function or compile with "
                "fullgraph=False (the call then runs eagerly).")
        if self.recording:
            self.breaks.append(msg)
        self.recording = False

    def host_read(self, what):
        self.graph_break(f"{what} reads a tensor's value on the host")

    def host_array(self, arr):
        """An array made on the host (a constant): restored at this point of each replay."""
        if not self.recording or id(arr) in self._hosted or not isinstance(arr, np.ndarray):
            return
        self._hosted.add(id(arr))
        self._keep.append(arr)
        if arr.flags.writeable:
            self.steps.append((RESTORE, arr, arr.copy(), None))

    def host_random(self, arr, draw):
        """``arr`` holds a random draw: ``draw(arr)`` refills it at this point of each replay."""
        if not self.recording:
            return
        self._hosted.add(id(arr))
        self._keep.append(arr)
        self.steps.append((REDRAW, arr, draw, None))

    def host_step(self, fn):
        """An op's host-side step (``numtorch._tracing.host_step``): run now, unrecorded, and
        again at this point of each replay."""
        recording, self.recording = self.recording, False  # proxies taken earlier stay quiet
        _tracing.state.capture = None
        try:
            out = fn()
        finally:
            _tracing.state.capture = self
            self.recording = recording
        if recording:
            self.steps.append((ISLAND, fn, None, None))
        return out

    def leaf_grad(self, leaf):
        self.leaves[id(leaf)] = leaf

    def island(self, opt, run, args, kwargs):
        """An optimizer step inside the capture: run it now (untraced) and at this point of each
        replay, with the parameters' ``.grad`` as the capture left them."""
        if self.recording and (args or kwargs):
            self.graph_break(f"{type(opt).__name__}.step() with a closure or arguments")
        params = [p for g in opt.param_groups for p in g["params"]]
        grads = [(p, p.grad) for p in params]
        recording, self.recording = self.recording, False
        _tracing.state.capture = None
        try:
            out = run(opt, *args, **kwargs)
        finally:
            _tracing.state.capture = self
            self.recording = recording
        if not recording:
            return out
        for p in params:
            self.leaves.setdefault(id(p), p)

        def again(grads=grads, opt=opt, run=run):
            for p, g in grads:
                p.grad = g
            run(opt)
        self.steps.append((ISLAND, again, None, None))
        self.n_islands += 1
        return out
