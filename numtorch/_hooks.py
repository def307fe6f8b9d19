"""``RemovableHandle``: what every ``register_*hook`` returns (PyTorch's
``torch.utils.hooks.RemovableHandle``). It imports nothing from numtorch, so the autograd layer
uses it as well as ``nn`` and ``optim``; the public name is ``numtorch.utils.hooks``."""
import itertools

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Removes one registered hook with ``remove()`` (a second call does nothing), or at the end
    of a ``with`` block.

    ``hooks`` is where the hook was registered: a dict in which the caller stores it under this
    handle's ``id`` (modules, optimizers), or a list that holds ``hook`` (tensors, graph nodes).

    >>> import numtorch as torch
    >>> x = torch.tensor([1.0], requires_grad=True)
    >>> with x.register_hook(lambda g: g * 2):
    ...     (3 * x).sum().backward()
    >>> (3 * x).sum().backward()
    >>> x.grad
    tensor([9.])
    """

    __slots__ = ("_hooks", "_hook", "id")
    _ids = itertools.count()

    def __init__(self, hooks, hook=None):
        self._hooks, self._hook, self.id = hooks, hook, next(RemovableHandle._ids)

    def remove(self):
        if isinstance(self._hooks, dict):
            self._hooks.pop(self.id, None)
            return
        try:
            self._hooks.remove(self._hook)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
