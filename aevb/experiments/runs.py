"""A training run on disk: the one entry point shared by the CLI, the chapters and the experiment runner.

``run(config, out_dir)`` trains with the algorithm named in the config and writes, atomically:
- ``config.json``: the settings, the step size used (and the §5 search), the machine and versions;
- ``curve.csv``: columns ``samples, seconds, train_bound, test_bound`` (and ``train_marginal,
  test_marginal`` when the config asks for them), rewritten at each evaluation;
- ``checkpoint.pt``: model and optimiser state, RNG state, data order and the curve so far, at each
  evaluation and every ``checkpoint_every`` samples; the same command resumes from it. It lies in the run
  directory, or, where the environment variable ``AEVB_CHECKPOINT_DIR`` is set, under that directory
  (``checkpoint_file``): outside the work tree, so that a long run survives a fresh checkout and resumes there.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import re
import subprocess
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from aevb.config import FLAGS, TrainConfig, evaluations, option
from aevb.datasets import DATASETS
from aevb.experiments.lock import run_locks
from aevb.files import (StoreError, atomic_torch_save, atomic_write_csv, atomic_write_json, finite_rows, read_csv,
                        read_json)
from aevb.learners import ALGORITHMS
from aevb.learners.aevb import TrainResult
from aevb.learners.fitting import fit, fit_seeds
from aevb.protocols import burda_config
from aevb.validation import ParameterError


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


def float_kernels() -> dict:
    """Which float kernels PyTorch runs here: its CPU capability (the vector instructions its kernels use:
    AVX512, AVX2 or DEFAULT, which ``ATEN_CPU_CAPABILITY`` lowers) and the BLAS library it was built with.
    Two machines that differ in these round differently."""
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "blas": blas.group(1) if blas else "unknown"}


def environment() -> dict:
    """Where a run ran, for honest numbers: machine, float kernels, threads, versions."""
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            **float_kernels(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "git": _git_revision()}


CHECKPOINT_DIR_VARIABLE = "AEVB_CHECKPOINT_DIR"
_REPOSITORY = Path(__file__).resolve().parents[2]  # a run directory inside it is named relative to it


def checkpoint_file(out_dir: str | Path) -> Path:
    """Where the checkpoint of run directory ``out_dir`` lies: ``out_dir/checkpoint.pt``; where the environment
    variable ``AEVB_CHECKPOINT_DIR`` is set, ``$AEVB_CHECKPOINT_DIR/<out_dir>/checkpoint.pt`` with ``out_dir`` named
    relative to the repository when it lies inside it (so a fresh checkout of the repository finds the checkpoints
    of the one before, wherever it is), by its absolute path otherwise."""
    root = os.environ.get(CHECKPOINT_DIR_VARIABLE)
    if not root:
        return Path(out_dir) / "checkpoint.pt"
    where = Path(out_dir).resolve()
    key = where.relative_to(_REPOSITORY) if where.is_relative_to(_REPOSITORY) else where.relative_to(where.anchor)
    return Path(root).expanduser() / key / "checkpoint.pt"


RESUMABLE = {"budget", "progress", "device", "checkpoint_every"}  # may change between a run and its resume
INHERITED = {"fused"}  # a resumed run keeps the value it was started with (its curve stays one computation)


def run(config: TrainConfig, out_dir: str | Path | None = None, log=None) -> TrainResult:
    """Train ``config`` with its algorithm; where ``out_dir`` is given, write the run's files there. Returns the
    ``TrainResult``, or raises what stopped the run (``NonFiniteError`` where it diverged).

    If ``out_dir`` already holds a checkpoint of the same settings (the budget may differ), the run
    resumes from it and produces exactly the curve an uninterrupted run would have (the ``seconds``
    column aside). A checkpoint of other settings is an error, never overwritten. ``log`` as in ``run_seeds``.
    """
    with _prepared([config], [out_dir], log) as ((config,), (writer,), (resume,)):
        return fit(config, ALGORITHMS[config.algorithm], writer, resume)


def run_seeds(configs: list[TrainConfig], out_dirs: list, log=None) -> list:
    """``run`` for runs that differ only in their seed, trained in one pass (``aevb.learners.fitting.fit_seeds``:
    stacked weights where the step is fused). Returns a ``TrainResult`` per run, or the ``NonFiniteError`` that
    stopped it (the others go on); each run writes and resumes its own directory as ``run`` does (a resumed run
    keeps the path of its step, fused or autograd, and trains beside the others where that differs). ``log(message)``,
    where given, hears of each run resumed from a checkpoint, once its directory's lock is held."""
    with _prepared(configs, out_dirs, log) as (configs, writers, resumes):
        return fit_seeds(configs, ALGORITHMS[configs[0].algorithm], writers, resumes)


@contextmanager
def _prepared(configs: list[TrainConfig], out_dirs: list, log=None):
    """What ``run`` and ``run_seeds`` do around the training: every run's settings checked before anything is
    written, its directory locked (one writer per run directory, for the life of the run: ``RunLocked`` names the
    holder), its checkpoint read where there is one (the config then keeps the ``INHERITED`` settings it was
    started with) and its ``config.json`` written. Yields (configs, on_checkpoint writers, resumes)."""
    for c in configs:
        ALGORITHMS[c.algorithm].check_config(c)
    outs = [Path(o) if o is not None else None for o in out_dirs]
    with run_locks(outs):
        resumes = [_load_checkpoint(o, c) if o is not None and checkpoint_file(o).exists() else None
                   for c, o in zip(configs, outs)]
        for o, r in zip(outs, resumes):
            if r is not None and log is not None:
                log(f"resuming from {checkpoint_file(o)} at {r['trainer']['samples']:,} samples")
        configs = [c if r is None else dataclasses.replace(c, **{f: getattr(TrainConfig.from_dict(r["config"]), f)
                                                                  for f in INHERITED})
                   for c, r in zip(configs, resumes)]
        yield configs, [_writer(c, o, r) for c, o, r in zip(configs, outs, resumes)], resumes


def _writer(config: TrainConfig, out: Path | None, resume: dict | None):
    """Write ``config.json`` now, and return the ``on_checkpoint`` that writes the curve and checkpoint."""
    if out is None:
        return None
    meta = {"config": dataclasses.asdict(config), "environment": environment()}
    if resume is not None:  # the step size is known from the start (a run in progress says which it uses)
        meta.update(lr_used=resume["lr"], lr_search=resume["lr_search"])
    atomic_write_json(out / "config.json", meta)
    if resume is not None:  # the curve as far as the checkpoint (a run killed between the two writes below)
        atomic_write_csv(out / "curve.csv", resume["curve"], curve_columns(config))

    def on_checkpoint(state):
        if "lr_used" not in meta:  # first checkpoint after the §5 search: the step size is on disk before it
            meta.update(lr_used=state["lr"], lr_search=state["lr_search"])
            atomic_write_json(out / "config.json", meta)
        # the checkpoint before the curve: a curve never runs ahead of the checkpoint that a resume starts from
        atomic_torch_save(checkpoint_file(out), {**state, "config": dataclasses.asdict(config)})
        atomic_write_csv(out / "curve.csv", state["curve"], curve_columns(config))
    # every fit checkpoints at least at its last evaluation, so config.json has its step size by the end
    return on_checkpoint


def _load_checkpoint(out: Path, config: TrainConfig) -> dict:
    """The checkpoint in ``out``, after checking it belongs to ``config`` (up to ``RESUMABLE`` fields)."""
    ckpt, there = read_checkpoint(out, device=config.device)  # a torn or foreign file: say so, never start over
    differ = _differences(there, config)
    if differ:
        raise ValueError(f"{out} holds a run with other settings ({'; '.join(differ)}); "
                         f"use another output directory, or move that one away")
    if ckpt["trainer"]["samples"] > evaluations(config)[-1]:
        raise ValueError(f"{out} is already trained to {ckpt['trainer']['samples']} samples, more than "
                         f"budget={config.budget}")
    return ckpt


def load_config(out_dir: str | Path, device: str = "cpu") -> TrainConfig:
    """The TrainConfig a run directory was trained with (moved to ``device``); ``read_run_config`` checks it."""
    return read_run_config(out_dir, device)[0]


def load_model(out_dir: str | Path, device: str = "cpu"):
    """The trained model of a run directory written by ``run`` (a ``VAE``, or what its algorithm trains), from its
    checkpoint (``read_checkpoint`` checks it; weights that do not fit the model are a ``StoreError`` too)."""
    return load_checkpointed(out_dir, device)[0]


def load_checkpointed(out_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict, TrainConfig]:
    """``(model, checkpoint, config)`` of a run directory: ``load_model``'s model with the checkpoint it was read
    from (its curve, trainer state) and the run's config, the file read once."""
    ckpt, config = read_checkpoint(out_dir, device=device)
    model = ALGORITHMS[config.algorithm].build_model(config).to(device)
    try:
        model.load_state_dict(ckpt["trainer"]["model"])
    except (RuntimeError, TypeError, AttributeError) as e:
        raise StoreError(checkpoint_file(out_dir), f"holds weights that do not fit its model ({e})",
                         _resume_remedy(out_dir, config)) from None
    return model, ckpt, config


# The readers of a run directory's files: each is the one place its file is read, and checks it on read (a torn,
# empty, foreign or hand-edited file is one StoreError naming the file, the problem and the command that
# regenerates it: by default the `python -m aevb train ... --out DIR` of the run; the store passes its own).

CHECKPOINT_KEYS = ("config", "curve", "lr", "lr_search", "trainer")  # what ``_writer`` saves
TRAINER_KEYS = ("model", "samples")  # of a trainer's ``state_dict`` (what every reader of a checkpoint uses)


def read_run_config(out_dir: str | Path, device: str = "cpu", remedy: str | None = None) -> tuple[TrainConfig, dict]:
    """``(config, meta)`` of ``out_dir/config.json``: the ``TrainConfig`` (on ``device``) and the whole JSON
    object (``lr_used``, ``lr_search``, ``environment``). ``StoreError`` where the file is missing, empty, torn,
    not a JSON object, or its ``config`` is not one ``TrainConfig`` accepts (a field missing, unknown or out of
    range)."""
    path = Path(out_dir) / "config.json"
    if not path.exists():
        raise StoreError(path, f"not found: is {out_dir} a run directory written by 'python -m aevb train'?",
                         remedy or "")
    remedy = _resume_remedy(out_dir, None) if remedy is None else remedy
    meta = read_json(path, remedy)
    if not isinstance(meta.get("config"), dict):
        raise StoreError(path, "has no 'config' object (not a run's config.json?)", remedy)
    config = _config_from(path, meta["config"], device, remedy)
    lr = meta.get("lr_used")
    if lr is not None and not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0):
        raise StoreError(path, f"lr_used is {lr!r}, not a positive number", remedy)
    return config, meta


def _config_from(path: Path, d: dict, device: str, remedy: str) -> TrainConfig:
    try:
        return TrainConfig.from_dict(d, device=device)
    except (ParameterError, TypeError, KeyError, ValueError) as e:
        what = f"lacks the field {e}" if isinstance(e, KeyError) else str(e)
        raise StoreError(path, f"holds a config that is not a run's settings: {what}", remedy) from None


def read_curve(out_dir: str | Path, config: TrainConfig | None = None, remedy: str | None = None) -> list[dict]:
    """The rows of ``out_dir/curve.csv`` ([] where there is none yet), checked: the header is
    ``curve_columns(config)`` (``config`` read from ``config.json`` where not given), every value a finite
    number, ``samples`` whole numbers strictly increasing, ``seconds`` not negative. ``StoreError`` naming the
    file, the line and the problem otherwise; except where the run's ``checkpoint.pt`` is readable and of the
    same settings: then the curve is rewritten from the one it holds (the curve the run resumes from, as
    ``run`` wrote it) and a warning says so."""
    path = Path(out_dir) / "curve.csv"
    if not path.exists():
        return []
    if config is None:
        config = read_run_config(out_dir, remedy=remedy)[0]
    remedy = _resume_remedy(out_dir, config) if remedy is None else remedy
    try:
        return _checked_curve(path, config, remedy)
    except StoreError as e:
        ckpt = _checkpoint_of(out_dir, config)
        if ckpt is None:
            raise
        atomic_write_csv(path, ckpt["curve"], curve_columns(config))
        warnings.warn(f"{e.path}: {e.problem}; rewritten from {checkpoint_file(out_dir)} "
                      f"({ckpt['trainer']['samples']:,} samples)", stacklevel=2)
        return _checked_curve(path, config, remedy)


def _checkpoint_of(out_dir: str | Path, config: TrainConfig) -> dict | None:
    """The readable checkpoint of ``out_dir`` where it is of ``config``'s settings (up to ``RESUMABLE`` and
    ``INHERITED``), else None."""
    if not checkpoint_file(out_dir).exists():
        return None
    try:
        ckpt, there = read_checkpoint(out_dir)
    except StoreError:
        return None
    return None if _differences(there, config) else ckpt


def _differences(there: TrainConfig, config: TrainConfig) -> list[str]:
    """The settings in which a checkpoint's config (``there``) and ``config`` differ, ``RESUMABLE`` and
    ``INHERITED`` fields aside: "name: value there, value here" each (empty where the run may resume)."""
    return [f"{f.name}: {getattr(there, f.name)!r} there, {getattr(config, f.name)!r} here"
            for f in dataclasses.fields(config)
            if f.name not in RESUMABLE | INHERITED and getattr(there, f.name) != getattr(config, f.name)]


def _checked_curve(path: Path, config: TrainConfig, remedy: str) -> list[dict]:
    rows = finite_rows(path, read_csv(path, curve_columns(config), remedy), remedy)
    last = 0
    for n, row in enumerate(rows, start=2):
        s = row["samples"]
        if s != int(s) or s <= last:
            raise StoreError(path, f"line {n}: samples is {s:g}, not a whole number above the line before's "
                                   f"{last:g}", remedy)
        if row["seconds"] < 0:
            raise StoreError(path, f"line {n}: seconds is {row['seconds']:g}, below 0", remedy)
        last = s
    return rows


def read_checkpoint(out_dir: str | Path, device: str = "cpu", remedy: str | None = None) -> tuple[dict, TrainConfig]:
    """``(checkpoint, config)`` of ``out_dir/checkpoint.pt`` (tensors on ``device``), checked: torch can load it,
    it is a dict with ``CHECKPOINT_KEYS``, its ``trainer`` has ``TRAINER_KEYS`` and its ``config`` is a valid
    ``TrainConfig``. ``StoreError`` otherwise (move the file away to start the run afresh)."""
    path = checkpoint_file(out_dir)
    if not path.exists():
        raise StoreError(path, "not found: the run has no checkpoint to load its model from", remedy or "")
    remedy = "move it away to start afresh" if remedy is None else remedy
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # a torn or foreign file: say so, never silently start over
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]  # torch's messages run over many lines
        raise StoreError(path, f"cannot be read as a checkpoint ({first})", remedy) from None
    if not isinstance(ckpt, dict) or not all(k in ckpt for k in CHECKPOINT_KEYS):
        what = (f"lacks {', '.join(k for k in CHECKPOINT_KEYS if k not in ckpt)}" if isinstance(ckpt, dict)
                else f"holds a {type(ckpt).__name__}")
        raise StoreError(path, f"cannot be read as a checkpoint (it {what}; a run's checkpoint "
                               f"has {', '.join(CHECKPOINT_KEYS)})", remedy)
    trainer = ckpt["trainer"]
    if not isinstance(trainer, dict) or not all(k in trainer for k in TRAINER_KEYS) or not isinstance(
            trainer["samples"], int) or not isinstance(ckpt["config"], dict) or not isinstance(ckpt["curve"], list):
        raise StoreError(path, "cannot be read as a checkpoint (its trainer state, config or curve is not a run's)",
                         remedy)
    return ckpt, _config_from(path, ckpt["config"], device, remedy)


def train_defaults(protocol: str = "paper", dataset: str = "mnist") -> TrainConfig:
    """What ``python -m aevb train --protocol PROTOCOL --dataset DATASET`` trains where no other flag is given:
    Burda et al.'s preset (``aevb.protocols.burda_config``), or ``TrainConfig``'s defaults with the data set's
    hidden widths (500 for MNIST, 200 for the Frey Face)."""
    if protocol == "burda":
        return burda_config()
    return TrainConfig(protocol=protocol, hidden=DATASETS[dataset].hidden if dataset in DATASETS else (500,))


def train_command(config: TrainConfig, out_dir: str | Path) -> str:
    """The ``python -m aevb train ... --out OUT_DIR`` command that trains (or resumes) ``config`` into ``out_dir``:
    ``--protocol`` first where it is not the paper's, then the flag (``aevb.config.FLAGS``) of every setting whose
    value leaving it out might not give: a value other than ``train_defaults`` of its protocol, for its data set or
    MNIST (settings without a flag are the defaults' in a run started from the command line)."""
    defaults = (train_defaults(config.protocol, config.dataset), train_defaults(config.protocol))
    flags = [f"--protocol {config.protocol}"] if config.protocol != "paper" else []
    for name, flag in FLAGS.items():
        v = getattr(config, name)
        if name != "protocol" and (v is not None or flag.none is not None) and any(
                v != getattr(d, name) for d in defaults):
            flags.append(f"{option(name)} {flag.write(v)}")
    return " ".join(["python -m aevb train", *flags, "--out", str(out_dir)])


def _resume_remedy(out_dir: str | Path, config: TrainConfig | None) -> str:
    """How to regenerate a run directory's files: move the bad file away and train the run again into it."""
    if config is None:  # config.json itself is bad: the checkpoint may still say what the run was
        try:
            config = read_checkpoint(out_dir)[1]
        except StoreError:
            return f"move it away and re-run the 'python -m aevb train ... --out {out_dir}' that wrote it"
    default = train_defaults(config.protocol)
    unflagged = [f"{f.name}={getattr(config, f.name)!r}" for f in dataclasses.fields(config)
                 if f.name not in FLAGS and f.name not in ("progress", "fused")
                 and getattr(config, f.name) != getattr(default, f.name)]
    also = (f"; it was trained with {', '.join(unflagged)}, which no flag sets: resume it with "
            f"aevb.experiments.runs.run(config, {str(out_dir)!r})" if unflagged else "")
    return (f"move it away and run `{train_command(config, out_dir)}` (it resumes from checkpoint.pt where there is "
            f"one){also}")
