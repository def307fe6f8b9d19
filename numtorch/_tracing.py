"""Where the static-graph tools (``numtorch.jit.trace``, ``numtorch.compile``) listen to eager
execution. The layers below them cannot import them (nothing points up), so this module, which
imports nothing from numtorch, holds the listeners and each hook point asks it:

- ``state.tracer``: told of every ``Function.apply`` (``autograd/function.py``): the op-level graph.
- ``state.capture``: handed the kernel namespace of every op (``ops._core.kernels``) so it can
  record the kernel calls; told of arrays made on the host (``_creation``: constants and random
  draws), of host reads (``Tensor.item`` and friends), of an op's host-side steps
  (:func:`host_step`), of leaves whose ``.grad`` the engine set and of optimizer steps.

Both are ``None`` outside a trace or a capture, so a hook costs one attribute read.
"""

__all__ = ["state", "host_step"]


class _State:
    __slots__ = ("tracer", "capture")

    def __init__(self):
        self.tracer = None
        self.capture = None


state = _State()


def host_step(fn):
    """Run ``fn()`` (an op's Python code between its kernels that reads their results on the
    host: an error check, a value computed in Python) and return its result. Inside a capture
    it is recorded as one step, so each replay runs it again at this point over the same arrays
    (an op that reads results another way, e.g. ``Tensor.item``, is a graph break)."""
    cap = state.capture
    if cap is not None:
        return cap.host_step(fn)
    tracer = state.tracer
    if tracer is None:
        return fn()
    state.tracer = None  # a check, not part of the traced graph
    try:
        return fn()
    finally:
        state.tracer = tracer
