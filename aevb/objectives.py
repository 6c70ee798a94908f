"""Monte Carlo objectives for any posterior family of ``aevb.posteriors`` (diagonal, full-covariance, IAF).

For a model with ``prior`` and ``log_likelihood(x, z)`` (``aevb.models.LatentVariableModel``,
``aevb.linear_gaussian.LinearGaussian``) and draws z_s ~ q(z|x) reparameterized (§2.4), the log weights are
log w_s = log p(x|z_s) + log p(z_s) − log q(z_s|x), and

- ``elbo``: the lower bound (eqs. 2-3) by estimator A (eq. 6), (1/S) Σ_s log w_s per data point;
- ``iwae_objective``: the importance-weighted bound of Burda, Grosse & Salakhutdinov 2015,
  log (1/k) Σ_s w_s per data point. Their Theorem 1: log p(x) ≥ E[IWAE_{k+1}] ≥ E[IWAE_k]; k = 1 is the ELBO,
  the same number from the same draws.

Both are differentiable in the model's and the encoder's parameters, so one training step serves every family
(``aevb.learners.aevb.Trainer`` trains with ``iwae_objective`` when ``TrainConfig.k`` > 1 or the posterior is
not the diagonal Gaussian, and reports ``elbo`` for those families).
"""
from __future__ import annotations

import math

import torch

from aevb.posteriors import sample_and_log_q


def log_weights(model, q, x: torch.Tensor, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """log p(x, z_s) − log q(z_s|x) for S = ``n_samples`` draws z_s ~ q: x: (B, D) -> (S, B).

    ``q``: an encoder or its output, as ``aevb.posteriors.sample_and_log_q`` takes; the noise is drawn with
    ``generator``."""
    z, log_q = sample_and_log_q(q, x, n_samples, generator)  # (S, B, Z), (S, B)
    return model.log_likelihood(x, z) + model.prior.log_prob(z) - log_q  # (S, B)


def logmeanexp(a: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/n) Σ exp(a) over ``dim`` (n its length), computed stably: (…, n, …) -> (…, …)."""
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


def elbo(model, q, x: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Estimator A of the bound (eq. 6): (1/S) Σ_s log p(x, z_s) − log q(z_s|x), per point: x: (B, D) -> (B,)."""
    return log_weights(model, q, x, n_samples, generator).mean(0)


def iwae_objective(model, q, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The importance-weighted bound (Burda et al. 2015): log (1/k) Σ_j p(x, z_j) / q(z_j|x), z_j ~ q(z|x), per
    point: x: (B, D) -> (B,). With the same ``generator`` state, k = 1 gives ``elbo``'s n_samples = 1 number."""
    return logmeanexp(log_weights(model, q, x, k, generator), 0)
