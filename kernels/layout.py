"""Shape logic shared by the CPU and CUDA launchers (pure Python, no compute)."""


def collapse_broadcast(out_shape, in_shapes):
    """Merge adjacent dims of a broadcast into as few as possible.

    Two neighbouring dims merge when every input either spans both or is broadcast (size 1) in
    both; size-1 output dims drop. Returns ``(out_dims, [in_dims, ...])`` with equal lengths; an
    input's collapsed shape has 1 where it is broadcast. Valid for C-contiguous inputs only.
    """
    nd = len(out_shape)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in in_shapes]
    sizes, masks = [], []
    for d in range(nd):
        n = out_shape[d]
        if n == 1:
            continue
        mask = tuple(p[d] != 1 for p in padded)
        if masks and masks[-1] == mask:
            sizes[-1] *= n
        else:
            sizes.append(n)
            masks.append(mask)
    ins = [tuple(s if m[k] else 1 for s, m in zip(sizes, masks)) for k in range(len(in_shapes))]
    return tuple(sizes), ins


def pad3(shape):
    """Left-pad a shape of at most 3 dims with ones to exactly 3."""
    return (1,) * (3 - len(shape)) + tuple(shape)
