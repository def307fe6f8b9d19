"""Reverse-mode automatic differentiation: ``backward``, ``grad``, ``Function``, grad modes,
``gradcheck``/``gradgradcheck`` and ``detect_anomaly``."""
from . import grad_mode
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, inference_mode,
                        is_grad_enabled)
from .gradcheck import gradcheck, gradgradcheck
from . import engine as _engine

__all__ = ["Function", "FunctionCtx", "once_differentiable", "backward", "grad", "no_grad",
           "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled", "gradcheck",
           "gradgradcheck", "detect_anomaly", "set_detect_anomaly"]


def _seeds(tensors, grad_tensors):
    from .._creation import ones_like
    out = []
    for t, g in zip(tensors, grad_tensors):
        if not t._requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = ones_like(t)
        elif g.shape != t.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[0] has a shape of {g.shape} and output[0] has a "
                f"shape of {t.shape}.")
        out.append(g)
    return out


def _as_tuple(x):
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the graph's leaves.

    >>> import numtorch as torch
    >>> x = torch.tensor(3.0, requires_grad=True)
    >>> torch.autograd.backward(x ** 2); x.grad
    tensor(6.)
    """
    tensors = _as_tuple(tensors)
    grads = _as_tuple(grad_tensors) or (None,) * len(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seeds(tensors, grads)
    if inputs is not None:
        inputs = _as_tuple(inputs)
        res = _engine.run_backward(tensors, seeds, retain_graph, create_graph, inputs=inputs,
                                   allow_unused=True, accumulate=False)
        for t, g in zip(inputs, res):
            if g is not None:
                g = g if create_graph else g.detach()
                t.grad = g.clone() if t.grad is None else t.grad + g
        return
    _engine.run_backward(tensors, seeds, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (``.grad`` fields are untouched).

    >>> import numtorch as torch
    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> torch.autograd.grad(x ** 3, x)
    (tensor(12.),)
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _as_tuple(grad_outputs) or (None,) * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seeds(outputs, grads)
    res = _engine.run_backward(outputs, seeds, retain_graph, create_graph, inputs=inputs,
                               allow_unused=bool(allow_unused) or materialize_grads,
                               accumulate=False)
    if materialize_grads:
        from .._creation import zeros_like
        res = [zeros_like(t) if r is None else r for t, r in zip(inputs, res)]
    if not create_graph:
        res = [r.detach() if r is not None else None for r in res]
    return tuple(res)


class detect_anomaly:
    """Context manager: backward raises naming the op whose gradient became NaN.

    >>> import numtorch as torch
    >>> x = torch.tensor([-1.0], requires_grad=True)
    >>> with torch.autograd.detect_anomaly():
    ...     try:
    ...         torch.sqrt(x).sum().backward()
    ...     except RuntimeError:
    ...         print("NaN gradient detected")
    NaN gradient detected
    """

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = _engine._anomaly[0]
        _engine._anomaly[0] = self.check_nan

    def __exit__(self, *exc):
        _engine._anomaly[0] = self._prev
        return False


class set_detect_anomaly(detect_anomaly):
    """``detect_anomaly`` switched on or off by ``mode`` (a call, or a context manager).

    >>> import numtorch as torch
    >>> with torch.autograd.set_detect_anomaly(False):
    ...     torch.tensor([1.0], requires_grad=True).exp().sum().backward()
    """
    def __init__(self, mode, check_nan=True):
        super().__init__(check_nan and mode)
        self._prev = _engine._anomaly[0]
        _engine._anomaly[0] = self.check_nan
