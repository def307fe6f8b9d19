"""``nn.utils.rnn``: batches of variable-length sequences, padded or packed (PyTorch's layout).

A packed batch holds the steps of every sequence time-major: the ``batch_sizes[t]`` sequences
still running at step ``t`` contribute one row each, longest first. Every function here moves
rows with one differentiable gather (``index_select``) whose index is computed on the host from
the lengths, so gradients flow back to the padded or packed data.
"""
from collections import namedtuple
from collections.abc import Iterable

import numpy as np

from ... import _dtype as D
from ..._creation import full, tensor
from ..._tensor import Tensor
from ...ops._core import shape_str as _shape_str
from ...ops.shape import cat
from ...ops.sort import argsort

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]


def invert_permutation(permutation):
    """The inverse of a 1-D permutation tensor (None for None).

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import invert_permutation
    >>> invert_permutation(torch.tensor([2, 0, 1]))
    tensor([1, 2, 0])
    """
    if permutation is None:
        return None
    return argsort(permutation)


_Fields = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices",
                                         "unsorted_indices"])


class PackedSequence(_Fields):
    """A packed batch of variable-length sequences: ``data`` (sum of lengths, *) holds the
    steps time-major, ``batch_sizes`` (int64, on the CPU) how many sequences run at each step;
    ``sorted_indices`` / ``unsorted_indices`` (or None) map between the caller's batch order
    and the by-length order of the packing. Made by :func:`pack_padded_sequence` or
    :func:`pack_sequence`; every recurrent module accepts and returns one.

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import pack_sequence
    >>> p = pack_sequence([torch.tensor([1, 2, 3]), torch.tensor([4])])
    >>> p.data, p.batch_sizes
    (tensor([1, 4, 2, 3]), tensor([2, 1, 1]))
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence((data, batch_sizes), ...)
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        if batch_sizes.device.type != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. Instances of PackedSequence should never be "
                "created manually. They should be instantiated by functions like pack_sequence "
                "and pack_padded_sequences in nn.utils.rnn.")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data):
        if data is self.data:
            return self
        dev = data.device
        return type(self)(data, self.batch_sizes,
                          None if self.sorted_indices is None else self.sorted_indices.to(dev),
                          None if self.unsorted_indices is None else self.unsorted_indices.to(dev))

    def to(self, *args, **kwargs):
        """``data`` converted by ``Tensor.to``; the indices follow it to its device (the batch
        sizes stay on the CPU). Returns self when nothing changes."""
        return self._with_data(self.data.to(*args, **kwargs))

    def cuda(self, *args, **kwargs):
        """The packed batch on a CUDA device."""
        return self._with_data(self.data.cuda(*args, **kwargs))

    def cpu(self, *args, **kwargs):
        """The packed batch on the CPU."""
        return self._with_data(self.data.cpu(*args, **kwargs))

    def double(self):
        return self.to(dtype=D.float64)

    def float(self):
        return self.to(dtype=D.float32)

    def half(self):
        return self.to(dtype=D.float16)

    def long(self):
        return self.to(dtype=D.int64)

    def int(self):
        return self.to(dtype=D.int32)

    def short(self):
        return self.to(dtype=D.int16)

    def char(self):
        return self.to(dtype=D.int8)

    def byte(self):
        return self.to(dtype=D.uint8)

    @property
    def is_cuda(self):
        """Whether ``data`` is on a CUDA device."""
        return self.data.is_cuda


def _lengths_list(lengths, cpu=True):
    """Host int64 array of ``lengths`` (a list of ints or a 1-D tensor, on the CPU unless
    ``cpu`` is False), PyTorch's checks."""
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1 or (cpu and lengths.device.type != "cpu"):
            raise RuntimeError(
                "'lengths' argument should be a 1D CPU int64 tensor, but got "
                f"{lengths.ndim}D {lengths.device} Long tensor")
        return np.asarray(lengths.to(D.int64).tolist(), np.int64)
    return np.asarray([int(n) for n in lengths], np.int64)


def _gather(data, index, shape):
    """``data.index_select(0, index).reshape(shape)`` with ``index`` a host int64 array."""
    idx = tensor(np.ascontiguousarray(index.reshape(-1)), dtype=D.int64, device=data.device)
    return data.index_select(0, idx).reshape(shape)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) of sequences of the given
    ``lengths``. With ``enforce_sorted`` the lengths must be non-increasing; otherwise the batch
    is sorted first and the permutation kept in the result.

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import pack_padded_sequence
    >>> x = torch.tensor([[1, 2, 3], [4, 0, 0]])
    >>> pack_padded_sequence(x, [3, 1], batch_first=True).data
    tensor([1, 4, 2, 3])
    >>> p = pack_padded_sequence(x.flip(0), [1, 3], batch_first=True, enforce_sorted=False)
    >>> p.data, p.sorted_indices
    (tensor([1, 4, 2, 3]), tensor([1, 0]))
    """
    lens = _lengths_list(lengths)
    if input.ndim < 2:
        raise RuntimeError("pack_padded_sequence: expected input of at least 2 dimensions "
                           f"(T x B x *), got shape {_shape_str(input.shape)}")
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    B = input.shape[0] if batch_first else input.shape[1]
    if lens.shape[0] != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lens.shape[0]} (batch_size={B})")
    sorted_indices = None
    if not enforce_sorted:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = tensor(order, dtype=D.int64, device=input.device)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    T = input.shape[1] if batch_first else input.shape[0]
    if lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element "
                           "in 'lengths' that is <= 0")
    if np.any(lens[1:] > lens[:-1]):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You "
            "can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
            "sidestep this requirement if you do not need ONNX exportability.")
    if lens[0] > T:
        raise RuntimeError(f"pack_padded_sequence: a length of {int(lens[0])} exceeds the "
                           f"{T} steps of the padded input of shape {_shape_str(input.shape)}")
    steps = np.arange(int(lens[0]))
    batch_sizes = (lens[None, :] > steps[:, None]).sum(1)
    t, b = np.nonzero(lens[None, :] > steps[:, None])  # row-major: time-major, longest first
    rows = b * T + t if batch_first else t * B + b
    rest = tuple(input.shape[2:])
    data = _gather(input.reshape((T * B,) + rest), rows, (rows.shape[0],) + rest)
    return PackedSequence(data, tensor(batch_sizes, dtype=D.int64), sorted_indices, None)


def _batch_sizes(sequence):
    bs = np.asarray(sequence.batch_sizes.tolist(), np.int64).reshape(-1)
    n = sequence.data.shape[0] if sequence.data.ndim else -1
    if bs.size == 0 or bs[-1] <= 0 or np.any(bs[1:] > bs[:-1]) or bs.sum() != n:
        raise RuntimeError(
            f"PackedSequence: batch_sizes {bs.tolist()} must be positive, non-increasing and sum "
            f"to the {n} rows of data")
    return bs


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo :func:`pack_padded_sequence`: returns the padded batch (T, B, *) (``batch_first``:
    (B, T, *)) in the caller's batch order, filled with ``padding_value``, and the lengths
    (int64, on the CPU). ``total_length`` pads to that many steps.

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import pack_sequence, pad_packed_sequence
    >>> p = pack_sequence([torch.tensor([1, 2]), torch.tensor([3, 4, 5])], enforce_sorted=False)
    >>> pad_packed_sequence(p, batch_first=True, padding_value=-1)
    (tensor([[ 1,  2, -1],
            [ 3,  4,  5]]), tensor([2, 3]))
    """
    bs = _batch_sizes(sequence)
    data = sequence.data
    T, B, N = bs.shape[0], int(bs[0]), data.shape[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being {T}")
        T_out = int(total_length)
    else:
        T_out = T
    offsets = np.concatenate(([0], np.cumsum(bs)[:-1]))
    cols = np.arange(B)[None, :]
    index = np.full((T_out, B), N, np.int64)  # row N: the padding row appended below
    index[:T] = np.where(cols < bs[:, None], offsets[:, None] + cols, N)
    lengths = (bs[:, None] > np.arange(B)[None, :]).sum(0)
    if sequence.unsorted_indices is not None:
        perm = np.asarray(sequence.unsorted_indices.tolist(), np.int64)
        index, lengths = index[:, perm], lengths[perm]
    if batch_first:
        index = index.T
    rest = tuple(data.shape[1:])
    pad = full((1,) + rest, padding_value, dtype=data.dtype, device=data.device)
    padded = _gather(cat([data, pad], 0), index, index.shape + rest)
    return padded, tensor(lengths, dtype=D.int64)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences (L_i, *) of different lengths into (T, B, *) (``batch_first``:
    (B, T, *)), T the longest, padding with ``padding_value`` on ``padding_side``.

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import pad_sequence
    >>> pad_sequence([torch.tensor([1, 2, 3]), torch.tensor([4])], batch_first=True)
    tensor([[1, 2, 3],
            [4, 0, 0]])
    >>> pad_sequence([torch.tensor([1, 2]), torch.tensor([4])], True, padding_side="left")
    tensor([[1, 2],
            [0, 4]])
    """
    if not isinstance(sequences, Iterable):
        raise RuntimeError("pad_sequence: Expected iterable for input sequences, but got arg of "
                           f"type: {type(sequences)}")
    seqs = list(sequences)
    if padding_side not in ("left", "right"):
        raise RuntimeError(
            f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    for i, s in enumerate(seqs):
        if s.ndim == 0:
            raise RuntimeError("pad_sequence: expected sequences of at least 1 dimension (L, *), "
                               f"but sequence {i} is 0-d")
    rest = tuple(seqs[0].shape[1:])
    for i, s in enumerate(seqs):
        if tuple(s.shape[1:]) != rest:
            raise RuntimeError(
                f"pad_sequence: expected every sequence to have the trailing sizes "
                f"{_shape_str(rest)} of sequence 0, but sequence {i} has shape {_shape_str(s.shape)}")
    lens = np.asarray([s.shape[0] for s in seqs], np.int64)
    B, T, N = len(seqs), int(lens.max()), int(lens.sum())
    offsets = np.concatenate(([0], np.cumsum(lens)[:-1]))
    t = np.arange(T)[None, :]
    start = (T - lens)[:, None] if padding_side == "left" else np.zeros((B, 1), np.int64)
    pos = t - start
    index = np.where((pos >= 0) & (pos < lens[:, None]), offsets[:, None] + pos, N)  # (B, T)
    if not batch_first:
        index = index.T
    pad = full((1,) + rest, padding_value, dtype=seqs[0].dtype, device=seqs[0].device)
    return _gather(cat(seqs + [pad], 0), index, index.shape + rest)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *); with ``enforce_sorted`` they must come longest first.

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import pack_sequence
    >>> pack_sequence([torch.tensor([1]), torch.tensor([2, 3])], enforce_sorted=False).data
    tensor([2, 1, 3])
    """
    lengths = [s.shape[0] if isinstance(s, Tensor) and s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences of a padded batch (T, B, *) (``batch_first``: (B, T, *)), each cut
    to its length.

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import unpad_sequence
    >>> unpad_sequence(torch.tensor([[1, 2, 3], [4, 0, 0]]), [3, 1], batch_first=True)
    [tensor([1, 2, 3]), tensor([4])]
    """
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lens = _lengths_list(lengths, cpu=False)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lens)]


def unpack_sequence(packed_sequences):
    """The list of sequences of a :class:`PackedSequence`, in the caller's batch order.

    >>> import numtorch as torch
    >>> from numtorch.nn.utils.rnn import pack_sequence, unpack_sequence
    >>> unpack_sequence(pack_sequence([torch.tensor([1]), torch.tensor([2, 3])], False))
    [tensor([1]), tensor([2, 3])]
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
