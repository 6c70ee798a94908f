"""A training run on disk: the one entry point shared by the CLI, the chapters and (later) the
experiment runner.

``run(config, out_dir)`` trains with the algorithm named in the config and writes, atomically:
- ``config.json``: the settings, the step size used (and the §5 search), the machine and versions;
- ``curve.csv``: columns ``samples, seconds, train_bound, test_bound`` (and ``train_marginal,
  test_marginal`` when the config asks for them), rewritten at each evaluation;
- ``checkpoint.pt``: model and optimiser state, RNG state and the curve so far, at each evaluation.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
from pathlib import Path

import torch

from aevb.io import atomic_torch_save, atomic_write_csv, atomic_write_json
from aevb.train import TrainConfig, TrainResult, train_aevb

ALGORITHMS = {"aevb": train_aevb}  # name -> train(config, on_eval) -> TrainResult
CURVE_COLUMNS = ["samples", "seconds", "train_bound", "test_bound"]


def curve_columns(config: TrainConfig) -> list[str]:
    return CURVE_COLUMNS + (["train_marginal", "test_marginal"] if config.marginal else [])


def _git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    """Where a run ran, for honest numbers: machine, threads, versions."""
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "git": _git_revision()}


def run(config: TrainConfig, out_dir: str | Path | None = None) -> TrainResult:
    """Train ``config`` with its algorithm; where ``out_dir`` is given, write the run's files there."""
    if config.algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={config.algorithm!r}: allowed values are {tuple(ALGORITHMS)}")
    out = Path(out_dir) if out_dir is not None else None
    meta = {"config": dataclasses.asdict(config), "environment": environment()}
    if out is not None:
        atomic_write_json(out / "config.json", meta)

    def on_eval(trainer, curve):
        if out is None:
            return
        atomic_write_csv(out / "curve.csv", curve, curve_columns(config))
        atomic_torch_save(out / "checkpoint.pt", {
            "model": trainer.model.state_dict(), "optimizer": trainer.opt.state_dict(),
            "rng": trainer.rng, "samples": trainer.samples, "seconds": trainer.seconds,
            "step": trainer.step, "curve": curve, "config": dataclasses.asdict(config)})

    result = ALGORITHMS[config.algorithm](config, on_eval=on_eval)
    if out is not None:
        meta.update(lr_used=result.lr, lr_search={str(k): v for k, v in result.lr_search.items()})
        atomic_write_json(out / "config.json", meta)
    return result


def load_config(out_dir: str | Path) -> TrainConfig:
    """The TrainConfig a run directory was trained with."""
    import json

    cfg = json.loads((Path(out_dir) / "config.json").read_text())["config"]
    return TrainConfig(**{**cfg, "hidden": tuple(cfg["hidden"]), "lr_candidates": tuple(cfg["lr_candidates"])})


def load_model(out_dir: str | Path, device: str = "cpu"):
    """The trained model of a run directory written by ``run``."""
    from aevb.models import build_vae

    out = Path(out_dir)
    ckpt = torch.load(out / "checkpoint.pt", map_location=device, weights_only=True)
    cfg = ckpt["config"]
    model = build_vae(cfg["dataset"], cfg["n_z"], tuple(cfg["hidden"]), cfg["seed"]).to(device)
    model.load_state_dict(ckpt["model"])
    return model
