"""Probability distributions with PyTorch's ``torch.distributions`` API.

Every distribution is built from numtorch Tensor ops, so gradients flow through ``log_prob``,
``entropy``, ``kl_divergence`` and ``rsample``; randomness comes from numtorch's generator
(``numtorch.manual_seed`` makes samples reproducible).

>>> import numtorch as torch
>>> from numtorch.distributions import Categorical
>>> _ = torch.manual_seed(0)
>>> logits = torch.zeros(2, 3, requires_grad=True)
>>> d = Categorical(logits=logits)
>>> a = d.sample()
>>> (-d.log_prob(a).sum()).backward()
>>> logits.grad.shape
torch.Size([2, 3])
"""
from . import constraints
from .bernoulli import Bernoulli
from .beta import Beta
from .categorical import Categorical, OneHotCategorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .uniform import Uniform

__all__ = ["Bernoulli", "Beta", "Categorical", "Dirichlet", "Distribution", "Gamma",
           "Independent", "MultivariateNormal", "Normal", "OneHotCategorical", "Uniform",
           "constraints", "kl_divergence", "register_kl"]
