"""Hamiltonian Monte Carlo for many independent chains at once (used by App. D and App. E).

Duane et al. (1987); Neal (2011), "MCMC using Hamiltonian dynamics". Identity mass matrix, leapfrog
integrator, Metropolis correction. All chains advance together: ``log_prob`` maps (C, Z) -> (C,), and its
gradient for every chain comes from one autograd call on the sum (the chains are independent), or, where a caller
has it written out, from ``value_and_grad`` in its place: (z: (C, Z), value: bool) -> (log_prob: (C,), or None
where not ``value``, gradient: (C, Z)), asked for log_prob only where it is used, at a trajectory's ends (App. E's
MCEM: ``aevb.learners.fused.log_joint.log_joint_and_grad_z``); the random draws are the same either way. Each
chain has its own step size, adapted during warm-up by dual averaging (Hoffman & Gelman 2014, Alg. 5)
towards ``target_accept`` (the paper's App. D and E use 90%) and then frozen, so that the samples kept
come from a valid Markov chain.

**Jittered step sizes.** With a fixed step size ε and a fixed number of leapfrog steps, trajectories on a
near-Gaussian target can resonate: each transition lands near the reflection of its start, the chain
oscillates, and its samples misrepresent the target's spread (Neal 2011, §5.4.2.2). App. D's chains did
this on the linear-Gaussian model (lag-1 autocorrelation about −0.67, errors of up to 3.6 nats on single
points). ``jitter`` = j draws each chain's step size afresh at every transition, uniform on
[(1 − j) ε, (1 + j) ε] (Neal's remedy); the kernel still leaves the target invariant, since the step size is
chosen independently of the state. ``effective_sample_size`` measures the result (Geyer 1992).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from aevb.rng import seeded

LogProb = Callable[[torch.Tensor], torch.Tensor]  # (C, Z) -> (C,)
ValueAndGrad = Callable[[torch.Tensor, bool], tuple[torch.Tensor | None, torch.Tensor]]  # (z, value) -> (lp, ∇lp)


def log_prob_and_grad(log_prob: LogProb, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z: (C, Z) -> (log_prob: (C,), ∇z log_prob: (C, Z)), both detached."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        lp = log_prob(z)
        (grad,) = torch.autograd.grad(lp.sum(), z)
    return lp.detach(), grad


def value_and_grad_of(log_prob: LogProb, value_and_grad: ValueAndGrad | None = None) -> ValueAndGrad:
    """``value_and_grad`` where given, else ``log_prob_and_grad`` on ``log_prob`` as one (autograd: the value comes
    with the gradient, asked for or not)."""
    if value_and_grad is not None:
        return value_and_grad
    return lambda z, value=True: log_prob_and_grad(log_prob, z)


def leapfrog(log_prob: LogProb, z, p, grad, step_size, n_steps: int, value_and_grad: ValueAndGrad | None = None):
    """n_steps leapfrog steps of size step_size: (C, 1), from (z, p): (C, Z) with ∇ log_prob(z) = grad; the
    gradients by autograd, or by ``value_and_grad`` where given.

    Returns (z, p, log_prob(z), grad) at the end of the trajectory.
    """
    value_and_grad = value_and_grad_of(log_prob, value_and_grad)
    p = p + 0.5 * step_size * grad
    for i in range(n_steps):
        z = z + step_size * p
        lp, grad = value_and_grad(z, i == n_steps - 1)  # log_prob(z) is used at the end of the trajectory only
        if i < n_steps - 1:
            p = p + step_size * grad
    p = p + 0.5 * step_size * grad
    return z, p, lp, grad


def jittered(step_size: torch.Tensor, jitter: float) -> torch.Tensor:
    """Step sizes drawn uniform on [(1 − jitter) ε, (1 + jitter) ε] per chain: (C,) -> (C,); the same
    tensor when jitter = 0 (no random draw, so unjittered runs keep their random stream)."""
    if jitter == 0:
        return step_size
    return step_size * (1 + jitter * (2 * torch.rand_like(step_size) - 1))


def hmc_step(log_prob: LogProb, z, lp, grad, step_size, n_leapfrog: int, jitter: float = 0.0,
             value_and_grad: ValueAndGrad | None = None):
    """One HMC transition for every chain. z: (C, Z); lp: (C,); step_size: (C,), jittered by ``jitter``;
    gradients by autograd, or by ``value_and_grad`` where given.

    Returns (z, lp, grad, accept_prob: (C,)); rejected chains keep their state.
    """
    step_size = jittered(step_size, jitter)
    p0 = torch.randn_like(z)
    z1, p1, lp1, grad1 = leapfrog(log_prob, z, p0, grad, step_size[:, None], n_leapfrog, value_and_grad)
    log_ratio = (lp1 - 0.5 * (p1**2).sum(-1)) - (lp - 0.5 * (p0**2).sum(-1))  # (C,)
    log_ratio = torch.nan_to_num(log_ratio, nan=-math.inf)  # a diverged trajectory is rejected
    accept_prob = torch.exp(log_ratio.clamp(max=0.0))
    accept = torch.rand_like(accept_prob) < accept_prob
    z = torch.where(accept[:, None], z1, z)
    lp = torch.where(accept, lp1, lp)
    grad = torch.where(accept[:, None], grad1, grad)
    return z, lp, grad, accept_prob


def adapt_step_size(step_size: torch.Tensor, accept_prob: torch.Tensor, target: float, rate: float = 0.1):
    """One Robbins-Monro step on log ε towards ``target`` acceptance: ε · exp(rate (a − target)).
    For samplers whose target moves (AIS pilots, MCEM's chains), where dual averaging's frozen step fits
    less well. Any shapes that broadcast."""
    return step_size * torch.exp(rate * (accept_prob - target))


class DualAveraging:
    """Per-chain step-size adaptation (Hoffman & Gelman 2014, §3.2.1); all tensors (C,)."""

    def __init__(self, step_size: torch.Tensor, target: float, gamma=0.05, t0=10.0, kappa=0.75):
        self.mu = torch.log(10 * step_size)
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.h_bar = torch.zeros_like(step_size)
        self.log_eps_bar = torch.zeros_like(step_size)
        self.m = 0

    def update(self, accept_prob: torch.Tensor) -> torch.Tensor:
        """Feed one acceptance probability per chain; returns the next step sizes."""
        self.m += 1
        w = 1.0 / (self.m + self.t0)
        self.h_bar = (1 - w) * self.h_bar + w * (self.target - accept_prob)
        log_eps = self.mu - math.sqrt(self.m) / self.gamma * self.h_bar
        eta = self.m ** -self.kappa
        self.log_eps_bar = eta * log_eps + (1 - eta) * self.log_eps_bar
        return torch.exp(log_eps)

    def final(self) -> torch.Tensor:
        return torch.exp(self.log_eps_bar)


@dataclass
class HMCResult:
    samples: torch.Tensor  # (S, C, Z) states after each kept transition
    step_size: torch.Tensor  # (C,) the step sizes used for the kept samples
    accept_rate: torch.Tensor  # (C,) mean acceptance probability over the kept samples
    log_prob: torch.Tensor  # (C,) log_prob of the last state


def hmc(log_prob: LogProb, init: torch.Tensor, n_samples: int, n_leapfrog: int = 10,
        step_size: float | torch.Tensor = 0.1, n_warmup: int = 100, target_accept: float = 0.9,
        adapt: bool = True, thin: int = 1, seed: int | None = None, jitter: float = 0.0,
        value_and_grad: ValueAndGrad | None = None) -> HMCResult:
    """Run C independent chains from ``init``: (C, Z); keep ``n_samples`` states after ``n_warmup``
    warm-up transitions (step sizes adapted there when ``adapt``), every ``thin``-th transition; each
    transition's step size jittered by ``jitter`` (see the module's docstring; warm-up adapts the centre ε).
    ``value_and_grad``, where given, computes log_prob and its gradient in autograd's place.

    With ``seed`` the run is reproducible and leaves the caller's RNG alone; without, it draws from
    torch's global RNG (as inside an enclosing ``aevb.rng.seeded`` block).
    """
    if seed is not None:
        with seeded(seed, init.device):
            return hmc(log_prob, init, n_samples, n_leapfrog, step_size, n_warmup, target_accept, adapt, thin,
                       jitter=jitter, value_and_grad=value_and_grad)
    z = init.detach().clone()
    eps = torch.as_tensor(step_size, dtype=z.dtype, device=z.device).expand(z.shape[0]).clone()  # (C,)
    value_and_grad = value_and_grad_of(log_prob, value_and_grad)
    lp, grad = value_and_grad(z, True)
    if adapt and n_warmup > 0:
        da = DualAveraging(eps, target_accept)
        for _ in range(n_warmup):
            z, lp, grad, a = hmc_step(log_prob, z, lp, grad, eps, n_leapfrog, jitter, value_and_grad)
            eps = da.update(a)
        eps = da.final()
    else:
        for _ in range(n_warmup):
            z, lp, grad, _ = hmc_step(log_prob, z, lp, grad, eps, n_leapfrog, jitter, value_and_grad)
    out, acc = [], torch.zeros_like(eps)
    for i in range(n_samples * thin):
        z, lp, grad, a = hmc_step(log_prob, z, lp, grad, eps, n_leapfrog, jitter, value_and_grad)
        acc += a
        if (i + 1) % thin == 0:
            out.append(z)
    return HMCResult(torch.stack(out), eps, acc / (n_samples * thin), lp)


def sample(log_prob: LogProb, init: torch.Tensor, n_samples: int, **kw) -> torch.Tensor:
    """HMC samples only: log_prob (C, Z) -> (C,), init (C, Z) -> (n_samples, C, Z). See ``hmc``."""
    return hmc(log_prob, init, n_samples, **kw).samples


def autocorrelation(samples: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Autocorrelation of each chain and coordinate at lags 0 … max_lag: samples (S, C, Z) -> (max_lag + 1, C, Z)."""
    d = samples - samples.mean(0)  # (S, C, Z)
    var = (d**2).mean(0)  # (C, Z)
    S = samples.shape[0]
    return torch.stack([(d[t:] * d[: S - t]).sum(0) / (S * var) for t in range(max_lag + 1)])


def effective_sample_size(samples: torch.Tensor) -> torch.Tensor:
    """Effective sample size of each chain and coordinate, S / τ, with the integrated autocorrelation time τ
    from Geyer's (1992) initial positive sequence: τ = −1 + 2 Σ_k Γ_k, Γ_k = ρ_2k + ρ_2k+1, summed while
    Γ_k > 0. (S, C, Z) -> (C, Z). Anticorrelated chains can have ESS > S for the mean: look at the ESS of
    the squared deviations too (``effective_sample_size((s - s.mean(0))**2)``) for the spread."""
    S = samples.shape[0]
    rho = autocorrelation(samples, 2 * (S // 2) - 1)  # an even count of lags, 0 … 2K − 1: (2K, C, Z)
    gamma = rho[0::2] + rho[1::2]  # (K, C, Z)
    keep = torch.cumprod((gamma > 0).to(gamma.dtype), 0)  # 1 until the first non-positive pair, then 0
    tau = -1 + 2 * (gamma * keep).sum(0)  # (C, Z)
    return S / tau.clamp(min=1.0 / S)
