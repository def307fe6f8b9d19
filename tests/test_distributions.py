"""numtorch.distributions: densities, moments and KL against closed forms (NumPy, math) and, when
installed, PyTorch; sample statistics under a seed; gradients (float64 gradcheck, and the implicit
reparameterisation of Gamma-based samplers against the CDF); validation errors."""
import math
import re

import numpy as np
import pytest

import numtorch as nt
import numtorch.distributions as D
from numtorch.autograd import gradcheck

try:
    import torch
    import torch.distributions as TD
except ImportError:  # the closed-form references below still run
    torch = TD = None

F64 = nt.float64


@pytest.fixture(autouse=True)
def serial_kernels(monkeypatch):
    """Sample statistics need samples above the parallel threshold: run them on the serial
    kernels, so that this file compiles no parallel twin (~60 s of CPU on a cold cache). The
    twins are the kernel tests' job (tests/kernels, the "cpu-parallel" device)."""
    from numtorch.kernels import policy
    monkeypatch.setattr(policy, "PARALLEL_THRESHOLD", 1 << 62)
LOG2PI = math.log(2 * math.pi)
lgamma = np.vectorize(math.lgamma)


def digamma(x):
    """Reference digamma: central difference of math.lgamma (error ~1e-10)."""
    h = 1e-5
    return (lgamma(np.asarray(x) + h) - lgamma(np.asarray(x) - h)) / (2 * h)


def t64(a, **kw):
    return nt.tensor(np.asarray(a, dtype=np.float64), **kw)


def close(a, b, rtol=1e-7, atol=1e-9):
    a = a.detach().numpy() if isinstance(a, nt.Tensor) else np.asarray(a)
    b = b.detach().numpy() if torch is not None and isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


# --- one table: family -> (numtorch/torch constructor from NumPy params, params, values,
#     NumPy reference of log_prob, entropy, mean, variance) -------------------------------------
_R = np.random.default_rng(7)
_A = _R.standard_normal((2, 3, 3))
_COV = _A @ _A.transpose(0, 2, 1) + np.eye(3)
_MU = _R.standard_normal((2, 3))
_XMVN = _R.standard_normal((4, 2, 3))


def _mvn_ref_logp(x):
    d = x - _MU
    sol = np.linalg.solve(_COV, d[..., None])[..., 0]
    return -0.5 * (3 * LOG2PI + (d * sol).sum(-1) + np.linalg.slogdet(_COV)[1])


def _dirichlet_var(c):
    s = c.sum(-1, keepdims=True)
    return c * (s - c) / (s ** 2 * (s + 1))


def _beta_logb(a, b):
    return lgamma(a) + lgamma(b) - lgamma(a + b)


CASES = {
    "Normal": (lambda m, p: m.Normal(*p), [[-1.0, 0.5, 2.0], [0.5, 1.0, 3.0]],
               [[-1.0, 0.0, 4.0], [0.2, 0.3, -0.4]],
               lambda p, x: -(x - p[0]) ** 2 / (2 * p[1] ** 2) - np.log(p[1]) - 0.5 * LOG2PI,
               lambda p: 0.5 + 0.5 * LOG2PI + np.log(p[1]), lambda p: p[0], lambda p: p[1] ** 2),
    "Uniform": (lambda m, p: m.Uniform(*p), [[-1.0, 0.0], [1.0, 4.0]], [[0.5, 3.9], [-1.0, 0.0]],
                lambda p, x: -np.log(p[1] - p[0]) + 0 * x, lambda p: np.log(p[1] - p[0]),
                lambda p: (p[0] + p[1]) / 2, lambda p: (p[1] - p[0]) ** 2 / 12),
    "Gamma": (lambda m, p: m.Gamma(*p), [[0.5, 1.0, 4.0], [2.0, 0.5, 1.5]],
              [[0.1, 1.0, 3.0], [2.0, 0.5, 7.0]],
              lambda p, x: p[0] * np.log(p[1]) + (p[0] - 1) * np.log(x) - p[1] * x - lgamma(p[0]),
              lambda p: p[0] - np.log(p[1]) + lgamma(p[0]) + (1 - p[0]) * digamma(p[0]),
              lambda p: p[0] / p[1], lambda p: p[0] / p[1] ** 2),
    "Beta": (lambda m, p: m.Beta(*p), [[0.5, 2.0, 3.0], [0.7, 2.0, 1.5]],
             [[0.1, 0.5, 0.9], [0.3, 0.7, 0.2]],
             lambda p, x: (p[0] - 1) * np.log(x) + (p[1] - 1) * np.log1p(-x) - _beta_logb(*p),
             lambda p: (_beta_logb(*p) - (p[0] - 1) * digamma(p[0]) - (p[1] - 1) * digamma(p[1])
                        + (p[0] + p[1] - 2) * digamma(p[0] + p[1])),
             lambda p: p[0] / (p[0] + p[1]),
             lambda p: p[0] * p[1] / ((p[0] + p[1]) ** 2 * (p[0] + p[1] + 1))),
    "Dirichlet": (lambda m, p: m.Dirichlet(p[0]), [[[0.5, 2.0, 3.0], [1.0, 1.0, 4.0]]],
                  [[[0.2, 0.3, 0.5]], [[0.1, 0.1, 0.8]]],
                  lambda p, x: (((p[0] - 1) * np.log(x)).sum(-1) + lgamma(p[0].sum(-1))
                                - lgamma(p[0]).sum(-1)),
                  lambda p: (lgamma(p[0]).sum(-1) - lgamma(p[0].sum(-1))
                             + (p[0].sum(-1) - 3) * digamma(p[0].sum(-1))
                             - ((p[0] - 1) * digamma(p[0])).sum(-1)),
                  lambda p: p[0] / p[0].sum(-1, keepdims=True),
                  lambda p: _dirichlet_var(p[0])),
    "Categorical": (lambda m, p: m.Categorical(probs=p[0]), [[[0.1, 0.2, 0.7], [0.5, 0.0, 0.5]]],
                    [[2, 0], [0, 2]], lambda p, x: np.log(p[0][np.arange(2), x]),
                    lambda p: -(p[0] * np.log(np.where(p[0] > 0, p[0], 1.0))).sum(-1),
                    lambda p: np.full(2, np.nan), lambda p: np.full(2, np.nan)),
    "Bernoulli": (lambda m, p: m.Bernoulli(logits=p[0]), [[-2.0, 0.0, 3.0]],
                  [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
                  lambda p, x: x * p[0] - np.log1p(np.exp(p[0])),
                  lambda p: np.log1p(np.exp(p[0])) - p[0] / (1 + np.exp(-p[0])),
                  lambda p: 1 / (1 + np.exp(-p[0])),
                  lambda p: np.exp(p[0]) / (1 + np.exp(p[0])) ** 2),
    "MultivariateNormal": (lambda m, p: m.MultivariateNormal(p[0], covariance_matrix=p[1]),
                           [_MU, _COV], _XMVN, lambda p, x: _mvn_ref_logp(x),
                           lambda p: 0.5 * (3 * (1 + LOG2PI) + np.linalg.slogdet(_COV)[1]),
                           lambda p: _MU, lambda p: np.diagonal(_COV, axis1=-2, axis2=-1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_density_entropy_moments_match_reference_and_torch(name):
    ctor, params, values, logp, ent, mean, var = CASES[name]
    p = [np.asarray(a, dtype=np.float64) for a in params]
    x = np.asarray(values, dtype=np.int64 if name == "Categorical" else np.float64)
    d = ctor(D, [t64(a) for a in p])
    close(d.log_prob(nt.tensor(x)), logp(p, x))
    close(d.entropy(), ent(p), rtol=1e-6)   # float64 composites vs the FD digamma reference
    close(d.mean, mean(p))
    close(d.variance, var(p))
    if TD is not None:
        td = ctor(TD, [torch.tensor(a) for a in p])
        assert tuple(d.batch_shape) == td.batch_shape and tuple(d.event_shape) == td.event_shape
        close(d.log_prob(nt.tensor(x)), td.log_prob(torch.tensor(x)), rtol=1e-12)
        close(d.entropy(), td.entropy(), rtol=1e-12)
        close(d.stddev, td.stddev)
        close(d.mode, td.mode)


def test_float32_and_alternate_parametrisations():
    # float32 in, float32 out; MVN by precision / scale_tril equals MVN by covariance
    d = D.Gamma(nt.tensor([0.5, 3.0]), 2.0)
    lp = d.log_prob(nt.tensor([0.3, 1.0]))
    assert lp.dtype == nt.float32
    close(lp, np.array([0.5 * math.log(2) - 0.5 * math.log(0.3) - 0.6 - math.lgamma(0.5),
                        3 * math.log(2) + 2 * math.log(1.0) - 2.0 - math.lgamma(3.0)]), rtol=1e-5)
    by_cov = D.MultivariateNormal(t64(_MU), t64(_COV))
    by_prec = D.MultivariateNormal(t64(_MU), precision_matrix=t64(np.linalg.inv(_COV)))
    by_tril = D.MultivariateNormal(t64(_MU), scale_tril=t64(np.linalg.cholesky(_COV)))
    for other in (by_prec, by_tril):
        close(other.log_prob(t64(_XMVN)), by_cov.log_prob(t64(_XMVN)), rtol=1e-10)
        close(other.covariance_matrix, _COV, rtol=1e-10)
        close(other.precision_matrix, np.linalg.inv(_COV), rtol=1e-9)
    close(by_cov.scale_tril, np.linalg.cholesky(_COV), rtol=1e-12)
    lg = D.Categorical(logits=t64([[0.0, 1.0, -1.0]]))
    close(lg.probs, np.exp([0.0, 1.0, -1.0])[None] / np.exp([0.0, 1.0, -1.0]).sum())
    close(D.Bernoulli(probs=t64([0.25])).logits, [math.log(1 / 3)])


def _moments(name, d, s):
    """Sample mean/variance vs the distribution's, within 6 standard errors."""
    n = s.shape[0]
    s = s.double().numpy()
    m, v = d.mean.double().numpy(), d.variance.double().numpy()
    assert np.all(np.abs(s.mean(0) - m) < 6 * np.sqrt(v / n) + 1e-12), name
    assert np.all(np.abs(s.var(0) - v) < 0.15 * v + 1e-12), name


def test_sample_statistics_and_seed():
    n = 20000
    nt.manual_seed(0)
    dists = {"Normal": D.Normal(nt.tensor([0.0, 3.0]), nt.tensor([1.0, 0.5])),
             "Uniform": D.Uniform(nt.tensor([-1.0, 2.0]), nt.tensor([1.0, 5.0])),
             "Gamma": D.Gamma(nt.tensor([0.3, 1.0, 9.0]), nt.tensor([1.0, 2.0, 3.0])),
             "Beta": D.Beta(nt.tensor([0.5, 2.0]), nt.tensor([0.5, 5.0])),
             "Dirichlet": D.Dirichlet(nt.tensor([0.4, 1.0, 3.0])),
             "Bernoulli": D.Bernoulli(nt.tensor([0.1, 0.5])),
             "OneHotCategorical": D.OneHotCategorical(nt.tensor([0.2, 0.0, 0.8]))}
    for name, d in dists.items():
        s = d.sample((n,))
        assert tuple(s.shape) == (n,) + tuple(d.batch_shape) + tuple(d.event_shape)
        assert bool(d.support.check(s).all()), name
        _moments(name, d, s)
    # categorical frequencies (a zero-probability class never drawn) and MVN covariance
    c = D.Categorical(nt.tensor([[0.2, 0.0, 0.8], [0.0, 1.0, 0.0]])).sample((n,)).numpy()
    assert c.dtype == np.int64 and c.shape == (n, 2)
    assert not (c[:, 0] == 1).any() and (c[:, 1] == 1).all()
    assert abs((c[:, 0] == 0).mean() - 0.2) < 6 * math.sqrt(0.16 / n)
    mvn = D.MultivariateNormal(t64([1.0, -1.0]), t64([[2.0, 0.6], [0.6, 0.5]]))
    s = mvn.rsample((n,)).numpy()
    np.testing.assert_allclose(np.cov(s.T), [[2.0, 0.6], [0.6, 0.5]], atol=0.08)
    np.testing.assert_allclose(s.mean(0), [1.0, -1.0], atol=0.06)
    # tiny concentrations: Gamma draws underflow, the Dirichlet (normalised in log space) is
    # still a near-vertex of the simplex, never the uniform 0/0 artefact
    v = D.Dirichlet(nt.full((3,), 1e-3)).sample((200,))
    assert (v.amax(-1) > 0.99).double().mean().item() > 0.9
    assert bool(((v.sum(-1) - 1).abs() < 1e-6).all())
    # reproducible under numtorch's generator
    nt.manual_seed(3)
    a = D.Gamma(nt.tensor([0.5, 2.0]), 1.0).sample((5,))
    nt.manual_seed(3)
    assert nt.equal(a, D.Gamma(nt.tensor([0.5, 2.0]), 1.0).sample((5,)))


def test_log_prob_and_entropy_gradcheck():
    cov = t64(_COV[0])
    checks = [
        (lambda loc, scale: D.Normal(loc, scale).log_prob(t64([0.3, -1.0])),
         (t64([0.0, 0.5]), t64([1.0, 2.0]))),
        (lambda lo, hi: D.Uniform(lo, hi).entropy(), (t64([0.0, -1.0]), t64([1.0, 2.0]))),
        (lambda c, r: D.Gamma(c, r).log_prob(t64([0.5, 2.0])) + D.Gamma(c, r).entropy(),
         (t64([0.5, 3.0]), t64([2.0, 0.7]))),
        (lambda a, b: D.Beta(a, b).log_prob(t64([0.2, 0.6])) + D.Beta(a, b).entropy(),
         (t64([0.5, 3.0]), t64([2.0, 0.7]))),
        (lambda c: D.Dirichlet(c).log_prob(t64([0.2, 0.3, 0.5])) + D.Dirichlet(c).entropy(),
         (t64([0.5, 2.0, 3.0]),)),
        (lambda lg: D.Categorical(logits=lg).log_prob(nt.tensor([0, 2])) + D.Categorical(
            logits=lg).entropy(), (t64([[0.1, 0.2, -1.0], [1.0, 0.0, 0.5]]),)),
        (lambda p: D.Bernoulli(p).log_prob(t64([1.0, 0.0])) + D.Bernoulli(p).entropy(),
         (t64([0.3, 0.6]),)),
        (lambda loc, a: D.MultivariateNormal(loc, a @ a.mT + cov).log_prob(t64(_XMVN[:, 0])),
         (t64(_MU[0]), t64(np.eye(3) * 0.5))),
        (lambda loc, a: D.MultivariateNormal(loc, precision_matrix=a @ a.mT + cov).entropy(),
         (t64(_MU[0]), t64(np.eye(3) * 0.5))),
    ]
    for fn, args in checks:
        for a in args:
            a.requires_grad_(True)
        assert gradcheck(fn, args)


def _seeded(fn):
    def run(*args):
        nt.manual_seed(11)
        return fn(*args)
    return run


def test_rsample_gradcheck_location_scale():
    loc, scale = t64([0.5, -1.0], requires_grad=True), t64([1.0, 2.0], requires_grad=True)
    assert gradcheck(_seeded(lambda m, s: D.Normal(m, s).rsample((3,))), (loc, scale))
    lo, hi = t64([0.0, -1.0], requires_grad=True), t64([1.0, 2.0], requires_grad=True)
    assert gradcheck(_seeded(lambda a, b: D.Uniform(a, b).rsample((3,))), (lo, hi))
    a = t64(np.linalg.cholesky(_COV[0]), requires_grad=True)
    mu = t64(_MU[0], requires_grad=True)
    assert gradcheck(_seeded(lambda m, l: D.MultivariateNormal(m, scale_tril=l.tril()).rsample(
        (2,))), (mu, a))
    assert not D.Categorical(nt.ones(2)).has_rsample
    with pytest.raises(NotImplementedError):
        D.Bernoulli(0.5).rsample()


def _gamma_cdf(a, x, terms=400):
    """P(a, x) = x^a e^-x sum_n x^n / Gamma(a + n + 1), in NumPy float64."""
    n = np.arange(terms)
    logt = (a + n) * np.log(x) - x - lgamma(a + n + 1)
    return np.exp(logt).sum()


def test_gamma_rsample_implicit_gradient():
    # d x / d a must keep the CDF at x fixed: -(dP/da) / p(x), with dP/da by central differences
    from numtorch.distributions.gamma import _standard_gamma_grad
    a = np.array([0.3, 1.0, 2.5, 30.0])
    x = np.array([0.05, 1.7, 2.0, 27.0])
    h = 1e-6
    dpda = np.array([(_gamma_cdf(ai + h, xi) - _gamma_cdf(ai - h, xi)) / (2 * h)
                     for ai, xi in zip(a, x)])
    pdf = np.exp((a - 1) * np.log(x) - x - lgamma(a))
    got = _standard_gamma_grad(t64(x), t64(a))
    close(got, -dpda / pdf, rtol=1e-6)
    if torch is not None:
        close(got, torch._standard_gamma_grad(torch.tensor(a), torch.tensor(x)), rtol=1e-3)
    # through rsample: the mean of d x / d concentration over samples is d E[x] / dc = 1 / rate
    nt.manual_seed(5)
    c = nt.tensor([0.4, 3.0], requires_grad=True)
    D.Gamma(c, nt.tensor([2.0, 0.5])).rsample((20000,)).sum(0).sum().backward()
    close(c.grad / 20000, [0.5, 2.0], rtol=0.05)
    # Dirichlet (and Beta through it): d E[x_0] / d c_0 = (S - c_0) / S^2
    conc = nt.tensor([1.5, 0.5, 2.0], requires_grad=True)
    D.Dirichlet(conc).rsample((20000,))[:, 0].mean().backward()
    close(conc.grad, [2.5 / 16, -1.5 / 16, -1.5 / 16], rtol=0.1, atol=0.01)
    a1 = nt.tensor(2.0, requires_grad=True)
    D.Beta(a1, 3.0).rsample((20000,)).mean().backward()
    close(a1.grad, 3.0 / 25, rtol=0.1)


def _quad_kl(logp, logq, lo, hi, n=200000):
    x = np.linspace(lo, hi, n + 1)[1:-1]
    w = x[1] - x[0]
    lp = logp(x)
    return float((np.exp(lp) * (lp - logq(x))).sum() * w)


def test_kl_divergence():
    pn, qn = D.Normal(t64([0.0, 1.0]), t64([1.0, 0.5])), D.Normal(t64([1.0, 1.0]), t64([2.0, 1.0]))
    # log(sq / sp) + (sp^2 + (mp - mq)^2) / (2 sq^2) - 1/2
    close(D.kl_divergence(pn, qn), np.log(2.0) + (np.array([1.0, 0.25]) + [1.0, 0.0])
          / (2 * np.array([4.0, 1.0])) - 0.5)
    pc, qc = D.Categorical(t64([0.2, 0.0, 0.8])), D.Categorical(t64([0.5, 0.25, 0.25]))
    close(D.kl_divergence(pc, qc), 0.2 * math.log(0.4) + 0.8 * math.log(3.2))
    assert math.isinf(D.kl_divergence(qc, pc).item())
    pb, qb = D.Bernoulli(t64([0.3, 0.0])), D.Bernoulli(t64([0.6, 0.5]))
    close(D.kl_divergence(pb, qb), [0.3 * math.log(0.5) + 0.7 * math.log(0.7 / 0.4), math.log(2)],
          rtol=1e-6)
    pu = D.Uniform(t64([0.0, 0.0]), t64([1.0, 3.0]))
    qu = D.Uniform(t64([-1.0, 1.0]), t64([2.0, 4.0]))
    close(D.kl_divergence(pu, qu), [math.log(3.0), math.inf])
    # Gamma and Beta against numerical integration of p log(p / q)
    gp, gq = D.Gamma(t64(2.0), t64(1.5)), D.Gamma(t64(3.5), t64(0.8))
    ref = _quad_kl(lambda x: gp.log_prob(t64(x)).numpy(), lambda x: gq.log_prob(t64(x)).numpy(),
                   0.0, 40.0)
    close(D.kl_divergence(gp, gq), ref, rtol=1e-5)
    bp, bq = D.Beta(t64(2.0), t64(3.0)), D.Beta(t64(1.5), t64(1.2))
    ref = _quad_kl(lambda x: bp.log_prob(t64(x)).numpy(), lambda x: bq.log_prob(t64(x)).numpy(),
                   0.0, 1.0)
    close(D.kl_divergence(bp, bq), ref, rtol=1e-4)
    # a two-category Dirichlet is a Beta; MVN vs its closed form; Independent sums the base KL
    dp, dq = D.Dirichlet(t64([2.0, 3.0])), D.Dirichlet(t64([1.5, 1.2]))
    close(D.kl_divergence(dp, dq), D.kl_divergence(bp, bq), rtol=1e-12)
    mp = D.MultivariateNormal(t64(_MU), t64(_COV))
    mq = D.MultivariateNormal(t64([0.5, 0.0, -0.5]), t64(np.eye(3) * 2))
    d = np.array([0.5, 0.0, -0.5]) - _MU
    ref = 0.5 * (np.trace(_COV, axis1=1, axis2=2) / 2 + (d * d).sum(-1) / 2 - 3
                 + 3 * math.log(2) - np.linalg.slogdet(_COV)[1])
    close(D.kl_divergence(mp, mq), ref, rtol=1e-10)
    ip = D.Independent(D.Normal(t64([[0.0, 1.0]] * 3), 1.0), 1)
    iq = D.Independent(D.Normal(t64([[1.0, 1.0]] * 3), 2.0), 1)
    close(D.kl_divergence(ip, iq), D.kl_divergence(ip.base_dist, iq.base_dist).sum(-1))
    # gradients flow through KL (MVN composite linear algebra included)
    a = t64(np.eye(3) * 0.3, requires_grad=True)
    assert gradcheck(lambda a: D.kl_divergence(
        D.MultivariateNormal(t64(_MU[0]), a @ a.mT + t64(_COV[1])), mq), (a,))
    if TD is not None:
        pairs = [(gp, gq, TD.Gamma(torch.tensor(2.0, dtype=torch.float64), 1.5),
                  TD.Gamma(torch.tensor(3.5, dtype=torch.float64), 0.8)),
                 (dp, dq, TD.Dirichlet(torch.tensor([2.0, 3.0], dtype=torch.float64)),
                  TD.Dirichlet(torch.tensor([1.5, 1.2], dtype=torch.float64))),
                 (mp, mq, TD.MultivariateNormal(torch.tensor(_MU), torch.tensor(_COV)),
                  TD.MultivariateNormal(torch.tensor([0.5, 0.0, -0.5], dtype=torch.float64),
                                        torch.eye(3, dtype=torch.float64) * 2))]
        for p, q, tp, tq in pairs:
            close(D.kl_divergence(p, q), TD.kl_divergence(tp, tq), rtol=1e-10)


def test_kl_registry():
    with pytest.raises(NotImplementedError, match="p type Normal and q type Categorical"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Categorical(nt.ones(2)))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Independent(D.Normal(nt.zeros(3, 2), 1.0), 1),
                        D.Independent(D.Normal(nt.zeros(3, 2), 1.0), 2))
    with pytest.raises(TypeError, match="Distribution subclass"):
        D.register_kl(int, D.Normal)

    class Wide(D.Normal):
        pass

    @D.register_kl(Wide, D.Normal)
    def _kl_wide(p, q):
        return nt.full(p.batch_shape, 7.0)

    assert D.kl_divergence(Wide(0.0, 1.0), D.Normal(0.0, 1.0)).item() == 7.0
    assert D.kl_divergence(D.Normal(0.0, 1.0), Wide(0.0, 1.0)).item() == 0.0  # (Normal, Normal)


def test_validation_errors():
    msg = ("Expected parameter scale (Tensor of shape (2,)) of distribution Normal(loc: "
           "torch.Size([2]), scale: torch.Size([2])) to satisfy the constraint "
           "GreaterThan(lower_bound=0.0), but found invalid values:")
    with pytest.raises(ValueError, match=re.escape(msg)):
        D.Normal(nt.zeros(2), nt.tensor([1.0, -1.0]))
    D.Normal(nt.zeros(2), nt.tensor([1.0, -1.0]), validate_args=False)
    with pytest.raises(ValueError, match=r"Simplex\(\)"):
        D.Categorical(nt.tensor([0.5, -0.5]))
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Bernoulli(probs=0.5, logits=0.0)
    with pytest.raises(ValueError, match=r"LessThan\(upper_bound=0.0\)"):
        D.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="PositiveDefinite"):
        D.MultivariateNormal(nt.zeros(2), nt.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(RuntimeError, match="leading minor of order 2"):
        D.MultivariateNormal(nt.zeros(2), nt.tensor([[1.0, 2.0], [2.0, 1.0]]), validate_args=False)
    with pytest.raises(ValueError, match="LowerCholesky"):
        D.MultivariateNormal(nt.zeros(2), scale_tril=nt.ones(2, 2))
    with pytest.raises(ValueError, match="Exactly one of"):
        D.MultivariateNormal(nt.zeros(2))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        D.Independent(D.Normal(nt.zeros(3), 1.0), 2)
    with pytest.raises(ValueError, match="at least one-dimensional"):
        D.Dirichlet(nt.tensor(1.0))
    with pytest.raises(ValueError, match="must be a Tensor"):
        D.Normal(0.0, 1.0).log_prob(1.0)
    with pytest.raises(ValueError, match="not broadcastable"):
        D.Normal(nt.zeros(2), 1.0).log_prob(nt.zeros(3))
    with pytest.raises(ValueError, match=r"within the support \(IntegerInterval\(lower_bound=0, "
                       r"upper_bound=1\)\)"):
        D.Categorical(nt.tensor([0.5, 0.5])).log_prob(nt.tensor(2))
    with pytest.raises(ValueError, match="Simplex"):
        D.Dirichlet(nt.ones(3)).log_prob(nt.tensor([0.5, 0.6, 0.0]))
    with pytest.raises(ValueError):
        D.Distribution.set_default_validate_args("yes")
    D.Distribution.set_default_validate_args(False)
    try:
        assert D.Normal(0.0, -1.0).scale.item() == -1.0
        lp = D.Uniform(0.0, 1.0).log_prob(nt.tensor([2.0, 0.5]))
        assert lp.tolist() == [-math.inf, 0.0]
    finally:
        D.Distribution.set_default_validate_args(True)
    assert repr(D.Independent(D.Normal(nt.zeros(3), 1.0), 1)) == \
        "Independent(Normal(loc: torch.Size([3]), scale: torch.Size([3])), 1)"


def test_shapes_expand_enumerate():
    d = D.Independent(D.Normal(nt.zeros(4, 3), 1.0), 1)
    assert d.batch_shape == (4,) and d.event_shape == (3,) and d.has_rsample
    assert tuple(d.rsample((2,)).shape) == (2, 4, 3)
    assert tuple(d.log_prob(nt.zeros(2, 4, 3)).shape) == (2, 4)
    e = D.Normal(nt.zeros(3), 1.0).expand((2, 3))
    assert e.batch_shape == (2, 3) and tuple(e.sample().shape) == (2, 3)
    m = D.MultivariateNormal(nt.zeros(2), nt.eye(2)).expand((5,))
    assert tuple(m.log_prob(nt.zeros(5, 2)).shape) == (5,)
    cat = D.Categorical(nt.ones(2, 3))
    assert cat.enumerate_support().tolist() == [[0, 0], [1, 1], [2, 2]]
    oh = D.OneHotCategorical(nt.ones(2, 3))
    assert tuple(oh.enumerate_support().shape) == (3, 2, 3)
    close(D.Bernoulli(nt.tensor([0.2, 0.5, 0.7])).mode, [0.0, np.nan, 1.0])


def test_reinforce_gradients_match_torch():
    """Categorical(logits=net(x)).sample(); -log_prob(a) * R backward: torch's gradients."""
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((4, 5)) * 0.5, rng.standard_normal(4) * 0.1
    x, reward = rng.standard_normal((6, 5)), rng.standard_normal(6)
    net = nt.nn.Linear(5, 4).double()
    with nt.no_grad():
        net.weight.copy_(t64(w))
        net.bias.copy_(t64(b))
    nt.manual_seed(0)
    dist = D.Categorical(logits=net(t64(x)))
    action = dist.sample()
    assert tuple(action.shape) == (6,)
    (-dist.log_prob(action) * t64(reward)).sum().backward()
    # reference: d/dlogits of -log softmax(logits)[a] * R = (softmax - onehot(a)) * R
    logits = x @ w.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(4)[action.numpy()]) * reward[:, None]
    close(net.weight.grad, g.T @ x, rtol=1e-10)
    close(net.bias.grad, g.sum(0), rtol=1e-10)
    if torch is not None:
        tnet = torch.nn.Linear(5, 4).double()
        with torch.no_grad():
            tnet.weight.copy_(torch.tensor(w))
            tnet.bias.copy_(torch.tensor(b))
        tdist = TD.Categorical(logits=tnet(torch.tensor(x)))
        (-tdist.log_prob(torch.tensor(action.numpy())) * torch.tensor(reward)).sum().backward()
        close(net.weight.grad, tnet.weight.grad, rtol=1e-12)
        close(net.bias.grad, tnet.bias.grad, rtol=1e-12)
