"""numtorch.amp: loss scaling for training in float16 (PyTorch's ``torch.amp``).

:class:`GradScaler` multiplies the loss by a large factor before ``backward()`` so that small
float16 gradients do not flush to zero, divides the gradients back before the optimizer step, skips
the steps whose gradients overflowed and adapts the factor. numtorch has no autocast yet: its
float16 and bfloat16 are storage dtypes (elementwise math computes in float32).
``torch.cuda.amp.GradScaler`` is the same class for ``device="cuda"``.
"""
import math
import warnings

from .. import cuda as _cuda
from ..autograd import grad_mode

__all__ = ["GradScaler"]

_READY, _UNSCALED, _STEPPED = range(3)


class GradScaler:
    """Dynamic loss scaling with PyTorch's rules and defaults.

    ``scale(loss)`` multiplies by the current scale; ``step(optimizer)`` unscales the gradients
    of the optimizer's parameters (unless ``unscale_`` already did) and runs ``optimizer.step()``
    only if all of them are finite; ``update()`` halves the scale after a skipped step (times
    ``backoff_factor``) and doubles it (``growth_factor``) after ``growth_interval`` good steps
    in a row. Disabled (``enabled=False``, or ``device="cuda"`` without CUDA, with PyTorch's
    warning) every method passes through: ``scale`` returns its input, ``step`` just steps.

    >>> import numtorch as torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    >>> scaler.scale((w * w).sum()).backward()
    >>> w.grad
    tensor([2048., 4096.])
    >>> scaler.step(opt); scaler.update()
    >>> w.detach(), scaler.get_scale()
    (tensor([0.8000, 1.6000]), 1024.0)
    """

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        self._device = str(device)
        if enabled and self._device.startswith("cuda") and not _cuda.is_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.")
            enabled = False
        self._enabled = bool(enabled)
        if growth_factor <= 1.0:
            raise ValueError("The growth factor must be > 1.0.")
        if backoff_factor >= 1.0:
            raise ValueError("The backoff factor must be < 1.0.")
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer = {}  # id(optimizer) -> [stage, found_inf]

    # --- the training-step API -----------------------------------------------------------
    def scale(self, outputs):
        """``outputs`` (a tensor or nested lists/tuples of tensors) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if not hasattr(outputs, "dtype"):
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")
        return outputs * self._scale

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), [_READY, False])

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note
        whether any is inf or NaN (then :meth:`step` skips). Once per step, before ``step``."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state[0] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if state[0] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv = 1.0 / self._scale
        found = False
        with grad_mode.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    g.mul_(inv)
                    if not found and not bool(g.isfinite().all()):
                        found = True
        state[0], state[1] = _UNSCALED, found

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` unless the unscaled gradients hold inf or NaN;
        returns what it returned (None when skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._state(optimizer)
        if state[0] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state[0] == _READY:
            self.unscale_(optimizer)
        ret = None if state[1] else optimizer.step(*args, **kwargs)
        state[0] = _STEPPED
        return ret

    def update(self, new_scale=None):
        """Adapt the scale after the step (or set it to ``new_scale``), and start a new step."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if hasattr(new_scale, "item") else new_scale)
        else:
            if not self._per_optimizer:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(found for _, found in self._per_optimizer.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    # (PyTorch keeps a scale that would overflow float32 where it is)
                    grown = self._scale * self._growth_factor
                    if math.isfinite(grown) and grown <= 3.4028234663852886e38:
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # --- accessors and checkpoints -------------------------------------------------------
    def get_scale(self):
        """The current scale as a Python float (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def is_enabled(self):
        return self._enabled

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = int(new_interval)

    def state_dict(self):
        """PyTorch's keys (empty when disabled), so checkpoints move between the two."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


class _CudaGradScaler(GradScaler):
    """``torch.cuda.amp.GradScaler``: :class:`GradScaler` for ``device="cuda"`` (deprecated in
    PyTorch in favour of ``torch.amp.GradScaler("cuda", ...)``, with the same warning)."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        warnings.warn("`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cuda', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)


_CudaGradScaler.__name__ = _CudaGradScaler.__qualname__ = "GradScaler"
