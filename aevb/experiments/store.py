"""The committed results store of the figure chapters (§5, App. A), and the check that CI reproduces it.

``results/index.csv``: one row per run (the figures it belongs to, dataset, algorithm, N_z, hidden, N_train,
seed, samples reached, training seconds, final train/test value, git revision, path), rebuilt from the run
directories, so it can never disagree with them. ``results/runs/NAME/curve.csv`` is the run's curve.

``check_prefix`` re-trains the first samples of a committed run with its seed and step size and compares
with the stored curve: the same code, seed and machine give the same numbers; another machine's float
rounding (thread count, vector units) may move them by a little, which the tolerance allows.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from aevb.config import TrainConfig
from aevb.experiments.grids import figure_configs, figures_of, run_name
from aevb.experiments.runs import run
from aevb.files import atomic_write, atomic_write_csv, read_csv

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"  # the committed store (repository root)

INDEX_COLUMNS = ["figures", "dataset", "algorithm", "n_z", "hidden", "n_train", "seed", "samples", "seconds",
                 "measure", "train", "test", "lr", "git", "path"]


def run_path(results_dir: str | Path, name: str) -> Path:
    """The directory of the run called ``name`` (``aevb.experiments.grids.run_name``) in the store."""
    return Path(results_dir) / "runs" / name


def samples_reached(run_dir: str | Path) -> int:
    """Training samples of the last evaluated point in ``run_dir/curve.csv`` (0 where there is none)."""
    path = Path(run_dir) / "curve.csv"
    rows = read_csv(path) if path.exists() else []
    return int(rows[-1]["samples"]) if rows else 0


def store_files(name: str, files: dict[str, bytes], results_dir: str | Path) -> Path:
    """Write a run's ``files`` (name -> bytes) into ``results_dir/runs/NAME`` atomically (a file that already
    holds those bytes, e.g. written by a local worker, is left alone)."""
    run_dir = run_path(results_dir, name)
    for fname, data in files.items():
        path = run_dir / fname
        if not (path.exists() and path.read_bytes() == data):
            atomic_write(path, lambda f, d=data: f.write(d))
    return run_dir


def _measure(row: dict) -> str:
    return "marginal" if "test_marginal" in row else "bound"


def index_rows(results_dir: str | Path = RESULTS_DIR) -> list[dict]:
    """One row per run directory under ``results_dir/runs`` that has a curve."""
    results_dir, rows = Path(results_dir), []
    for cfg_path in sorted((results_dir / "runs").glob("*/config.json")):
        run_dir = cfg_path.parent
        if not (run_dir / "curve.csv").exists():
            continue
        meta = json.loads(cfg_path.read_text())
        config = TrainConfig.from_dict(meta["config"], device="cpu")
        curve = read_csv(run_dir / "curve.csv")
        if not curve:
            continue
        last, m = curve[-1], _measure(curve[-1])
        rows.append({"figures": ";".join(map(str, figures_of(config))), "dataset": config.dataset,
                     "algorithm": config.algorithm, "n_z": config.n_z, "hidden": "x".join(map(str, config.hidden)),
                     "n_train": "all" if config.n_train is None else config.n_train, "seed": config.seed,
                     "samples": int(last["samples"]), "seconds": round(last["seconds"], 1), "measure": m,
                     "train": round(last[f"train_{m}"], 3), "test": round(last[f"test_{m}"], 3),
                     "lr": meta.get("lr_used", ""), "git": meta.get("environment", {}).get("git", "unknown"),
                     "path": run_dir.relative_to(results_dir).as_posix()})
    return rows


def write_index(results_dir: str | Path = RESULTS_DIR) -> Path:
    """Rebuild ``results_dir/index.csv`` from the run directories (atomically)."""
    return atomic_write_csv(Path(results_dir) / "index.csv", index_rows(results_dir), INDEX_COLUMNS)


def figure_runs(figure: int, results_dir: str | Path = RESULTS_DIR) -> list[dict]:
    """The stored runs of ``figure`` in the grid's order: dicts with ``name``, ``config``, ``curve`` (rows,
    empty where the run is missing), ``lr`` and ``dir``."""
    results_dir, out = Path(results_dir), []
    for c in figure_configs(figure, 1):
        run_dir = run_path(results_dir, run_name(c))
        curve = read_csv(run_dir / "curve.csv") if (run_dir / "curve.csv").exists() else []
        meta = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
        out.append({"name": run_name(c), "config": c, "curve": curve, "lr": meta.get("lr_used"), "dir": run_dir})
    return out


def check_prefix(name: str, samples: int, atol: float, results_dir: str | Path = RESULTS_DIR,
                 device: str = "cpu") -> list[dict]:
    """Re-train the committed run ``name`` to ``samples`` training samples (its seed, its step size: the
    §5 search is skipped, which does not change the trajectory; the step it was trained by, fused or autograd)
    and compare every stored curve value up to there. Returns rows (samples, column, stored, rerun,
    difference); raises AssertionError where a difference exceeds ``atol`` nats."""
    run_dir = run_path(results_dir, name)
    meta = json.loads((run_dir / "config.json").read_text())
    stored = [r for r in read_csv(run_dir / "curve.csv") if r["samples"] <= samples]
    if not stored:
        raise ValueError(f"{name} has no stored evaluation at or below {samples} samples")
    config = TrainConfig.from_dict(meta["config"], device=device, budget=int(stored[-1]["samples"]),
                                   lr=meta["lr_used"], progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        rerun = run(config, tmp).curve
    rows = []
    for a, b in zip(stored, rerun):
        assert a["samples"] == b["samples"], f"evaluation points differ: {a['samples']} vs {b['samples']}"
        for k in a:
            if k not in ("samples", "seconds"):
                rows.append({"samples": int(a["samples"]), "column": k, "stored": a[k], "rerun": b[k],
                             "difference": b[k] - a[k]})
    worst = max(rows, key=lambda r: abs(r["difference"]))
    if not abs(worst["difference"]) <= atol or not all(math.isfinite(r["rerun"]) for r in rows):
        raise AssertionError(f"re-running {name} to {samples} samples does not reproduce the stored curve: "
                             f"{worst['column']} at {worst['samples']} samples is {worst['rerun']:.4f} here, "
                             f"{worst['stored']:.4f} stored (tolerance {atol} nats)")
    return rows


def _shared(a: list[dict], b: list[dict], column: str) -> list[tuple[int, float, float]]:
    """(samples, a's value, b's value) of ``column`` at the evaluation points two curves share."""
    bs = {r["samples"]: r[column] for r in b}
    return [(int(r["samples"]), r[column], bs[r["samples"]]) for r in a if r["samples"] in bs]


def ahead(a: list[dict], b: list[dict], column: str) -> tuple[int, int]:
    """At the evaluation points two curves share: (how many where ``a[column] > b[column]``, how many shared)."""
    shared = _shared(a, b, column)
    return sum(x > y for _, x, y in shared), len(shared)


def behind(a: list[dict], b: list[dict], column: str) -> list[int]:
    """The shared evaluation points (sample counts) where ``a[column]`` is not above ``b[column]``."""
    return [s for s, x, y in _shared(a, b, column) if x <= y]


def ahead_since(a: list[dict], b: list[dict], column: str) -> int | None:
    """The first shared evaluation point from which ``a[column]`` stays above ``b[column]`` (None where it is not
    above at the last one)."""
    last = max(behind(a, b, column), default=-1)
    return next((s for s, _, _ in _shared(a, b, column) if s > last), None)


def panel_table(runs: list[dict], panel_of, key: str, baseline: str = "aevb") -> list[dict]:
    """One row per stored run: its panel, samples reached, final train and test value of ``key`` ("bound" or
    "marginal"), and at how many shared evaluation points the ``baseline`` algorithm of its panel is ahead of
    it on train and on test (the paper's ordering claim)."""
    by_panel = {}
    for r in runs:
        if r["curve"]:
            by_panel.setdefault(panel_of(r["config"]), {})[r["config"].algorithm] = r["curve"]
    rows = []
    for panel, curves in by_panel.items():
        for alg, curve in curves.items():
            row = {"panel": panel, "algorithm": alg, "samples": int(curve[-1]["samples"]),
                   "train": curve[-1][f"train_{key}"], "test": curve[-1][f"test_{key}"]}
            for split in ("train", "test"):
                if alg != baseline and baseline in curves:
                    n, m = ahead(curves[baseline], curve, f"{split}_{key}")
                    row[f"{baseline} ahead ({split})"] = f"{n}/{m}"
                else:
                    row[f"{baseline} ahead ({split})"] = "-"
            rows.append(row)
    return rows
