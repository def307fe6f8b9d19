"""``Size``: the tuple subclass that ``Tensor.shape`` returns."""


class Size(tuple):
    """PyTorch's ``torch.Size``: a tuple of ints that prints as ``torch.Size([2, 3])``.

    >>> import numtorch as torch
    >>> s = torch.Size([2, 3])
    >>> s
    torch.Size([2, 3])
    >>> s.numel(), s[0]
    (6, 2)
    """

    def __new__(cls, seq=()):
        return tuple.__new__(cls, (int(s) for s in seq))

    @classmethod
    def _of(cls, shape):
        """The Size of a NumPy shape (its entries are ints already: no conversion)."""
        return tuple.__new__(cls, shape)

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"torch.Size({list(self)})"

    def __getitem__(self, k):
        r = tuple.__getitem__(self, k)
        return tuple.__new__(Size, r) if k.__class__ is slice else r

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))
