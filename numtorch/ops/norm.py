"""Normalisation: batch norm and layer norm are fused primitives with their own kernels forward
and backward (``kernels/<device>/norm.py``); group norm is layer norm over channel groups plus a
per-channel affine.
"""
from .._registry import functional_op
from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from ._core import carray, channel_array, kernels, prod, raw, shape_str


# --------------------------------------------------------------------------------------------
# batch norm (fused)
# --------------------------------------------------------------------------------------------
class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        N, C = x._data.shape[0], x._data.shape[1]
        L = prod(x._data.shape[2:])
        xa = x.contiguous()._data.reshape(N, C, L)
        dt, dev = x.dtype, x.device
        K = kernels(dev).norm
        w = channel_array(weight, C, dt, 1.0, dev)
        b = channel_array(bias, C, dt, 0.0, dev)
        mean = raw(C, D.float64, dev)
        invstd = raw(C, D.float64, dev)
        out = raw((N, C, L), dt, dev)
        if training:
            rm = rv = None
            if running_mean is not None:
                rm, rv = running_mean._data, running_var._data
                if not (rm.flags.c_contiguous and rv.flags.c_contiguous):
                    raise RuntimeError("batch_norm: running stats must be contiguous")
            K.batch_norm_train(xa, w, b, eps, momentum, rm, rv, mean, invstd, out)
            if running_mean is not None:  # updated in place: bump their versions
                running_mean._ver[0] += 1
                running_var._ver[0] += 1
        else:
            K.batch_norm_eval(xa, w, b, running_mean.contiguous()._data,
                              running_var.contiguous()._data, eps, mean, invstd, out)
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, invstd, bool(training))
        return Tensor._make(out.reshape(x._data.shape), dt, dev)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, invstd, training = ctx.stats
        N, C = x._data.shape[0], x._data.shape[1]
        L = prod(x._data.shape[2:])
        dt, dev = x.dtype, x.device
        xa = x.contiguous()._data.reshape(N, C, L)
        ga = carray(g, dt).reshape(N, C, L)
        w = channel_array(weight, C, dt, 1.0, dev)
        gx = raw((N, C, L), dt, dev)
        gw = raw(C, D.float64, dev)
        gb = raw(C, D.float64, dev)
        kernels(dev).norm.batch_norm_backward(xa, ga, w, mean, invstd, training, gx, gw, gb)
        need = ctx.needs_input_grad
        return (Tensor._make(gx.reshape(x._data.shape), dt, dev) if need[0] else None,
                Tensor._make(gw, D.float64, dev) if need[1] else None,
                Tensor._make(gb, D.float64, dev) if need[2] else None,
                None, None, None, None, None)


def _check_values_per_channel(n, size):
    """Batch and group norm normalise ``n`` values per channel (group): one is refused."""
    if n == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {size}")


@functional_op()
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over channel dim 1 of (N, C), (N, C, L) or (N, C, H, W).

    In training, normalises with the batch statistics and updates ``running_mean`` /
    ``running_var`` in place (unbiased variance); otherwise uses the running statistics.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.batch_norm(torch.tensor([[1.0], [3.0]]), None, None, training=True).squeeze()
    tensor([-1.0000,  1.0000])
    """
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    C = input._data.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f"{name} should contain {C} elements not {t.numel()}")
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("running_mean and running_var must be both defined or both None")
    if not training:
        if running_mean is None:
            raise RuntimeError("running_mean must be defined in evaluation mode")
    else:
        # exactly one value per channel is refused; an empty batch gives an empty output and
        # leaves the running statistics alone (PyTorch's rule)
        _check_values_per_channel(input.shape[0] * prod(input.shape[2:]), input.shape)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"batch_norm: expected a floating point input, got {input.dtype}")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training),
                           float(0.0 if momentum is None else momentum), float(eps))


# --------------------------------------------------------------------------------------------
# layer norm (fused) and group norm (layer norm over groups + affine)
# --------------------------------------------------------------------------------------------
class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, ns, weight, bias, eps):
        dt = x.dtype
        D_ = prod(ns)
        shape = x._data.shape
        M = x._data.size // D_ if D_ else 0
        dev = x.device
        xa = carray(x).reshape(M, D_)
        w = channel_array(weight, D_, dt, 1.0, dev)
        b = channel_array(bias, D_, dt, 0.0, dev)
        stats = raw((2, M), D.float64, dev)  # (one allocation: two contiguous rows)
        mean, rstd = stats[0], stats[1]  # (indexed: a CUDA device array does not iterate)
        out = raw((M, D_), dt, dev)
        kernels(dev).norm.layer_norm(xa, w, b, eps, mean, rstd, out)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, weight)
            ctx.stats = (mean, rstd, ns)
        return Tensor._make(out.reshape(shape), dt, dev)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, rstd, ns = ctx.stats
        D_ = prod(ns)
        dt, dev = x.dtype, x.device
        K = kernels(dev).norm
        M = x.numel() // D_ if D_ else 0
        xa = x.contiguous()._data.reshape(M, D_)
        ga = carray(g, dt).reshape(M, D_)
        need = ctx.needs_input_grad
        gx = gw = gb = None
        if need[0]:
            w = channel_array(weight, D_, dt, 1.0, dev)
            out = raw((M, D_), dt, dev)
            K.layer_norm_backward(xa, ga, w, mean, rstd, out)
            gx = Tensor._make(out.reshape(tuple(x.shape)), dt, dev)
        if need[2] or need[3]:
            gwa = raw(D_, D.float64, dev)
            gba = raw(D_, D.float64, dev)
            K.layer_norm_affine_backward(xa, ga, mean, rstd, gwa, gba)
            if need[2]:
                gw = Tensor._make(gwa.reshape(ns), D.float64, dev)
            if need[3]:
                gb = Tensor._make(gba.reshape(ns), D.float64, dev)
        return gx, None, gw, gb, None


@functional_op()
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims, then scale by ``weight`` and
    shift by ``bias`` (both of ``normalized_shape``).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.layer_norm(torch.tensor([[1.0, 3.0]]), (2,))
    tensor([[-1.0000,  1.0000]])
    """
    ns = normalized_shape_of(input, normalized_shape, weight=weight, bias=bias)
    return LayerNorm.apply(input, ns, weight, bias, float(eps))


def normalized_shape_of(input, normalized_shape, **params):
    """``normalized_shape`` as a tuple, checked against the trailing dims of ``input`` and the
    shapes of the affine ``params`` (``weight=``, ``bias=``; None skipped), with PyTorch's messages
    (layer_norm, rms_norm)."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(map(int, normalized_shape))
    for name, t in params.items():
        if t is not None and t._data.shape != ns:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{shape_str(t.shape)} and normalized_shape = {shape_str(ns)}")
    shape = input._data.shape
    if len(shape) < len(ns) or shape[len(shape) - len(ns):] != ns:
        raise RuntimeError(
            f"Given normalized_shape={shape_str(ns)}, expected input with shape "
            f"[*, {shape_str(ns, ', ')}], but got input of size{shape_str(input.shape)}")
    return ns


@functional_op()
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of ``num_groups`` channel groups of (N, C, *) per sample, then apply the
    per-channel affine ``weight``/``bias`` (C,).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.group_norm(torch.tensor([[[1.0], [3.0]]]), 1).flatten()
    tensor([-1.0000,  1.0000])
    """
    if input.ndim < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    N, C = input.shape[0], input.shape[1]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of "
            f"shape {shape_str(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.numel() != C):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {shape_str(t.shape)} and input of shape "
                f"{shape_str(input.shape)}")
    L = prod(input.shape[2:])
    # PyTorch's check sees (N * C / G, G, *spatial): it refuses N * C / G * L == 1
    _check_values_per_channel(N * C // num_groups * L,
                              [N * C // num_groups, num_groups] + list(input.shape[2:]))
    k = C // num_groups * L  # explicit sizes: -1 cannot be inferred when N or C is 0
    y = LayerNorm.apply(input.reshape(N, num_groups, k), (k,), None, None, float(eps))
    y = y.reshape(N, C, L)
    if weight is not None:
        y = y * weight.reshape(1, C, 1)
    if bias is not None:
        y = y + bias.reshape(1, C, 1)
    return y.reshape(input.shape)
