"""Loss primitives with backward rules of their own.

- ``CrossEntropy``: log-softmax and NLL of class-index targets in one kernel forward and one
  backward (``kernels/<device>/norm.py``); ``nn.functional.cross_entropy`` checks the arguments
  and calls it.
- ``BinaryCrossEntropy``: Tensor ops, with PyTorch's gradient, finite where the probability is
  exactly 0 or 1 (the chain rule through the clamped logs would give 0 * inf = NaN there).

Every other loss is composed from Tensor ops in ``nn.functional``.
"""
import math

from .. import _dtype as D
from .._tensor import Tensor
from .._tracing import host_step
from ..autograd.function import Function, once_differentiable
from ._core import carray, channel_array, kernels, prod, raw, to_host, fill


class CrossEntropy(Function):
    """logits x (N, C) or (N, C, *), int64 class indices (N,) or (N, *), class weight (C,) or
    None -> the loss per target (``reduction='none'``) or its sum or weighted mean; targets equal
    to ``ignore_index`` count zero."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        dt, dev = x.dtype, x.device
        N, C = x._data.shape[0], x._data.shape[1]
        inner = prod(x._data.shape[2:])
        # the kernels index with the targets: backward reads a private copy (checked here), never
        # memory that the caller can change in between (no copy when no graph is recorded)
        tgt = target.clone() if ctx.needs_input_grad and target.dtype is D.int64 else target
        if x.ndim == 2:
            xa = x.contiguous()._data
            ta = carray(tgt, D.int64).reshape(N)
        else:
            xa = x.contiguous()._data.reshape(N, C, inner)
            ta = carray(tgt, D.int64).reshape(N, inner)
        w = channel_array(weight, C, dt, 1.0, dev)
        lse = raw(tuple(ta.shape), D.float64, dev)
        loss = raw(tuple(ta.shape), dt, dev)
        tot = raw(2, D.float64, dev, 0)
        err = raw(2, D.int64, dev, 0)
        kernels(dev).norm.cross_entropy(xa, ta, w, ignore_index, label_smoothing, lse, loss, tot,
                                        err)
        out = None if reduction == "none" else Tensor._make(raw((), dt, dev), dt, dev)

        def finish():  # on the host: the target check and the reduced value (a host step)
            e, t = to_host(err, dev), to_host(tot, dev)
            if e[0]:
                raise IndexError(f"Target {int(e[1])} is out of bounds.")
            if out is not None:
                fill(out, t[0] if reduction == "sum" else t[0] / t[1] if t[1] else math.nan)
        host_step(finish)
        # target and weight are saved too: backward raises if either was modified in place
        # since, as PyTorch does, instead of computing another gradient
        ctx.save_for_backward(x, target, weight)
        ctx.meta = (ta, w, ignore_index, label_smoothing, lse, reduction, tot)
        if reduction == "none":
            return Tensor._make(loss.reshape(tuple(target._data.shape)), dt, dev)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, _, _ = ctx.saved_tensors
        ta, w, ignore_index, ls, lse, reduction, tot = ctx.meta
        dt, dev = x.dtype, x.device
        K = kernels(dev).norm
        N, C = x._data.shape[0], x._data.shape[1]
        xa = x.contiguous()._data
        if xa.ndim != 2:
            xa = xa.reshape(N, C, prod(x._data.shape[2:]))
        gx = raw(tuple(xa.shape), dt, dev)
        if reduction == "none":
            K.cross_entropy_backward(xa, ta, w, ignore_index, ls, lse, 0.0,
                                     carray(g, dt).reshape(ta.shape), True, gx)
        else:
            def run():  # the incoming gradient and the weight sum are read on the host
                s = g.item()
                if reduction == "mean":
                    wsum = to_host(tot, dev)[1]
                    s = s / wsum if wsum else math.nan
                K.cross_entropy_backward(xa, ta, w, ignore_index, ls, lse, s, lse, False, gx)
            host_step(run)
        return Tensor._make(gx.reshape(tuple(x._data.shape)), dt, dev), None, None, None, None, None


#: the floor of x (1 - x) in the gradient: PyTorch's 1e-12, a float32 constant there
_BCE_EPS = 9.999999960041972e-13


class BinaryCrossEntropy(Function):
    """Elementwise ``-(t log x + (1 - t) log(1 - x))`` of probabilities x, logs clamped at -100;
    d/dx = (x - t) / max(x (1 - x), 1e-12) and d/dt = log(1 - x) - log(x), as PyTorch.
    The backward is made of Tensor ops, so it differentiates again."""

    @staticmethod
    def forward(ctx, x, t):
        ctx.save_for_backward(x, t)
        return -(t * x.log().clamp(min=-100.0) + (1 - t) * (1 - x).log().clamp(min=-100.0))

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = g * (x - t) / (x * (1 - x)).clamp(min=_BCE_EPS)
        if ctx.needs_input_grad[1]:
            gt = g * ((1 - x).log() - x.log())  # (unclamped, as PyTorch: inf at 0 and 1)
        return gx, gt
