"""Fused scaled-dot-product attention (``kernels/<device>/attention.py``): one kernel forward (an
online softmax over blocks of keys, no (L, S) matrix stored, causal masking by skipping keys)
and one backward that recomputes the probabilities from the saved log-sum-exp.

Not a public op: ``F.scaled_dot_product_attention`` calls it for the cases it covers (no explicit
mask, no dropout) after broadcasting the batch dims, and composes the rest from Tensor ops. The
backward rule calls kernels, so it is once-differentiable (as PyTorch's fused CPU attention).
"""
from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from ._core import Float32Compute, carray, kernels, raw, same_device, shape_str


class FusedAttention(Float32Compute, Function):
    """``softmax(q @ k^T * scale [causal]) @ v`` for q (B, L, E), k (B, S, E), v (B, S, Ev) of
    one float dtype (float32 or float64) on one device."""

    @staticmethod
    def forward(ctx, q, k, v, scale, causal):
        dt, dev = q.dtype, same_device(q, k, v)
        (B, L, E), (Bk, S, Ek), (Bv, Sv, Ev) = q.shape, k.shape, v.shape
        if dt not in (D.float32, D.float64) or k.dtype is not dt or v.dtype is not dt:
            raise RuntimeError(f"fused attention: expected float32 or float64 query, key and "
                               f"value of one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
        if not (Bk == Bv == B and Ek == E and Sv == S):
            raise RuntimeError(f"fused attention: shapes {shape_str(q.shape)}, "
                               f"{shape_str(k.shape)}, {shape_str(v.shape)} do not fit "
                               "(B, L, E), (B, S, E), (B, S, Ev)")
        qa, ka, va = carray(q, dt), carray(k, dt), carray(v, dt)
        out, lse = raw((B, L, Ev), dt, dev), raw((B, L), D.float64, dev)
        kernels(dev).attention.attention_forward(qa, ka, va, scale, causal, out, lse)
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
        delta = raw(tuple(q.shape[:2]), D.float64, dev)
        kernels(dev).attention.attention_backward(
            carray(q, dt), carray(k, dt), carray(v, dt), carray(out, dt), carray(g, dt),
            ctx.lse, ctx.scale, ctx.causal, delta, dq, dk, dv)
        return (Tensor._make(dq, dt, dev), Tensor._make(dk, dt, dev), Tensor._make(dv, dt, dev),
                None, None)
