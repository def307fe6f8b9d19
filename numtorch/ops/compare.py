"""Comparisons, logical and bitwise ops and predicates: elementwise ops with no gradient.

They run the same launchers as the differentiable math in ``elementwise.py``; their results are
bool (comparisons, predicates, logical ops) or integers (bitwise ops), so autograd never records
them.
"""
from .. import _dtype as D
from .._registry import op
from ._core import empty, kernels
from .elementwise import _binary, _pred


@op()
def isnan(input):
    """True where an element is NaN.

    >>> import numtorch as torch
    >>> torch.isnan(torch.tensor([1.0, float("nan")]))
    tensor([False,  True])
    """
    return _pred("isnan", input) if input.dtype.is_floating_point else _zeros_bool(input)


@op()
def isinf(input):
    """True where an element is +inf or -inf.

    >>> import numtorch as torch
    >>> torch.isinf(torch.tensor([1.0, float("inf"), -float("inf")]))
    tensor([False,  True,  True])
    """
    return _pred("isinf", input) if input.dtype.is_floating_point else _zeros_bool(input)


@op()
def isfinite(input):
    """True where an element is neither infinite nor NaN.

    >>> import numtorch as torch
    >>> torch.isfinite(torch.tensor([1.0, float("inf"), float("nan")]))
    tensor([ True, False, False])
    """
    return _pred("isfinite", input) if input.dtype.is_floating_point else logical_not(_zeros_bool(input))


@op()
def isposinf(input):
    """True where an element is +inf.

    >>> import numtorch as torch
    >>> torch.isposinf(torch.tensor([1.0, float("inf"), -float("inf")]))
    tensor([False,  True, False])
    """
    return isinf(input) & (input > 0)


@op()
def isneginf(input):
    """True where an element is -inf.

    >>> import numtorch as torch
    >>> torch.isneginf(torch.tensor([1.0, float("inf"), -float("inf")]))
    tensor([False, False,  True])
    """
    return isinf(input) & (input < 0)


@op()
def signbit(input):
    """True where the sign bit is set (including -0.0).

    >>> import numtorch as torch
    >>> torch.signbit(torch.tensor([-1.0, -0.0, 2.0]))
    tensor([ True,  True, False])
    """
    return _pred("signbit", input)


def _zeros_bool(x):
    out = empty(x._data.shape, D.bool, x.device)
    kernels(x.device).elementwise.fill(out._data, False)
    return out


@op(inplace=True)
def logical_not(input):
    """True where an element is zero.

    >>> import numtorch as torch
    >>> torch.logical_not(torch.tensor([0, 3]))
    tensor([ True, False])
    """
    return _pred("logical_not", input)


def _compare(name, a, b):
    return _binary(name, a, b, D.result_type(a, b), D.bool)


@op(inplace=True)
def eq(input, other):
    """Elementwise ``input == other``.

    >>> import numtorch as torch
    >>> torch.eq(torch.tensor([1, 2]), torch.tensor([1, 3]))
    tensor([ True, False])
    """
    return _compare("eq", input, other)


@op('not_equal', inplace=True)
def ne(input, other):
    """Elementwise ``input != other`` (also ``not_equal``).

    >>> import numtorch as torch
    >>> torch.ne(torch.tensor([1, 2]), 2)
    tensor([ True, False])
    """
    return _compare("ne", input, other)


@op('less', inplace=True)
def lt(input, other):
    """Elementwise ``input < other`` (also ``less``).

    >>> import numtorch as torch
    >>> torch.lt(torch.tensor([1, 2]), 2)
    tensor([ True, False])
    """
    return _compare("lt", input, other)


@op('less_equal', inplace=True)
def le(input, other):
    """Elementwise ``input <= other`` (also ``less_equal``).

    >>> import numtorch as torch
    >>> torch.le(torch.tensor([1, 2, 3]), 2)
    tensor([ True,  True, False])
    """
    return _compare("le", input, other)


@op('greater', inplace=True)
def gt(input, other):
    """Elementwise ``input > other`` (also ``greater``).

    >>> import numtorch as torch
    >>> torch.gt(torch.tensor([1, 2, 3]), 2)
    tensor([False, False,  True])
    """
    return _compare("gt", input, other)


@op('greater_equal', inplace=True)
def ge(input, other):
    """Elementwise ``input >= other`` (also ``greater_equal``).

    >>> import numtorch as torch
    >>> torch.ge(torch.tensor([1, 2, 3]), 2)
    tensor([False,  True,  True])
    """
    return _compare("ge", input, other)


@op(inplace=True)
def logical_and(input, other):
    """Elementwise logical AND of the truth values.

    >>> import numtorch as torch
    >>> torch.logical_and(torch.tensor([True, True]), torch.tensor([1, 0]))
    tensor([ True, False])
    """
    return _compare("logical_and", input, other)


@op(inplace=True)
def logical_or(input, other):
    """Elementwise logical OR of the truth values.

    >>> import numtorch as torch
    >>> torch.logical_or(torch.tensor([True, False]), torch.tensor([0, 0]))
    tensor([ True, False])
    """
    return _compare("logical_or", input, other)


@op()
def logical_xor(input, other):
    """Elementwise logical XOR of the truth values.

    >>> import numtorch as torch
    >>> torch.logical_xor(torch.tensor([True, False]), torch.tensor([True, True]))
    tensor([False,  True])
    """
    return _compare("logical_xor", input, other)


def _bitwise(name, a, b):
    rt = D.result_type(a, b)
    if rt.is_floating_point:
        raise RuntimeError(f"\"{name}_cpu\" not implemented for '{rt.name.capitalize()}'")
    return _binary(name, a, b, rt)


@op(inplace=True)
def bitwise_and(input, other):
    """Bitwise AND of integer or bool tensors.

    >>> import numtorch as torch
    >>> torch.bitwise_and(torch.tensor([12, 10]), 6)
    tensor([4, 2])
    """
    return _bitwise("bitwise_and", input, other)


@op(inplace=True)
def bitwise_or(input, other):
    """Bitwise OR of integer or bool tensors.

    >>> import numtorch as torch
    >>> torch.bitwise_or(torch.tensor([12, 10]), 1)
    tensor([13, 11])
    """
    return _bitwise("bitwise_or", input, other)


@op(inplace=True)
def bitwise_xor(input, other):
    """Bitwise XOR of integer or bool tensors.

    >>> import numtorch as torch
    >>> torch.bitwise_xor(torch.tensor([12, 10]), 6)
    tensor([10, 12])
    """
    return _bitwise("bitwise_xor", input, other)


@op(inplace=True)
def bitwise_not(input):
    """Bitwise NOT of an integer or bool tensor.

    >>> import numtorch as torch
    >>> torch.bitwise_not(torch.tensor([0, 5]))
    tensor([-1, -6])
    >>> torch.bitwise_not(torch.tensor([True, False]))
    tensor([False,  True])
    """
    if input.dtype is D.bool:
        return logical_not(input)
    if input.dtype.is_floating_point:
        raise RuntimeError(f"\"bitwise_not_cpu\" not implemented for '{input.dtype.name.capitalize()}'")
    return -input - 1


@op()
def equal(input, other):
    """True if both tensors have the same shape and elements.

    >>> import numtorch as torch
    >>> torch.equal(torch.tensor([1, 2]), torch.tensor([1, 2]))
    True
    >>> torch.equal(torch.tensor([1]), torch.tensor([1, 1]))
    False
    """
    return input.shape == other.shape and bool(eq(input, other).all())


@op()
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True if ``isclose`` holds for every element.

    >>> import numtorch as torch
    >>> torch.allclose(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
    True
    """
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


@op()
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|input - other| <= atol + rtol * |other|`` elementwise (NaNs equal with ``equal_nan``).

    >>> import numtorch as torch
    >>> torch.isclose(torch.tensor([1.0, 2.0]), torch.tensor([1.0 + 1e-7, 2.1]))
    tensor([ True, False])
    """
    close = (input == other) | (abs(input - other) <= atol + rtol * abs(other))
    if equal_nan:
        close = close | (isnan(input) & isnan(other))
    return close

