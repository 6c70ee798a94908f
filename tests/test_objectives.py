"""aevb.objectives on the linear-Gaussian model, whose log p(x), p(z|x) and KL(q ‖ p(z|x)) are exact: with q the
exact posterior every log weight is log p(x) (zero variance); with a worse q the ELBO's mean is log p(x) − KL, and
IWAE_k lies below log p(x) and rises with k (Burda et al. 2015, Theorem 1); k = 1 is the ELBO of the same draws."""
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from aevb.linear_gaussian import LinearGaussian
from aevb.models import VAE, init_paper_
from aevb.objectives import elbo, iwae_objective, log_weights, logmeanexp
from aevb.posteriors import FullCovarianceEncoder, FullCovarianceGaussian, IAFEncoder

SEEDS = range(4)
DT = torch.float64


def problem(seed: int, B: int = 6):
    """A random LinearGaussian (D = 5, Z = 3) and B points drawn from it."""
    model = LinearGaussian.random(5, 3, s=0.7, seed=seed)
    x = model.sample(B, torch.Generator().manual_seed(100 + seed))
    return model, x


def worse_q(model, x, seed: int) -> FullCovarianceGaussian:
    """The exact posterior with its mean shifted by 0.5 and its factor widened by 1.5: a q with a clear gap."""
    post = model.posterior(x)
    g = torch.Generator().manual_seed(seed)
    return FullCovarianceGaussian(post.loc + 0.5 * torch.randn(post.loc.shape, generator=g, dtype=DT),
                                  1.5 * post.scale_tril)


@torch.no_grad()
def test_exact_posterior_makes_every_weight_log_p_x():
    """log p(x, z) − log q(z|x) = log p(x) for every draw when q = p(z|x): the ELBO and IWAE_k equal log p(x)
    exactly, whatever the draws (1e-8, worst over seeds, points and draws)."""
    worst = 0.0
    for seed in SEEDS:
        model, x = problem(seed)
        q = FullCovarianceGaussian.from_mvn(model.posterior(x))
        log_px = model.log_marginal(x)  # (B,)
        lw = log_weights(model, q, x, 50, torch.Generator().manual_seed(seed))  # (S, B)
        worst = max(worst, (lw - log_px).abs().max().item())
        for k in (1, 5, 50):
            g = torch.Generator().manual_seed(seed + k)
            worst = max(worst, (elbo(model, q, x, k, g) - log_px).abs().max().item())
            g = torch.Generator().manual_seed(seed + k)
            worst = max(worst, (iwae_objective(model, q, x, k, g) - log_px).abs().max().item())
        # torch's MultivariateNormal is taken as it is
        worst = max(worst, (elbo(model, model.posterior(x), x, 3) - log_px).abs().max().item())
    assert worst < 1e-8


@torch.no_grad()
def test_iwae_k1_is_the_elbo_of_the_same_draws_and_iwae_k_bounds_the_elbo():
    for seed in SEEDS:
        model, x = problem(seed)
        q = worse_q(model, x, seed)
        a = elbo(model, q, x, 1, torch.Generator().manual_seed(seed))
        b = iwae_objective(model, q, x, 1, torch.Generator().manual_seed(seed))
        assert (a - b).abs().max() < 1e-12
        lw = log_weights(model, q, x, 7, torch.Generator().manual_seed(seed))
        assert (iwae_objective(model, q, x, 7, torch.Generator().manual_seed(seed)) - logmeanexp(lw)).abs().max() == 0
        assert (iwae_objective(model, q, x, 7, torch.Generator().manual_seed(seed)) >= lw.mean(0)).all()  # Jensen


@torch.no_grad()
def test_iwae_is_below_log_p_x_and_rises_with_k():
    """Over R = 4000 independent replicates per point: the k = 1 mean is log p(x) − KL(q ‖ p(z|x)) (within 4
    standard errors), IWAE_5 and IWAE_50 lie below log p(x) and rise 1 -> 5 -> 50, each by more than 4 standard
    errors of the difference, at every point of every seed."""
    R, B = 4000, 4
    for seed in SEEDS:
        model, x = problem(seed, B)
        q = worse_q(model, x, seed)
        log_px = model.log_marginal(x)  # (B,)
        kl = kl_divergence(MultivariateNormal(q.loc, scale_tril=q.scale_tril), model.posterior(x))  # (B,)
        xr = x.repeat(R, 1)  # (R B, D): replicate r of point b is row r B + b
        qr = FullCovarianceGaussian(q.loc.repeat(R, 1), q.scale_tril.repeat(R, 1, 1))
        means, ses = {}, {}
        for k in (1, 5, 50):
            v = iwae_objective(model, qr, xr, k, torch.Generator().manual_seed(1000 * seed + k)).view(R, B)
            means[k], ses[k] = v.mean(0), v.std(0) / R**0.5
        assert ((means[1] - (log_px - kl)).abs() < 4 * ses[1]).all()
        assert (means[50] + 4 * ses[50] < log_px).all()
        for lo, hi in ((1, 5), (5, 50)):
            assert (means[hi] - means[lo] > 4 * (ses[lo] ** 2 + ses[hi] ** 2).sqrt()).all()


@pytest.mark.parametrize("family", ["full", "iaf"])
def test_objectives_train_a_vae_with_a_richer_posterior(family):
    """The objectives are differentiable in the decoder's and the encoder's parameters for an App. C VAE with a
    full-covariance or IAF encoder: a non-zero gradient reaches every parameter tensor."""
    torch.manual_seed(0)
    vae = VAE(6, 2, (5,)).to(DT)
    enc = FullCovarianceEncoder(6, 2, (5,)) if family == "full" else IAFEncoder(6, 2, (5,), 2, (4,))
    enc = enc.to(DT)
    x = torch.bernoulli(torch.full((8, 6), 0.5, dtype=DT), generator=torch.Generator().manual_seed(1))
    loss = -(elbo(vae, enc, x, 2, torch.Generator().manual_seed(2)).mean()
             + iwae_objective(vae, enc, x, 5, torch.Generator().manual_seed(3)).mean())
    loss.backward()
    named = list(vae.decoder.named_parameters()) + list(enc.named_parameters())
    for name, p in named:
        assert p.grad is not None and p.grad.abs().max() > 0, name


def test_full_covariance_closes_the_gap_the_diagonal_cannot():
    """Fitting q_φ to a fixed LinearGaussian (s = 1.5: a broad, correlated posterior) by Adam on the ELBO (32 draws
    per point, §5's initialisation): a linear full-covariance encoder can represent p(z|x) exactly, and its exact
    KL(q ‖ p(z|x)) falls below 0.02 nats on average and 0.1 at the worst point; the best diagonal Gaussian's KL
    (closed form, the same at every point) is above 0.1."""
    model = LinearGaussian.random(5, 3, s=1.5, seed=0).requires_grad_(False)
    x = model.sample(32, torch.Generator().manual_seed(100))
    enc = init_paper_(FullCovarianceEncoder(5, 3, ()).to(DT), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(enc.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + t / 100))
    g = torch.Generator().manual_seed(0)
    for _ in range(400):
        loss = -elbo(model, enc, x, 32, g).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        q, post = enc(x), model.posterior(x)
        kl = kl_divergence(MultivariateNormal(q.loc, scale_tril=q.scale_tril), post)  # (B,)
        # the best diagonal q for a Gaussian posterior N(m, S) is N(m, diag(1 / diag(S⁻¹)))
        prec = torch.linalg.inv(post.covariance_matrix[0])
        best_diag = torch.diag(1 / torch.diagonal(prec)).expand(32, 3, 3)
        kl_diag = kl_divergence(MultivariateNormal(post.loc, covariance_matrix=best_diag), post)  # (B,)
    assert kl.mean() < 0.02 and kl.max() < 0.1, kl
    assert kl_diag.min() > 0.1, kl_diag
