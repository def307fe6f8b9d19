"""``default_collate`` (a list of samples -> one batch) and ``default_convert`` (PyTorch's rules)."""
import collections.abc
import re

import numpy as np

__all__ = ["default_collate", "default_convert"]

_np_str_obj_array_pattern = re.compile(r"[SaUO]")

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _tensor_mod():
    import numtorch
    return numtorch


def default_convert(data):
    """Turn NumPy arrays (and NumPy scalars) inside ``data`` into tensors, keeping the structure.

    >>> import numtorch as torch
    >>> from numtorch.utils.data import default_convert
    >>> import numpy as np
    >>> default_convert({"x": np.zeros(2)})
    {'x': tensor([0., 0.], dtype=torch.float64)}
    """
    torch = _tensor_mod()
    if isinstance(data, torch.Tensor):
        return data
    elem_type = type(data)
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        if isinstance(data, np.ndarray) and _np_str_obj_array_pattern.search(data.dtype.str):
            return data
        if isinstance(data, (np.str_, np.bytes_)):
            return data
        return torch.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # PyTorch's backwards-compatible list
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _plain_cpu_batch(batch, elem, torch):
    shape, dtype = elem.shape, elem.dtype
    return all(isinstance(b, torch.Tensor) and b.device.type == "cpu" and not b.requires_grad
               and b.shape == shape and b.dtype == dtype for b in batch)


def default_collate(batch):
    """Merge a list of samples into a batch.

    Tensors are stacked (a new first dimension); NumPy arrays become stacked tensors; Python
    floats become a float64 tensor, ints an int64 tensor; strings stay a list; dicts, namedtuples
    and sequences are collated field by field (tuples come back as lists, like PyTorch).

    >>> from numtorch.utils.data import default_collate
    >>> import numtorch as torch
    >>> default_collate([(torch.tensor([1.0]), 0), (torch.tensor([2.0]), 1)])
    [tensor([[1.],
            [2.]]), tensor([0, 1])]
    """
    torch = _tensor_mod()
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, torch.Tensor):
        if _plain_cpu_batch(batch, elem, torch):
            # one NumPy copy into the batch buffer (stacking is memory work, no graph needed)
            return torch.from_numpy(np.stack([b.numpy() for b in batch]))
        return torch.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
            raise TypeError(_ERR.format(elem.dtype))
        # one NumPy copy into the batch buffer instead of a tensor per sample
        if all(isinstance(b, np.ndarray) and b.shape == elem.shape and b.dtype == elem.dtype
               for b in batch):
            return torch.from_numpy(np.stack(batch))
        return default_collate([torch.as_tensor(b) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return torch.as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return torch.tensor(batch)
    if isinstance(elem, float):
        return torch.tensor(batch, dtype=torch.float64)
    if isinstance(elem, int):
        return torch.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            return elem_type({key: default_collate([d[key] for d in batch]) for key in elem})
        except TypeError:
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(list(samples)) for samples in transposed]
        try:
            return elem_type([default_collate(list(samples)) for samples in transposed])
        except TypeError:
            return [default_collate(list(samples)) for samples in transposed]
    raise TypeError(_ERR.format(elem_type))
