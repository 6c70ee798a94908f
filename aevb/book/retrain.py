"""What training the book's runs again costs, from the runs the book ships with (``results/runs/*``: each run's
``curve.csv`` ``seconds``, its training wall time, and its ``config.json``'s machine), for the figure chapters'
"Rerun time" (``aevb.book.rerun``) and for the commands of their exercises:

- ``runs_training``: the runs a chapter reads, trained again at the speed they were trained at: their own
  seconds, a pass that trained several seeds at once counted once, plus the §5 step-size search (not in
  ``seconds``) at the run's speed;
- ``projected_seconds``, ``training_time``: a model the book does not ship, its budget at the speed of the fastest
  shipped run of the same model and learner.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from aevb.book.rerun import duration, machine
from aevb.config import TrainConfig, seedless
from aevb.experiments.store import RESULTS_DIR, StoredRun, read_run

# What sets the cost of one training sample: the model, the learner and its estimator (not the budget, seed, step
# size, evaluation, data split or device)
COST_FIELDS = ("dataset", "algorithm", "n_z", "hidden", "batch_size", "n_samples", "estimator", "posterior",
               "n_flows", "k", "binarize")
STACKED = 0.5  # seconds: runs of one model and budget whose training times differ by less were one pass


def _search_samples(config: TrainConfig) -> int:
    """Training samples of §5's step-size search before a run (none where the step size is given)."""
    return 0 if config.lr is not None else len(config.lr_candidates) * config.lr_search_samples


def _cost_key(config: TrainConfig) -> tuple:
    return tuple(getattr(config, f) for f in COST_FIELDS)


def _shipped(results_dir: Path) -> list[StoredRun]:
    """Every run of the store with a curve that took some training time (``read_run``: config.json's settings)."""
    run_dirs = sorted((results_dir / "runs").iterdir()) if (results_dir / "runs").is_dir() else []
    runs = [read_run(d) for d in run_dirs if (d / "config.json").exists()]
    return [r for r in runs if r.curve and r.curve[-1]["seconds"] > 0]


def projected_seconds(config: TrainConfig, results_dir: str | Path | None = None) -> tuple[float, str] | None:
    """How long training ``config`` takes (its budget and §5's step-size search; evaluation not counted), at the
    speed of the fastest run the book ships with of the same model and learner (``COST_FIELDS``; the slower ones
    ran beside other jobs, or several seeds in one pass), and that run's machine: ``(seconds, machine)``, or
    None where no shipped run has the model."""
    return _projected(config, _shipped(Path(results_dir or RESULTS_DIR)))


def _projected(config: TrainConfig, shipped: list[StoredRun]) -> tuple[float, str] | None:
    """``projected_seconds`` from the store's runs ``shipped`` (``_shipped``), read once by the caller."""
    rates = [(r.curve[-1]["samples"] / r.curve[-1]["seconds"], r.meta)
             for r in shipped if _cost_key(r.config) == _cost_key(config)]
    if not rates:
        return None
    rate, meta = max(rates, key=lambda r: r[0])
    return (config.budget + _search_samples(config)) / rate, machine(meta.get("environment", {}))


def training_time(configs: Iterable[TrainConfig], results_dir: str | Path | None = None) -> tuple[str, str]:
    """``projected_seconds`` of ``configs`` together, as words to glue: ``(duration, machines)``; where no shipped
    run has one of the models, words that say so instead of a number (the store read once for all of them)."""
    shipped = _shipped(Path(results_dir or RESULTS_DIR))
    found = [_projected(c, shipped) for c in configs]
    if not found or None in found:
        return "not known for these settings (no run this book ships with has them)", "no machine"
    return duration(sum(s for s, _ in found)), " and ".join(sorted({m for _, m in found}))


def runs_training(runs: Iterable[StoredRun]) -> tuple[float, list[str]]:
    """Training seconds of shipped runs (``aevb.experiments.store.StoredRun``, as ``aevb.book.figures`` loads
    them), the step-size search added, a pass that trained several seeds at once counted once (the seeds'
    runs share every setting but the seed and record the pass's time, to within ``STACKED``); and their
    machines."""
    groups, machines = {}, set()
    for r in runs:
        if not r.curve:
            continue
        last = r.curve[-1]
        seconds = last["seconds"] * (1 + _search_samples(r.config) / last["samples"])
        groups.setdefault((seedless(r.config), last["samples"]), set()).add(seconds)
        machines.add(machine(r.meta.get("environment", {})))
    total = 0.0
    for times in groups.values():
        previous = None
        for t in sorted(times):  # a new pass wherever the next time is more than STACKED later
            if previous is None or t - previous > STACKED:
                total += t
            previous = t
    return total, sorted(machines)
