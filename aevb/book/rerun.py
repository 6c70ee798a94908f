"""How long a chapter takes to rerun, for the "Rerun time" line that opens each chapter (issue 26), in numbers
computed when the page is built:

- the page itself, measured: from the clock a chapter starts after its parameters to its last cell, on the machine
  that builds it (``aevb.experiments.runs.environment``), at the settings it was built with;
- training the runs a figure chapter reads again: their own training seconds (``curve.csv``'s ``seconds``, the
  training wall time), a pass that trained several seeds at once counted once, plus the §5 step-size search
  (not in ``seconds``) at the run's speed, on the machine each ran on (its ``config.json``);
- training a model the book does not ship (an exercise's command): its budget at the speed of the fastest run the
  book ships with of the same model and learner (``training_seconds``; ``training_time`` in words).

``rerun_time`` gives the opening's words, ready for MyST-NB's ``glue``; ``duration`` writes seconds for reading.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

from aevb.config import TrainConfig, seedless
from aevb.experiments.runs import environment
from aevb.experiments.store import RESULTS_DIR, run_config, run_curve

# What sets the cost of one training sample: the model, the learner and its estimator (not the budget, seed, step
# size, evaluation, data split or device)
COST_FIELDS = ("dataset", "algorithm", "n_z", "hidden", "batch_size", "n_samples", "estimator", "posterior",
               "n_flows", "k", "binarize")


def duration(seconds: float) -> str:
    """``seconds`` for reading: "40 s", "12 min", "2.5 h", "31 h"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"


def machine(env: dict) -> str:
    """A run's or a page's machine in words, from ``aevb.experiments.runs.environment``'s record."""
    threads = env.get("torch_threads", "?")
    return (f"{env.get('cpu_count', '?')} CPU cores ({env.get('processor') or env.get('machine', '?')}), "
            f"{threads} PyTorch thread{'' if threads == 1 else 's'}")


def _search_samples(config: TrainConfig) -> int:
    """Training samples of §5's step-size search before a run (none where the step size is given)."""
    return 0 if config.lr is not None else len(config.lr_candidates) * config.lr_search_samples


def _cost_key(config: TrainConfig) -> tuple:
    return tuple(getattr(config, f) for f in COST_FIELDS)


def _shipped(results_dir: Path) -> list[tuple[TrainConfig, dict, list[dict]]]:
    """Every run of the store with a curve: (config, meta, curve)."""
    out = []
    for run_dir in sorted((results_dir / "runs").iterdir()) if (results_dir / "runs").is_dir() else []:
        if (run_dir / "config.json").exists():
            config, meta = run_config(run_dir)
            curve = run_curve(run_dir, config)
            if curve and curve[-1]["seconds"] > 0:
                out.append((config, meta, curve))
    return out


def training_seconds(config: TrainConfig, results_dir: str | Path | None = None) -> tuple[float, str] | None:
    """How long training ``config`` takes (its budget and §5's step-size search; evaluation not counted), at the
    speed of the fastest run the book ships with of the same model and learner (``COST_FIELDS``; the slower ones
    ran beside other jobs, or several seeds in one pass), and that run's machine: ``(seconds, machine)``, or
    None where no shipped run has the model."""
    rates = [(c_curve[-1]["samples"] / c_curve[-1]["seconds"], meta) for c, meta, c_curve in
             _shipped(Path(results_dir or RESULTS_DIR)) if _cost_key(c) == _cost_key(config)]
    if not rates:
        return None
    rate, meta = max(rates, key=lambda r: r[0])
    return (config.budget + _search_samples(config)) / rate, machine(meta.get("environment", {}))


def training_time(configs: Iterable[TrainConfig], results_dir: str | Path | None = None) -> tuple[str, str]:
    """``training_seconds`` of ``configs`` together, as words to glue: ``(duration, machines)``; where no shipped
    run has one of the models, words that say so instead of a number."""
    found = [training_seconds(c, results_dir) for c in configs]
    if not found or None in found:
        return "not known for these settings (no run this book ships with has them)", "no machine"
    return duration(sum(s for s, _ in found)), " and ".join(sorted({m for _, m in found}))


STACKED = 0.5  # seconds: runs of one model and budget whose training times differ by less were one pass


def _runs_seconds(runs: Iterable[dict]) -> tuple[float, list[str]]:
    """Training seconds of shipped runs (dicts with ``config``, ``curve``, ``dir``, as ``aevb.book.figures``
    loads them), the step-size search added, a pass that trained several seeds at once counted once (the seeds'
    runs share every setting but the seed and record the pass's time, to within ``STACKED``); and their
    machines."""
    groups, machines = {}, set()
    for r in runs:
        if not r["curve"]:
            continue
        config, meta = run_config(r["dir"])
        last = r["curve"][-1]
        seconds = last["seconds"] * (1 + _search_samples(config) / last["samples"])
        groups.setdefault((seedless(config), last["samples"]), set()).add(seconds)
        machines.add(machine(meta.get("environment", {})))
    total = 0.0
    for times in groups.values():
        previous = None
        for t in sorted(times):  # a new pass wherever the next time is more than STACKED later
            if previous is None or t - previous > STACKED:
                total += t
            previous = t
    return total, sorted(machines)


def rerun_time(started: float, smoke_test: bool, runs: Iterable[dict] = ()) -> dict[str, str]:
    """The opening's "Rerun time", as words to glue: ``rerun_page`` (how long the page took, from ``started``, a
    ``time.perf_counter()`` taken after its parameters), ``rerun_settings`` (at which settings), ``rerun_machine``;
    for a chapter that reads shipped ``runs``, ``rerun_train`` (training them again) and ``rerun_train_machine``."""
    out = {"rerun_page": duration(time.perf_counter() - started),
           "rerun_settings": "with the reduced settings of a quick run" if smoke_test else "at its default settings",
           "rerun_machine": machine(environment())}
    runs = list(runs)
    if runs:
        seconds, machines = _runs_seconds(runs)
        out["rerun_train"] = duration(seconds) if seconds else "nothing: none is trained yet"
        out["rerun_train_machine"] = " and ".join(machines) or "no machine yet"
    return out
