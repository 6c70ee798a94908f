"""aevb.imputation against exact answers: on the linear-Gaussian model, where p(x_miss | x_obs) is Gaussian in
closed form, Metropolis-within-Gibbs with a deliberately wrong encoder reaches the exact conditional's mean and
covariance (and pseudo-Gibbs, with the same encoder, does not); on tiny Bernoulli VAEs (one latent dimension, 8
pixels), where p(x_clean | y) is computed by enumerating all 2^8 clean images on a fine grid of z, the chain's
predictive mean of observed, missing and noisy pixels matches it. Several random instances each; the worst
coordinate within Z_MAX standard errors of the Monte Carlo estimate."""
import itertools
import math

import pytest
import torch

from aevb.imputation import (
    METHODS,
    MISSING,
    BernoulliPixels,
    GaussianPixels,
    Observation,
    hidden_error,
    hidden_log_lik,
    impute,
    pixel_model,
)
from aevb.linear_gaussian import LinearEncoder, LinearGaussian
from aevb.models import VAE, init_paper_

Z_MAX = 4.5  # standard errors: the worst of ~50 standardized deviations of a correct sampler stays within this
Z_WRONG = 10.0  # pseudo-Gibbs with the wrong encoder: its worst deviation is beyond this
CHAINS = 4000  # independent chains of one instance: their final states are (nearly) exact independent draws


def exact_conditional(model: LinearGaussian, x: torch.Tensor, observed: torch.Tensor):
    """p(x_m | x_o) of p(x) = N(b, W Wᵀ + s² I): (mean (M,), covariance (M, M))."""
    p = model.marginal()
    mu, cov = p.loc, p.covariance_matrix
    o, m = observed, ~observed
    gain = cov[m][:, o] @ torch.linalg.inv(cov[o][:, o])  # (M, O)
    return mu[m] + gain @ (x[o] - mu[o]), cov[m][:, m] - gain @ cov[o][:, m]


def wrong_encoder(model: LinearGaussian, scale: float, var_factor: float) -> LinearEncoder:
    """q(z|x) = N(scale · m(x), diag(var_factor · diag S)) with p(z|x) = N(m(x), S): the exact posterior's mean map
    scaled, its correlations dropped and its variances inflated."""
    s2 = torch.exp(model.log_s2).detach()
    S = torch.linalg.inv(torch.eye(model.n_z, dtype=torch.float64) + model.W.T @ model.W / s2)
    A = (S @ model.W.T / s2).detach()  # (Z, D): m(x) = A (x − b)
    enc = LinearEncoder(model.W.shape[0], model.n_z)
    with torch.no_grad():
        enc.A.copy_(scale * A)
        enc.c.copy_(-scale * A @ model.b)
        enc.v.copy_(torch.log(var_factor * S.diagonal()))
    return enc


def gaussian_case(seed: int, method: str, proposals: int = 1, warm: int = 0, scale: float = 1.3):
    model = LinearGaussian.random(6, 2, s=0.5, seed=seed).requires_grad_(False)
    g = torch.Generator().manual_seed(100 + seed)
    x = model.sample(1, g)[0]  # (D,)
    observed = torch.zeros(6, dtype=torch.bool)
    observed[torch.randperm(6, generator=g)[:3]] = True
    enc = wrong_encoder(model, scale=scale, var_factor=3.0).requires_grad_(False)
    obs = Observation.missing(x.expand(CHAINS, -1), observed.expand(CHAINS, -1))
    out = impute(model, enc, obs, steps=150, burn_in=75, method=method, keep=1, seed=seed, proposals=proposals,
                 warm=warm)
    mean, cov = exact_conditional(model, x, observed)
    draws = out.samples[-1][:, ~observed]  # (C, M): the chains' final states
    z_mean = (draws.mean(0) - mean) / (cov.diagonal() / CHAINS).sqrt()
    d = draws - draws.mean(0)
    se_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov**2) / CHAINS).sqrt()
    z_cov = ((d.T @ d) / (CHAINS - 1) - cov) / se_cov
    rb = out.mean[:, ~observed]  # (C, M): each chain's Rao-Blackwellized mean over its steps after burn-in
    z_rb = (rb.mean(0) - mean) / (rb.std(0) / math.sqrt(CHAINS))
    return max(z_mean.abs().max(), z_cov.abs().max(), z_rb.abs().max()).item(), out.acceptance.mean().item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metropolis_within_gibbs_reaches_the_exact_gaussian_conditional(seed):
    worst, acceptance = gaussian_case(seed, METHODS[0])
    assert worst < Z_MAX
    assert 0.05 < acceptance < 1.0  # the wrong encoder's proposals are corrected, not all accepted


def test_several_proposals_a_sweep_and_a_pseudo_gibbs_start_keep_the_exact_target():
    """With the mean map exact (scale 1: pseudo-Gibbs stays bounded, its variance still wrong), the warm start is
    pseudo-Gibbs's own chain; with scale 1.3 it diverges, and no burn-in after it would recover."""
    worst, acceptance = gaussian_case(3, METHODS[0], proposals=3, warm=40, scale=1.0)
    assert worst < Z_MAX and acceptance < 1.0
    assert gaussian_case(3, METHODS[1], scale=1.0)[0] > Z_WRONG


def test_pseudo_gibbs_with_the_wrong_encoder_is_measurably_off():
    worst, acceptance = gaussian_case(0, METHODS[1])
    assert worst > Z_WRONG and acceptance == 1.0


def tiny_vae(seed: int) -> VAE:
    """A random VAE with 8 pixels, N_z = 1 and 6 hidden units, in float64: weights of std 1.5 (decoder) and 0.5
    (encoder: an untrained, imperfect q)."""
    model = VAE(8, 1, (6,)).double().requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    init_paper_(model.decoder, std=1.5, generator=g)
    init_paper_(model.encoder, std=0.5, generator=g)
    return model


def exact_clean(model: VAE, obs: Observation) -> torch.Tensor:
    """P(x_i = 1 | y) of one image (obs of batch 1) by enumerating all 2^D clean images x and a grid of z:
    Σ_x ∫ p(z) p(x|z) p(y|x) dz with p(y_i|x_i) = 1 − flip_i where y_i = x_i, flip_i otherwise -> (D,)."""
    d = obs.y.shape[1]
    z = torch.linspace(-9, 9, 6001, dtype=torch.float64)[:, None]  # (G, 1)
    xs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)), dtype=torch.float64)  # (2^D, D)
    log_pxz = -torch.nn.functional.binary_cross_entropy_with_logits(
        model.decoder.logits(z)[:, None, :].expand(-1, len(xs), -1), xs.expand(len(z), -1, -1),
        reduction="none").sum(-1)  # (G, 2^D)
    flip, y = obs.flip[0], obs.y[0]
    p_y = torch.where(xs == y, 1 - flip, flip).prod(-1)  # (2^D,)
    w = torch.exp(log_pxz - z**2 / 2) * p_y  # (G, 2^D), up to constants
    post = w.sum(0) / w.sum()  # (2^D,): p(x | y)
    return post @ xs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_chain_matches_the_enumerated_bernoulli_conditional(seed):
    model = tiny_vae(seed)
    g = torch.Generator().manual_seed(50 + seed)
    y = torch.bernoulli(torch.full((1, 8), 0.5, dtype=torch.float64), generator=g)
    flip = torch.tensor([[0.0, 0.0, MISSING, MISSING, 0.1, 0.2, 0.05, MISSING]], dtype=torch.float64)
    obs = Observation(y, flip)
    exact = exact_clean(model, obs)  # (D,)
    out = impute(model, model.encoder, Observation(y.expand(CHAINS, -1), flip.expand(CHAINS, -1)), steps=80,
                 burn_in=30, seed=seed)
    est, se = out.mean.mean(0), out.mean.std(0) / math.sqrt(CHAINS)  # (D,)
    hidden = obs.hidden[0]
    assert torch.equal(out.mean[:, ~hidden], y.expand(CHAINS, -1)[:, ~hidden])  # seen pixels stay as seen
    assert ((est - exact)[hidden].abs() / se[hidden]).max() < Z_MAX
    assert ((exact - 0.5).abs() > 0.05).any()  # not a trivial instance


def test_the_noisy_pixel_conditional_is_bayes_rule():
    logits = torch.tensor([[-2.0, 0.5, 3.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    rho = 0.2
    p = torch.sigmoid(logits)
    like1, like0 = torch.where(y == 1, 1 - rho, rho), torch.where(y == 0, 1 - rho, rho)
    expected = p * like1 / (p * like1 + (1 - p) * like0)
    got = BernoulliPixels(lambda z: logits).conditional((logits,), Observation.noisy(y, rho))
    assert torch.allclose(got, expected, atol=1e-12)
    missing = Observation(y, torch.full_like(y, MISSING))  # no evidence: the decoder's own probability
    assert torch.allclose(BernoulliPixels(None).conditional((logits,), missing), p, atol=1e-12)


def test_bad_observations_are_refused():
    y = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\[0, 1/2\]"):
        Observation(y, torch.full_like(y, 0.7))
    with pytest.raises(ValueError, match="same"):
        Observation(y, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="rho"):
        Observation.noisy(y, 0.5)
    params = (torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="observed .* and missing"):
        GaussianPixels(None).draw(params, Observation.noisy(y, 0.1))
    model = LinearGaussian.random(3, 1)
    with pytest.raises(ValueError, match="method"):
        impute(model, LinearEncoder(3, 1), Observation.missing(y.double(), y.bool()), 10, 5, method="gibbs")
    with pytest.raises(ValueError, match="burn_in"):
        impute(model, LinearEncoder(3, 1), Observation.missing(y.double(), y.bool()), 10, 10)


def test_seeded_and_shaped():
    model = tiny_vae(0)
    obs = Observation.missing(torch.ones(5, 8, dtype=torch.float64), torch.arange(8).expand(5, -1) < 4)
    a, b = (impute(model, model.encoder, obs, steps=12, burn_in=4, keep=3, seed=7) for _ in range(2))
    assert torch.equal(a.samples, b.samples) and torch.equal(a.mean, b.mean)
    assert a.samples.shape == (3, 5, 8) and a.mean.shape == (5, 8) and a.acceptance.shape == (5,)
    assert torch.equal(a.samples[:, :, :4], torch.ones(3, 5, 4, dtype=torch.float64))  # the seen half kept
    c = impute(model, model.encoder, obs, steps=12, burn_in=4, keep=3, seed=8)
    assert not torch.equal(a.samples, c.samples)
    assert isinstance(pixel_model(model), BernoulliPixels)


def test_the_metrics_by_hand():
    truth = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    prob = torch.tensor([[0.8, 0.3, 0.0, 0.6]])
    hidden = torch.tensor([[True, True, True, False]])
    expected = (math.log(0.8) + math.log(0.7) + math.log(1e-3)) / 3
    assert hidden_log_lik(prob, truth, hidden, floor=1e-3).item() == pytest.approx(expected, abs=1e-6)  # float32 inputs
    assert hidden_error(prob, truth, hidden).item() == pytest.approx(1 / 3)  # the third is wrong; the fourth unseen
