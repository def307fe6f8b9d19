"""Argument handling shared by convolution (``conv.py``) and pooling (``pool.py``): PyTorch's
int-or-list arguments, the dtypes the kernels take, and the 4-D NCHW view every kernel works on.

The 1-D functions run the 2-D kernels on a height-1 view and unbatched inputs get a batch
dimension of one, both through differentiable view ops, undone on the output by :func:`unview`.
"""


def expand(v, n, name, op):
    """``v`` (an int or a list of 1 or n ints) as a tuple of n ints; ``op`` names the family in
    PyTorch's message (``'convolution'``, ``'pooling'``)."""
    if isinstance(v, (list, tuple)):
        v = tuple(int(e) for e in v)
        if len(v) == 1 and n > 1:
            v = v * n
        if len(v) != n:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of {n} values to match "
                f"the {op} dimensions, but got {name}={list(v)}")
        return v
    return (int(v),) * n


def check_float(*ts):
    """One float dtype for every tensor (None is skipped): the kernels take float32 and float64;
    float16 and bfloat16 run in float32 (``Float32Compute``)."""
    dt = ts[0].dtype
    for t in ts:
        if t is None:
            continue
        if not t.dtype.is_floating_point:
            raise RuntimeError(f"numtorch convolution and pooling support floating point "
                               f"tensors, got {t.dtype}")
        if t.dtype is not dt:
            raise RuntimeError(f"Input type ({dt}) and weight/bias type ({t.dtype}) should be "
                               "the same")


def nchw(input, nd):
    """(x, batched): ``input`` with ``nd`` spatial dims, batched (N, C, *) or not (C, *), as the
    4-D (N, C, H, W) view the kernels take."""
    batched = input.ndim == nd + 2
    x = input if batched else input.unsqueeze(0)
    if nd == 1:  # height-1 view
        x = x.unsqueeze(2)
    return x, batched


def unview(out, nd, batched):
    """The inverse of :func:`nchw` on a 4-D output."""
    if nd == 1:
        out = out.squeeze(2)
    return out if batched else out.squeeze(0)
