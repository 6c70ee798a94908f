"""A training run on disk: the one entry point shared by the CLI, the chapters and the experiment runner.

``run(config, out_dir)`` trains with the algorithm named in the config and writes, atomically:
- ``config.json``: the settings, the step size used (and the §5 search), the machine and versions;
- ``curve.csv``: columns ``samples, seconds, train_bound, test_bound`` (and ``train_marginal,
  test_marginal`` when the config asks for them), rewritten at each evaluation;
- ``checkpoint.pt``: model and optimiser state, RNG state, data order and the curve so far, at each
  evaluation and every ``checkpoint_every`` samples; the same command resumes from it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from aevb.config import TrainConfig, eval_schedule
from aevb.files import atomic_torch_save, atomic_write_csv, atomic_write_json
from aevb.learners import ALGORITHMS
from aevb.learners.aevb import TrainResult
from aevb.learners.protocol import fit_seeds


def curve_columns(config: TrainConfig) -> list[str]:
    """samples, seconds, what the algorithm's ``evaluate`` records, and log p(x) when asked for."""
    return (["samples", "seconds"] + ALGORITHMS[config.algorithm].columns(config)
            + (["train_marginal", "test_marginal"] if config.marginal else []))


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


RESUMABLE = {"budget", "progress", "device", "checkpoint_every"}  # may change between a run and its resume
INHERITED = {"fused"}  # a resumed run keeps the value it was started with (its curve stays one computation)


def run(config: TrainConfig, out_dir: str | Path | None = None) -> TrainResult:
    """Train ``config`` with its algorithm; where ``out_dir`` is given, write the run's files there.

    If ``out_dir`` already holds a checkpoint of the same settings (the budget may differ), the run
    resumes from it and produces exactly the curve an uninterrupted run would have (the ``seconds``
    column aside). A checkpoint of other settings is an error, never overwritten.
    """
    (out,) = run_seeds([config], [out_dir])
    if isinstance(out, BaseException):
        raise out
    return out


def run_seeds(configs: list[TrainConfig], out_dirs: list) -> list:
    """``run`` for runs that differ only in their seed, trained in one pass (``aevb.learners.protocol.fit_seeds``:
    stacked weights where the step is fused). Returns a ``TrainResult`` per run, or the ``NonFiniteError`` that
    stopped it; each run writes and resumes its own directory as ``run`` does (a resumed run keeps the path of
    its step, fused or autograd, and trains beside the others where that differs)."""
    for c in configs:  # every run's settings checked before anything is written
        ALGORITHMS[c.algorithm].check_config(c)
    outs = [Path(o) if o is not None else None for o in out_dirs]
    resumes = [_load_checkpoint(o, c) if o is not None and (o / "checkpoint.pt").exists() else None
               for c, o in zip(configs, outs)]
    configs = [c if r is None else dataclasses.replace(c, **{f: getattr(TrainConfig.from_dict(r["config"]), f)
                                                              for f in INHERITED})
               for c, r in zip(configs, resumes)]
    writers = [_writer(c, o, r) for c, o, r in zip(configs, outs, resumes)]
    return fit_seeds(configs, ALGORITHMS[configs[0].algorithm], writers, resumes)


def _writer(config: TrainConfig, out: Path | None, resume: dict | None):
    """Write ``config.json`` now, and return the ``on_checkpoint`` that writes the curve and checkpoint."""
    if out is None:
        return None
    meta = {"config": dataclasses.asdict(config), "environment": environment()}
    if resume is not None:  # the step size is known from the start (a run in progress says which it uses)
        meta.update(lr_used=resume["lr"], lr_search=resume["lr_search"])
    atomic_write_json(out / "config.json", meta)

    def on_checkpoint(state):
        if "lr_used" not in meta:  # first checkpoint after the §5 search: the step size is on disk before it
            meta.update(lr_used=state["lr"], lr_search=state["lr_search"])
            atomic_write_json(out / "config.json", meta)
        atomic_write_csv(out / "curve.csv", state["curve"], curve_columns(config))
        atomic_torch_save(out / "checkpoint.pt", {**state, "config": dataclasses.asdict(config)})
    # every fit checkpoints at least at its last evaluation, so config.json has its step size by the end
    return on_checkpoint


def _load_checkpoint(out: Path, config: TrainConfig) -> dict:
    """The checkpoint in ``out``, after checking it belongs to ``config`` (up to ``RESUMABLE`` fields)."""
    path = out / "checkpoint.pt"
    try:
        ckpt = torch.load(path, map_location=config.device, weights_only=True)
    except Exception as e:  # a torn or foreign file: say so, never silently start over
        raise ValueError(f"{path} cannot be read as a checkpoint ({e}); move it away to start afresh") from e
    there = TrainConfig.from_dict(ckpt["config"], device=config.device)
    differ = [f"{f.name}: {getattr(there, f.name)!r} there, {getattr(config, f.name)!r} here"
              for f in dataclasses.fields(config)
              if f.name not in RESUMABLE | INHERITED and getattr(there, f.name) != getattr(config, f.name)]
    if differ:
        raise ValueError(f"{out} holds a run with other settings ({'; '.join(differ)}); "
                         f"use another output directory, or move that one away")
    if ckpt["trainer"]["samples"] > eval_schedule(config.budget, config.batch_size)[-1]:
        raise ValueError(f"{out} is already trained to {ckpt['trainer']['samples']} samples, more than "
                         f"budget={config.budget}")
    return ckpt


def load_config(out_dir: str | Path, device: str = "cpu") -> TrainConfig:
    """The TrainConfig a run directory was trained with (moved to ``device``)."""
    path = Path(out_dir) / "config.json"
    if not path.exists():
        raise ValueError(f"{path} not found: is {out_dir} a run directory written by 'python -m aevb train'?")
    return TrainConfig.from_dict(json.loads(path.read_text())["config"], device=device)


def load_model(out_dir: str | Path, device: str = "cpu"):
    """The trained model of a run directory written by ``run`` (a ``VAE``, or what its algorithm trains)."""
    out = Path(out_dir)
    ckpt = torch.load(out / "checkpoint.pt", map_location=device, weights_only=True)
    config = TrainConfig.from_dict(ckpt["config"], device=device)
    model = ALGORITHMS[config.algorithm].build_model(config).to(device)
    model.load_state_dict(ckpt["trainer"]["model"])
    return model
