"""PyTorch-shaped reprs: ``tensor([[1., 2.]], requires_grad=True)``, summarised past 1000 items."""
import numpy as np

from . import _dtype as D

THRESHOLD = 1000
EDGE = 3


def _fmt_floats(vals):
    finite = vals[np.isfinite(vals)]
    if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
        return lambda v: (f"{v:.0f}." if np.isfinite(v) else str(v).replace("inf", "inf"))
    if finite.size:
        a = np.abs(finite[finite != 0])
        if a.size and (a.max() >= 1e8 or a.min() < 1e-4 or a.max() / a.min() > 1e5 and a.max() >= 1e3):
            return lambda v: f"{v:.4e}"
    return lambda v: f"{v:.4f}"


def _summarise(arr):
    if arr.size <= THRESHOLD or arr.ndim == 0:
        return arr, False
    return arr, True


def _body(arr, fmt, width, indent, summarise):
    if arr.ndim == 0:
        return fmt(arr.item()).rjust(width)
    if arr.ndim == 1:
        items = list(arr)
        if summarise and len(items) > 2 * EDGE:
            parts = [fmt(v).rjust(width) for v in items[:EDGE]] + ["..."] + \
                    [fmt(v).rjust(width) for v in items[-EDGE:]]
        else:
            parts = [fmt(v).rjust(width) for v in items]
        return "[" + ", ".join(parts) + "]"
    rows = range(arr.shape[0])
    if summarise and arr.shape[0] > 2 * EDGE:
        rows = list(range(EDGE)) + [None] + list(range(arr.shape[0] - EDGE, arr.shape[0]))
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    parts = ["..." if r is None else _body(arr[r], fmt, width, indent + 1, summarise) for r in rows]
    return "[" + sep.join(parts) + "]"


def tensor_repr(t):
    arr = t.detach().cpu()._data
    suffix = []
    summarise = arr.size > THRESHOLD
    if arr.size == 0:
        body = "[]"
        if arr.ndim != 1:
            suffix.append(f"size={tuple(arr.shape)}")
    else:
        shown = arr
        if summarise:
            key = tuple(np.r_[0:EDGE, s - EDGE:s] if s > 2 * EDGE else slice(None) for s in arr.shape)
            shown = arr[np.ix_(*[k if isinstance(k, np.ndarray) else np.arange(s)
                                 for k, s in zip(key, arr.shape)])]
        if t.dtype.is_floating_point:
            vals = shown.astype(np.float64).reshape(-1)
            fmt = _fmt_floats(vals)
        elif t.dtype is D.bool:
            fmt = lambda v: str(bool(v))  # noqa: E731
        else:
            fmt = lambda v: str(int(v))  # noqa: E731
        width = max(len(fmt(v)) for v in shown.reshape(-1))
        body = _body(arr, fmt, width, len("tensor("), summarise)
    default = D.get_default_dtype()
    if t.device.type != "cpu":  # (PyTorch's order: device, then dtype)
        suffix.append(f"device='{t.device}'")
    if t.dtype not in (default, D.int64, D.bool) or (arr.size == 0 and t.dtype is not default):
        suffix.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name}0>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + s for s in suffix) + ")"
