"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``."""
import functools
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled"]


class _State(threading.local):
    # per thread, as in PyTorch: a DataLoader thread must not switch grad off for the main loop
    enabled = True


state = _State()


def is_grad_enabled():
    """True when operations record the autograd graph.

    >>> import numtorch as torch
    >>> torch.is_grad_enabled()
    True
    >>> with torch.no_grad():
    ...     print(torch.is_grad_enabled())
    False
    """
    return state.enabled


class _GradModeBase:
    _target = True

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._target

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__.__new__(self.__class__).__init_copy__(self):
                return fn(*args, **kwargs)
        return wrapper

    def __init_copy__(self, other):
        self.__dict__.update(other.__dict__)
        return self


class no_grad(_GradModeBase):
    """Context manager and decorator that stops recording the graph.

    >>> import numtorch as torch
    >>> x = torch.ones(2, requires_grad=True)
    >>> with torch.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    _target = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if callable(fn):  # used as @no_grad without parentheses
            return self(fn)
        return self

    def __init__(self, fn=None):
        pass


class enable_grad(no_grad):
    """Context manager and decorator that turns graph recording back on.

    >>> import numtorch as torch
    >>> x = torch.tensor([1.0], requires_grad=True)
    >>> with torch.no_grad():
    ...     with torch.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """
    _target = True


class set_grad_enabled(_GradModeBase):
    """``set_grad_enabled(False)``: a function call, a context manager or a decorator.

    >>> import numtorch as torch
    >>> x = torch.tensor([1.0], requires_grad=True)
    >>> with torch.set_grad_enabled(False):
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __init__(self, mode):
        self._target = bool(mode)
        self._prev = state.enabled
        state.enabled = self._target  # takes effect immediately, as in PyTorch

    def __enter__(self):
        state.enabled = self._target

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class inference_mode(no_grad):
    """Same as ``no_grad`` here (numtorch has no separate inference tensors).

    >>> import numtorch as torch
    >>> x = torch.tensor([1.0], requires_grad=True)
    >>> with torch.inference_mode():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __init__(self, mode=True):
        self._target = not mode if isinstance(mode, bool) else False
