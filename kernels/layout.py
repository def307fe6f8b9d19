"""Shape logic shared by the CPU and CUDA launchers (pure Python, no compute)."""


def collapse_broadcast(out_shape, in_shapes):
    """Merge adjacent dims of a broadcast into as few as possible.

    Two neighbouring dims merge when every input either spans both or is broadcast (size 1) in
    both; size-1 output dims drop. Returns ``(out_dims, [in_dims, ...])`` with equal lengths; an
    input's collapsed shape has 1 where it is broadcast. Valid for C-contiguous inputs only.
    """
    nd = len(out_shape)
    sizes, masks = [], []  # masks: bit k set where input k spans the dim (plain loops: hot path)
    last = -1
    for d in range(nd):
        n = out_shape[d]
        if n == 1:
            continue
        mask = 0
        bit = 1
        for s in in_shapes:
            j = d - nd + len(s)  # (shapes align at the right)
            if j >= 0 and s[j] != 1:
                mask |= bit
            bit <<= 1
        if mask == last:
            sizes[-1] *= n  # merge into the dim before it
        else:
            sizes.append(n)
            masks.append(mask)
            last = mask
    ins = []
    bit = 1
    for _ in in_shapes:
        shape = []
        for s, m in zip(sizes, masks):
            shape.append(s if m & bit else 1)
        ins.append(tuple(shape))
        bit <<= 1
    return tuple(sizes), ins


def pad3(shape):
    """Left-pad a shape of at most 3 dims with ones to exactly 3."""
    return (1,) * (3 - len(shape)) + tuple(shape)
