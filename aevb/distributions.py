"""The two Gaussians of §3: the prior p(z) = N(0, I) and the diagonal posterior q(z|x) of eq. 9.

Both are ``torch.distributions.Independent`` Normals with event shape ``(Z,)``, so everything in
``torch.distributions`` applies; the subclasses only let the estimators recognise them and use the
closed-form KL of App. B. ``DiagonalGaussian.rsample`` is the reparameterization of §2.4,
z = μ + σ ⊙ ε with ε ~ N(0, I).
"""
from __future__ import annotations

import torch
from torch.distributions import Independent, Normal


class StandardNormal(Independent):
    """p(z) = N(0, I) over z: (Z,). ``loc`` and ``scale`` are passed in to fix device and dtype."""

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor):
        super().__init__(Normal(loc, scale, validate_args=False), 1, validate_args=False)

    @classmethod
    def of_size(cls, n_z: int, device=None, dtype=torch.float32) -> "StandardNormal":
        return cls(torch.zeros(n_z, device=device, dtype=dtype), torch.ones(n_z, device=device, dtype=dtype))


class DiagonalGaussian(Independent):
    """q(z|x) = N(μ, diag σ²) from μ, log σ²: (B, Z); batch shape (B,), event shape (Z,)."""

    def __init__(self, mu: torch.Tensor, log_var: torch.Tensor):
        self.mu, self.log_var = mu, log_var
        super().__init__(Normal(mu, torch.exp(0.5 * log_var), validate_args=False), 1, validate_args=False)
