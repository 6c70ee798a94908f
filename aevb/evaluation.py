"""Evaluating a trained model on a whole data set (§5): the average variational lower bound.

``average_bound`` is what Fig. 2 plots: estimator B (eq. 10) with L = 1, averaged over every
datapoint of a set, computed in batches without gradients.
"""
from __future__ import annotations

import torch

from aevb.estimators import ESTIMATORS


@torch.no_grad()
def per_point_bound(model, x: torch.Tensor, estimator: str = "B", n_samples: int = 1,
                    batch_size: int = 2000) -> torch.Tensor:
    """Lower-bound estimate for every row of x: (N, D) -> (N,)."""
    est = ESTIMATORS[estimator]
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
    from aevb.estimators import log_joint

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
