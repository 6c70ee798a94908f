"""The images of Fig. 4 (2-D latent manifolds) and Fig. 5 (samples from the generative model) for a run of the
store, drawn from its trained model and kept small enough to commit (uint8 ``images.npz``).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from aevb.config import TrainConfig
from aevb.experiments.grids import GRID_N, N_SAMPLES_FIG5, figures_of
from aevb.files import atomic_write


@torch.no_grad()
def manifold(model, n: int = GRID_N) -> torch.Tensor:
    """Fig. 4: decoder means on an n × n grid of the unit square mapped through the inverse Gaussian CDF
    (cell centres (i + ½)/n, so no point maps to ±∞): -> (n·n, D), rows top to bottom = z_2 high to low."""
    u = (torch.arange(n, dtype=torch.float32) + 0.5) / n  # (n,)
    z = torch.distributions.Normal(0.0, 1.0).icdf(u)  # (n,)
    z1, z2 = torch.meshgrid(z, z.flip(0), indexing="xy")  # (n, n) each
    grid = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (n·n, 2)
    return model.decode(grid.to(next(model.parameters()).device))


def render_images(config: TrainConfig, model, seed: int = 0) -> dict[str, np.ndarray]:
    """The images Fig. 4 / Fig. 5 show for this run, as uint8 arrays (N, D) (small enough to commit); drawn on
    the CPU, so a run trained on a GPU stores the same images for the same weights and seed."""
    figs, out, model = figures_of(config), {}, model.cpu()
    if 4 in figs:
        out["manifold"] = manifold(model)
    if 5 in figs:
        out["samples"] = model.sample(N_SAMPLES_FIG5, generator=torch.Generator().manual_seed(seed))
    return {k: (v.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy() for k, v in out.items()}


def write_images(run_dir: str | Path, images: dict[str, np.ndarray]) -> bytes:
    """Write ``images`` as ``run_dir/images.npz`` (atomically); returns the file's bytes."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **images)
    data = buf.getvalue()
    atomic_write(Path(run_dir) / "images.npz", lambda f: f.write(data))
    return data


def load_images(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The committed Fig. 4 / 5 images of a run as float arrays in [0, 1]."""
    with np.load(Path(run_dir) / "images.npz", allow_pickle=False) as f:
        return {k: f[k].astype(np.float32) / 255 for k in f.files}
