"""Matrix products: one batched-broadcast primitive (``MatMul``); the 1-D rules, ``mm``, ``bmm``,
``mv``, ``dot`` and ``outer`` are shape handling around it."""
import math
import operator

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function
from .._registry import op
from . import _core
from ._core import kernels, empty


def _shape_error(a, b):
    sa = _core.shape_str(a._data.shape[-2:], "x") if a.ndim >= 2 else str(a._data.shape[0])
    sb = _core.shape_str(b._data.shape[-2:], "x") if b.ndim >= 2 else str(b._data.shape[0])
    raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")


def _batch3(x, batch):
    """x (..., M, K) as a (B or 1, M, K) array for a broadcast batch shape ``batch``."""
    shp = x._data.shape
    n = 1
    for s in shp[:-2]:
        n *= s
    if shp[:-2] == batch or n == 1:
        arr = x._data
        return arr.reshape((n,) + shp[-2:]) if _reshapable(arr) else \
            _core.cast(x.contiguous(), x.dtype)._data.reshape((n,) + shp[-2:])
    full = x.expand(batch + shp[-2:]).contiguous()
    b = 1
    for s in batch:
        b *= s
    return full._data.reshape((b,) + shp[-2:])


def _reshapable(arr):
    # C-contiguous, or a matrix-transposed view of a C-contiguous batch (BLAS reads it as is)
    if arr.flags.c_contiguous:
        return True
    if arr.ndim == 2:
        return arr.flags.f_contiguous
    return _core.reshapes_in_place(arr, (-1,) + arr.shape[-2:])


def _mm2(ad, bd, dtype, device):
    """``ad @ bd`` for 2-D arrays (M, K) and (K, N) of ``dtype`` on ``device``, each row- or
    column-major (a weight's transposed view is passed as it is): a new (M, N) tensor."""
    (m, k), n = ad.shape, bd.shape[1]
    out = empty((m, n), dtype, device)
    kernels(device).matmul.matmul(ad.reshape(1, m, k), bd.reshape(1, k, n),
                                  out._data.reshape(1, m, n))
    return out


class Linear(Function):
    """``x @ w.T + b`` as one graph node, as PyTorch's addmm: x (..., K), w (N, K), b (N,) or
    None, one floating dtype and device (``nn.functional.linear`` checks; anything else takes
    ``matmul`` and ``+``). The kernels are those of ``x @ w.t() + b``: one GEMM on w's transposed
    view, the bias added into a new array (so numtorch.compile still fuses it with what follows).
    Leading dims of x fold into the GEMM's rows. The gradients are Tensor ops (double backward
    works): ``g @ w``, ``g^T @ x`` in w's layout, and ``g`` summed over the rows."""
    _kernel_forward = True

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        shp = x._data.shape
        k, n = shp[-1], w._data.shape[0]
        xa = _core.carray(x)
        if len(shp) != 2:
            xa = xa.reshape(_core.prod(shp[:-1]), k)
        out = _mm2(xa, w._data.transpose((1, 0)), x.dtype, x.device)
        if b is not None:
            biased = empty(out._data.shape, x.dtype, x.device)
            kernels(x.device).elementwise.add(out._data, b._data, biased._data)
            out = biased
        if len(shp) != 2:
            out = Tensor._make(out._data.reshape(shp[:-1] + (n,)), x.dtype, x.device)
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        if x.ndim != 2:
            g = g.reshape(-1, g.shape[-1])
        gx = gw = None
        if need[0]:
            gx = MatMul.apply(g, w)
            if x.ndim != 2:
                gx = gx.reshape(x.shape)
        if need[1]:
            gw = MatMul.apply(g.mT, x if x.ndim == 2 else x.reshape(-1, x.shape[-1]))
        return gx, gw, g.sum(0) if need[2] else None


class MatMul(Function):
    """a (..., M, K) @ b (..., K, N) with broadcast batch dims; both at least 2-D."""
    _kernel_forward = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ad, bd = a._data, b._data
        if ad.ndim == 2 and bd.ndim == 2 and a.dtype is b.dtype and a.device is b.device \
                and a.dtype is not D.bool and ad.shape[1] == bd.shape[0]:
            return _mm2(ad, bd, a.dtype, a.device)  # the plain 2-D product: no promotion or batch
        dev = _core.same_device(a, b)
        dt = D.result_type(a, b)
        if a.dtype is not dt:
            a = _core.cast(a, dt)
        if b.dtype is not dt:
            b = _core.cast(b, dt)
        sa, sb = a._data.shape, b._data.shape
        if sa[-1] != sb[-2]:
            _shape_error(a, b)
        batch = _core.broadcast_shapes(sa[:-2], sb[:-2])
        if dt is D.bool and _core.prod(batch) * sa[-2] * sa[-1] * sb[-1]:
            # (as PyTorch: refused unless there is nothing to multiply; K == 0 gives False)
            raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Bool'")
        out = empty(batch + (sa[-2], sb[-1]), dt, dev)
        B = 1
        for s in batch:
            B *= s
        kernels(dev).matmul.matmul(_batch3(a, batch), _batch3(b, batch),
                                   out._data.reshape((B, sa[-2], sb[-1])))
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        gb = right_grad(a, g, b) if ctx.needs_input_grad[1] else None
        return MatMul.apply(g, b.mT) if ctx.needs_input_grad[0] else None, gb


def right_grad(a, g, b):
    """The gradient of ``b`` in ``a @ b`` given the output's gradient ``g``: ``a^T @ g``. When
    ``b`` is a transposed 2-D view (Linear's ``weight.t()``, an RNN's ``weight_hh.t()``) it is
    formed as ``(g^T @ a)^T``, in b's layout, so the transpose back to the weight is contiguous
    (no strided copy of a weight-sized gradient); PyTorch's linear computes grad_output.t() @
    input too."""
    bd = b._data
    if bd.ndim == 2 and a.ndim == 2 and bd.flags.f_contiguous and not bd.flags.c_contiguous:
        return MatMul.apply(g.mT, a).mT
    return MatMul.apply(a.mT, g)


@op()
def matmul(input, other):
    """PyTorch's matmul: 1-D x 1-D dot, 2-D mm, batched with broadcasting, 1-D promoted.

    >>> import numtorch as torch
    >>> (torch.ones(2, 3) @ torch.ones(3)).tolist()
    [3.0, 3.0]
    """
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("matmul(): argument 'other' must be Tensor")
    if input.is_sparse or other.is_sparse:  # a sparse COO operand: numtorch/ops/sparse.py
        from .sparse import sparse_matmul
        return sparse_matmul(input, other, "matmul")
    da, db = input.ndim, other.ndim
    if da == 0 or db == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D")
    if da == 1 and db == 1:
        return dot(input, other)
    a = input.unsqueeze(0) if da == 1 else input
    b = other.unsqueeze(-1) if db == 1 else other
    if a._data.shape[-1] != b._data.shape[-2]:
        _shape_error(input if da > 1 else a, other if db > 1 else b)
    if a.ndim > 2 and b.ndim == 2 and (
            b.requires_grad or _core.reshapes_in_place(a._data, (-1, a._data.shape[-1]))):
        # (..., M, K) @ (K, N), a Linear layer on a batch of sequences: the batch folded into
        # one (B*M, K) @ (K, N) GEMM, as PyTorch does; its backward is two plain GEMMs (the
        # weight's gradient one product over every row, not per-batch products then a sum).
        # PyTorch's rule: fold when the batch reshapes in place, or at the price of a copy of
        # ``a`` when b needs a gradient (a batched weight gradient would be B times b's size)
        lead = a.shape[:-1]
        out = MatMul.apply(a.reshape(-1, a.shape[-1]), b).view(*lead, b.shape[-1])
    else:
        out = MatMul.apply(a, b)
    if da == 1:
        out = out.squeeze(-2)
    if db == 1:
        out = out.squeeze(-1)
    return out


@op()
def mm(input, mat2):
    """2-D matrix product.

    >>> import numtorch as torch
    >>> torch.mm(torch.tensor([[1, 2], [3, 4]]), torch.eye(2, dtype=torch.int64))
    tensor([[1, 2],
            [3, 4]])
    """
    if input.is_sparse or mat2.is_sparse:  # a sparse COO operand: numtorch/ops/sparse.py
        from .sparse import sparse_matmul
        return sparse_matmul(input, mat2, "mm")
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"self must be a matrix" if input.ndim != 2 else "mat2 must be a matrix")
    return MatMul.apply(input, mat2)


@op()
def bmm(input, mat2):
    """Batched 3-D product with equal batch sizes.

    >>> import numtorch as torch
    >>> torch.bmm(torch.ones(2, 1, 3), torch.ones(2, 3, 4)).shape
    torch.Size([2, 1, 4])
    """
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor" if input.ndim != 3 else "batch2 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{input.shape[0]}, "
            f"{input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    return MatMul.apply(input, mat2)


@op()
def mv(input, vec):
    """Matrix-vector product.

    >>> import numtorch as torch
    >>> torch.mv(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 0]))
    tensor([1, 3])
    """
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


@op('vdot')
def dot(input, other):
    """Inner product of two 1-D tensors of equal length.

    >>> import numtorch as torch
    >>> torch.dot(torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6]))
    tensor(32)
    """
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input._data.shape[0] != other._data.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input._data.shape[0]}] and src "
            f"[{other._data.shape[0]}] to have the same number of elements, but got "
            f"{input._data.shape[0]} and {other._data.shape[0]} elements respectively")
    if input.dtype is not other.dtype:
        raise RuntimeError(
            f"dot : expected both vectors to have same dtype, but found {input.dtype.name.capitalize()} "
            f"and {other.dtype.name.capitalize()}")
    return MatMul.apply(input.unsqueeze(0), other.unsqueeze(-1)).reshape(())


@op()
def inner(input, other):
    """Sum-product over the last dims: shape ``input.shape[:-1] + other.shape[:-1]``.

    >>> import numtorch as torch
    >>> torch.inner(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 1]))
    tensor([3, 7])
    """
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.ndim == 1 and other.ndim == 1:
        return dot(input, other)
    k = input.shape[-1]
    if other.shape[-1] != k:
        raise RuntimeError(
            f"inner() the last dimension must match on both input tensors but got shapes "
            f"{list(input.shape)} and {list(other.shape)}")
    out = matmul(input.reshape(-1, k), other.reshape(-1, k).t())
    return out.reshape(tuple(input.shape[:-1]) + tuple(other.shape[:-1]))


@op('ger')
def outer(input, vec2):
    """Outer product of two 1-D tensors.

    >>> import numtorch as torch
    >>> torch.outer(torch.tensor([1, 2]), torch.tensor([1, 10]))
    tensor([[ 1, 10],
            [ 2, 20]])
    """
    return input.unsqueeze(-1) * vec2.unsqueeze(0)


@op()
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2).

    >>> import numtorch as torch
    >>> torch.addmm(torch.ones(2, 2), torch.eye(2), torch.full((2, 2), 2.0), beta=0.5)
    tensor([[2.5000, 2.5000],
            [2.5000, 2.5000]])
    """
    p = mm(mat1, mat2)
    if alpha != 1:
        p = p * alpha
    return p + (input if beta == 1 else input * beta)



# --- einsum: parsed into labels, then diagonals, sums, broadcast products and batched matmuls ----
# A label is an int: 'A'..'Z' -> 0..25, 'a'..'z' -> 26..51 (PyTorch's order, so an implicit output
# lists capitals first); the dims an ellipsis covers get the labels -k..-1, right-aligned, so they
# broadcast across operands like the batch dims of matmul.
_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
                 "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _einsum_char(label):
    return chr(ord("A") + label) if label < 26 else chr(ord("a") + label - 26)


def _einsum_sublist_equation(args):
    """The sublist form ``einsum(op1, [0, 1], op2, [1, 2], [0, 2])`` as (equation, operands)."""
    def term(sub):
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
                continue
            s = operator.index(s)
            if not 0 <= s < 52:
                raise ValueError("einsum(): subscript in subscript list is not within the valid "
                                 "range [0, 52)")
            out.append(_einsum_char(s))
        return "".join(out)
    if len(args) < 2:
        raise ValueError("einsum(): must specify the equation string and at least one operand, "
                         "or at least one operand and its subscripts list")
    n = len(args) // 2
    eq = ",".join(term(args[2 * k + 1]) for k in range(n))
    if len(args) % 2:
        eq += "->" + term(args[-1])
    return eq, [args[2 * k] for k in range(n)]


def _einsum_parse(equation, operands):
    """(per-operand label lists, output label list) with PyTorch's checks and messages."""
    arrow = equation.find("->")
    lhs = equation if arrow < 0 else equation[:arrow]
    terms, labels, pos = lhs.split(","), [], 0
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    for i, (term, x) in enumerate(zip(terms, operands)):
        subs, ell, j = [], -1, 0
        while j < len(term):
            c = term[j]
            if c == ".":
                if ell >= 0:
                    raise RuntimeError(f"einsum(): found '.' for operand {i} for which an "
                                       "ellipsis was already found")
                if term[j:j + 3] != "...":
                    raise RuntimeError(f"einsum(): found '.' for operand {i} that is not part "
                                       "of any ellipsis")
                ell, j = len(subs), j + 3
                continue
            if c != " ":
                if not ("a" <= c <= "z" or "A" <= c <= "Z"):
                    raise RuntimeError(f"einsum(): invalid subscript given at index {pos + j} in "
                                       "the equation string, subscripts must be in [a-zA-Z]")
                subs.append(ord(c) - (ord("A") if c <= "Z" else ord("a") - 26))
            j += 1
        pos += len(term) + 1
        if ell < 0 and len(subs) != x.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(subs)}) "
                               f"does not match the number of dimensions ({x.ndim}) for operand "
                               f"{i} and no ellipsis was given")
        if ell >= 0:
            if len(subs) > x.ndim:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                                   f"({len(subs)}) is more than the number of dimensions "
                                   f"({x.ndim}) for operand {i}")
            k = x.ndim - len(subs)
            subs[ell:ell] = range(-k, 0)
        labels.append(subs)
    n_ell = max((-min(s + [0]) for s in labels), default=0)
    seen = [l for s in labels for l in s]
    if arrow < 0:  # implicit: the ellipsis dims, then every label seen once, in label order
        out = list(range(-n_ell, 0)) + sorted(l for l in set(seen) if l >= 0 and seen.count(l) == 1)
        return labels, out
    rhs, out, ell, j = equation[arrow + 2:], [], False, 0
    while j < len(rhs):
        c = rhs[j]
        if c == ".":
            if ell:
                raise RuntimeError("einsum(): found '.' for output but an ellipsis (...) was "
                                   "already found")
            if rhs[j:j + 3] != "...":
                raise RuntimeError("einsum(): found '.' for output that is not part of any "
                                   "ellipsis (...)")
            out.extend(range(-n_ell, 0))
            ell, j = True, j + 3
            continue
        if c != " ":
            if not ("a" <= c <= "z" or "A" <= c <= "Z"):
                raise RuntimeError(f"einsum(): invalid subscript given at index {arrow + 2 + j} "
                                   "in the equation string, subscripts must be in [a-zA-Z]")
            lab = ord(c) - (ord("A") if c <= "Z" else ord("a") - 26)
            if lab not in seen:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   "equation for any input operand")
            if lab in out:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   "the output")
            out.append(lab)
        j += 1
    return labels, out


def _einsum_diagonal(x, subs, i):
    """Take the diagonal of every label repeated in ``subs``: (tensor, labels, each once)."""
    while len(set(subs)) < len(subs):
        lab = next(l for l in subs if subs.count(l) > 1)
        where_ = [d for d, l in enumerate(subs) if l == lab]
        n = x.shape[where_[0]]
        for d in where_[1:]:
            if x.shape[d] != n:
                raise RuntimeError(f"einsum(): subscript {_einsum_char(lab)} is repeated for "
                                   f"operand {i} but the sizes don't match, {x.shape[d]} != {n}")
        rest = [d for d in range(len(subs)) if d not in where_]
        x = x.permute(rest + where_)
        k = len(where_)
        # the flattened k-cube's diagonal is every (1 + n + ... + n^(k-1))-th element
        x = x.reshape(tuple(x.shape[:len(rest)]) + (n ** k,))
        if n > 1:
            x = x[..., ::(n ** k - 1) // (n - 1)]
        subs = [subs[d] for d in rest] + [lab]
    return x, subs


def _einsum_pair(a, la, b, lb, keep):
    """Contract operands a (labels la) and b (lb), keeping the labels in ``keep``."""
    batch = [l for l in la if l in lb and l in keep]
    contracted = [l for l in la if l in lb and l not in keep]
    a_only = [l for l in la if l not in lb]
    b_only = [l for l in lb if l not in la]
    size = dict(zip(la, a.shape))
    size.update(zip(lb, b.shape))
    out_shape = tuple(size[l] for l in batch + a_only + b_only)
    if not contracted:  # a broadcast product, no reduction
        a = a.permute([la.index(l) for l in batch + a_only])
        b = b.permute([lb.index(l) for l in batch + b_only])
        for _ in b_only:
            a = a.unsqueeze(-1)
        for _ in a_only:
            b = b.unsqueeze(len(batch))
        return a * b, batch + a_only + b_only
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected scalar type {_SCALAR_NAMES[a.dtype.name]} but found "
                           f"{_SCALAR_NAMES[b.dtype.name]}")
    if a.dtype is D.bool:
        raise NotImplementedError("\"bmm\" not implemented for 'Bool'")
    nb, m, k, n = (math.prod(size[l] for l in g) for g in (batch, a_only, contracted, b_only))
    a = a.permute([la.index(l) for l in batch + a_only + contracted])
    b = b.permute([lb.index(l) for l in batch + contracted + b_only])
    lead = (nb,) if batch else ()
    out = MatMul.apply(a.reshape(lead + (m, k)), b.reshape(lead + (k, n)))
    return out.reshape(out_shape), batch + a_only + b_only


@op(method=False)
def einsum(*args):
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` is ``a @ b``.

    Subscripts are letters (``[a-zA-Z]``); ``...`` stands for the dims not named (broadcast across
    operands); a letter repeated in one operand takes a diagonal; letters missing from the output
    are summed. Without ``->`` the output is ``...`` followed by the letters seen once, in
    alphabetical order (capitals first). Operands may also come as one list, or in the sublist
    form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``. Two-operand contractions run as one batched
    matmul; operands are reduced left to right.

    >>> import numtorch as torch
    >>> a = torch.arange(6.).reshape(2, 3)
    >>> torch.einsum("ij,kj->ik", a, a)
    tensor([[ 5., 14.],
            [14., 50.]])
    >>> torch.einsum("ii", torch.eye(3))          # trace
    tensor(3.)
    >>> torch.einsum("...ij->...ji", torch.ones(4, 2, 3)).shape
    torch.Size([4, 3, 2])
    """
    if not args:
        raise ValueError("einsum(): must specify the equation string and at least one operand, "
                         "or at least one operand and its subscripts list")
    if isinstance(args[0], Tensor):
        equation, operands = _einsum_sublist_equation(args)
    else:
        equation, operands = args[0], args[1:]
        if not isinstance(equation, str):
            raise TypeError(f"einsum(): argument 'equation' (position 1) must be str, not "
                            f"{type(equation).__name__}")
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = operands[0]
    if not operands:
        raise ValueError("einsum(): must specify the equation string and at least one operand, "
                         "or at least one operand and its subscripts list")
    for i, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 1, but got "
                            f"{type(x).__name__}")
    labels, out = _einsum_parse(equation, operands)
    ops = [_einsum_diagonal(x, s, i) for i, (x, s) in enumerate(zip(operands, labels))]
    # sizes must agree up to broadcasting (1 against n); a broadcast dim is dropped from the
    # operand that has size 1, as it contributes the same value along that label
    size = {}
    for i, (x, subs) in enumerate(ops):
        for lab, n in zip(subs, x.shape):
            prev = size.setdefault(lab, n)
            if n != prev and n != 1 and prev != 1:
                if lab < 0:
                    raise RuntimeError(
                        f"einsum(): dimension {labels[i].index(lab)} covered by ellipsis in "
                        f"operand {i} has size {n} which does not broadcast with previously "
                        f"seen ellipsis with size {prev} for the respective dimension")
                raise RuntimeError(f"einsum(): subscript {_einsum_char(lab)} has size {n} for "
                                   f"operand {i} which does not broadcast with previously seen "
                                   f"size {prev}")
            if prev == 1:
                size[lab] = n
    for i, (x, subs) in enumerate(ops):
        drop = [d for d, lab in enumerate(subs) if x.shape[d] == 1 and size[lab] != 1]
        if drop:
            x = x.reshape(tuple(n for d, n in enumerate(x.shape) if d not in drop))
            subs = [lab for d, lab in enumerate(subs) if d not in drop]
        ops[i] = (x, subs)

    def needed(k):  # labels the output or the operands after the k-th still need
        return set(out).union(*(s for _, s in ops[k + 1:]))

    def sum_unneeded(x, subs, keep):
        dims = [d for d, lab in enumerate(subs) if lab not in keep]
        if dims:
            x = x.sum(dims)
            subs = [lab for lab in subs if lab in keep]
        return x, subs

    acc, acc_labels = sum_unneeded(*ops[0], needed(0) | set().union(*(s for _, s in ops[1:])))
    for k in range(1, len(ops)):
        keep = needed(k)
        x, subs = sum_unneeded(*ops[k], keep | set(acc_labels))
        acc, acc_labels = sum_unneeded(acc, acc_labels, keep | set(subs))
        acc, acc_labels = _einsum_pair(acc, acc_labels, x, subs, keep)
    acc, acc_labels = sum_unneeded(acc, acc_labels, set(out))
    return acc.permute([acc_labels.index(lab) for lab in out])
