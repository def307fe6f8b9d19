"""``kl_divergence(p, q)`` and ``register_kl``: closed-form KL divergences by type pair."""
import math
import warnings

from ._linalg import solve_lower_matrix
from ._special import digamma, lgamma
from .bernoulli import Bernoulli
from .beta import Beta
from .categorical import Categorical, OneHotCategorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .gamma import Gamma
from .independent import Independent
from .multivariate_normal import MultivariateNormal, _half_log_det, _mahalanobis
from .normal import Normal
from .uniform import Uniform
from .utils import _sum_rightmost

__all__ = ["kl_divergence", "register_kl"]

_REGISTRY = {}   # (type_p, type_q) -> fn(p, q)
_DISPATCH = {}   # (type(p), type(q)) -> the most specific registered fn (cleared on register)


def register_kl(type_p, type_q):
    """Decorator registering ``fn(p, q)`` as ``kl_divergence`` for instances of these types
    (subclasses included; the most specific registered pair wins).

    >>> import numtorch as torch
    >>> from numtorch.distributions import Normal, kl_divergence, register_kl
    >>> class MyNormal(Normal):
    ...     pass
    >>> @register_kl(MyNormal, MyNormal)
    ... def _kl_mine(p, q):
    ...     return torch.zeros(p.batch_shape)
    >>> kl_divergence(MyNormal(0.0, 1.0), MyNormal(1.0, 1.0))
    tensor(0.)
    """
    for name, t in (("type_p", type_p), ("type_q", type_q)):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"Expected {name} to be a Distribution subclass but got {t}")

    def decorator(fn):
        _REGISTRY[type_p, type_q] = fn
        _DISPATCH.clear()
        return fn
    return decorator


def _dispatch(tp, tq):
    matches = [(a, b) for a, b in _REGISTRY if issubclass(tp, a) and issubclass(tq, b)]
    if not matches:
        return None
    # distance of each registered type from the actual one along the MRO; p decides first
    rank = {m: (tp.__mro__.index(m[0]), tq.__mro__.index(m[1])) for m in matches}
    left = min(matches, key=lambda m: rank[m])
    right = min(matches, key=lambda m: rank[m][::-1])
    if _REGISTRY[left] is not _REGISTRY[right]:
        warnings.warn(f"Ambiguous kl_divergence({tp.__name__}, {tq.__name__}). Please register_kl"
                      f"({left[0].__name__}, {right[1].__name__})", RuntimeWarning)
    return _REGISTRY[left]


def kl_divergence(p, q):
    """KL(p || q) = E_p[log p(x) - log q(x)], over the batch, for a registered pair of types
    (NotImplementedError otherwise).

    >>> import numtorch as torch
    >>> from numtorch.distributions import Normal, kl_divergence
    >>> kl_divergence(Normal(0.0, 1.0), Normal(1.0, 2.0))
    tensor(0.4431)
    """
    key = (type(p), type(q))
    if key not in _DISPATCH:
        _DISPATCH[key] = _dispatch(*key)
    fn = _DISPATCH[key]
    if fn is None:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type "
                                  f"{p.__class__.__name__} and q type {q.__class__.__name__}")
    return fn(p, q)


def _inf_where(cond, value):
    from .. import where
    return where(cond, math.inf, value)


def _zero_where(cond, value):
    from .. import where
    return where(cond, 0.0, value)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    ratio = (p.scale / q.scale) ** 2
    shift = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (ratio + shift - 1 - ratio.log())


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = _inf_where((q.probs == 0).expand_as(t), t)
    t = _zero_where((p.probs == 0).expand_as(t), t)
    return t.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p, q):
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    from ..nn.functional import softplus
    # log p - log q = softplus(-lq) - softplus(-lp) for x = 1, softplus(lq) - softplus(lp) for 0
    ones = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    ones = _zero_where(p.probs == 0, _inf_where(q.probs == 0, ones))
    zeros = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    zeros = _zero_where(p.probs == 1, _inf_where(q.probs == 1, zeros))
    return ones + zeros


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event "
                         f"shapes cannot be computed: {p.event_shape} vs {q.event_shape}")
    from .utils import broadcast_shapes
    n = p.event_shape[0]
    lp, lq = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    batch = broadcast_shapes(lp.shape[:-2], lq.shape[:-2])
    # tr(Sq^-1 Sp) = ||Lq^-1 Lp||_F^2
    trace = solve_lower_matrix(lq.expand(batch + lq.shape[-2:]),
                               lp.expand(batch + lp.shape[-2:])).pow(2).sum((-2, -1))
    maha = _mahalanobis(lq, q.loc - p.loc)
    out = _half_log_det(lq) - _half_log_det(lp) + 0.5 * (trace + maha - n)
    return out


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    a1, b1, a2, b2 = p.concentration1, p.concentration0, q.concentration1, q.concentration0
    s1, s2 = a1 + b1, a2 + b2
    log_beta_ratio = lgamma(a2) + lgamma(b2) + lgamma(s1) - lgamma(a1) - lgamma(b1) - lgamma(s2)
    return (log_beta_ratio + (a1 - a2) * digamma(a1) + (b1 - b2) * digamma(b1)
            + (s2 - s1) * digamma(s1))


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    cp, rp, cq, rq = p.concentration, p.rate, q.concentration, q.rate
    return (cq * (rp / rq).log() + lgamma(cq) - lgamma(cp) + (cp - cq) * digamma(cp)
            + (rq - rp) * (cp / rp))


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    cp, cq = p.concentration, q.concentration
    sp, sq = cp.sum(-1), cq.sum(-1)
    return (lgamma(sp) - lgamma(sq) - (lgamma(cp) - lgamma(cq)).sum(-1)
            + ((cp - cq) * (digamma(cp) - digamma(sp).unsqueeze(-1))).sum(-1))


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError(
            "KL between Independent distributions with different reinterpreted_batch_ndims "
            f"({p.reinterpreted_batch_ndims} vs {q.reinterpreted_batch_ndims}) is not implemented")
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)
