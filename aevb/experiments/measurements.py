"""Measurements on the trained models of the store, kept as small CSVs in ``results/studies/`` for the scorecard
and the chapters (the store keeps no checkpoints, so each is measured where the runs were trained, from their
local ``checkpoint.pt``, and committed with the command that made it: ``python -m aevb measure NAME``).

- ``appd-repeats`` (§5, Fig. 3: "the estimator's standard deviation was below 1 nat"): App. D on the first
  ``n_points`` test points of every Fig. 3 model, repeated with ``REPEAT_SEEDS``; per run, the standard deviation
  over seeds of the mean estimate (what Fig. 3 plots) and of single points; and, on the first ``AIS_POINTS`` of
  them, App. D's mean beside annealed importance sampling's (K = 8 chains, T = 500), the stronger estimator.
- ``appd-dimension`` (App. D: "unreliable beyond about 5 latent dimensions"): on the ``appd-dimension`` study's
  models (N_z = 2 … 20), App. D with the jittered sampler and with a fixed step size, beside AIS and the
  importance-weighted bound (k = 1000), on the first ``n_points`` test points.
"""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import torch

from aevb.data import load_split
from aevb.evaluation import ais, iwae_bound, log_marginal_hmc
from aevb.experiments.grids import figure_configs, run_name, select, study_configs
from aevb.experiments.runs import load_model, read_run_config
from aevb.experiments.store import RESULTS_DIR, run_path
from aevb.files import StoreError, atomic_write_csv, read_text

MEASUREMENTS = ("appd-repeats", "appd-dimension")
REPEAT_SEEDS = (0, 1, 2, 3, 4)  # appd-repeats: App. D's seeds
AIS_POINTS = 100  # appd-repeats: the first test points also estimated by AIS
COLUMNS = {"appd-repeats": ["run", "n_points", "seeds", "mean", "sd_of_mean", "mean_point_sd", "max_point_sd",
                            "ais_points", "appd_subset", "ais_subset", "seconds"],
           "appd-dimension": ["run", "n_z", "n_points", "method", "mean", "se", "seconds"]}
DIMENSION_METHODS = ("App. D", "App. D, fixed step", "AIS", "IWAE k=1000")


def study_path(name: str, results_dir: str | Path = RESULTS_DIR) -> Path:
    """Where measurement ``name`` is kept: ``results_dir/studies/NAME.csv``."""
    return Path(results_dir) / "studies" / f"{name}.csv"


def read_study(name: str, results_dir: str | Path = RESULTS_DIR) -> list[dict] | None:
    """The rows of measurement ``name`` in the store (numbers as float, ``run`` and ``method`` as text), or None
    where it has not been measured; a torn or foreign file is a ``StoreError`` naming it."""
    path = study_path(name, results_dir)
    if not path.exists():
        return None
    rows = list(csv.DictReader(io.StringIO(read_text(path), newline="")))
    if not rows or list(rows[0]) != COLUMNS[name] or any(None in r.values() for r in rows):
        raise StoreError(path, f"does not hold the columns {', '.join(COLUMNS[name])} of measurement {name!r}",
                         f"measure it again: python -m aevb measure {name}")
    return [{k: v if k in ("run", "method") else float(v) for k, v in r.items()} for r in rows]


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def appd_repeats(run_dir: Path, n_points: int, seeds=REPEAT_SEEDS, ais_points: int = AIS_POINTS,
                 ais_steps: int = 500) -> dict:
    """App. D on the first ``n_points`` test points of the run in ``run_dir``, once per seed: the spread of the
    mean over seeds and of single points (nats); and the mean of App. D (its first seed) and of AIS on the first
    ``ais_points`` of them."""
    model = load_model(run_dir)
    config = _config(run_dir)
    x = load_split(config, "test", torch.device("cpu"))[:n_points]
    est, seconds = _timed(lambda: torch.stack([log_marginal_hmc(model, x, seed=s) for s in seeds]))  # (S, N)
    point_sd = est.std(0)  # (N,)
    a = ais(model, x[:ais_points], n_chains=8, n_steps=ais_steps)  # (ais_points,)
    return {"run": run_dir.name, "n_points": len(x), "seeds": len(seeds), "mean": est.mean().item(),
            "sd_of_mean": est.mean(1).std().item(), "mean_point_sd": point_sd.mean().item(),
            "max_point_sd": point_sd.max().item(), "ais_points": len(a),
            "appd_subset": est[0, :ais_points].mean().item(), "ais_subset": a.mean().item(),
            "seconds": round(seconds, 1)}


def appd_dimension(run_dir: Path, n_points: int, ais_steps: int = 500, iwae_k: int = 1000) -> list[dict]:
    """The four estimators of ``DIMENSION_METHODS`` on the first ``n_points`` test points of ``run_dir``'s model
    (AIS with 8 chains and ``ais_steps`` distributions, IWAE with ``iwae_k`` samples: the names keep the defaults')."""
    model = load_model(run_dir)
    config = _config(run_dir)
    x = load_split(config, "test", torch.device("cpu"))[:n_points]
    methods = {"App. D": lambda: log_marginal_hmc(model, x),
               "App. D, fixed step": lambda: log_marginal_hmc(model, x, step_jitter=0.0),
               "AIS": lambda: ais(model, x, n_chains=8, n_steps=ais_steps),
               "IWAE k=1000": lambda: iwae_bound(model, model.encoder, x, iwae_k)}
    rows = []
    for method in DIMENSION_METHODS:
        est, seconds = _timed(methods[method])
        rows.append({"run": run_dir.name, "n_z": config.n_z, "n_points": len(x), "method": method,
                     "mean": est.mean().item(), "se": (est.std() / math.sqrt(len(est))).item(),
                     "seconds": round(seconds, 1)})
    return rows


def _config(run_dir: Path):
    return read_run_config(run_dir)[0]


def measure(name: str, results_dir: str | Path = RESULTS_DIR, n_points: int | None = None, only: str | None = None,
            log=print) -> Path:
    """Run measurement ``name`` (``MEASUREMENTS``) on the stored runs it concerns that have a checkpoint here (those
    matching ``only``, comma-separated shell patterns, where given: the rows of the others already in the file are
    kept), and write the rows to ``study_path(name)`` atomically; an error, and the file left as it was, where no
    run was measured."""
    if name not in MEASUREMENTS:
        raise ValueError(f"measurement {name!r} is not one of {MEASUREMENTS}")
    configs = figure_configs(3, 1) if name == "appd-repeats" else study_configs("appd-dimension", 1)
    configs = select(configs, only)
    names = {run_name(c) for c in configs}
    kept = [r for r in (read_study(name, results_dir) or []) if r["run"] not in names] if only else []
    n_points = n_points or (1000 if name == "appd-repeats" else 100)
    path, rows = study_path(name, results_dir), []
    for c in configs:
        run_dir = run_path(results_dir, run_name(c))
        if not (run_dir / "checkpoint.pt").exists():
            log(f"  {run_dir.name}: no checkpoint here, not measured")
            continue
        new = [appd_repeats(run_dir, n_points)] if name == "appd-repeats" else appd_dimension(run_dir, n_points)
        log(f"  {run_dir.name}: " + "; ".join(f"{r.get('method', 'App. D')} {r['mean']:.2f}" for r in new))
        rows += new
    if not rows:
        train = "python -m aevb figure 3" if name == "appd-repeats" else "python -m aevb study appd-dimension"
        raise FileNotFoundError(f"no run of measurement {name!r} has a checkpoint in {results_dir}: train them "
                                f"first ({train}); {path} left as it was")
    order = [run_name(c) for c in (figure_configs(3, 1) if name == "appd-repeats" else
                                    study_configs("appd-dimension", 1))]
    return atomic_write_csv(path, sorted(kept + rows, key=lambda r: order.index(r["run"])), COLUMNS[name])
