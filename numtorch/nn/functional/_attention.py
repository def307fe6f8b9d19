"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``, the
functional core of ``nn.MultiheadAttention`` and the Transformer layers, composed from Tensor ops
(no backward code). Attention without a mask or dropout (plain or causal) runs the fused kernel
of ``numtorch.ops.attention`` instead, which never stores the (L, S) weights."""
import math
import warnings

from ..._registry import functional_op
from ... import _dtype as D
from ..._creation import ones, zeros, zeros_like
from ..._tracing import state as _listen
from ...ops._core import broadcast_shapes, shape_str
from ...ops.attention import FusedAttention
from ...ops.linalg import matmul
from ...ops.shape import cat
from ._layers import dropout as _dropout, linear
from ...ops.pad import pad

_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
            "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
            "bool": "bool"}
_NEG_INF = float("-inf")


def _check_sdpa_inputs(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa):
    """PyTorch's argument checks, with messages that name the shapes; returns the batch shape."""
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead.")
    if not query.dtype is key.dtype is value.dtype:
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{_C_NAMES[query.dtype.name]} key.dtype: {_C_NAMES[key.dtype.name]} and value.dtype: "
            f"{_C_NAMES[value.dtype.name]} instead.")
    if not query.device == key.device == value.device:
        raise RuntimeError(
            "Expected query, key, and value to have the same device type, but got query.device: "
            f"{query.device} key.device: {key.device} and value.device: {value.device} instead.")
    if not query.dtype.is_floating_point:
        raise RuntimeError(f"scaled_dot_product_attention(): expected floating point query, key "
                           f"and value, but got {query.dtype}")
    if dropout_p > 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        if attn_mask.dtype not in (D.bool, D.float32, query.dtype):
            raise RuntimeError(
                "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                f"attn_mask.dtype: {_C_NAMES[attn_mask.dtype.name]} and  query.dtype: "
                f"{_C_NAMES[query.dtype.name]} instead.")
    (L, E), (S, Ek), (Sv, _) = query.shape[-2:], key.shape[-2:], value.shape[-2:]
    if Ek != E:
        raise RuntimeError(f"scaled_dot_product_attention(): query {shape_str(query.shape)} and "
                           f"key {shape_str(key.shape)} differ in the embedding size (last dim)")
    if Sv != S:
        raise RuntimeError(f"scaled_dot_product_attention(): key {shape_str(key.shape)} and "
                           f"value {shape_str(value.shape)} differ in the sequence length "
                           "(dim -2)")
    qb, kb, vb = (tuple(t.shape[:-2]) for t in (query, key, value))
    if enable_gqa:
        if query.ndim < 3:
            raise IndexError("Dimension out of range (expected to be in range of [-2, 1], but "
                             "got -3)")
        if key.ndim < 3 or value.ndim < 3:
            raise IndexError("Dimension out of range (expected to be in range of [-2, 1], but "
                             "got -3)")
        hq, hk, hv = qb[-1], kb[-1], vb[-1]
        if hk == 0 or hv == 0 or hq % hk or hq % hv:
            raise RuntimeError(
                "Number of heads in key and value must divide the number of heads in query, but "
                f"got query {shape_str(query.shape)}, key {shape_str(key.shape)} and value "
                f"{shape_str(value.shape)} (heads at dim -3)")
        kb, vb = kb[:-1] + (hq,), vb[:-1] + (hq,)
    try:
        batch = broadcast_shapes(qb, kb, vb)
    except RuntimeError:
        raise RuntimeError(f"scaled_dot_product_attention(): the batch dims of query "
                           f"{shape_str(query.shape)}, key {shape_str(key.shape)} and value "
                           f"{shape_str(value.shape)} do not broadcast") from None
    if attn_mask is not None:
        full = batch + (L, S)
        try:
            ok = broadcast_shapes(tuple(attn_mask.shape), full) == full
        except RuntimeError:
            ok = False
        if not ok:
            raise RuntimeError(f"scaled_dot_product_attention(): attn_mask of shape "
                               f"{shape_str(attn_mask.shape)} does not broadcast to the "
                               f"attention weights' shape {shape_str(full)}")
    return batch


def _repeat_heads(x, groups):
    """(..., H, S, E) -> (..., H * groups, S, E), each head repeated ``groups`` times in a row
    (``repeat_interleave`` along dim -3)."""
    if groups == 1:
        return x
    *b, h, s, e = x.shape
    return x.unsqueeze(-3).expand(*b, h, groups, s, e).reshape(*b, h * groups, s, e)


def _safe_softmax(scores):
    """Softmax over the last dim with rows that are entirely ``-inf`` giving zeros (not NaN) and
    zero gradients: what PyTorch does for a query that may attend to no key."""
    dead = (scores == _NEG_INF).all(-1, keepdim=True)
    if _listen.capture is None and not dead.any().item():  # (captured: always the masked form,
        return scores.softmax(-1)                           # the same values without a host read)
    return scores.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)


@functional_op()
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``softmax(query @ key.mT * scale + bias) @ value`` for query (..., L, E), key (..., S, E)
    and value (..., S, Ev): the output is (..., L, Ev), the batch dims broadcast.

    ``attn_mask``: bool (True: the query may attend to that key) or float (added to the scores),
    broadcast to (..., L, S). ``is_causal``: query i attends to keys 0..i (the top-left aligned
    lower triangle of an L x S matrix); it excludes ``attn_mask``. ``scale`` defaults to
    ``1 / sqrt(E)``. ``dropout_p`` > 0 drops attention weights (always: there is no training flag).
    ``enable_gqa``: key and value may have fewer heads (dim -3) than query; each is shared by
    ``Hq / Hkv`` consecutive query heads. A query that may attend to no key gets zeros.

    Without ``attn_mask`` and dropout one fused kernel runs (online softmax over blocks of keys,
    causal keys skipped, no (L, S) matrix stored); its backward is once-differentiable, as
    PyTorch's fused CPU attention. With a mask or dropout the weights are formed as a composite.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> q = k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> v = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True)
    tensor([[1.0000, 2.0000],
            [2.3395, 3.3395]])
    """
    batch = _check_sdpa_inputs(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    L, E = query.shape[-2:]
    S, Ev = key.shape[-2], value.shape[-1]
    if enable_gqa:
        key = _repeat_heads(key, query.shape[-3] // key.shape[-3])
        value = _repeat_heads(value, query.shape[-3] // value.shape[-3])
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E else math.inf
    if attn_mask is None and not dropout_p > 0.0:
        # the fused kernel: no (L, S) matrix in memory, causal keys skipped, not masked
        # (batch, heads): two batch dims, as the kernels take them (views, no copy of a head
        # view: the heads of (B, T, H, D) projections are strided)
        two = ((1,) * (2 - len(batch)) + tuple(batch)) if len(batch) <= 2 else \
            (math.prod(batch[:-1]), batch[-1])
        out = FusedAttention.apply(query.expand(*batch, L, E).reshape(*two, L, E),
                                   key.expand(*batch, S, E).reshape(*two, S, E),
                                   value.expand(*batch, S, Ev).reshape(*two, S, Ev),
                                   float(scale) if E else 0.0,  # E == 0: scores are 0
                                   bool(is_causal))
        return out.reshape(*batch, L, Ev)
    # scaling the (L, E) query, not the (L, S) scores: fewer products, and E == 0 stays finite
    scores = matmul(query * scale, key.mT)
    if is_causal:
        scores = scores.masked_fill(ones(L, S, dtype=D.bool, device=query.device).tril()
                                    .logical_not(), _NEG_INF)
    if attn_mask is not None:
        if attn_mask.dtype is D.bool:
            scores = scores.masked_fill(attn_mask.logical_not(), _NEG_INF)
        else:
            scores = scores + attn_mask
        weights = _safe_softmax(scores)
    else:
        weights = scores.softmax(-1)
    if dropout_p > 0.0:
        weights = _dropout(weights, dropout_p, training=True)
    return matmul(weights, value)


# --- multi-head attention --------------------------------------------------------------------
def _canonical_mask(mask, name, other, other_name, dtype):
    """A bool mask (True: masked out) as a float one with -inf there; float masks pass as they
    are. ``other``: the mask it will be combined with (a type mismatch is deprecated)."""
    if mask is None:
        return None
    if mask.dtype is not D.bool and not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other is not None and other.dtype is not mask.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same "
                      "type for both instead.", stacklevel=3)
    if mask.dtype is D.bool:
        mask = zeros_like(mask, dtype=dtype).masked_fill(mask, _NEG_INF)
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """True for batched (3-D) input, False for unbatched (2-D); PyTorch's AssertionErrors."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                f"found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                f"found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"but found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                    f"but found {attn_mask.ndim}-D tensor instead")
            want = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != want:
                raise AssertionError(f"Expected `attn_mask` shape to be {want} but got "
                                     f"{shape_str(attn_mask.shape)}")
        return False
    raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                         f"{query.ndim}-D query tensor")


def _in_projection(query, key, value, E, w, b, w_q, w_k, w_v):
    """q, k, v projections, packed (``w`` of (3E, E)) or separate; self-attention (query is
    key is value) and shared key/value run as one wider GEMM."""
    b_q, b_k, b_v = b.chunk(3) if b is not None else (None, None, None)
    if w is None:
        return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)
    if query is key and key is value:
        return linear(query, w, b).chunk(3, dim=-1)
    if key is value:
        kv = linear(key, w[E:], b[E:] if b is not None else None)
        return (linear(query, w[:E], b_q),) + kv.chunk(2, dim=-1)
    w_q, w_k, w_v = w.chunk(3)
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


@functional_op()
def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """Multi-head attention over sequence-first (L, N, E) inputs (or unbatched (L, E)): what
    ``nn.MultiheadAttention`` computes. Returns ``(output, weights)``; ``weights`` is None unless
    ``need_weights``, else (N, L, S) averaged over heads or (N, num_heads, L, S).

    Masks use PyTorch's convention for this function: a bool ``attn_mask`` ((L, S) or
    (N * num_heads, L, S)) or ``key_padding_mask`` ((N, S)) is True where attention is NOT
    allowed; float masks are added to the scores. ``is_causal`` is a hint that ``attn_mask`` is
    the causal mask.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> _ = torch.manual_seed(0)
    >>> E, x = 4, torch.randn(3, 2, 4)
    >>> w, b, wo = torch.randn(3 * E, E), torch.zeros(3 * E), torch.eye(E)
    >>> out, weights = F.multi_head_attention_forward(x, x, x, E, 2, w, b, None, None, False,
    ...                                               0.0, wo, None)
    >>> out.shape, weights.shape
    (torch.Size([3, 2, 4]), torch.Size([2, 3, 3]))
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        same_kv, same_qk = key is value, query is key
        query = query.unsqueeze(1)
        key = query if same_qk else key.unsqueeze(1)
        value = key if same_kv else value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, E = query.shape
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", attn_mask,
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint stands for the mask: attention runs causal without it
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype)
        if key_padding_mask is not None:
            is_causal = False
    if E != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {E}")
    head_dim = E // num_heads
    if head_dim * num_heads != E:
        raise AssertionError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not "
                                 f"match value's {tuple(value.shape[:2])}")
        for name, w in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight "
                                     "is None")
        q, k, v = _in_projection(query, key, value, E, None, in_proj_bias, q_proj_weight,
                                 k_proj_weight, v_proj_weight)
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise AssertionError(f"key shape {shape_str(key.shape)} does not match value shape "
                                 f"{shape_str(value.shape)}")
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection(query, key, value, E, in_proj_weight, in_proj_bias, None, None,
                                 None)
    S = key.shape[0]
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise RuntimeError(f"The shape of the 2D attn_mask is "
                                   f"{shape_str(attn_mask.shape)}, but should be {(L, S)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (N * num_heads, L, S):
                raise RuntimeError(f"The shape of the 3D attn_mask is "
                                   f"{shape_str(attn_mask.shape)}, but should be "
                                   f"{(N * num_heads, L, S)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key." if static_k is not None
                                 else "bias cannot be added to static value.")
        k = cat([k, bias_k.repeat(1, N, 1)])
        v = cat([v, bias_v.repeat(1, N, 1)])
        attn_mask = pad(attn_mask, (0, 1)) if attn_mask is not None else None
        key_padding_mask = pad(key_padding_mask, (0, 1)) if key_padding_mask is not None else None
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k is set but bias_v is None" if bias_k is not None
                             else "bias_v is set but bias_k is None")
    # heads: (seq, N, E) -> (N * H, seq, head_dim)
    q = q.reshape(L, N * num_heads, head_dim).transpose(0, 1)
    k = _static_or_heads(k, static_k, "static_k", N * num_heads, head_dim)
    v = _static_or_heads(v, static_v, "static_v", N * num_heads, head_dim)
    if add_zero_attn:
        z = zeros(N * num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k, v = cat([k, z], dim=1), cat([v, z.to(v.dtype)], dim=1)
        attn_mask = pad(attn_mask, (0, 1)) if attn_mask is not None else None
        key_padding_mask = pad(key_padding_mask, (0, 1)) if key_padding_mask is not None else None
    S = k.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != N:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {N}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != S:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {S}, but got "
                                 f"{key_padding_mask.shape[1]}")
        kpm = key_padding_mask.reshape(N, 1, 1, S).expand(N, num_heads, 1, S)
        kpm = kpm.reshape(N * num_heads, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        # the weights are returned, so they are formed as they are (a row with no key is NaN)
        scores = matmul(q * math.sqrt(1.0 / head_dim), k.transpose(1, 2))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = scores.softmax(-1)
        if dropout_p > 0.0:
            weights = _dropout(weights, dropout_p)
        out = matmul(weights, v).transpose(0, 1).reshape(L * N, E)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
        weights = weights.reshape(N, num_heads, L, S)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            return out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else \
            attn_mask.reshape(N, num_heads, -1, S)
    out = scaled_dot_product_attention(q.reshape(N, num_heads, L, head_dim),
                                       k.reshape(N, num_heads, S, head_dim),
                                       v.reshape(N, num_heads, S, head_dim),
                                       attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(L * N, E)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
    return (out if is_batched else out.squeeze(1)), None


def _static_or_heads(x, static, name, nh, head_dim):
    if static is None:
        return x.reshape(x.shape[0], nh, head_dim).transpose(0, 1)
    if static.shape[0] != nh:
        raise AssertionError(f"expecting {name}.size(0) of {nh}, but got {static.shape[0]}")
    if static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {static.shape[2]}")
    return static
