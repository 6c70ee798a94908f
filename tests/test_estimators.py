"""SGVB estimators (§2.2–2.3) and App. B against the closed forms of the linear-Gaussian model.

Unbiasedness tests compare a Monte Carlo mean with the exact value and allow 5 standard errors
(estimated from the same draws): a correct estimator fails with probability < 1e-6 per entry,
a biased one fails as soon as its bias exceeds a few standard errors (~1e-3 here).
"""
import torch

from aevb.distributions import DiagonalGaussian, StandardNormal
from aevb.estimators import (analytic_kl, gradient_samples, minibatch_bound, neg_kl_std_normal, sgvb_a,
                             sgvb_b, score_function_surrogate)
from aevb.linear_gaussian import LinearEncoder, LinearGaussian
from aevb.rng import seeded

D = torch.float64


def _setup():
    model = LinearGaussian.random(5, 3, s=0.8, seed=1)
    x = model.sample(4, torch.Generator().manual_seed(2))
    return model, LinearEncoder(5, 3, seed=3), x


def _assert_unbiased(samples: torch.Tensor, exact: torch.Tensor):
    """samples: (R, *) independent draws; exact: (*)."""
    mean, se = samples.mean(0), samples.std(0) / samples.shape[0] ** 0.5
    assert (se > 0).all()
    z = ((mean - exact).abs() / (se + 1e-12)).max().item()
    assert z < 5, f"mean deviates from the exact value by {z:.1f} standard errors"


def test_app_b_kl_matches_monte_carlo_and_torch():
    g = torch.Generator().manual_seed(0)
    mu, log_var = torch.randn(3, 4, generator=g, dtype=D), torch.randn(3, 4, generator=g, dtype=D)
    q = DiagonalGaussian(mu, log_var)
    prior = StandardNormal.of_size(4, dtype=D)
    exact = -neg_kl_std_normal(mu, log_var)
    torch.testing.assert_close(exact, torch.distributions.kl_divergence(q, prior), rtol=0, atol=1e-12)
    torch.testing.assert_close(analytic_kl(q, prior), exact, rtol=0, atol=0)
    with seeded(1):
        z = q.sample((200_000,))
    _assert_unbiased(q.log_prob(z) - prior.log_prob(z), exact)


def test_analytic_kl_falls_back_to_torch_for_other_pairs():
    q = torch.distributions.Independent(torch.distributions.Normal(torch.ones(2, 3), 2.0), 1)
    p = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(2, 3), 0.5), 1)
    torch.testing.assert_close(analytic_kl(q, p), torch.distributions.kl_divergence(q, p))


def test_estimators_a_and_b_are_unbiased_for_the_bound():
    model, enc, x = _setup()
    exact = model.elbo(x, enc(x)).detach()
    R = 50_000
    with torch.no_grad(), seeded(0):
        for est in (sgvb_a, sgvb_b):
            draws = est(model, enc, x.repeat(R, 1), 1).reshape(R, -1)  # (R, B): R draws per point
            _assert_unbiased(draws, exact)


def test_estimators_give_unbiased_gradients():
    """Pathwise gradients (A, B) w.r.t. θ and φ, and the score function w.r.t. φ, against autograd of
    the exact bound."""
    model, enc, x = _setup()
    theta, phi = list(model.parameters()), list(enc.parameters())
    exact_grads = torch.autograd.grad(model.elbo(x, enc(x)).sum(), theta + phi)
    exact = torch.cat([g.reshape(-1) for g in exact_grads])
    n_phi = sum(p.numel() for p in phi)
    with seeded(0):
        for est in (sgvb_a, sgvb_b):
            _assert_unbiased(gradient_samples(lambda: est(model, enc, x, 10), theta + phi, 1000), exact)
        sf = gradient_samples(lambda: score_function_surrogate(model, enc, x, 10), phi, 1000)
    _assert_unbiased(sf, exact[-n_phi:])


def test_score_function_has_far_higher_variance_than_pathwise():
    """§2.2's claim, on this model: the naive estimator's φ-gradient variance is much larger."""
    model, enc, x = _setup()
    phi = list(enc.parameters())
    with seeded(0):
        var_b = gradient_samples(lambda: sgvb_b(model, enc, x, 1), phi, 500).var(0).sum()
        var_sf = gradient_samples(lambda: score_function_surrogate(model, enc, x, 1), phi, 500).var(0).sum()
    assert var_sf > 10 * var_b


def test_more_samples_shrink_variance_as_one_over_l():
    model, enc, x = _setup()
    R = 4000
    with torch.no_grad(), seeded(0):
        v1 = sgvb_b(model, enc, x.repeat(R, 1), 1).reshape(R, -1).var(0)
        v16 = sgvb_b(model, enc, x.repeat(R, 1), 16).reshape(R, -1).var(0)
    ratio = (v1 / v16)
    assert ((ratio > 12) & (ratio < 21)).all(), ratio  # 16 within the spread of a variance ratio


def test_eq8_minibatch_scaling():
    model, enc, x = _setup()
    with seeded(5):
        full = minibatch_bound(sgvb_b, model, enc, x, n_data=1000)
    with seeded(5):
        per_point = sgvb_b(model, enc, x)
    torch.testing.assert_close(full, per_point.sum() * 1000 / x.shape[0])


def test_shapes_follow_the_protocol():
    model, enc, x = _setup()
    for est in (sgvb_a, sgvb_b, score_function_surrogate):
        assert est(model, enc, x, 7).shape == (x.shape[0],)
