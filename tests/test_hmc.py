"""HMC (aevb/hmc.py) against a target with known moments: a correlated 2-D Gaussian.

500 chains × 200 kept samples: even with autocorrelation (integrated time of a few transitions), the
standard error of each mean is < 0.01 and of each covariance entry < 0.03, so the tolerances below
(0.05 and 0.15) are > 5 standard errors, while a sampler with a wrong acceptance rule or a broken
leapfrog misses the covariance by far more.
"""
import torch

from aevb.hmc import autocorrelation, effective_sample_size, hmc, leapfrog, log_prob_and_grad, sample
from aevb.linear_gaussian import LinearGaussian
from aevb.estimators import log_joint

D = torch.float64
MEAN = torch.tensor([1.0, -2.0], dtype=D)
COV = torch.tensor([[1.0, 1.8], [1.8, 4.0]], dtype=D)  # correlation 0.9, scales 1 and 2
TARGET = torch.distributions.MultivariateNormal(MEAN, COV)


def test_moments_of_a_correlated_gaussian_and_target_acceptance():
    r = hmc(TARGET.log_prob, torch.zeros(500, 2, dtype=D), 200, n_leapfrog=10, seed=0)
    assert r.samples.shape == (200, 500, 2)
    s = r.samples.reshape(-1, 2)
    torch.testing.assert_close(s.mean(0), MEAN, rtol=0, atol=0.05)
    torch.testing.assert_close(torch.cov(s.T), COV, rtol=0, atol=0.15)
    # dual averaging aims at 90%; its final averaged step size lands a little on the safe side
    assert 0.85 < r.accept_rate.mean() < 0.99 and r.accept_rate.min() > 0.75


def test_leapfrog_is_reversible_and_nearly_conserves_energy():
    z0, p0 = torch.tensor([[0.3, 0.1]], dtype=D), torch.tensor([[1.0, -0.5]], dtype=D)
    lp0, g0 = log_prob_and_grad(TARGET.log_prob, z0)
    z1, p1, lp1, g1 = leapfrog(TARGET.log_prob, z0, p0, g0, torch.tensor([[0.05]], dtype=D), 20)
    z2, p2, _, _ = leapfrog(TARGET.log_prob, z1, -p1, g1, torch.tensor([[0.05]], dtype=D), 20)
    torch.testing.assert_close(z2, z0)  # back where it started ...
    torch.testing.assert_close(-p2, p0)  # ... with the momentum it started with, reversed
    h0, h1 = -lp0 + 0.5 * (p0**2).sum(), -lp1 + 0.5 * (p1**2).sum()
    assert abs((h1 - h0).item()) < 0.01


def test_seeded_runs_repeat_and_chains_are_independent():
    a = sample(TARGET.log_prob, torch.zeros(4, 2, dtype=D), 5, n_leapfrog=3, seed=1)
    b = sample(TARGET.log_prob, torch.zeros(4, 2, dtype=D), 5, n_leapfrog=3, seed=1)
    assert torch.equal(a, b) and not torch.equal(a[:, 0], a[:, 1])


def test_effective_sample_size_of_known_chains():
    """ESS of independent draws is about S; of an AR(1) chain with coefficient a, S (1 − a) / (1 + a)."""
    g = torch.Generator().manual_seed(0)
    iid = torch.randn(2000, 50, 1, generator=g, dtype=D)
    assert abs(effective_sample_size(iid).mean().item() / 2000 - 1) < 0.1
    a, e = 0.8, torch.randn(2000, 50, 1, generator=g, dtype=D)
    ar = torch.zeros_like(e)
    for t in range(1, 2000):
        ar[t] = a * ar[t - 1] + e[t]
    want = 2000 * (1 - a) / (1 + a)
    assert abs(effective_sample_size(ar).mean().item() / want - 1) < 0.15
    assert abs(autocorrelation(ar, 1)[1].mean().item() - a) < 0.02


def test_jittered_step_sizes_stop_resonance_on_a_gaussian_posterior():
    """4 leapfrog steps at a fixed adapted ε resonate on the posterior of a linear-Gaussian model (3 latent, 8
    observed, noise 0.8): lag-1 autocorrelation about −0.8, and the squared deviations, which set the spread App. D
    fits, have an ESS as low as 6 of 200. Jittered (App. D's 0.9), every chain keeps > 25 of 200 and |lag 1| < 0.3."""
    model = LinearGaussian.random(8, 3, s=0.8, seed=0)
    for p in model.parameters():
        p.requires_grad_(False)
    _, x = model.sample_joint(16, torch.Generator().manual_seed(100))
    target = lambda z: log_joint(model, x, z)  # noqa: E731

    def chains(jitter):
        s = hmc(target, model.posterior(x).mean, 200, 4, 0.1, 300, 0.9, seed=0, jitter=jitter).samples
        return autocorrelation(s, 1)[1].mean().item(), effective_sample_size((s - s.mean(0)) ** 2).min().item()

    lag1, ess_sq = chains(0.0)
    assert lag1 < -0.5 and ess_sq < 15
    lag1, ess_sq = chains(0.9)
    assert abs(lag1) < 0.3 and ess_sq > 25


def test_a_written_out_gradient_takes_autograds_place_with_the_same_draws():
    """``value_and_grad`` (the gradient written out, as App. E's MCEM gives it) in place of autograd: the same
    chains up to rounding from the same seed, and log_prob asked for only where it is used, at the start and at each
    trajectory's end (once per transition), the other leapfrog steps asking for the gradient alone."""
    precision = torch.linalg.inv(COV)
    asked = []

    def value_and_grad(z, value):  # (C, 2) -> ((C,) or None, (C, 2))
        asked.append(value)
        return TARGET.log_prob(z) if value else None, -(z - MEAN) @ precision

    ref = hmc(TARGET.log_prob, torch.zeros(50, 2, dtype=D), 20, n_leapfrog=5, n_warmup=10, seed=3, jitter=0.5)
    got = hmc(TARGET.log_prob, torch.zeros(50, 2, dtype=D), 20, n_leapfrog=5, n_warmup=10, seed=3, jitter=0.5,
              value_and_grad=value_and_grad)
    # rounding (the two gradients differ in their last bits) grows through 30 transitions to ~1e-12; a different
    # draw or a wrong gradient would move the chains by O(1)
    torch.testing.assert_close(got.samples, ref.samples, rtol=0, atol=1e-9)
    torch.testing.assert_close(got.step_size, ref.step_size, rtol=0, atol=1e-9)
    torch.testing.assert_close(got.log_prob, ref.log_prob, rtol=0, atol=1e-9)
    assert (ref.samples[1:] != ref.samples[:-1]).any() and 0.5 < ref.accept_rate.mean() < 1  # the chains move
    transitions = 10 + 20
    assert len(asked) == 1 + transitions * 5 and sum(asked) == 1 + transitions
