"""Pickling reducers for ``multiprocessing``'s ``ForkingPickler`` (queues, pipes, pools, the
arguments of spawned processes): a tensor in shared memory travels as a handle to its segment
(a descriptor passed over a Unix socket, or a file_system name) plus its offset, shape and
strides, so the receiver's tensor is a view of the same memory. Any other tensor travels as a
copy of its data, as plain pickling does."""
from multiprocessing.reduction import DupFd, ForkingPickler

from .. import _dtype as D
from .._tensor import Tensor
from ..serialization import _address
from . import _storage


def _check_leaf(t):
    if t._requires_grad and t.grad_fn is not None:
        raise RuntimeError(
            "Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd "
            "does not support crossing process boundaries.  If you just want to transfer the "
            "data, call detach() on the tensor before serializing (e.g., putting it on the "
            "queue).")


def reduce_tensor(t):
    """``(rebuild, args)`` for ``t``: by handle when its memory is shared, else by value."""
    _check_leaf(t)
    seg = _storage.segment_of(t._data) if t.device.type == "cpu" else None
    if seg is None:
        return t.__reduce_ex__(2)
    a = t._data
    handle = ("fd", DupFd(seg.fd)) if seg.fd is not None else ("name", seg.name)
    return (rebuild_shared_tensor,
            (type(t), handle, t.dtype.name, a.shape, a.strides, _address(a) - seg.address,
             t._requires_grad))


def rebuild_shared_tensor(cls, handle, dtype_name, shape, strides, offset, requires_grad):
    """The receiving side of :func:`reduce_tensor`: a tensor over the sender's segment."""
    kind, h = handle
    raw = _storage.attach(kind, h.detach() if kind == "fd" else h)
    dtype = D._by_name[dtype_name]
    t = Tensor._make(_storage.shared_array(raw, dtype.np, shape, strides, offset), dtype)
    if cls is not Tensor:
        return cls(t, requires_grad)  # Parameter
    t._requires_grad = requires_grad
    return t


def init_reductions():
    """Register the reducers with ``ForkingPickler`` (as PyTorch does, for every process)."""
    from ..nn.parameter import Parameter, UninitializedParameter
    for cls in (Tensor, Parameter, UninitializedParameter):
        ForkingPickler.register(cls, reduce_tensor)
