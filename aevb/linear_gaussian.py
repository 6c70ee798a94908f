"""A latent-variable model with exact answers: the linear-Gaussian model (probabilistic PCA).

p(z) = N(0, I),  p(x|z) = N(W z + b, s² I),  x: (D,), z: (Z,).

Everything the paper estimates is closed form here, so every estimator and sampler in the package
is checked against it:
- log p(x) = log N(x; b, W Wᵀ + s² I);
- p(z|x) = N(m, S), S = (I + Wᵀ W / s²)⁻¹, m = S Wᵀ (x − b) / s²;
- for a diagonal Gaussian q = N(μ, diag σ²), the bound of eq. 3,
  L = −KL(q ‖ p(z)) + E_q[log p(x|z)], with
  E_q[log p(x|z)] = −D/2 log(2π s²) − (‖x − Wμ − b‖² + Σ_j σ_j² ‖W_{:, j}‖²) / (2 s²),
  and KL(q ‖ p(z|x)) between two Gaussians, so that log p(x) = L + KL (eq. 1) can be checked.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import MultivariateNormal, Normal

from aevb.distributions import DiagonalGaussian, StandardNormal
from aevb.estimators import neg_kl_std_normal, sgvb_b
from aevb.rng import seeded


class LinearGaussian(nn.Module):
    """p(z) = N(0, I), p(x|z) = N(W z + b, s² I); W: (D, Z), b: (D,), log_s2 a scalar parameter."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, s2: float):
        super().__init__()
        self.W = nn.Parameter(W.clone())
        self.b = nn.Parameter(b.clone())
        self.log_s2 = nn.Parameter(torch.tensor(math.log(s2), dtype=W.dtype))

    @classmethod
    def random(cls, d_x: int, n_z: int, s: float = 0.5, seed: int = 0, dtype=torch.float64) -> "LinearGaussian":
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(d_x, n_z, generator=g, dtype=dtype)
        b = torch.randn(d_x, generator=g, dtype=dtype)
        return cls(W, b, s**2)

    @property
    def n_z(self) -> int:
        return self.W.shape[1]

    @property
    def prior(self) -> StandardNormal:
        return StandardNormal.of_size(self.n_z, self.W.device, self.W.dtype)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x: (B, D), z: (*S, B, Z) -> (*S, B)."""
        mean = z @ self.W.T + self.b  # (*S, B, D)
        return Normal(mean, torch.exp(0.5 * self.log_s2)).log_prob(x).sum(-1)

    @torch.no_grad()
    def sample_joint(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n draws (z, x) ~ p(z) p(x|z) -> ((n, Z), (n, D)); z is an exact posterior sample for its x."""
        z = torch.randn(n, self.n_z, generator=generator, dtype=self.W.dtype)
        eps = torch.randn(n, self.W.shape[0], generator=generator, dtype=self.W.dtype)
        return z, z @ self.W.T + self.b + torch.exp(0.5 * self.log_s2) * eps

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws x ~ p(x) -> (n, D)."""
        return self.sample_joint(n, generator)[1]

    # --- exact answers -------------------------------------------------------------------
    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W Wᵀ + s² I)."""
        cov = self.W @ self.W.T + torch.exp(self.log_s2) * torch.eye(self.W.shape[0], dtype=self.W.dtype)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x): x: (B, D) -> (B,)."""
        return self.marginal().log_prob(x)

    def posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """Exact p(z|x) = N(m, S): batch (B,), event (Z,)."""
        s2 = torch.exp(self.log_s2)
        prec = torch.eye(self.n_z, dtype=self.W.dtype) + self.W.T @ self.W / s2  # (Z, Z)
        S = torch.linalg.inv(prec)
        m = (x - self.b) @ self.W @ S / s2  # (B, Z); S symmetric
        return MultivariateNormal(m, covariance_matrix=S.expand(x.shape[0], -1, -1))

    def elbo(self, x: torch.Tensor, q: DiagonalGaussian) -> torch.Tensor:
        """Exact L(q; x) of eq. 3 for q = N(μ, diag σ²): x: (B, D) -> (B,)."""
        s2 = torch.exp(self.log_s2)
        resid = x - q.mu @ self.W.T - self.b  # (B, D)
        trace = torch.exp(q.log_var) @ (self.W**2).sum(0)  # (B,): Σ_j σ_j² ‖W_{:,j}‖²
        d = x.shape[-1]
        rec = -0.5 * d * torch.log(2 * math.pi * s2) - ((resid**2).sum(-1) + trace) / (2 * s2)
        return neg_kl_std_normal(q.mu, q.log_var) + rec

    def kl_to_posterior(self, x: torch.Tensor, q: DiagonalGaussian) -> torch.Tensor:
        """Exact KL(q(z|x) ‖ p(z|x)): x: (B, D) -> (B,)."""
        post = self.posterior(x)
        q_full = MultivariateNormal(q.mu, covariance_matrix=torch.diag_embed(torch.exp(q.log_var)))
        return torch.distributions.kl_divergence(q_full, post)


class LinearEncoder(nn.Module):
    """q(z|x) = N(A x + c, diag exp(v)): an amortized diagonal Gaussian, x: (B, D) -> batch (B,)."""

    def __init__(self, d_x: int, n_z: int, seed: int = 0, dtype=torch.float64, scale: float = 0.1):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = nn.Parameter(scale * torch.randn(n_z, d_x, generator=g, dtype=dtype))
        self.c = nn.Parameter(scale * torch.randn(n_z, generator=g, dtype=dtype))
        self.v = nn.Parameter(scale * torch.randn(n_z, generator=g, dtype=dtype) - 1.0)

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        mu = x @ self.A.T + self.c  # (B, Z)
        return DiagonalGaussian(mu, self.v.expand_as(mu))


def fit_encoder(model: LinearGaussian, encoder: nn.Module, x: torch.Tensor, steps: int = 500,
                lr: float = 0.05, seed: int = 0, every: int = 25) -> list[dict]:
    """Fit q_φ to fixed θ by stochastic gradient ascent on estimator B (eq. 7, L = 1) with Adagrad,
    recording the exact log p(x), L and KL(q ‖ p(z|x)) (eq. 1) averaged over x every ``every`` steps."""
    opt = torch.optim.Adagrad(encoder.parameters(), lr=lr)
    rows = []
    with seeded(seed):
        for step in range(steps + 1):
            if step % every == 0:
                with torch.no_grad():
                    q = encoder(x)
                    rows.append({"step": step, "log_px": model.log_marginal(x).mean().item(),
                                 "elbo": model.elbo(x, q).mean().item(),
                                 "kl": model.kl_to_posterior(x, q).mean().item()})
            if step < steps:
                loss = -sgvb_b(model, encoder, x).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    return rows
