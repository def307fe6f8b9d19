"""Fused scaled-dot-product attention (``kernels/<device>/attention.py``): one kernel forward (an
online softmax over blocks of keys, no (L, S) matrix stored, causal masking by skipping keys)
and one backward that recomputes the probabilities from the saved log-sum-exp.

Not a public op: ``F.scaled_dot_product_attention`` calls it for the cases it covers (no explicit
mask, no dropout) with the batch dims broadcast to two (batch, heads), and composes the rest from
Tensor ops. Operands whose rows are unit-stride (a (B, T, H, D) projection viewed as (B, H, T, D)
heads) go to the kernels as they are. The backward rule calls kernels, so it is
once-differentiable (as PyTorch's fused CPU attention).
"""
from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from ._core import Float32Compute, carray, kernels, raw, same_device, shape_str


def _operand(t, dt):
    """What the kernels read of q, k, v or the output's gradient: the tensor's own array when its
    rows are unit-stride (a head view of a projection: no copy), else a C-contiguous copy."""
    a = t._data
    if t.dtype is dt and (a.shape[-1] <= 1 or a.strides[-1] == a.itemsize):
        return a
    return carray(t, dt)


class FusedAttention(Float32Compute, Function):
    """``softmax(q @ k^T * scale [causal]) @ v`` for q (B, H, L, E), k (B, H, S, E), v (B, H, S,
    Ev) of one float dtype (float32 or float64) on one device."""

    @staticmethod
    def forward(ctx, q, k, v, scale, causal):
        dt, dev = q.dtype, same_device(q, k, v)
        if dt not in (D.float32, D.float64) or k.dtype is not dt or v.dtype is not dt:
            raise RuntimeError(f"fused attention: expected float32 or float64 query, key and "
                               f"value of one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
        if not (q.ndim == k.ndim == v.ndim == 4 and q.shape[:2] == k.shape[:2] == v.shape[:2]
                and k.shape[3] == q.shape[3] and v.shape[2] == k.shape[2]):
            raise RuntimeError(f"fused attention: shapes {shape_str(q.shape)}, "
                               f"{shape_str(k.shape)}, {shape_str(v.shape)} do not fit "
                               "(B, H, L, E), (B, H, S, E), (B, H, S, Ev)")
        B, H, L, _ = q.shape
        Ev = v.shape[3]
        out, lse = raw((B, H, L, Ev), dt, dev), raw((B, H, L), D.float64, dev)
        kernels(dev).attention.attention_forward(_operand(q, dt), _operand(k, dt),
                                                 _operand(v, dt), scale, causal, out, lse)
        out = Tensor._make(out, dt, dev)
        ctx.save_for_backward(q, k, v, out)
        ctx.lse, ctx.scale, ctx.causal = lse, scale, causal
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        q, k, v, out = ctx.saved_tensors
        dt, dev = q.dtype, q.device
        dq, dk, dv = (raw(tuple(t.shape), dt, dev) for t in (q, k, v))
        delta = raw(tuple(q.shape[:3]), D.float64, dev)
        kernels(dev).attention.attention_backward(
            _operand(q, dt), _operand(k, dt), _operand(v, dt), out._data, _operand(g, dt),
            ctx.lse, ctx.scale, ctx.causal, delta, dq, dk, dv)
        return (Tensor._make(dq, dt, dev), Tensor._make(dk, dt, dev), Tensor._make(dv, dt, dev),
                None, None)
