"""The reparameterization trick, §2.4: z = g_φ(ε), ε ~ p(ε), for the paper's three families.

1. Tractable inverse CDF: ε ~ U(0, 1), z = F⁻¹_φ(ε) (Exponential, Rayleigh, Weibull).
2. Location-scale: ε from the standard member, z = μ + σ ε (Gaussian, Laplace, Logistic).
3. Composition: z a differentiable function of simpler variates (Log-Normal = exp of a Gaussian,
   Erlang/Gamma with integer shape = sum of Exponentials).

Each family carries the exact E_φ[z²], so the pathwise (Monte Carlo) gradient
∇φ E[z²] ≈ (1/S) Σ_s ∇φ g_φ(ε_s)² can be checked against the exact ∇φ E[z²] by autograd.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

Params = dict[str, torch.Tensor]


def _uniform(shape, g):  # ε ~ U(0, 1], never exactly 0 so log ε is finite
    return 1.0 - torch.rand(shape, generator=g, dtype=torch.float64)


def _normal(shape, g):
    return torch.randn(shape, generator=g, dtype=torch.float64)


def _laplace(shape, g):  # standard Laplace by inverse CDF of a uniform on (−½, ½)
    u = torch.rand(shape, generator=g, dtype=torch.float64) - 0.5
    return -torch.sign(u) * torch.log1p(-2 * u.abs().clamp(max=0.5 - 1e-16))


def _logistic(shape, g):
    u = _uniform(shape, g).clamp(max=1 - 1e-16)
    return torch.log(u) - torch.log1p(-u)


ERLANG_K = 3  # integer shape of the Erlang member (a sum of 3 Exponentials)


@dataclass(frozen=True)
class Family:
    name: str  # the distribution
    kind: str  # "inverse CDF", "location-scale" or "composition" (§2.4)
    params: dict[str, float]  # φ: default values of the parameters
    noise: Callable  # (shape, generator) -> ε ~ p(ε)
    transform: Callable[[torch.Tensor, Params], torch.Tensor]  # z = g_φ(ε)
    second_moment: Callable[[Params], torch.Tensor]  # exact E_φ[z²]
    noise_dims: int = 1  # ε per z (composition families use several)


FAMILIES = (
    Family("Exponential", "inverse CDF", {"rate": 1.5}, _uniform,
           lambda e, p: -torch.log(e[..., 0]) / p["rate"], lambda p: 2 / p["rate"] ** 2),
    Family("Rayleigh", "inverse CDF", {"sigma": 0.8}, _uniform,
           lambda e, p: p["sigma"] * torch.sqrt(-2 * torch.log(e[..., 0])), lambda p: 2 * p["sigma"] ** 2),
    Family("Weibull", "inverse CDF", {"scale": 1.2, "shape": 2.5}, _uniform,
           lambda e, p: p["scale"] * (-torch.log(e[..., 0])) ** (1 / p["shape"]),
           lambda p: p["scale"] ** 2 * torch.exp(torch.lgamma(1 + 2 / p["shape"]))),
    Family("Gaussian", "location-scale", {"loc": 0.5, "scale": 1.3}, _normal,
           lambda e, p: p["loc"] + p["scale"] * e[..., 0], lambda p: p["loc"] ** 2 + p["scale"] ** 2),
    Family("Laplace", "location-scale", {"loc": -0.4, "scale": 0.7}, _laplace,
           lambda e, p: p["loc"] + p["scale"] * e[..., 0], lambda p: p["loc"] ** 2 + 2 * p["scale"] ** 2),
    Family("Logistic", "location-scale", {"loc": 0.3, "scale": 0.6}, _logistic,
           lambda e, p: p["loc"] + p["scale"] * e[..., 0],
           lambda p: p["loc"] ** 2 + p["scale"] ** 2 * math.pi**2 / 3),
    Family("Log-Normal", "composition", {"loc": -0.2, "scale": 0.4}, _normal,
           lambda e, p: torch.exp(p["loc"] + p["scale"] * e[..., 0]),
           lambda p: torch.exp(2 * p["loc"] + 2 * p["scale"] ** 2)),
    Family(f"Erlang(k={ERLANG_K})", "composition", {"rate": 2.0}, _uniform,
           lambda e, p: (-torch.log(e) / p["rate"]).sum(-1),
           lambda p: ERLANG_K * (ERLANG_K + 1) / p["rate"] ** 2, noise_dims=ERLANG_K),
)


def family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise ValueError(f"family={name!r}: allowed values are {tuple(f.name for f in FAMILIES)}")


def _leaf_params(fam: Family) -> Params:
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in fam.params.items()}


def sample(fam: Family, n: int, seed: int = 0, params: Params | None = None) -> torch.Tensor:
    """n pathwise samples z = g_φ(ε): (n,), differentiable in ``params``."""
    g = torch.Generator().manual_seed(seed)
    p = params if params is not None else _leaf_params(fam)
    return fam.transform(fam.noise((n, fam.noise_dims), g), p)


def pathwise_gradient(fam: Family, n: int, seed: int = 0) -> dict[str, float]:
    """Monte Carlo ∇φ E[z²] ≈ (1/n) Σ ∇φ g_φ(ε_s)² with n draws of ε."""
    p = _leaf_params(fam)
    grads = torch.autograd.grad((sample(fam, n, seed, p) ** 2).mean(), list(p.values()))
    return {k: g.item() for k, g in zip(p, grads)}


def exact_gradient(fam: Family) -> dict[str, float]:
    """Exact ∇φ E[z²] from the closed-form second moment."""
    p = _leaf_params(fam)
    grads = torch.autograd.grad(fam.second_moment(p), list(p.values()))
    return {k: g.item() for k, g in zip(p, grads)}
