"""Evaluating a model on data: the lower bound (§5, Fig. 2) and the marginal likelihood (App. D, Fig. 3).

- ``average_bound``: what Fig. 2 plots, estimator B (eq. 10) with L = 1 averaged over a data set.
- ``log_joint_grid``: log p(x, z) on a grid, for exact log p(x) by quadrature with a 2-D latent.
- ``log_marginal_hmc``: the paper's App. D estimator (HMC samples, a fitted density, fresh samples), in two
  steps ``appd_samples`` and ``appd_estimate``; the densities are in ``aevb.densities``.
- ``iwae_bound``: the importance-weighted bound of Burda et al. (2015).
- ``ais``: annealed importance sampling with HMC transitions (Neal 2001; Wu et al. 2017), with the
  reverse chain of bidirectional Monte Carlo (Grosse et al. 2015) on simulated data.
All take a model with the interface of ``aevb.models`` and return one estimate per datapoint, (B,).
"""
from __future__ import annotations

import math

import torch

from aevb.densities import DENSITIES, log_q
from aevb.estimators import ESTIMATORS, log_joint
from aevb.hmc import adapt_step_size, hmc, hmc_step
from aevb.rng import seeded
from aevb.validation import MARGINAL_METHODS  # App. D, importance-weighted bound, AIS

APPD_STEP_JITTER = 0.9  # App. D's HMC step size is drawn uniform on [0.1 ε, 1.9 ε] at every transition


@torch.no_grad()
def per_point_bound(model, x: torch.Tensor, estimator="B", n_samples: int = 1,
                    batch_size: int = 2000) -> torch.Tensor:
    """Lower-bound estimate for every row of x: (N, D) -> (N,). ``estimator``: a name of ``aevb.estimators``'
    ``ESTIMATORS`` ("A", "B"; for eq. 9's diagonal q) or a function of their signature
    ``(model, encoder, x: (B, D), n_samples) -> (B,)`` (a richer posterior's ELBO, estimator A with its exact
    log q: ``aevb.learners.families.family_elbo``)."""
    est = estimator if callable(estimator) else ESTIMATORS[estimator]
    return torch.cat([est(model, model.encoder, xb, n_samples) for xb in x.split(batch_size)])


def average_bound(model, x: torch.Tensor, **kw) -> float:
    """Mean over x: (N, D) of ``per_point_bound``; a float in nats per datapoint."""
    return per_point_bound(model, x, **kw).mean().item()


@torch.no_grad()
def log_joint_grid(model, x: torch.Tensor, lim=4.0, n: int = 201, center: torch.Tensor | None = None,
                   chunk: int = 4096):
    """log p(x, z) on an n × n grid per datapoint, for a model with a 2-D latent.

    The grid for datapoint b spans center_b ± lim_b on both axes (center: (B, 2), default 0; lim a float
    or (B,)). x: (B, D) -> (axes: (n, B, 2), log_joint: (n, n, B), log_px: (B,)): axes[:, b, k] are the
    coordinates of z_k, log_joint[i, j, b] = log p(x_b, z = (axes[i, b, 0], axes[j, b, 1])), and log p(x)
    is the Riemann sum log Σ_grid p(x, z) h_b²: exact up to the grid error and the mass outside the grid.
    """
    B = x.shape[0]
    lim = torch.as_tensor(lim, dtype=x.dtype, device=x.device).expand(B)  # (B,)
    center = torch.zeros(B, 2, dtype=x.dtype, device=x.device) if center is None else center
    u = torch.linspace(-1, 1, n, device=x.device, dtype=x.dtype)  # (n,)
    axes = center + u[:, None, None] * lim[None, :, None]  # (n, B, 2)
    uu = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 1, 2)  # (G, 1, 2)
    lj = torch.cat([log_joint(model, x, center + uc * lim[None, :, None])  # (g, B)
                    for uc in uu.split(chunk)])  # (G, B)
    log_h2 = 2 * torch.log(2 * lim / (n - 1))  # (B,)
    return axes, lj.reshape(n, n, B), torch.logsumexp(lj, 0) + log_h2


# --- marginal likelihood: App. D, the importance-weighted bound, annealed importance sampling ----------

@torch.no_grad()
def _default_init(model, x: torch.Tensor, n_search: int = 1000, chunk_elems: int = 2**21) -> torch.Tensor:
    """Where posterior chains start: the encoder's mean when the model has one (a flow's ``center``, its mean having
    no closed form); without one (MCEM), the best of
    ``n_search`` prior draws per datapoint by log p(x, z). (B, Z)

    A fixed start such as z = 0 is not good enough without an encoder: MCEM's decoders have sharp,
    multimodal posteriors, and chains from z = 0 got stuck in minor modes, so App. D came out 22 nats below
    AIS on a trained MCEM model (and agreed with it to 0.2 nats from the training chains' states).
    Draws are scored in chunks of about ``chunk_elems`` decoder outputs: allocations that large and larger go
    to the kernel (mmap) at every call, which cost a third of the time in page faults with chunks of 50."""
    if hasattr(model, "encoder"):
        q = model.encoder(x)
        return q.center() if hasattr(q, "center") else q.mean
    best_lp = torch.full((x.shape[0],), -math.inf, dtype=x.dtype, device=x.device)  # (B,)
    best = torch.zeros(x.shape[0], model.prior.event_shape[0], dtype=x.dtype, device=x.device)  # (B, Z)
    chunk = max(1, chunk_elems // (x.shape[0] * x.shape[1]))
    for start in range(0, n_search, chunk):
        z = model.prior.sample((min(chunk, n_search - start), x.shape[0]))  # (c, B, Z)
        lp = log_joint(model, x, z)  # (c, B)
        top, i = lp.max(0)  # (B,)
        better = top > best_lp
        best = torch.where(better[:, None], z[i, torch.arange(x.shape[0], device=x.device)], best)
        best_lp = torch.where(better, top, best_lp)
    return best


def log_marginal_hmc(model, x: torch.Tensor, n_samples: int = 50, n_leapfrog: int = 4, n_warmup: int = 300,
                     step_size: float = 0.1, target_accept: float = 0.9, jitter: float = 1e-4,
                     init: torch.Tensor | None = None, seed: int = 0,
                     step_jitter: float = APPD_STEP_JITTER, density: str = "gaussian") -> torch.Tensor:
    """App. D estimate of log p(x) per datapoint: x: (B, D) -> (B,).

    1. HMC on p(z|x) (one chain per datapoint, ``n_leapfrog`` leapfrog steps, step size adapted to
       ``target_accept`` over ``n_warmup`` warm-up transitions), then 2L kept samples, L = ``n_samples``.
    2. Fit a density q(z) to the first L samples, per datapoint (``aevb.densities``): ``density="gaussian"``,
       N(mean, cov + jitter·I) with full covariance; ``"kde"``, the authors' Gaussian kernel density estimate
       (dpkingma/anglepy ``hmc_est.py``: bandwidth chosen on a split of the L samples).
    3. On the L fresh samples z_l: 1/p(x) ≈ (1/L) Σ_l q(z_l) / (p(z_l) p(x|z_l)), in log space:
       log p(x) ≈ log L − logsumexp_l [log q(z_l) − log p(x, z_l)].
    Defaults follow the paper's Fig. 3 settings (App. E: L = 50, 4 leapfrog steps). The paper gives no step
    size for this sampler (ours is adapted to 90% acceptance, the target App. E gives for Monte Carlo EM's), no
    warm-up length, initial state or density family: ours are 300 adapted transitions (100 left
    a few chains with poorly tuned step sizes and errors of several nats on the linear-Gaussian test), the
    encoder's mean (without encoder, the best of 1000 prior draws), and a full-covariance Gaussian (the
    authors' code used the KDE: ``density="kde"``, see ``aevb.densities`` for what of it is followed).

    The paper does not say whether its step size was fixed; ours is jittered at every transition by
    ``step_jitter`` (``aevb.hmc``: with a fixed ε and 4 leapfrog steps the chains resonated on near-Gaussian
    posteriors, and the estimate missed the exact log p(x) of linear-Gaussian models by up to 3.6 nats on single
    points; ``step_jitter=0`` reproduces that sampler).
    """
    if density not in DENSITIES:
        raise ValueError(f"density={density!r}: allowed values are {DENSITIES}")
    samples = appd_samples(model, x, 2 * n_samples, n_leapfrog, n_warmup, step_size, target_accept, init,
                           seed, step_jitter)  # (2L, B, Z)
    return appd_estimate(model, x, samples, density, jitter)


def appd_samples(model, x: torch.Tensor, n_samples: int = 100, n_leapfrog: int = 4, n_warmup: int = 300,
                 step_size: float = 0.1, target_accept: float = 0.9, init: torch.Tensor | None = None,
                 seed: int = 0, step_jitter: float = APPD_STEP_JITTER) -> torch.Tensor:
    """App. D's step 1, the posterior samples: x: (B, D) -> (n_samples, B, Z), one chain per datapoint
    (see ``log_marginal_hmc``, which keeps 2L of them)."""
    target = lambda z: log_joint(model, x, z)  # noqa: E731  (B, Z) -> (B,): one chain per datapoint
    if init is None:
        with seeded(seed + 1, x.device):
            init = _default_init(model, x)
    return hmc(target, init, n_samples, n_leapfrog, step_size, n_warmup, target_accept, seed=seed,
               jitter=step_jitter).samples


@torch.no_grad()
def appd_estimate(model, x: torch.Tensor, samples: torch.Tensor, density: str = "gaussian",
                  jitter: float = 1e-4) -> torch.Tensor:
    """App. D's steps 2 and 3 on posterior samples (2L, B, Z): q of family ``density`` fitted to the first L,
    the estimate from the last L. x: (B, D) -> log p(x): (B,)."""
    L = samples.shape[0] // 2
    fit, fresh = samples[:L], samples[L: 2 * L]  # (L, B, Z) each
    lq = log_q(density, fit.transpose(0, 1), fresh.transpose(0, 1), jitter).transpose(0, 1)  # (L, B)
    log_ratio = lq - log_joint(model, x, fresh)  # (L, B)
    return math.log(L) - torch.logsumexp(log_ratio, 0)


@torch.no_grad()
def iwae_bound(model, encoder, x: torch.Tensor, k: int, chunk_elems: int = 2**25, seed: int | None = 0):
    """Importance-weighted bound (Burda et al. 2015): x: (B, D) -> (B,),
    log (1/k) Σ_j p(x, z_j) / q(z_j|x), z_j ~ q(z|x), for q of any family of ``aevb.posteriors``. k = 1 is the
    ELBO (in expectation); it rises to log p(x) as k grows. Computed in chunks of samples so memory stays below
    ``chunk_elems`` floats."""
    if seed is not None:
        with seeded(seed, x.device):
            return iwae_bound(model, encoder, x, k, chunk_elems, None)
    q = encoder(x)
    per = max(1, chunk_elems // max(1, x.shape[0] * x.shape[1]))
    acc = torch.full((x.shape[0],), -math.inf, dtype=x.dtype, device=x.device)
    for start in range(0, k, per):
        if hasattr(q, "rsample_and_log_prob"):  # a flow (aevb.posteriors.IAFPosterior): log q at its own draws
            z, log_q = q.rsample_and_log_prob((min(per, k - start),))  # (k', B, Z), (k', B)
        else:  # a torch distribution: the diagonal or a full-covariance Gaussian
            z = q.sample((min(per, k - start),))  # (k', B, Z)
            log_q = q.log_prob(z)  # (k', B)
        acc = torch.logaddexp(acc, torch.logsumexp(log_joint(model, x, z) - log_q, 0))
    return acc - math.log(k)


def sigmoid_schedule(n_steps: int, delta: float = 4.0) -> torch.Tensor:
    """Inverse temperatures 0 = β_0 < ... < β_T = 1 spaced by a sigmoid (Grosse et al. 2015). (T+1,)"""
    s = torch.sigmoid(delta * (2 * torch.arange(n_steps + 1, dtype=torch.float64) / n_steps - 1))
    return (s - s[0]) / (s[-1] - s[0])


def _anneal(model, x, z, betas, n_chains, n_leapfrog, eps, target_accept=None):
    """Run chains z: (K·B, Z) through the tempered targets log p(z) + β log p(x|z) for β in ``betas``,
    accumulating log w += (β_t − β_{t−1}) log p(x|z) before each transition (one HMC transition per
    temperature). ``eps`` is either a fixed schedule (T, K·B) of step sizes, or a starting value (K·B,)
    adapted per chain towards ``target_accept`` (Robbins-Monro on log ε) and recorded.

    Returns (log w: (K·B,), the step sizes used: (T, K·B)). Adapting on a chain's own history biases the
    weights, so only pilot runs adapt; the estimates come from runs with a fixed schedule."""
    B = x.shape[0]
    prior = model.prior

    def log_lik(z):
        return model.log_likelihood(x, z.view(n_chains, B, -1)).reshape(-1)

    adapt = eps.dim() == 1
    used = []
    log_w = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
    for t, (b_prev, b) in enumerate(zip(betas[:-1].tolist(), betas[1:].tolist())):
        target = lambda z, b=b: prior.log_prob(z) + b * log_lik(z)  # noqa: E731
        with torch.enable_grad():  # log p(x|z) once, for both the weight and the target's gradient
            zz = z.detach().requires_grad_(True)
            ll = log_lik(zz)
            lp = prior.log_prob(zz) + b * ll
            (grad,) = torch.autograd.grad(lp.sum(), zz)
        log_w += (b - b_prev) * ll.detach()
        lp = lp.detach()
        step = eps if adapt else eps[t]
        used.append(step)
        z, _, _, a = hmc_step(target, z, lp, grad, step, n_leapfrog)
        if adapt:
            eps = adapt_step_size(eps, a, target_accept)
    return log_w, torch.stack(used)


def ais(model, x: torch.Tensor, n_chains: int = 16, n_steps: int = 500, n_leapfrog: int = 5,
        step_size: float = 0.05, target_accept: float = 0.65, n_pilot: int = 2, seed: int = 0,
        z_posterior: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Annealed importance sampling (Neal 2001; Wu et al. 2017) from the prior to p(z|x): x: (B, D) -> (B,).

    ``n_chains`` chains per datapoint, ``n_steps`` intermediate distributions on a sigmoid schedule, one
    HMC transition each. A pilot run of ``n_pilot`` chains per datapoint tunes a step size per temperature
    and datapoint towards ``target_accept``; the estimate comes from fresh chains run with that fixed
    schedule, so log (1/K) Σ_k w_k is a stochastic lower bound on log p(x) (unbiased for p(x)).

    With ``z_posterior``: (B, Z), exact posterior samples (e.g. the z that generated simulated x), also
    runs the reverse chain from the posterior to the prior and returns (lower, upper): the bidirectional
    Monte Carlo sandwich of Grosse et al. (2015), lower ≲ log p(x) ≲ upper.
    """
    with seeded(seed, x.device):
        betas = sigmoid_schedule(n_steps)
        K, B = n_chains, x.shape[0]
        zp = model.prior.sample((n_pilot, B)).reshape(n_pilot * B, -1)
        eps0 = torch.full((n_pilot * B,), step_size, dtype=x.dtype, device=x.device)
        _, pilot = _anneal(model, x, zp, betas, n_pilot, n_leapfrog, eps0, target_accept)
        sched = torch.exp(torch.log(pilot).view(n_steps, n_pilot, B).mean(1))  # (T, B), per datapoint
        z0 = model.prior.sample((K, B)).reshape(K * B, -1)
        log_w, _ = _anneal(model, x, z0, betas, K, n_leapfrog, sched.repeat(1, K))
        lower = torch.logsumexp(log_w.view(K, B), 0) - math.log(K)
        if z_posterior is None:
            return lower
        # reverse: targets β_{T−1}, ..., β_0 use the step sizes tuned for β_{T−1}, ..., β_1, β_1
        rev = torch.cat([sched[: n_steps - 1].flip(0), sched[:1]]).repeat(1, K)
        zr = z_posterior.detach().expand(K, -1, -1).reshape(K * B, -1)
        log_w_rev, _ = _anneal(model, x, zr, betas.flip(0), K, n_leapfrog, rev)
        upper = -(torch.logsumexp(log_w_rev.view(K, B), 0) - math.log(K))
        return lower, upper


def log_marginal(model, x: torch.Tensor, method: str = "hmc", seed: int = 0, k: int = 5000,
                 n_chains: int = 8, n_steps: int = 500, density: str = "gaussian") -> torch.Tensor:
    """log p(x) per datapoint by ``method``: x: (B, D) -> (B,). ``k`` is IWAE's sample count, ``n_chains``
    and ``n_steps`` AIS's; App. D uses the paper's Fig. 3 settings with q of family ``density`` (see
    ``log_marginal_hmc``)."""
    if method == "hmc":
        return log_marginal_hmc(model, x, seed=seed, density=density)
    if method == "iwae":
        return iwae_bound(model, model.encoder, x, k, seed=seed)
    if method == "ais":
        return ais(model, x, n_chains=n_chains, n_steps=n_steps, seed=seed)
    raise ValueError(f"method={method!r}: allowed values are {MARGINAL_METHODS}")
