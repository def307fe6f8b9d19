"""The memory plan of a captured program (``numtorch.compile``): buffers reused by lifetime.

A capture keeps every array the eager run allocated (``ops._core.empty`` reports them), so a
naive replay holds all temporaries of a step at once: the backward's per-layer gradients, the
forward's intermediates that the backward never reads. This pass gives arrays whose lifetimes
do not overlap one storage: the steps of the forward program and then those of the backward are
numbered, each allocated buffer lives from its first to its last step, and a buffer takes the
storage of one of the same size that died before it began, or, for the output of an unary or
binary elementwise kernel, of an input that dies at that very call when the two are laid out
alike (the kernel reads element i and then writes it: relu's backward writes over the incoming
gradient). Every view a step passes (reshaped,
transposed, offset) is rebuilt over the new storage with its own offset and strides.

Never moved: the plan's own buffers (inputs, outputs, gradients), anything a host step, an
optimizer island or a device copy reaches (closures cannot be rewritten), and memory the capture
did not allocate (parameters, optimizer state, constants). In a module's plan the capture call's
backward reads what the capture's forward wrote, so forward buffers that the backward reads keep
their storage.
"""
import bisect

import numpy as np
from numpy.lib.array_utils import byte_bounds as _byte_bounds

from ._capture import CALL, CALL_KW
from ._fuse import _arrays_in

__all__ = ["plan_memory"]


def _bounds(a):
    lo, hi = _byte_bounds(a)
    return lo, hi


class _Roots:
    def __init__(self, allocated):
        self.roots = sorted((a for a in allocated if isinstance(a, np.ndarray) and a.nbytes),
                            key=lambda a: _bounds(a)[0])
        self.los = [_bounds(a)[0] for a in self.roots]

    def of(self, a):
        """The allocated buffer ``a`` views, or None."""
        if not isinstance(a, np.ndarray) or not a.nbytes:
            return None
        lo, hi = _bounds(a)
        k = bisect.bisect_right(self.los, lo) - 1
        if k < 0:
            return None
        r = self.roots[k]
        rlo, rhi = _bounds(r)
        return r if rlo <= lo and hi <= rhi else None


def _view_on(a, root, storage):
    """``a`` (a view of ``root``) rebuilt over ``storage`` at the same offset and strides."""
    off = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    v = np.ndarray(a.shape, a.dtype, buffer=storage, offset=off, strides=a.strides)
    if not a.flags.writeable:
        v.flags.writeable = False
    return v


def _whole(a, root):
    """Whether the view ``a`` is all of ``root``, element for element (C-contiguous, same
    dtype, start and size)."""
    return (a.flags.c_contiguous and a.dtype == root.dtype and a.nbytes == root.nbytes
            and _bounds(a)[0] == _bounds(root)[0])


def _in_place(r, args, pool, f):
    """An entry of ``pool`` whose storage the output ``r`` of the elementwise call ``args``
    (step ``f``) can take although its holder is still read at step ``f``: the holder is an
    input of that call, laid out exactly as the output (element i is read, then written, at
    the same place), and step ``f`` is its last use. None when there is none."""
    out = args[-1]
    if not isinstance(out, np.ndarray) or not _whole(out, r):
        return None
    ins = [a for a in args[:-1] if isinstance(a, np.ndarray) and a.nbytes]
    for k, (s, end, holder) in enumerate(pool):
        if end != f:
            continue
        lo, hi = _bounds(holder)
        reads = [a for a in ins if _bounds(a)[0] < hi and lo < _bounds(a)[1]]
        # every read of the holder is all of it, in the output's layout (not x * x.T)
        if reads and all(a.shape == out.shape and _whole(a, holder) for a in reads):
            return k
    return None


def plan_memory(programs, pinned, allocated, forward_kept=False):
    """Reassign storage in ``programs`` (lists of replay steps: forward, then backward; changed in
    place). ``pinned``: arrays that keep their memory; ``allocated``: the buffers the capture
    allocated; ``forward_kept``: forward buffers the backward reads keep their storage (a
    module's plan, whose first backward follows the capture's own forward). Returns
    ``(bytes before, bytes after)`` of the movable buffers."""
    roots = _Roots(allocated)
    if not roots.roots:
        return 0, 0
    first, last, fixed = {}, {}, set()
    for a in pinned:
        r = roots.of(a) if isinstance(a, np.ndarray) else None
        if r is not None:
            fixed.add(id(r))
    g = 0
    n_fwd = len(programs[0])
    elementwise = {}  # step number -> the args of an elementwise kernel call (ins..., out)
    for steps in programs:
        for kind, a, b, c in steps:
            if kind in (CALL, CALL_KW):
                arrays = _arrays_in((b, c or {}), [])
                pin = False
                if kind == CALL and getattr(a, "arity", None) in (1, 2) \
                        and len(b) == a.arity + 1:
                    elementwise[g] = b
            else:  # host steps, islands, device copies, constants: closures we cannot rewrite
                arrays = _arrays_in((a, b, c), [])
                pin = True
            for arr in arrays:
                r = roots.of(arr)
                if r is None:
                    continue
                if pin:
                    fixed.add(id(r))
                first.setdefault(id(r), g)
                last[id(r)] = g
            g += 1
    if forward_kept:
        for r in roots.roots:
            if id(r) in first and first[id(r)] < n_fwd <= last[id(r)]:
                fixed.add(id(r))
    movable = [r for r in roots.roots if id(r) in first and id(r) not in fixed]
    movable.sort(key=lambda r: first[id(r)])
    free = {}       # nbytes -> [(storage, last use of whoever holds it, that holder)]
    storage = {}    # id(root) -> the array whose memory it gets
    for r in movable:
        pool = free.get(r.nbytes, [])
        f, l = first[id(r)], last[id(r)]
        pick = next((k for k, (s, end, _) in enumerate(pool) if end < f), None)
        if pick is None and f in elementwise:
            pick = _in_place(r, elementwise[f], pool, f)
        if pick is not None:
            s, _, _ = pool.pop(pick)
            storage[id(r)] = s
        else:
            s = r
        pool.append((s, l, r))
        free[r.nbytes] = pool
    before = sum(r.nbytes for r in movable)
    after = sum(s.nbytes for s, _, _ in (x for pool in free.values() for x in pool))
    if not storage:
        return before, before
    by_id = {id(r): r for r in movable}

    def moved(a):
        if isinstance(a, np.ndarray):
            r = roots.of(a)
            if r is not None and id(r) in storage:
                return _view_on(a, by_id[id(r)], storage[id(r)])
            return a
        if isinstance(a, tuple):
            return tuple(moved(x) for x in a)
        if isinstance(a, list):
            return [moved(x) for x in a]
        return a

    for steps in programs:
        for i, (kind, a, b, c) in enumerate(steps):
            if kind == CALL:
                steps[i] = (kind, a, moved(b), c)
            elif kind == CALL_KW:
                steps[i] = (kind, a, moved(b), {k: moved(v) for k, v in c.items()})
    return before, after
