"""The experiment runner: trains the runs of the paper's figures (``aevb.experiments.grids``) into the results
store (``aevb.experiments.store``), as tasks on an executor (``aevb.experiments.executors``).

Each run is trained by ``aevb.experiments.runs.run_seeds`` into ``results/runs/NAME/`` (``config.json``,
``curve.csv``, for Fig. 4/5 a small ``images.npz``; the checkpoint stays out of git). Asking for a larger budget
extends a run exactly; an interrupted grid resumes where it stopped. The seeds of one run form one task, trained
in one pass with stacked weights where their step is fused. ``run_grid`` does the same for any list of configs.

A worker that dies (SIGKILL, the out-of-memory killer) stops its pool: its runs and those not yet finished are
reported as interrupted, the index is written, and the same command run again resumes them from their last
checkpoints to the curves an uninterrupted grid writes. Each run directory has one writer at a time
(``aevb.experiments.lock``): a run another process is writing is reported as failed, naming that process.

    python -m aevb figure 2 --budget 1e7            # the 18 runs of Fig. 2, two at a time on this machine
    python -m aevb figure 3 --only 'mnist-mcem-*'   # a part of a grid (shell-style patterns on run names)
    python -m aevb figure 2 --seed 0-3              # four seeds; each run's seeds train in one stacked pass
    python -m aevb figure 2 --executor ray --address ray://HEAD:10001   # the same grid on a Ray cluster
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from aevb.config import TrainConfig, evaluations, seedless
from aevb.experiments.decoders import DECODER_FILE, decoder_arrays, stores_decoder, write_decoder
from aevb.experiments.executors import EXECUTORS, Interrupted
from aevb.experiments.grids import cost, figures_of, grid, run_name, select
from aevb.experiments.images import render_images, write_images
from aevb.experiments.lock import RunLocked, run_lock, run_locks
from aevb.experiments.runs import run_seeds
from aevb.experiments.store import (RESULTS_DIR, run_decoder, run_images, run_path, samples_reached, store_files,
                                   write_index)
from aevb.files import StoreError
from aevb.learners import ALGORITHMS
from aevb.learners.fused.group import fused_key
from aevb.threads import claimed
from aevb.validation import ParameterError


def pending(configs: list[TrainConfig], results_dir: Path) -> list[TrainConfig]:
    """The configs not yet trained to their budget in ``results_dir`` (or, for Fig. 4/5, whose images, or for
    Fig. 4 whose stored decoder, are missing: the run is then only loaded and drawn)."""
    def has_images(run_dir, c):
        try:
            return ((run_dir / "images.npz").exists() and bool(run_images(run_dir, c))  # checked (or drawn again)
                    and (not stores_decoder(c)
                         or ((run_dir / DECODER_FILE).exists() and bool(run_decoder(run_dir, c)))))
        except StoreError:  # bad, and no checkpoint to draw them from: the run is trained again, and drawn
            return False

    def done(c):
        run_dir = run_path(results_dir, run_name(c))
        return (samples_reached(run_dir) >= evaluations(c)[-1]
                and (not set(figures_of(c)) & {4, 5} or has_images(run_dir, c)))

    return [c for c in configs if not done(c)]


def tasks(configs: list[TrainConfig], stack: bool = True) -> list[list[TrainConfig]]:
    """The runs as tasks: with ``stack``, the runs that differ only in their seed and can share a stack
    (``aevb.learners.fused.group.fused_key``) form one task, trained in one pass; every other run alone."""
    out: dict = {}
    for c in configs:
        stackable = stack and fused_key(ALGORITHMS[c.algorithm], c) is not None
        out.setdefault(seedless(c) if stackable else run_name(c), []).append(c)
    return list(out.values())


def train_task(config_dicts: list[dict], run_dirs: list[str], threads: int) -> list:
    """Executor task: train runs that differ only in seed into ``run_dirs`` (resuming where they stopped) in one
    pass, with ``threads`` threads; returns per run its small files by name, as bytes, for the caller to store
    (the worker may be on another machine) and how far it got, or the exception that stopped it."""
    configs = [TrainConfig.from_dict(d) for d in config_dicts]
    # a fixed share of the cores while the task trains, counted by CLIs and chapters beside it (aevb.threads);
    # the lock held until the images are written too (run_seeds takes it again, re-entrantly)
    with claimed(threads), run_locks(run_dirs):
        return [out if isinstance(out, BaseException) else _task_result(c, out, Path(d))
                for c, out, d in zip(configs, run_seeds(configs, run_dirs), run_dirs)]


def _task_result(config: TrainConfig, result, run_dir: Path) -> dict:
    files = {name: (run_dir / name).read_bytes() for name in ("config.json", "curve.csv")}
    images = render_images(config, result.model, config.seed)
    if images:
        files["images.npz"] = write_images(run_dir, images)
    if stores_decoder(config):
        files["decoder.npz"] = write_decoder(run_dir, decoder_arrays(config, result.model))
    last = result.curve[-1]
    return {"name": run_dir.name, "files": files, "samples": last["samples"], "seconds": last["seconds"]}


def run_figure(figure: int | list[int], budget: int, only: str | None = None, executor: str = "local", workers: int = 2,
               threads: int = 1, address: str | None = None, seed: int | list[int] = 0, device: str = "cpu",
               results_dir: str | Path = RESULTS_DIR, stack: bool = True, log=print) -> list[dict]:
    """Train the runs of ``figure`` (or of several figures, each shared run once; those matching ``only``) for
    ``seed`` (one or several) to ``budget`` samples with ``executor`` ("local": a pool of ``workers`` processes;
    "ray": tasks on a Ray cluster at ``address``, or a local Ray instance where it is None), each with
    ``threads`` threads; with ``stack``, the seeds of one run are one task trained with stacked weights.
    ``results_dir/index.csv`` is rewritten after every task. A run that fails (e.g. NaN) is reported and the
    others go on; the error is raised at the end. See ``run_grid``."""
    if executor not in EXECUTORS:
        raise ParameterError(f"executor {executor!r} is not one of {tuple(EXECUTORS)}")
    figures = [figure] if isinstance(figure, (int, str)) else list(figure)
    configs = select(grid(figures, budget, seed, device), only)
    return run_grid(configs, results_dir, executor, workers, threads, address, stack, log,
                    label=", ".join(f"figure {f}" if isinstance(f, int) else f"study {f}" for f in figures))


def run_grid(configs: list[TrainConfig], results_dir: str | Path = RESULTS_DIR, executor: str = "local",
             workers: int = 2, threads: int = 1, address: str | None = None, stack: bool = True, log=print,
             label: str = "grid") -> list[dict]:
    """Train ``configs`` (each to its own budget) into the store ``results_dir`` as ``run_figure`` does: the
    runs not yet done, as tasks (``tasks``) on ``executor``, longest first; returns what each finished run
    stored. A run that fails (e.g. NaN) is reported and the others go on; a run whose worker died (killed, e.g.
    SIGKILL or out of memory: ``executors.Interrupted``) is reported as interrupted, and the same call run again
    resumes it from its last checkpoint to the curve it would have had. ``index.csv`` is rewritten after every
    task and at the end; then a ``RuntimeError`` names the failed and interrupted runs, if any."""
    if executor not in EXECUTORS:
        raise ParameterError(f"executor {executor!r} is not one of {tuple(EXECUTORS)}")
    results_dir = Path(results_dir)
    todo = pending(configs, results_dir)
    groups = sorted(tasks(todo, stack), key=lambda g: sum(map(cost, g)), reverse=True)  # longest first
    budgets = sorted({c.budget for c in configs})
    at = f"{budgets[0]:,} samples" if len(budgets) == 1 else "their budgets"
    log(f"{label}: {len(configs)} runs, {len(configs) - len(todo)} already at {at}, "
        f"{len(todo)} to train in {len(groups)} tasks with {executor} ({workers} workers x {threads} threads)")
    jobs = [dict(config_dicts=[dataclasses.asdict(c) for c in g],
                  run_dirs=[str(run_path(results_dir, run_name(c))) for c in g], threads=threads) for g in groups]
    done, failed, interrupted = [], [], []
    for task, outcome in EXECUTORS[executor](train_task, jobs, workers=workers, threads=threads, address=address):
        names = [Path(d).name for d in task["run_dirs"]]
        outcomes = outcome if isinstance(outcome, list) else [outcome] * len(names)  # a task that failed as a whole
        for name, out in zip(names, outcomes):
            if isinstance(out, Interrupted):
                interrupted.append(name)
                log(f"  INTERRUPTED {name}: {out}; it resumes from its last checkpoint when this is run again")
                continue
            if not isinstance(out, BaseException):
                try:
                    with run_lock(run_path(results_dir, name)):  # never beside another writer of the run
                        store_files(out["name"], out["files"], results_dir)
                except RunLocked as e:  # the other writer's files stay as they are
                    out = e
            if isinstance(out, BaseException):
                failed.append(f"{name}: {type(out).__name__}: {out}")
                log(f"  FAILED {failed[-1]}")
                continue
            done.append(out)
            log(f"  {name}: {out['samples']:,} samples in {out['seconds']:.0f} s training time")
        index_problem = _write_index(results_dir)
    index_problem = _write_index(results_dir)
    if failed or interrupted:
        parts = ([f"{len(failed)} of {len(todo)} runs failed (the others are stored): " + "; ".join(failed)]
                 if failed else [])
        if interrupted:
            parts.append(f"{len(interrupted)} of {len(todo)} runs were interrupted (a worker process died): "
                         f"{', '.join(interrupted)}; run the same command again to resume them from their "
                         f"last checkpoints")
        raise RuntimeError(". ".join(parts + ([str(index_problem)] if index_problem else [])))
    if index_problem is not None:
        raise index_problem
    return done


def _write_index(results_dir: Path) -> StoreError | None:
    """``write_index``; a run of the store that cannot be read (it may belong to another figure) does not stop
    the grid: the index is written from the others and the error is returned, to be raised at the end."""
    try:
        write_index(results_dir)
    except StoreError as e:
        return e
    return None
