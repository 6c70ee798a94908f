"""The images of Fig. 4 (2-D latent manifolds) and Fig. 5 (samples from the generative model) for a run of the
store, drawn from its trained model and kept small enough to commit (uint8 ``images.npz``).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from aevb.config import TrainConfig
from aevb.datasets import DATASETS
from aevb.experiments.grids import GRID_N, N_SAMPLES_FIG5, figures_of, grid_points
from aevb.files import StoreError, atomic_write, read_npz


@torch.no_grad()
def manifold(model, n: int = GRID_N) -> torch.Tensor:
    """Fig. 4: decoder means at the n × n points of ``grid_points`` -> (n·n, D), rows top to bottom = z_2 high to
    low."""
    return model.decode(grid_points(n).to(next(model.parameters()).device))


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


def image_shapes(config: TrainConfig) -> dict[str, tuple[int, int]]:
    """The arrays ``render_images`` draws for ``config``, by name: their shapes (N, D)."""
    d_x, figs = DATASETS[config.dataset].d_x, figures_of(config)
    return {**({"manifold": (GRID_N**2, d_x)} if 4 in figs else {}),
            **({"samples": (N_SAMPLES_FIG5, d_x)} if 5 in figs else {})}


def load_images(run_dir: str | Path, config: TrainConfig | None = None, remedy: str = "") -> dict[str, np.ndarray]:
    """The committed Fig. 4 / 5 images of a run as float arrays in [0, 1]: the one reader of ``images.npz``.

    Checks on read: the file is an npz numpy can read in full (not torn, empty or another file's bytes), and
    holds uint8 arrays (N, D) named manifold / samples; with ``config``, exactly the arrays ``render_images``
    draws for it, of their shapes. ``StoreError`` (naming the file, the problem, then ``remedy``) otherwise;
    ``aevb.experiments.store.run_images`` rebuilds a bad file from the run's checkpoint where there is one."""
    path = Path(run_dir) / "images.npz"
    arrays = read_npz(path, remedy, " of images")
    want = image_shapes(config) if config is not None else None
    if want is not None and set(arrays) != set(want):
        raise StoreError(path, f"holds the arrays {', '.join(sorted(arrays)) or 'none'}; expected "
                               f"{', '.join(sorted(want)) or 'none (the run is not one of Fig. 4 or 5)'}", remedy)
    for k, a in arrays.items():
        if k not in ("manifold", "samples"):
            raise StoreError(path, f"holds an array {k!r}: not one of manifold, samples", remedy)
        if a.dtype != np.uint8 or a.ndim != 2 or (want is not None and a.shape != want[k]):
            shape = f"shape {want[k]}" if want is not None else "2 dimensions"
            raise StoreError(path, f"{k} is {a.dtype} of shape {a.shape}; expected uint8 of {shape}", remedy)
    if not arrays:
        raise StoreError(path, "holds no arrays", remedy)
    return {k: a.astype(np.float32) / 255 for k, a in arrays.items()}
