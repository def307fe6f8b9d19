"""A device's kernel namespace seen through a listener: what the capture (``_capture.py``) and
the tracer (``_trace.py``) hand to ops in place of ``numtorch.kernels.<device>``."""

__all__ = ["KernelNamespace"]


class KernelNamespace:
    """``pkg`` (``numtorch.kernels.cpu`` or ``.cuda``) whose kernel families' attributes go
    through ``wrap(family, name, obj)``, once per name (the result is kept); anything else of
    ``pkg`` passes through."""

    def __init__(self, pkg, wrap):
        self._pkg, self._wrap = pkg, wrap

    def __getattr__(self, name):
        obj = getattr(self._pkg, name)
        if type(obj).__name__ == "module" and obj.__name__.startswith(self._pkg.__name__ + "."):
            obj = _Family(obj, name, self._wrap)
        self.__dict__[name] = obj
        return obj


class _Family:
    def __init__(self, mod, family, wrap):
        self._mod, self._family, self._wrap = mod, family, wrap

    def __getattr__(self, name):
        obj = self._wrap(self._family, name, getattr(self._mod, name))
        self.__dict__[name] = obj
        return obj
