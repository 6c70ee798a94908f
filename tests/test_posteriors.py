"""aevb.posteriors: the full-covariance Gaussian against torch's MultivariateNormal and Monte Carlo moments, the IAF
against autograd's Jacobian (autoregressive steps, log q = log N(ε) − log|det ∂z/∂ε|), and the reparameterized
gradients of every family through ``sample_and_log_q``."""
import math

import pytest
import torch
from torch.autograd.functional import jacobian
from torch.distributions import MultivariateNormal, Normal

from aevb.distributions import DiagonalGaussian
from aevb.models import GaussianEncoder
from aevb.posteriors import (
    FullCovarianceEncoder,
    FullCovarianceGaussian,
    IAFEncoder,
    IAFPosterior,
    IAFStep,
    sample_and_log_q,
)

SEEDS = range(5)
DT = torch.float64


def random_tril(g: torch.Generator, B: int, Z: int) -> torch.Tensor:
    """(B, Z, Z) lower triangular with a positive diagonal of varied scale."""
    L = torch.randn(B, Z, Z, generator=g, dtype=DT).tril(-1)
    return L + torch.diag_embed(torch.exp(0.5 * torch.randn(B, Z, generator=g, dtype=DT)))


@torch.no_grad()
def perturb_(module: torch.nn.Module, g: torch.Generator, std: float = 0.5) -> torch.nn.Module:
    """Add N(0, std²) to every parameter: flows far from their initialisation."""
    for p in module.parameters():
        p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.mark.parametrize("Z", [1, 2, 5])
def test_full_covariance_log_prob_equals_multivariate_normal(Z):
    worst = 0.0
    for seed in SEEDS:
        g = torch.Generator().manual_seed(seed)
        loc, L = torch.randn(7, Z, generator=g, dtype=DT), random_tril(g, 7, Z)
        z = 3 * torch.randn(4, 7, Z, generator=g, dtype=DT)  # (S, B, Z)
        ours = FullCovarianceGaussian(loc, L).log_prob(z)
        ref = MultivariateNormal(loc, scale_tril=L).log_prob(z)
        assert ours.shape == (4, 7)
        worst = max(worst, (ours - ref).abs().max().item())
        ent = FullCovarianceGaussian(loc, L).entropy() - MultivariateNormal(loc, scale_tril=L).entropy()
        worst = max(worst, ent.abs().max().item())
    assert worst < 1e-10


@pytest.mark.parametrize("family", ["diagonal", "full"])
def test_gaussian_draws_have_the_right_mean_and_covariance(family):
    """Sample mean and covariance within 5 standard errors (worst entry over seeds): the standard error of the mean
    of z_i is sqrt(Σ_ii / N), of the sample covariance Σ_ij sqrt((Σ_ii Σ_jj + Σ_ij²) / N) (Gaussian z). A transposed
    factor (Lᵀ ε) or a missing off-diagonal would be off by many standard errors at this N."""
    N, B, Z = 200_000, 2, 3
    worst_mean = worst_cov = 0.0
    for seed in SEEDS:
        g = torch.Generator().manual_seed(seed)
        loc, L = torch.randn(B, Z, generator=g, dtype=DT), random_tril(g, B, Z)
        if family == "diagonal":
            log_var = 2 * torch.randn(B, Z, generator=g, dtype=DT)
            L = torch.diag_embed(torch.exp(0.5 * log_var))
            q = DiagonalGaussian(loc, log_var)
        else:
            q = FullCovarianceGaussian(loc, L)
        z = sample_and_log_q(q, None, N, g)[0]  # (N, B, Z)
        assert z.shape == (N, B, Z)
        cov = L @ L.mT  # (B, Z, Z)
        var = torch.diagonal(cov, dim1=-2, dim2=-1)  # (B, Z)
        worst_mean = max(worst_mean, ((z.mean(0) - loc).abs() / (var / N).sqrt()).max().item())
        d = z - z.mean(0)
        emp = torch.einsum("nbi,nbj->bij", d, d) / (N - 1)
        se = ((var[:, :, None] * var[:, None, :] + cov**2) / N).sqrt()
        worst_cov = max(worst_cov, ((emp - cov).abs() / se).max().item())
    assert worst_mean < 5 and worst_cov < 5


def test_full_covariance_rsample_follows_the_generator():
    q = FullCovarianceGaussian(torch.zeros(3, 2, dtype=DT), random_tril(torch.Generator().manual_seed(0), 3, 2))
    a = q.rsample((4,), torch.Generator().manual_seed(1))
    assert torch.equal(a, q.rsample((4,), torch.Generator().manual_seed(1)))
    assert not torch.equal(a, q.rsample((4,), torch.Generator().manual_seed(2)))


def test_full_covariance_encoder_gives_a_cholesky_factor():
    for seed in SEEDS:
        torch.manual_seed(seed)
        enc = perturb_(FullCovarianceEncoder(6, 4, (8,)).to(DT), torch.Generator().manual_seed(seed))
        q = enc(torch.randn(5, 6, generator=torch.Generator().manual_seed(seed), dtype=DT))
        L = q.scale_tril
        assert L.shape == (5, 4, 4) and q.loc.shape == (5, 4)
        assert torch.equal(L, L.tril()) and (torch.diagonal(L, dim1=-2, dim2=-1) > 0).all()
        assert (L.tril(-1).abs() > 0).sum() == 5 * 6  # every strictly-lower entry is the head's output


@pytest.mark.parametrize("Z, hidden", [(1, (4,)), (3, ()), (4, (7,)), (5, (6, 9))])
def test_made_is_autoregressive_and_the_step_jacobian_is_triangular(Z, hidden):
    """∂(m, s)/∂z strictly lower triangular (non-zero somewhere below the diagonal for Z > 1), and the step's
    ∂z'/∂z lower triangular with diagonal σ, for random perturbed networks and inputs."""
    for seed in SEEDS:
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        step = perturb_(IAFStep(Z, 3, hidden).to(DT), g)
        z, h = torch.randn(Z, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)
        Jm, Js = jacobian(lambda v, step=step, h=h: step.made(v, h), z)  # (Z, Z) each
        for J in (Jm, Js):
            assert torch.equal(J.triu(), torch.zeros_like(J))
        if Z > 1:
            assert Js.tril(-1).abs().max() > 1e-6
        J = jacobian(lambda v, step=step, h=h: step(v, h)[0], z)  # (Z, Z)
        assert torch.equal(J.triu(1), torch.zeros_like(J))
        log_sigma = step(z, h)[1]
        assert (torch.diagonal(J) - log_sigma.exp()).abs().max() < 1e-12
        m, s = step.made(z, h)
        assert (step(z, h)[0] - (torch.sigmoid(s + 1) * z + (1 - torch.sigmoid(s + 1)) * m)).abs().max() < 1e-12


@pytest.mark.parametrize("n_flows", [1, 2, 3])
def test_iaf_log_q_is_the_change_of_variables(n_flows):
    """For every point, log q from the flow = log N(ε; 0, I) − log|det ∂z/∂ε| with the Jacobian from autograd
    (1e-8, worst over seeds and points); the points do not interact; one step's Jacobian (with the diagonal base)
    is lower triangular, and the reversal between steps makes two steps' not triangular."""
    B, Z, D = 4, 4, 5
    worst = 0.0
    for seed in SEEDS:
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        enc = perturb_(IAFEncoder(D, Z, (6,), n_flows, (8,)).to(DT), g)
        q = enc(torch.randn(B, D, generator=g, dtype=DT))
        assert isinstance(q, IAFPosterior)
        eps = torch.randn(B, Z, generator=g, dtype=DT)
        log_q = q.flow(eps)[1]  # (B,)
        J = jacobian(lambda e, q=q: q.flow(e)[0], eps)  # (B, Z, B, Z)
        blocks = torch.stack([J[b, :, b, :] for b in range(B)])  # (B, Z, Z)
        off = J.clone()
        for b in range(B):
            off[b, :, b, :] = 0
        assert off.abs().max() == 0
        sign, logdet = torch.linalg.slogdet(blocks)
        assert (sign > 0).all()
        ref = Normal(0.0, 1.0).log_prob(eps).sum(-1) - logdet
        worst = max(worst, (log_q - ref).abs().max().item())
        upper = blocks.triu(1).abs().max().item()
        assert upper == 0 if n_flows == 1 else upper > 1e-6
    assert worst < 1e-8


def test_iaf_draws_are_the_flow_of_the_generator_noise():
    torch.manual_seed(0)
    enc = IAFEncoder(5, 3, (6,), 2, (8,)).to(DT)
    q = enc(torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=DT))
    z, log_q = sample_and_log_q(q, None, 6, torch.Generator().manual_seed(2))
    assert z.shape == (6, 4, 3) and log_q.shape == (6, 4)
    z2, log_q2 = q.flow(torch.randn(6, 4, 3, generator=torch.Generator().manual_seed(2), dtype=DT))
    assert torch.equal(z, z2) and torch.equal(log_q, log_q2)


def encoders(seed: int):
    """One encoder of each family, perturbed, float64: x: (B, 5) -> q(z|x) over Z = 3."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    return {"diagonal": perturb_(GaussianEncoder(5, 3, (6,)).to(DT), g),
            "full": perturb_(FullCovarianceEncoder(5, 3, (6,)).to(DT), g),
            "iaf": perturb_(IAFEncoder(5, 3, (6,), 2, (7,)).to(DT), g)}


@pytest.mark.parametrize("family", ["diagonal", "full", "iaf"])
def test_sample_and_log_q_gradients_reach_every_encoder_parameter(family):
    """z and log q are differentiable functions of the parameters at fixed noise: every parameter tensor gets a
    non-zero gradient from Σ z² + Σ log q, and the gradient with respect to x matches finite differences
    (``gradcheck``) at a fixed generator seed."""
    for seed in range(3):
        enc = encoders(seed)[family]
        x = torch.randn(4, 5, generator=torch.Generator().manual_seed(10 + seed), dtype=DT)
        z, log_q = sample_and_log_q(enc, x, 3, torch.Generator().manual_seed(seed))
        assert z.shape == (3, 4, 3) and log_q.shape == (3, 4) and z.requires_grad and log_q.requires_grad
        ((z**2).sum() + log_q.sum()).backward()
        for name, p in enc.named_parameters():
            assert p.grad is not None and p.grad.abs().max() > 0, name

        def f(xx, enc=enc, seed=seed):
            return sample_and_log_q(enc, xx, 2, torch.Generator().manual_seed(seed))

        assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("family", ["diagonal", "full"])
def test_sample_and_log_q_is_the_exact_density(family):
    """For the Gaussian families log q is the density of torch's MultivariateNormal at the draws (1e-10)."""
    for seed in SEEDS:
        enc = encoders(seed)[family]
        x = torch.randn(4, 5, generator=torch.Generator().manual_seed(seed), dtype=DT)
        with torch.no_grad():
            q = enc(x)
            z, log_q = sample_and_log_q(q, None, 5, torch.Generator().manual_seed(seed))
        if family == "diagonal":
            ref = MultivariateNormal(q.mu, covariance_matrix=torch.diag_embed(q.log_var.exp())).log_prob(z)
        else:
            ref = MultivariateNormal(q.loc, scale_tril=q.scale_tril).log_prob(z)
        assert (log_q - ref).abs().max() < 1e-10


def test_sample_and_log_q_takes_a_multivariate_normal_and_refuses_others():
    g = torch.Generator().manual_seed(0)
    mvn = MultivariateNormal(torch.randn(3, 2, generator=g, dtype=DT), scale_tril=random_tril(g, 3, 2))
    z, log_q = sample_and_log_q(mvn, None, 4, torch.Generator().manual_seed(1))
    assert (log_q - mvn.log_prob(z)).abs().max() < 1e-10
    with pytest.raises(TypeError):
        sample_and_log_q(Normal(torch.zeros(2), torch.ones(2)), None, 1)
    with pytest.raises(ValueError):
        sample_and_log_q(mvn, None, 0)
    assert math.isfinite(log_q.sum().item())
