"""Marginal-likelihood estimators (aevb/evaluation.py) against exact answers.

Two ground truths: the linear-Gaussian model (log p(x) closed form) and a small nonlinear VAE decoder
with a 2-D latent, whose log p(x) comes from quadrature on a 301 × 301 grid over [−6, 6]² (the prior puts
< 1e-8 of its mass outside; the grid error is far below the tolerances). Tolerances are on the mean error
over the datapoints, where the estimators' noise averages out: each is a few times the spread seen over
seeds, and far below the errors of a wrong estimator (e.g. ~0.1 nats of bias from adaptive AIS kernels,
~1 nat from a mis-scaled density in App. D). App. D's densities (aevb/densities.py) are checked against closed
forms, quadrature, scipy's ``gaussian_kde`` and a Python 3 port of the authors' bandwidth choice (hmc_est.py).
"""
import functools
import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch.distributions import MultivariateNormal

from aevb.densities import (diagonal_log_q, gaussian_log_q, kde_log_density, kde_log_q, log_q, sample_covariance,
                            scott_factor, select_bandwidth)
from aevb.evaluation import (APPD_STEP_JITTER, ais, appd_estimate, appd_samples, iwae_bound, log_joint_grid,
                             log_marginal_hmc, sigmoid_schedule)
from aevb.distributions import DiagonalGaussian
from aevb.linear_gaussian import LinearEncoder, LinearGaussian
from aevb.models import VAE, LatentVariableModel
from aevb.objectives import iwae_objective, log_weights
from aevb.posteriors import FullCovarianceGaussian, IAFPosterior, IAFStep
from aevb.rng import seeded

D = torch.float64


def _linear(n=60):
    model = LinearGaussian.random(6, 2, s=0.5, seed=1)
    for p in model.parameters():
        p.requires_grad_(False)
    z, x = model.sample_joint(n, torch.Generator().manual_seed(2))
    return model, z, x, model.log_marginal(x)


def _nonlinear(n=20):
    torch.manual_seed(0)  # the test process's own RNG only initialises this fixture's weights
    model = VAE(12, 2, (16,), "bernoulli").double()
    for p in model.parameters():
        p.requires_grad_(False)
        p.mul_(3.0)  # sharper decoder: a clearly non-Gaussian posterior
    z, x = model.sample_joint(n, torch.Generator().manual_seed(1))
    _, _, exact = log_joint_grid(model, x, lim=6.0, n=301)
    return model, z, x, exact


def test_app_d_on_the_linear_gaussian_model():
    model, _, x, exact = _linear()
    est = log_marginal_hmc(model, x, seed=0)
    assert est.shape == exact.shape
    assert abs((est - exact).mean()) < 0.05 and (est - exact).abs().max() < 1.0


@functools.cache
def _app_d_model_errors(seed: int, step_jitter: float) -> dict[str, torch.Tensor]:
    """App. D minus exact log p(x) on 16 points of random linear-Gaussian model ``seed`` (3 latent, 8 observed
    dimensions, noise 0.8: near-Gaussian posteriors, on which a fixed-step sampler resonates), chains seeded
    ``seed``; one run of the chains, both densities fitted to them. {density: (16,)}"""
    model = LinearGaussian.random(8, 3, s=0.8, seed=seed)
    for p in model.parameters():
        p.requires_grad_(False)
    _, x = model.sample_joint(16, torch.Generator().manual_seed(100 + seed))
    s = appd_samples(model, x, 100, seed=seed, step_jitter=step_jitter)  # (2L, 16, 3): log_marginal_hmc's chains
    return {d: appd_estimate(model, x, s, d) - model.log_marginal(x) for d in ("gaussian", "kde")}


def _app_d_errors(step_jitter=APPD_STEP_JITTER, n_models=8, density="gaussian"):
    """``_app_d_model_errors`` of models 0 … n_models − 1: (models, 16)."""
    return torch.stack([_app_d_model_errors(seed, step_jitter)[density] for seed in range(n_models)])


def test_app_d_worst_point_on_random_linear_gaussian_models():
    """Every point within 1 nat and every model's mean within 0.1 nats (measured with the jittered sampler: worst
    0.70, means within 0.06). The fixed-step sampler it replaced misses by up to 3.6 nats on single points and
    by 0.19 on a model's mean, and this test says so: its tolerances catch that sampler."""
    err = _app_d_errors()
    assert err.abs().max() < 1.0, err.abs().amax(1)
    assert err.mean(1).abs().max() < 0.1, err.mean(1)
    old = _app_d_errors(step_jitter=0.0, n_models=3)
    assert old.abs().max() > 1.0  # the resonating sampler fails the same check


def test_app_d_samples_and_estimate_are_log_marginal_hmc():
    model = LinearGaussian.random(8, 3, s=0.8, seed=0)
    for p in model.parameters():
        p.requires_grad_(False)
    _, x = model.sample_joint(16, torch.Generator().manual_seed(100))
    for density in ("gaussian", "kde"):
        torch.testing.assert_close(log_marginal_hmc(model, x, seed=0, density=density),
                                   model.log_marginal(x) + _app_d_model_errors(0, APPD_STEP_JITTER)[density],
                                   rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="density"):
        log_marginal_hmc(model, x, density="histogram")


def test_app_d_with_the_authors_kde_on_random_linear_gaussian_models():
    """App. D with hmc_est.py's KDE on the same 8 × 16 points and chains. Measured: worst point 2.24 nats (1.19 and
    1.19 with chains seeded +50, +100), models' means within 0.14, overall mean +0.05 (the KDE, wider than the
    posterior, puts heavier tails in q: more variance than the Gaussian, and an upward bias). Defects exceed the
    tolerances: the chosen bandwidth × 10 gives worst 6.4 and means up to 4.2; / 10 worst 12.9, means up to 2.0;
    × 3 an overall mean of 0.93; a wrong normalising constant shifts every estimate by that constant."""
    err = _app_d_errors(density="kde")
    assert err.abs().max() < 3.5, err.abs().amax(1)
    assert err.mean(1).abs().max() < 0.3, err.mean(1)
    assert abs(err.mean()) < 0.15


def test_app_d_on_a_nonlinear_decoder_against_quadrature():
    """Both densities on the same chains. Measured over chain seeds 0-2: the Gaussian's mean error within 0.04 and
    worst point 0.42; the KDE's mean within 0.08 and worst point 0.70."""
    model, _, x, exact = _nonlinear()
    est = log_marginal_hmc(model, x, seed=0)
    assert abs((est - exact).mean()) < 0.1
    s = appd_samples(model, x, 100, seed=0)
    torch.testing.assert_close(appd_estimate(model, x, s), est, rtol=0, atol=0)
    err_kde = appd_estimate(model, x, s, "kde") - exact
    assert abs(err_kde.mean()) < 0.2 and err_kde.abs().max() < 1.5


# --- App. D's densities (aevb/densities.py) ------------------------------------------------------------------

def _spd(B, Z, g):
    """B random covariance matrices (B, Z, Z), well conditioned, correlated."""
    A = torch.randn(B, Z, Z, generator=g, dtype=D)
    return A @ A.transpose(1, 2) / Z + 0.3 * torch.eye(Z, dtype=D)


def test_kde_with_one_kernel_is_a_gaussian():
    g = torch.Generator().manual_seed(0)
    B, Z = 3, 3
    c, cov = torch.randn(B, 1, Z, generator=g, dtype=D), _spd(B, Z, g)
    z = 2 * torch.randn(B, 7, Z, generator=g, dtype=D)
    f = torch.tensor([0.3, 1.0, 2.5], dtype=D)  # one factor per datapoint: (B,)
    want = MultivariateNormal(c, covariance_matrix=f[:, None, None, None] ** 2 * cov[:, None]).log_prob(z)  # (B, 7)
    torch.testing.assert_close(kde_log_density(z, c, cov, f), want, rtol=0, atol=1e-10)
    # K candidate factors at once: (K, 1) -> (K, B, M)
    many = kde_log_density(z, c, cov, f[:, None])  # (3, B, 7)
    for k in range(3):
        torch.testing.assert_close(many[k], kde_log_density(z, c, cov, f[k].item()), rtol=0, atol=1e-12)


def test_kde_integrates_to_one_in_two_dimensions():
    """Riemann sum on a 601 × 601 grid over [−12, 12]² (spacing 0.04, the narrowest kernel's s.d. > 0.16; mass
    outside < 1e-10): 1 to 1e-8 for each of two KDEs, 5 correlated kernels each, factors 0.4 and 1.2."""
    g = torch.Generator().manual_seed(1)
    c, cov = torch.randn(2, 5, 2, generator=g, dtype=D), _spd(2, 2, g)
    u = torch.linspace(-12, 12, 601, dtype=D)
    grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(1, -1, 2).expand(2, -1, -1)  # (2, G, 2)
    lq = kde_log_density(grid, c, cov, torch.tensor([0.4, 1.2], dtype=D))  # (2, G)
    mass = torch.exp(torch.logsumexp(lq, -1) + 2 * math.log(u[1] - u[0]))  # (2,)
    torch.testing.assert_close(mass, torch.ones(2, dtype=D), rtol=0, atol=1e-8)


def test_kde_matches_scipy_gaussian_kde():
    g = torch.Generator().manual_seed(2)
    pts = torch.randn(4, 50, 3, generator=g, dtype=D) @ torch.linalg.cholesky(_spd(4, 3, g)).transpose(1, 2)
    z = torch.randn(4, 20, 3, generator=g, dtype=D)
    for f in (0.2, 0.6, 1.7):
        got = kde_log_density(z, pts, sample_covariance(pts), f)  # (4, 20)
        for b in range(4):
            want = scipy.stats.gaussian_kde(pts[b].numpy().T, bw_method=f).logpdf(z[b].numpy().T)
            np.testing.assert_allclose(got[b].numpy(), want, rtol=0, atol=1e-10)


def _hmc_est_kde(z: np.ndarray):
    """dpkingma/anglepy hmc_est.py (c23d603) ``kde_infer_factor`` in Python 3: z (Z, N) -> the chosen factor and the
    fitted scipy KDE."""
    n = z.shape[1]
    scott = n ** (-1.0 / (z.shape[0] + 4))
    factors = [scott * np.e ** ((i - 5) / 2.0) for i in range(10)]
    with np.errstate(divide="ignore"):  # a density that underflows to 0 scores −inf there, as in hmc_est.py
        scores = [np.log(scipy.stats.gaussian_kde(z[:, n // 2:], bw_method=f).evaluate(z[:, : n // 2])).sum()
                  for f in factors]
    best = factors[int(np.argmax(np.asarray(scores)))]
    return best, scipy.stats.gaussian_kde(z, bw_method=best)


def test_bandwidth_choice_and_kde_follow_the_authors_code():
    """Samples in 5 clusters whose spread ranges from wider than their separation to 1% of it, so that the factors
    chosen range from Scott's (multiple e^0) to the smallest candidate (e^−2.5); the factor chosen and log q on
    fresh points equal those of the port of hmc_est.py."""
    g = torch.Generator().manual_seed(3)
    B, N, Z = 6, 50, 3
    spread = torch.tensor([3.0, 1.0, 0.3, 0.1, 0.03, 0.01], dtype=D)  # per datapoint
    centres = torch.randn(B, 5, Z, generator=g, dtype=D)  # 5 clusters per datapoint
    which = torch.randint(0, 5, (B, N), generator=g)[..., None].expand(-1, -1, Z)  # (B, N, Z)
    fit = centres.gather(1, which) + spread[:, None, None] * torch.randn(B, N, Z, generator=g, dtype=D)
    query = 3 * torch.randn(B, 30, Z, generator=g, dtype=D)
    chosen = select_bandwidth(fit)
    got = kde_log_q(fit, query)  # (B, 30)
    for b in range(B):
        best, kde = _hmc_est_kde(fit[b].numpy().T)
        assert chosen[b].item() == pytest.approx(best, rel=1e-12)
        np.testing.assert_allclose(got[b].numpy(), kde.logpdf(query[b].numpy().T), rtol=0, atol=1e-9)
    assert len(set(chosen.tolist())) >= 4, chosen / scott_factor(N, Z)  # the choice depends on the samples


def test_kde_falls_back_to_a_diagonal_gaussian_as_the_authors_code():
    """hmc_est.py: one latent dimension, or fewer than 4 of the 50 fitting samples per dimension (13 and more),
    gives independent Gaussians, standard deviations normalised by N; 12 dimensions still get the KDE."""
    g = torch.Generator().manual_seed(4)
    for Z in (1, 13):
        fit, query = torch.randn(2, 50, Z, generator=g, dtype=D), torch.randn(2, 9, Z, generator=g, dtype=D)
        want = scipy.stats.norm.logpdf(query.numpy(), fit.mean(1, keepdim=True).numpy(),
                                       fit.numpy().std(1, keepdims=True)).sum(-1)
        np.testing.assert_allclose(kde_log_q(fit, query).numpy(), want, rtol=0, atol=1e-10)
        torch.testing.assert_close(diagonal_log_q(fit, query), kde_log_q(fit, query), rtol=0, atol=0)
    fit, query = torch.randn(2, 50, 12, generator=g, dtype=D), torch.randn(2, 9, 12, generator=g, dtype=D)
    torch.testing.assert_close(kde_log_q(fit, query),
                               kde_log_density(query, fit, sample_covariance(fit), select_bandwidth(fit)))


def test_gaussian_density_and_the_family_switch():
    g = torch.Generator().manual_seed(5)
    fit, query = torch.randn(3, 50, 2, generator=g, dtype=D), torch.randn(3, 8, 2, generator=g, dtype=D)
    for b in range(3):
        want = scipy.stats.multivariate_normal(fit[b].mean(0).numpy(), np.cov(fit[b].numpy().T) + 1e-4 * np.eye(2))
        np.testing.assert_allclose(gaussian_log_q(fit, query, 1e-4)[b].numpy(), want.logpdf(query[b].numpy()),
                                   rtol=0, atol=1e-10)
    torch.testing.assert_close(log_q("kde", fit, query), kde_log_q(fit, query), rtol=0, atol=0)
    with pytest.raises(ValueError, match="allowed values"):
        log_q("histogram", fit, query)


def test_app_d_without_an_encoder_starts_where_the_posterior_is():
    """MCEM's models have no encoder and sharp, multimodal posteriors: chains from z = 0 can stay in a minor
    mode (App. D then errs by nats); the default start, the best of 1000 prior draws, does not."""
    torch.manual_seed(0)
    model = LatentVariableModel(12, 2, (16,), "bernoulli").double()
    for p in model.parameters():
        p.requires_grad_(False)
        p.mul_(10.0)  # a very sharp decoder
    _, x = model.sample_joint(20, torch.Generator().manual_seed(1))
    _, _, exact = log_joint_grid(model, x, lim=6.0, n=401)  # within 1e-8 of a 1201² grid over [−7, 7]²
    err = log_marginal_hmc(model, x, seed=0) - exact
    assert abs(err.mean()) < 0.3 and err.abs().max() < 2.0
    err0 = log_marginal_hmc(model, x, seed=0, init=torch.zeros(20, 2, dtype=D)) - exact
    assert err0.abs().max() > 3.0  # what the default start avoids


def test_iwae_is_exact_when_q_is_the_posterior():
    """With orthogonal columns of W the posterior is diagonal: with q = p(z|x) every weight equals p(x)."""
    W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=D)
    model = LinearGaussian(W, torch.zeros(3, dtype=D), 0.25)
    x = model.sample(5, torch.Generator().manual_seed(0))
    post = model.posterior(x)
    q = DiagonalGaussian(post.mean, torch.log(torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1)))
    for k, chunk in ((1, 2**25), (7, 2**25), (50, 3 * 5 * 4)):  # the last in chunks of 4 samples
        est = iwae_bound(model, lambda _: q, x, k, chunk_elems=chunk)
        torch.testing.assert_close(est, model.log_marginal(x), rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", (0, 1, 2))
def test_iwae_of_richer_families(seed):
    """Correlated posteriors (random W): with q = p(z|x) as a full-covariance Gaussian every weight equals p(x),
    so the bound is exact at any k on every point; an IAF's bound (its log q at its own draws) is the objective
    the trainer ascends (aevb.objectives.iwae_objective), draw for draw, and its k = 1 mean, the ELBO, lies below
    log p(x). (A single k = 50 estimate may pass log p(x): only its expectation is a bound.)"""
    g = torch.Generator().manual_seed(seed)
    model = LinearGaussian(torch.randn(5, 3, generator=g, dtype=D), torch.zeros(5, dtype=D), 0.3)
    x = model.sample(8, g)
    exact = model.log_marginal(x)
    post = model.posterior(x)
    full = FullCovarianceGaussian(post.mean, torch.linalg.cholesky(post.covariance_matrix).expand(8, 3, 3))
    for k, chunk in ((1, 2**25), (40, 5 * 8 * 4)):  # the second in chunks of 4 samples
        torch.testing.assert_close(iwae_bound(model, lambda _: full, x, k, chunk_elems=chunk), exact,
                                   rtol=0, atol=1e-9)
    torch.manual_seed(seed)
    steps = torch.nn.ModuleList(IAFStep(3, 2, (8,)) for _ in range(2)).to(D)
    iaf = IAFPosterior(post.mean, torch.zeros(8, 3, dtype=D), torch.randn(8, 2, dtype=D), steps)
    with torch.no_grad():
        est = iwae_bound(model, lambda _: iaf, x, 50, seed=seed)
        with seeded(seed):
            ref = iwae_objective(model, iaf, x, 50)
        elbo = log_weights(model, iaf, x, 2000).mean(0)  # (8,)
    torch.testing.assert_close(est, ref, rtol=0, atol=1e-12)
    assert (elbo < exact - 0.1).all() and (est > elbo).all()


def test_iwae_rises_towards_log_px_with_k():
    model, _, x, exact = _linear()
    enc = LinearEncoder(6, 2, seed=3)
    errs = [(iwae_bound(model, enc, x, k) - exact).mean().item() for k in (1, 10, 100, 3000)]
    assert errs == sorted(errs) and -0.1 < errs[-1] < 0
    # k = 1 is an unbiased estimate of the ELBO: 200 independent draws per point
    k1 = iwae_bound(model, enc, x.repeat(200, 1), 1).view(200, -1).mean(0)
    assert abs((k1 - model.elbo(x, enc(x))).mean()) < 0.2


def test_ais_and_bdmc_sandwich_on_the_linear_gaussian_model():
    model, z, x, exact = _linear()
    lower, upper = ais(model, x, n_chains=16, n_steps=500, z_posterior=z)
    assert abs((lower - exact).mean()) < 0.05 and abs((upper - exact).mean()) < 0.07
    assert lower.mean() < exact.mean() + 0.02 and upper.mean() > exact.mean() - 0.02


def test_ais_on_a_nonlinear_decoder_against_quadrature():
    model, z, x, exact = _nonlinear()
    lower, upper = ais(model, x, n_chains=16, n_steps=500, z_posterior=z)
    assert abs((lower - exact).mean()) < 0.1 and abs((upper - exact).mean()) < 0.1


def test_sigmoid_schedule():
    b = sigmoid_schedule(100)
    assert b[0] == 0 and b[-1] == 1 and (b[1:] > b[:-1]).all()
