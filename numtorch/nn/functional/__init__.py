"""``numtorch.nn.functional``: the functional forms of layers, losses and activations.

Fused primitives (convolution, pooling, normalisation, softmax-cross-entropy, constant padding)
have their own kernels and backward rules in ``numtorch.ops``; everything defined in this package
is composed from Tensor ops and has no backward code (``_activation``, ``_loss``, ``_layers``,
``_sampling``).
"""
from ... import _registry
from ...ops import conv as _conv, norm as _norm, pad as _pad, pool as _pool  # noqa: F401
from . import _activation, _layers, _loss, _sampling  # noqa: F401
from . import _attention  # noqa: F401

# numtorch.nn.functional.<name> for every op declared with functional=True / @functional_op()
globals().update(_registry.functional())
# F.unfold (im2col) shares its name with the registry's Tensor.unfold, a different op
from ._sampling import unfold  # noqa: E402,F401
