"""The inference gap (aevb/inference_gap.py; Cremer, Li & Duvenaud 2018) against exact answers.

The ground truth is the linear-Gaussian model (aevb/linear_gaussian.py): log p(x), p(z|x) = N(m, S), the ELBO
and KL(q ‖ p(z|x)) of a diagonal Gaussian q are closed forms. Random instances (7 observed, 3 latent dimensions,
12 points each, float64) have correlated posteriors (the columns of W mixed) or, with orthogonal columns of W,
diagonal ones. Monte Carlo comparisons allow 5 standard errors on the worst point (a 5σ miss has odds ~1e-6
per point) plus, where the optimum q* enters, the optimiser's residual error, measured at ~1e-4 nats of KL.
"""
import functools
import math

import pandas as pd
import pytest
import torch

from aevb.distributions import DiagonalGaussian
from aevb.inference_gap import (QUANTITIES, amortized_elbo, elbo_of, inference_gap, log_marginal_reference,
                                optimized_q)
from aevb.linear_gaussian import LinearEncoder, LinearGaussian, fit_encoder
from aevb.posteriors import FullCovarianceGaussian, IAFPosterior, IAFStep

D = torch.float64
SEEDS = (0, 2, 3)  # instances whose posteriors are clearly correlated (KL* from 0.7 to 1.3 nats)
Z_TOL = 5.0  # standard errors allowed on the worst point
OPT_KL = 3e-3  # nats: KL(q* ‖ p) above its minimum left by the optimiser (measured ≤ 3e-4)


def _problem(seed: int, diagonal: bool = False, n: int = 12):
    """A random LinearGaussian (7 × 3, noise s = 0.6), data x ~ p(x) and a LinearEncoder partly fitted to them
    (100 Adagrad steps of ``fit_encoder``: an untrained one is so far off that its ELBO's Monte Carlo error
    is several nats, and q* takes long to reach from it).
    ``diagonal``: W = Q diag(d) with orthonormal columns Q, so Wᵀ W and the posterior covariance are diagonal;
    else W's columns are mixed, for clearly correlated posteriors."""
    g = torch.Generator().manual_seed(100 + seed)
    W = torch.randn(7, 3, generator=g, dtype=D)
    if diagonal:
        Q, _ = torch.linalg.qr(W)
        W = Q * (0.5 + 2 * torch.rand(3, generator=g, dtype=D))
    else:
        W[:, 1] += 0.9 * W[:, 0]
        W[:, 2] -= 0.7 * W[:, 1]
    model = LinearGaussian(W, torch.randn(7, generator=g, dtype=D), 0.36)
    x = model.sample(n, g)
    enc = LinearEncoder(7, 3, seed=seed)
    fit_encoder(model, enc, x, steps=100, seed=seed, every=100)
    return model, enc, x


@functools.cache
def _gap(seed: int, diagonal: bool = False):
    """``inference_gap`` on ``_problem(seed, diagonal)`` with the exact log p(x); computed once per instance."""
    model, enc, x = _problem(seed, diagonal)
    return model, enc, x, inference_gap(model, enc, x, seed=seed, log_px=model.log_marginal(x).detach())


def _kl_optimum(model, x):
    """The KL-optimal diagonal Gaussian for p(z|x) = N(m, S) and its KL, from the precision Λ = S⁻¹.

    KL(N(μ, diag v) ‖ N(m, S)) = ½ [tr(Λ diag v) + (μ − m)ᵀ Λ (μ − m) − Z + log det S − Σ_j log v_j].
    ∂/∂μ = Λ (μ − m) = 0 gives μ = m (Λ is positive definite); ∂/∂v_j = ½ (Λ_jj − 1/v_j) = 0 gives
    v_j = 1/Λ_jj, not the posterior's marginal variance S_jj (>= 1/Λ_jj: mean-field under-estimates variances).
    The KL is convex in (μ, v) there, so this is the minimum, KL* = ½ (Σ_j log Λ_jj − log det Λ) >= 0 by
    Hadamard's inequality, zero iff Λ is diagonal. As log p(x) = L[q] + KL(q ‖ p(z|x)) (eq. 1), the same q
    maximises the ELBO over diagonal Gaussians, and the approximation gap is KL*."""
    post = model.posterior(x)
    prec = torch.linalg.inv(post.covariance_matrix[0])  # (Z, Z), the same for every x
    lam = torch.diagonal(prec)
    kl_star = 0.5 * (torch.log(lam).sum() - torch.logdet(prec))
    return post, 1 / lam, kl_star.expand(x.shape[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_optimized_q_reaches_the_kl_optimal_diagonal_gaussian(seed):
    model, enc, x, out = _gap(seed)
    post, var_star, kl_star = _kl_optimum(model, x)
    sd = torch.sqrt(torch.diagonal(post.covariance_matrix[0]))  # (Z,)
    q = out["q_opt"]  # inference_gap's q*: optimized_q from the encoder's q, at seed + 1
    if seed == SEEDS[0]:
        model.zero_grad(set_to_none=True)  # fit_encoder's steps left gradients on the model
        direct = optimized_q(model, x, enc(x), seed=seed + 1)
        assert torch.equal(direct.mu, q.mu) and torch.equal(direct.log_var, q.log_var)
        assert all(p.grad is None for p in model.parameters())  # the model is left alone
    assert q.mu.shape == q.log_var.shape == (12, 3)
    assert ((q.mu - post.mean).abs() / sd).max() < 0.05  # posterior sds
    assert (q.log_var - torch.log(var_star)).abs().max() < 0.06
    # the test tells 1/Λ_jj from S_jj: the two differ here by far more than the tolerance
    assert torch.log(sd**2 / var_star).max() > 0.9
    excess = model.kl_to_posterior(x, q) - kl_star  # (B,), >= 0: KL* is the minimum
    assert excess.min() > -1e-10 and excess.max() < OPT_KL


@pytest.mark.parametrize("estimator", ["A", "B"])
def test_amortized_elbo_against_the_closed_form(estimator):
    for seed in SEEDS:
        model, enc, x = _problem(seed)
        elbo, se = amortized_elbo(model, enc, x, n_samples=2000, seed=seed, estimator=estimator)
        exact = model.elbo(x, enc(x)).detach()
        assert elbo.shape == se.shape == (12,) and (se > 0).all() and se.max() < 1.0
        assert ((elbo - exact).abs() / se).max() < Z_TOL
        again, _ = amortized_elbo(model, enc, x, n_samples=2000, seed=seed, estimator=estimator)
        assert torch.equal(elbo, again)  # seeded


def test_gaps_against_closed_forms_on_the_linear_gaussian_model():
    for seed in SEEDS:
        model, enc, x, out = _gap(seed)
        exact = model.log_marginal(x).detach()
        pp, se, q_opt, q_enc = out["per_point"], out["se"], out["q_opt"], enc(x)
        _, _, kl_star = _kl_optimum(model, x)
        # the approximation gap is KL(q* ‖ p(z|x)) of the q* found, and that is KL* up to the optimiser
        kl = model.kl_to_posterior(x, q_opt).detach()
        assert (se["approximation_gap"] > 0).all() and se["approximation_gap"].max() < 0.1
        assert ((pp["approximation_gap"] - kl).abs() / se["approximation_gap"]).max() < Z_TOL
        assert (pp["approximation_gap"] - kl_star).abs().max() < Z_TOL * se["approximation_gap"].max() + OPT_KL
        assert kl_star.min() > 0.5  # correlated posteriors: a gap the measurement resolves
        # the amortization gap is L[q*] − L[q_enc] in closed form
        amort = (model.elbo(x, q_opt) - model.elbo(x, q_enc)).detach()
        assert ((pp["amortization_gap"] - amort).abs() / se["amortization_gap"]).max() < Z_TOL
        assert ((pp["elbo_enc"] - model.elbo(x, q_enc).detach()).abs() / se["elbo_enc"]).max() < Z_TOL
        # both gaps are >= 0, and they add up to the total
        assert (amort > 0).all() and (kl > 0).all()
        for gap in ("approximation_gap", "amortization_gap", "total_gap"):
            assert (pp[gap] > -Z_TOL * se[gap]).all()
        torch.testing.assert_close(pp["approximation_gap"] + pp["amortization_gap"], pp["total_gap"])
        torch.testing.assert_close(pp["log_px"], exact, rtol=0, atol=0)
        assert out["log_px_upper"] is None
        table = pd.DataFrame(out["rows"]).set_index("quantity")
        assert list(table.index) == list(QUANTITIES) and list(table.columns) == ["mean", "se_mc", "se_data"]
        for k in QUANTITIES:
            assert table.loc[k, "mean"] == pytest.approx(pp[k].mean().item(), rel=1e-12)
            assert table.loc[k, "se_mc"] == pytest.approx(se[k].pow(2).sum().sqrt().item() / 12, rel=1e-12)
            assert table.loc[k, "se_data"] == pytest.approx(pp[k].std().item() / math.sqrt(12), rel=1e-12)


def test_approximation_gap_vanishes_for_a_diagonal_posterior():
    """With orthogonal columns of W the posterior is a diagonal Gaussian: q* is exact, the approximation gap
    is 0 (and estimator A has no variance at q = p(z|x)), while the untrained encoder's gap stays."""
    for seed in SEEDS[:2]:
        model, _, x, out = _gap(seed, diagonal=True)
        post, var_star, kl_star = _kl_optimum(model, x)
        assert kl_star.abs().max() < 1e-12
        torch.testing.assert_close(var_star, torch.diagonal(post.covariance_matrix[0]))
        pp = out["per_point"]
        assert pp["approximation_gap"].abs().max() < OPT_KL
        assert pp["amortization_gap"].min() > 0.1
        q = out["q_opt"]
        _, se = elbo_of(model, q, x, seed=seed)
        assert se.max() < 0.02  # near-zero variance at the posterior


def test_ais_reference_sandwiches_the_exact_log_marginal():
    """AIS with the reverse chain from exact posterior samples (simulated data): both bounds near the exact
    log p(x), in order on average (over seeds, the mean errors were within 0.08 nats and the worst point's
    within 0.4 with these settings); without posterior samples, only the forward bound, from the same chains."""
    model = LinearGaussian.random(6, 2, s=1.0, seed=4)
    for p in model.parameters():
        p.requires_grad_(False)
    z, x = model.sample_joint(12, torch.Generator().manual_seed(5))
    exact = model.log_marginal(x)
    enc = LinearEncoder(6, 2, seed=6)
    out = inference_gap(model, enc, x, steps=100, n_samples=100, seed=0, z_posterior=z,
                        ais_kw={"n_chains": 32, "n_steps": 200})
    lower, upper = out["per_point"]["log_px"], out["log_px_upper"]
    assert abs((lower - exact).mean()) < 0.1 and (lower - exact).abs().max() < 0.5
    assert abs((upper - exact).mean()) < 0.15 and (upper - exact).abs().max() < 0.6
    assert upper.mean() > lower.mean() - 0.05
    both = log_marginal_reference(model, x[:2], z[:2], n_chains=2, n_steps=10, seed=7)
    forward = log_marginal_reference(model, x[:2], n_chains=2, n_steps=10, seed=7)
    assert forward["upper"] is None and torch.equal(forward["lower"], both["lower"])
    assert both["upper"].shape == (2,)


def test_bad_arguments_are_refused():
    model, enc, x = _problem(0)
    with pytest.raises(ValueError, match="estimator"):
        amortized_elbo(model, enc, x, estimator="C")
    with pytest.raises(ValueError, match="average"):
        optimized_q(model, x, enc(x), average=0.0)
    q = DiagonalGaussian(torch.zeros(12, 3, dtype=D), torch.zeros(12, 3, dtype=D))
    assert elbo_of(model, q, x, n_samples=10)[0].shape == (12,)


def _full(q: DiagonalGaussian) -> FullCovarianceGaussian:
    """The same diagonal Gaussian as a full-covariance one (L = diag σ)."""
    return FullCovarianceGaussian(q.mu, torch.diag_embed(torch.exp(0.5 * q.log_var.expand_as(q.mu))))


@pytest.mark.parametrize("seed", SEEDS)
def test_full_covariance_q_star_is_the_exact_posterior(seed):
    """The posterior of the linear-Gaussian model is a full-covariance Gaussian, so the family's q* is exact:
    its approximation gap vanishes where the diagonal family's is KL* (0.7 to 1.3 nats here), and its ELBO by
    estimator A has (almost) no Monte Carlo spread."""
    model, enc, x = _problem(seed)
    exact = model.log_marginal(x).detach()
    post = model.posterior(x)
    out = inference_gap(model, lambda x: _full(enc(x)), x, seed=seed, log_px=exact)
    q = out["q_opt"]
    assert isinstance(q, FullCovarianceGaussian) and q.scale_tril.shape == (12, 3, 3)
    sd = torch.sqrt(torch.diagonal(post.covariance_matrix[0]))
    assert ((q.loc - post.mean).abs() / sd).max() < 0.05
    torch.testing.assert_close(q.covariance_matrix, post.covariance_matrix.expand(12, 3, 3), atol=0.02, rtol=0.05)
    gap, se = out["per_point"]["approximation_gap"], out["se"]["approximation_gap"]
    assert gap.abs().max() < Z_TOL * se.max() + OPT_KL
    _, _, kl_star = _kl_optimum(model, x)
    assert (gap < 0.1 * kl_star).all()  # a diagonal q* here would miss by KL* >= 0.5
    enc_gap = out["per_point"]["total_gap"]
    torch.testing.assert_close(out["per_point"]["amortization_gap"] + gap, enc_gap)
    assert (out["per_point"]["amortization_gap"] > -Z_TOL * out["se"]["amortization_gap"]).all()


def test_iaf_q_star_improves_on_its_start_and_stays_below_log_p():
    """An IAF posterior (random shared steps) fitted per point over its base and context: its ELBO rises from the
    start and stays below the exact log p(x) (a bound cannot pass it; a sign slip in the entropy would), and the
    flow's own weights are left untouched."""
    model, enc, x = _problem(0)
    exact = model.log_marginal(x).detach()
    torch.manual_seed(0)
    steps = torch.nn.ModuleList(IAFStep(3, 4, (16,)) for _ in range(2)).to(D)
    before = [p.detach().clone() for p in steps.parameters()]
    h = torch.randn(12, 4, dtype=D)

    def encoder(x):
        q = enc(x)
        return IAFPosterior(q.mu, q.log_var.expand_as(q.mu), h, steps)

    out = inference_gap(model, encoder, x, seed=0, log_px=exact)
    pp, se = out["per_point"], out["se"]
    assert isinstance(out["q_opt"], IAFPosterior) and out["q_opt"].h.shape == (12, 4)
    assert (pp["elbo_opt"] < exact + Z_TOL * se["elbo_opt"]).all()
    assert (pp["amortization_gap"] > 0.05).all()  # the start was the partly fitted encoder's: q* is better
    assert (pp["approximation_gap"] > -Z_TOL * se["approximation_gap"]).all()
    assert all(torch.equal(a, b) for a, b in zip(before, steps.parameters()))
