"""Layout helpers for the CUDA kernels: any strided or broadcast operands at one fixed rank.

A ``@cuda.jit`` kernel is compiled for arrays of a fixed ndim, so a launcher brings its operands
to one of the ranks in :data:`RANKS` before launching:

1. each input is viewed at the output's shape (stride 0 where it broadcasts, leading dims added);
2. size-1 dims drop and the dims are ordered by the output's strides, largest first, so that the
   innermost dim, the one consecutive threads walk, is the output's unit-stride dim (coalesced
   stores; a ``.contiguous()`` copy of a transposed view writes in order);
3. neighbouring dims merge wherever every operand lays them out as one (a C-contiguous tensor
   becomes 1-D, a bias broadcast over rows 2-D);
4. the result is left-padded with size-1 dims to the smallest rank of :data:`RANKS` that holds it.

The views come from :func:`memory.as_strided` (no copies). Kernels walk them with a grid-stride
loop over the output's linear index and turn it into a tuple index with ``UNRAVEL[rank]``
(one device function per rank; the launcher binds the one it needs into the kernel).
"""
from .. import policy
from . import memory

#: The ranks the strided kernels are compiled for (an operand layout collapses to the smallest
#: that holds it); beyond the last one a launcher raises NotImplementedError.
RANKS = (1, 2, 3, 6)
MAX_RANK = RANKS[-1]


def broadcast_strides(a, shape):
    """Byte strides of ``a`` viewed at ``shape`` (0 where it broadcasts); ValueError otherwise."""
    lead = len(shape) - a.ndim
    if lead < 0:
        raise ValueError(f"cannot broadcast {tuple(a.shape)} to {tuple(shape)}")
    strides = [0] * lead
    for s, st, want in zip(a.shape, a.strides, shape[lead:]):
        if s == want:
            strides.append(st if want > 1 else 0)
        elif s == 1:
            strides.append(0)
        else:
            raise ValueError(f"cannot broadcast {tuple(a.shape)} to {tuple(shape)}")
    return strides


def collapse(shape, strides):
    """``(shape, [strides...])`` with size-1 dims dropped, dims ordered by the first operand's
    strides (largest first) and neighbours merged where every operand allows it.

    ``strides`` is one list of byte strides per operand, all for ``shape``; the first operand
    (the output) decides the order. A 0-d or single-element layout gives ``((), [(),...])``.
    """
    dims = [d for d in range(len(shape)) if shape[d] != 1]
    # stable: equal strides keep their order (a broadcast output dim cannot arise, see callers)
    dims.sort(key=lambda d: -abs(strides[0][d]))
    out_shape, out_strides = [], [[] for _ in strides]
    for d in dims:
        if out_shape and all(st[-1] == s[d] * shape[d] for st, s in zip(out_strides, strides)):
            # the previous dim steps over exactly this one in every operand: one dim
            out_shape[-1] *= shape[d]
            for st, s in zip(out_strides, strides):
                st[-1] = s[d]
        else:
            out_shape.append(shape[d])
            for st, s in zip(out_strides, strides):
                st.append(s[d])
    return tuple(out_shape), [tuple(st) for st in out_strides]


def fixed_rank(out, *ins):
    """``(rank, out_view, [in_views])``: ``out`` and the inputs (broadcast to ``out.shape``) as
    views of one rank from :data:`RANKS`, the same element at the same index in all of them."""
    shape = tuple(out.shape)
    strides = [list(out.strides)] + [broadcast_strides(a, shape) for a in ins]
    cshape, cstrides = collapse(shape, strides)
    n = len(cshape)
    if n > MAX_RANK:
        raise NotImplementedError(
            f"numtorch CUDA kernels: this layout of shape {shape} needs {n} strided dims after "
            f"merging; at most {MAX_RANK} are supported (make an operand contiguous first)")
    rank = next(r for r in RANKS if r >= n)
    pad = rank - n
    cshape = (1,) * pad + cshape
    views = [memory.as_strided(a, cshape, (0,) * pad + st)
             for a, st in zip((out,) + ins, cstrides)]
    return rank, views[0], views[1:]


def flat(a):
    """A C-contiguous array as a 1-D view (a 0-d array becomes shape (1,))."""
    if a.ndim == 1:
        return a
    return memory.as_strided(a, (a.size,), (a.itemsize,))


# --------------------------------------------------------------------------------------------
# Linear index -> tuple index, last dim fastest (so consecutive threads take neighbours there).
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel(device=True)
def unravel1(i, shape):
    return (i,)


@policy.cuda_kernel(device=True)
def unravel2(i, shape):
    n1 = shape[1]
    q = i // n1
    return (q, i - q * n1)


@policy.cuda_kernel(device=True)
def unravel3(i, shape):
    n2 = shape[2]
    q = i // n2
    i2 = i - q * n2
    n1 = shape[1]
    i0 = q // n1
    return (i0, q - i0 * n1, i2)


@policy.cuda_kernel(device=True)
def unravel4(i, shape):
    n3 = shape[3]
    q = i // n3
    i3 = i - q * n3
    n2 = shape[2]
    r = q // n2
    i2 = q - r * n2
    n1 = shape[1]
    i0 = r // n1
    return (i0, r - i0 * n1, i2, i3)


@policy.cuda_kernel(device=True)
def unravel6(i, shape):
    n5 = shape[5]
    q = i // n5
    i5 = i - q * n5
    n4 = shape[4]
    r = q // n4
    i4 = q - r * n4
    n3 = shape[3]
    q = r // n3
    i3 = r - q * n3
    n2 = shape[2]
    r = q // n2
    i2 = q - r * n2
    n1 = shape[1]
    i0 = r // n1
    return (i0, r - i0 * n1, i2, i3, i4, i5)


#: The unravel device function of each rank in :data:`RANKS`.
UNRAVEL = {1: unravel1, 2: unravel2, 3: unravel3, 6: unravel6}
