"""Stochastic estimators of the variational lower bound, §2.2–2.3 and App. B.

L(θ, φ; x) = E_q[−log q(z|x) + log p(x, z)]                         (eq. 2)
           = −KL(q(z|x) ‖ p(z)) + E_q[log p(x|z)]                      (eq. 3)

- ``sgvb_a``: estimator A, eq. 6: (1/L) Σ_l log p(x, z_l) − log q(z_l|x), z_l = g(ε_l, x).
- ``sgvb_b``: estimator B, eq. 7 (eq. 10 for the VAE): −KL(q ‖ p(z)) in closed form (App. B) plus
  (1/L) Σ_l log p(x|z_l).
- ``minibatch_bound``: eq. 8, (N/M) Σ_i L̃(x_i) over a minibatch of M of the N datapoints.
- ``score_function_surrogate``: the naive estimator of §2.2, ∇φ E_q[f(z)] = E_q[f(z) ∇φ log q(z)],
  as a surrogate whose gradient is that estimate.
- ``neg_kl_std_normal``: App. B, −KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ_j (1 + log σ_j² − μ_j² − σ_j²).

All take a model and an encoder with the interface of ``aevb.models`` and return (B,).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.distributions import Distribution, kl_divergence

from aevb.distributions import DiagonalGaussian, StandardNormal


def neg_kl_std_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """App. B: −KL(N(μ, diag σ²) ‖ N(0, I)); mu, log_var: (B, Z) -> (B,)."""
    return 0.5 * (1 + log_var - mu**2 - torch.exp(log_var)).sum(-1)


def analytic_kl(q: Distribution, prior: Distribution) -> torch.Tensor:
    """KL(q ‖ prior) in closed form -> (B,): App. B for the VAE's Gaussians, else torch's registry."""
    if isinstance(q, DiagonalGaussian) and isinstance(prior, StandardNormal):
        return -neg_kl_std_normal(q.mu, q.log_var)
    return kl_divergence(q, prior)


def log_joint(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x, z) = log p(z) + log p(x|z); x: (B, D), z: (*S, B, Z) -> (*S, B)."""
    return model.prior.log_prob(z) + model.log_likelihood(x, z)


def sgvb_a(model, encoder, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
    """Estimator A (eq. 6): x: (B, D) -> (B,), an unbiased estimate of L(θ, φ; x) per datapoint."""
    q = encoder(x)
    z = q.rsample((n_samples,))  # (L, B, Z), z = g(ε, x)
    return (log_joint(model, x, z) - q.log_prob(z)).mean(0)


def sgvb_b(model, encoder, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
    """Estimator B (eq. 7, eq. 10 for the VAE): x: (B, D) -> (B,), analytic KL + MC reconstruction."""
    q = encoder(x)
    z = q.rsample((n_samples,))  # (L, B, Z)
    return -analytic_kl(q, model.prior) + model.log_likelihood(x, z).mean(0)


ESTIMATORS: dict[str, Callable] = {"A": sgvb_a, "B": sgvb_b}


def minibatch_bound(estimator: Callable, model, encoder, x: torch.Tensor, n_data: int, n_samples: int = 1):
    """Eq. 8: L(θ, φ; X) ≈ (N/M) Σ_{i=1}^M L̃(θ, φ; x_i) for a minibatch x: (M, D) -> scalar."""
    return estimator(model, encoder, x, n_samples).sum() * (n_data / x.shape[0])


def score_function_surrogate(model, encoder, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
    """§2.2's naive estimator: x: (B, D) -> (B,) whose φ-gradient is (1/L) Σ_l f(z_l) ∇φ log q(z_l|x),
    f(z) = log p(x, z) − log q(z|x), z_l ~ q without reparameterization.

    The value is not the bound; only its gradient w.r.t. the encoder's parameters is meaningful.
    (The term E_q[∇φ f] = −E_q[∇φ log q] is zero in expectation and left out, as in the paper.)
    """
    q = encoder(x)
    z = q.sample((n_samples,))  # (L, B, Z), no path from φ to z
    log_q = q.log_prob(z)  # (L, B)
    f = (log_joint(model, x, z) - log_q).detach()
    return (f * log_q).mean(0)


def gradient_samples(surrogate: Callable[[], torch.Tensor], params: list[torch.Tensor], n_repeats: int):
    """Draw ``n_repeats`` independent gradient estimates of ``surrogate().sum()`` w.r.t. ``params``.

    Returns (R, P): each row is one estimate, flattened over all parameters. Used to compare the
    variance of the estimators (chapter 3).
    """
    rows = []
    for _ in range(n_repeats):
        grads = torch.autograd.grad(surrogate().sum(), params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


SURROGATES: dict[str, Callable] = {"A": sgvb_a, "B": sgvb_b, "score function": score_function_surrogate}


def gradient_variance(model, encoder, x: torch.Tensor, n_samples: tuple[int, ...] = (1, 10, 100),
                      n_repeats: int = 200, exact: torch.Tensor | None = None) -> list[dict]:
    """For each estimator in ``SURROGATES`` and each L: the total variance (summed over the encoder's
    parameters) of the φ-gradient of Σ_i L̃(x_i), over ``n_repeats`` independent draws, and, where the
    exact gradient (P,) is given, ``max_z``: the largest deviation of the mean estimate from it in
    standard errors (an unbiased estimator keeps this at a few units; a biased one grows with R).

    Returns rows {estimator, L, variance, max_z}; call inside ``aevb.rng.seeded``.
    """
    phi = [p for p in encoder.parameters() if p.requires_grad]
    rows = []
    for name, est in SURROGATES.items():
        for L in n_samples:
            g = gradient_samples(lambda: est(model, encoder, x, L), phi, n_repeats)  # (R, P)
            se = g.std(0) / n_repeats**0.5
            z = ((g.mean(0) - exact).abs() / se).max().item() if exact is not None else float("nan")
            rows.append({"estimator": name, "L": L, "variance": g.var(0).sum().item(), "max_z": z})
    return rows
