"""App. C's decoder likelihoods for the fused path: log p(x|z) as a function of the decoder's head output (the
concatenated outputs of its ``head_layers``: the logits l for the Bernoulli MLP, μ | log σ² for the Gaussian MLP),
with its gradient written out, and the draw x ~ p(x|z) from the head output into a buffer. The references are the
decoders' ``log_likelihood`` and ``draw`` in ``aevb.models`` (tests/test_fused.py compares them in float64).

``LIKELIHOODS`` maps ``LatentVariableModel.likelihood`` ("bernoulli", "gaussian") to its class here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from aevb.models import LOG_2PI


class BernoulliLikelihood:
    """log p(x|z) = Σ_i x_i log y_i + (1 − x_i) log(1 − y_i) = Σ_i x_i l_i − softplus(l_i), y = sigmoid(l);
    ∂/∂l of −log p(x|z) = y − x."""

    SCRATCH = 1  # (K, R, D) work tensors of ``value_and_grad``

    @staticmethod
    def value_and_grad(x: torch.Tensor, head: torch.Tensor, scale: float, grad: torch.Tensor,
                       scratch: list[torch.Tensor]) -> torch.Tensor:
        """K models at once: x, head: (K, R, D) -> scale · Σ_rows log p(x|z) per model (K,); writes ∂J/∂head of
        J = −that into ``grad`` (K, R, D): (y − x) · scale."""
        K, R, D = x.shape
        x_dot_l = torch.bmm(x.reshape(K, 1, R * D), head.reshape(K, R * D, 1)).view(K)  # Σ x·l, a batched dot
        log_lik = (x_dot_l - torch.ops.aten.softplus.out(head, 1, 20, out=scratch[0]).sum((1, 2))) * scale  # (K,)
        torch.sigmoid(head, out=grad).sub_(x).mul_(scale)
        return log_lik

    @staticmethod
    def rows_value_and_grad(x: torch.Tensor, head: torch.Tensor, value: bool = True):
        """One model, per row: x, head: (B, D) -> (log p(x_i|z_i): (B,), or None where not ``value``; ∂J/∂head
        (B, D) of J = −Σ_i log p(x_i|z_i)): y − x."""
        log_lik = -F.binary_cross_entropy_with_logits(head, x, reduction="none").sum(-1) if value else None  # (B,)
        return log_lik, torch.sigmoid(head).sub_(x)

    @staticmethod
    def draw(head: torch.Tensor, generator: torch.Generator, out: torch.Tensor) -> torch.Tensor:
        """x ~ p(x|z) from the logits (*, D): binary x into ``out`` (*, D), drawn with ``generator``."""
        return torch.bernoulli(torch.sigmoid(head), generator=generator, out=out)


class GaussianLikelihood:
    """log p(x|z) = Σ_i log N(x_i; m_i, σ_i²), m = sigmoid(μ) (Frey Face, §5); ∂/∂μ of −log p(x|z) =
    −(x − m)/σ² · m(1 − m), ∂/∂log σ² = ½(1 − (x − m)²/σ²)."""

    SCRATCH = 3  # (K, R, D) work tensors of ``value_and_grad``

    @staticmethod
    def value_and_grad(x: torch.Tensor, head: torch.Tensor, scale: float, grad: torch.Tensor,
                       scratch: list[torch.Tensor]) -> torch.Tensor:
        """K models at once: x: (K, R, D), head: (K, R, 2D) = μ | log σ² -> scale · Σ_rows log p(x|z) per model
        (K,); writes ∂J/∂head of J = −that into ``grad`` (K, R, 2D), each term times scale."""
        K, R, D = x.shape
        mu, log_var = head[..., :D], head[..., D:]
        tmp, m, r = scratch
        torch.sigmoid(mu, out=m)
        torch.sub(x, m, out=r)
        r_over_var = torch.exp(torch.neg(log_var, out=tmp), out=tmp).mul_(r)  # (x − m)/σ²
        r2e = r.mul_(r_over_var)  # (x − m)²/σ² (r is not needed any more)
        log_lik = -0.5 * (LOG_2PI * R * D + log_var.sum((1, 2)) + r2e.sum((1, 2))) * scale  # (K,)
        torch.mul(r_over_var.mul_(m), m.sub_(1), out=grad[..., :D]).mul_(scale)
        torch.mul(r2e, -0.5 * scale, out=grad[..., D:]).add_(0.5 * scale)
        return log_lik

    @staticmethod
    def rows_value_and_grad(x: torch.Tensor, head: torch.Tensor, value: bool = True):
        """One model, per row: x: (B, D), head: (B, 2D) = μ | log σ² -> (log p(x_i|z_i): (B,), or None where not
        ``value``; ∂J/∂head (B, 2D) of J = −Σ_i log p(x_i|z_i))."""
        D = x.shape[-1]
        mu, log_var = head[..., :D], head[..., D:]
        m = torch.sigmoid(mu)  # (B, D)
        r = x - m
        r_over_var = torch.exp(-log_var).mul_(r)  # (x − m)/σ²
        r2e = r.mul_(r_over_var)  # (x − m)²/σ²
        log_lik = -0.5 * (LOG_2PI * D + log_var.sum(-1) + r2e.sum(-1)) if value else None  # (B,)
        grad = torch.empty_like(head)  # (B, 2D)
        torch.mul(r_over_var.mul_(m), m.sub_(1), out=grad[..., :D])  # −(x − m)/σ² · m(1 − m)
        torch.mul(r2e, -0.5, out=grad[..., D:]).add_(0.5)  # ½(1 − (x − m)²/σ²)
        return log_lik, grad

    @staticmethod
    def draw(head: torch.Tensor, generator: torch.Generator, out: torch.Tensor) -> torch.Tensor:
        """x ~ N(sigmoid(μ), diag σ²) from the head output (*, 2D) = μ | log σ²: x = sigmoid(μ) + σ ⊙ noise into
        ``out`` (*, D), the noise drawn with ``generator``."""
        D = head.shape[-1] // 2
        mu, log_var = head[..., :D], head[..., D:]
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return torch.add(torch.sigmoid(mu), torch.exp(0.5 * log_var).mul_(noise), out=out)


LIKELIHOODS = {"bernoulli": BernoulliLikelihood, "gaussian": GaussianLikelihood}
