"""The committed results store of the figure chapters (§5, App. A), and the check that CI reproduces it.

``results/index.csv``: one row per run (the figures it belongs to, dataset, algorithm, N_z, hidden, N_train,
seed, samples reached, training seconds, final train/test value, git revision, path), rebuilt from the run
directories, so it can never disagree with them. ``results/runs/NAME/curve.csv`` is the run's curve.

``check_prefix`` re-trains the first samples of a committed run with its seed and step size and compares
with the stored curve: the same code, seed and machine give the same numbers; another machine's float
rounding (thread count, vector units) may move them by a little, which the tolerance allows.

Every file is checked on read (``aevb.experiments.runs.read_run_config``, ``read_curve``, ``read_checkpoint``,
``aevb.experiments.images.load_images``, ``aevb.experiments.decoders.load_decoder``, ``read_index`` here): a torn,
empty, foreign or hand-edited file is one ``aevb.files.StoreError`` naming the file and the problem. What can be
rebuilt is rebuilt: ``index.csv`` from the run directories (``read_index``, ``write_index``); ``images.npz``
(``run_images``), a Fig. 4 run's ``decoder.npz`` (``run_decoder``) and ``curve.csv``
(``aevb.experiments.runs.read_curve``) from the run's ``checkpoint.pt`` where there is one of the same settings
and point. What cannot names the command that regenerates it (``regenerate_command``): move the bad file away,
then ``python -m aevb figure N --only NAME`` trains the run again.

The regenerate command is built only when a file is found bad (``_remedied``): finding it means building the
grid of every figure and study, which a good read has no need of.

A bad run in the index: ``index_rows`` and everything that reads a run (``samples_reached``, ``figure_runs``,
``python -m aevb figure --list``) raise on it, never skip it; ``write_index`` writes the rows of the readable
runs (so the index stays whole for them) and then raises naming every unreadable one.

A run is read as a ``StoredRun`` (``read_run``: name, settings, curve, its ``config.json`` and its directory), by
``index_rows``, ``check_prefix`` and ``figure_runs`` (a figure's or a study's runs, with the grid's settings). A
curve stays a list of rows, one dict per evaluation, as ``curve.csv`` holds it (its columns depend on the run's
settings); ``aevb.experiments.curves`` compares two of them. ``index.csv``'s rows stay the dicts of its text.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aevb.config import TrainConfig
from aevb.experiments.decoders import decoder_arrays, load_decoder, stores_decoder, write_decoder
from aevb.experiments.grids import (FIGURES, STUDIES, figure_configs, grid_configs, memberships, run_name,
                                   study_configs)
from aevb.experiments.images import image_shapes, load_images, render_images, write_images
from aevb.experiments.runs import (checkpoint_file, float_kernels, load_model, read_checkpoint, read_curve,
                                   read_run_config, run)
from aevb.files import StoreError, atomic_write, atomic_write_csv, read_text

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"  # the committed store (repository root)

INDEX_COLUMNS = ["figures", "dataset", "algorithm", "n_z", "hidden", "n_train", "seed", "samples", "seconds",
                 "measure", "train", "test", "lr", "git", "path"]


def run_path(results_dir: str | Path, name: str) -> Path:
    """The directory of the run called ``name`` (``aevb.experiments.grids.run_name``) in the store."""
    return Path(results_dir) / "runs" / name


DEFAULT_BUDGET = 10_000_000  # `python -m aevb figure`'s default --budget (the committed runs')


def regenerate_command(name: str, results_dir: str | Path = RESULTS_DIR, budget: int | None = None) -> str:
    """The ``python -m aevb figure N --only NAME`` command that trains the store run ``name`` again (with
    ``--seed``, ``--budget`` and ``--results`` where they are not the defaults)."""
    seed = name.rsplit("-s", 1)[-1]
    seed = int(seed) if seed.isdigit() else 0
    figs = [f for f in FIGURES if any(run_name(c) == name for c in figure_configs(f, 1, seed))]
    studies = [s for s in STUDIES if any(run_name(c) == name for c in study_configs(s, 1, seed))]
    if figs or not studies:
        cmd = f"python -m aevb figure {figs[0] if figs else ' '.join(map(str, FIGURES))} --only {name}"
    else:
        cmd = f"python -m aevb study {studies[0]} --only {name}"
    if seed:
        cmd += f" --seed {seed}"
    if budget is not None and budget != DEFAULT_BUDGET:
        cmd += f" --budget {budget}"
    if Path(results_dir).resolve() != RESULTS_DIR:
        cmd += f" --results {results_dir}"
    return cmd


def _remedy(run_dir: Path, config: TrainConfig | None = None) -> str:
    """How to get a store run's bad file back: move it away, train the run again."""
    command = regenerate_command(run_dir.name, run_dir.parent.parent, None if config is None else config.budget)
    return f"move it away and run `{command}`"


def _remedied(run_dir: Path, config: TrainConfig | None, read):
    """``read()``; a ``StoreError`` it raises is raised again with the store's remedy (``_remedy``), which is
    built only then."""
    try:
        return read()
    except StoreError as e:
        raise e.remedied(_remedy(run_dir, config)) from None


def run_config(run_dir: str | Path) -> tuple[TrainConfig, dict]:
    """``(config, meta)`` of a store run's checked ``config.json`` (``aevb.experiments.runs.read_run_config``; an
    error says how to regenerate the run)."""
    run_dir = Path(run_dir)
    return _remedied(run_dir, None, lambda: read_run_config(run_dir, remedy=""))


def run_curve(run_dir: str | Path, config: TrainConfig | None = None) -> list[dict]:
    """A store run's checked curve (``aevb.experiments.runs.read_curve``; [] where it has none yet)."""
    run_dir = Path(run_dir)
    if not (run_dir / "curve.csv").exists():
        return []
    config = run_config(run_dir)[0] if config is None else config
    return _remedied(run_dir, config, lambda: read_curve(run_dir, config, remedy=""))


def samples_reached(run_dir: str | Path) -> int:
    """Training samples of the last evaluated point in ``run_dir/curve.csv`` (0 where there is none; a bad
    ``curve.csv`` or ``config.json`` is a ``StoreError``)."""
    rows = run_curve(run_dir)
    return int(rows[-1]["samples"]) if rows else 0


@dataclass(frozen=True)
class StoredRun:
    """One run of a figure's (or a study's) grid as the store holds it (``figure_runs``)."""

    name: str  # its run name (``aevb.experiments.grids.run_name``)
    config: TrainConfig  # its settings: the grid's in ``figure_runs`` (budget 1), config.json's in ``read_run``
    curve: list[dict]  # its evaluations, the checked rows of curve.csv; [] where the run is not in the store
    meta: dict  # its config.json (``lr_used``, ``lr_search``, ``environment``, ...); {} where it has none
    path: Path  # its directory in the store (``run_path``), whether or not it exists

    @property
    def lr(self) -> float | None:
        """The step size the run was trained with (``lr_used``; None where none is recorded)."""
        return self.meta.get("lr_used")


def read_run(run_dir: str | Path) -> StoredRun:
    """The run in ``run_dir`` as it is stored: its ``config.json`` (the settings it was trained with, and its
    record) and its curve ([] where it has none yet), each checked (a bad one raises its ``StoreError``)."""
    run_dir = Path(run_dir)
    config, meta = run_config(run_dir)
    return StoredRun(run_dir.name, config, run_curve(run_dir, config), meta, run_dir)


def _rebuilt(run_dir: Path, config: TrainConfig, load, write, applies: bool, what: str, again: str):
    """``load(run_dir, config, remedy)`` where the file is good; where it is missing or bad and the run's
    ``checkpoint.pt`` holds the model of its last evaluation: ``write(model)``, a warning ("FILE: PROBLEM; ``again``
    from CHECKPOINT"), and the file read again. Otherwise the ``StoreError`` with the regenerate command (``what``:
    what the file was made from the model, for the message where the checkpoint is of another point)."""
    try:
        return load(run_dir, config, "")
    except StoreError as e:
        remedy = _remedy(run_dir, config)
        if not applies or not checkpoint_file(run_dir).exists():
            raise e.remedied(remedy) from None
        ckpt = read_checkpoint(run_dir, remedy=remedy)[0]
        reached = samples_reached(run_dir)
        if ckpt["trainer"]["samples"] != reached:
            raise e.remedied(f"{remedy} (checkpoint.pt is at {ckpt['trainer']['samples']:,} samples, the curve at "
                             f"{reached:,}: not the model {what})") from None
        write(load_model(run_dir))
        warnings.warn(f"{e.path}: {e.problem}; {again} from {checkpoint_file(run_dir)}", stacklevel=3)
        return load(run_dir, config, remedy)


def run_images(run_dir: str | Path, config: TrainConfig | None = None) -> dict[str, np.ndarray]:
    """A store run's Fig. 4 / 5 images (``aevb.experiments.images.load_images``, checked against its config). Where
    ``images.npz`` is missing or bad and the run's ``checkpoint.pt`` holds the model of its last evaluation, the
    images are drawn again from it (the same bytes: ``render_images`` with the run's seed), written, and a warning
    says so; otherwise the ``StoreError`` says how to regenerate the run."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)[0] if config is None else config
    return _rebuilt(run_dir, config, load_images,
                    lambda model: write_images(run_dir, render_images(config, model, config.seed)),
                    bool(image_shapes(config)), "the images were drawn from", "drawn again")


def run_decoder(run_dir: str | Path, config: TrainConfig | None = None) -> dict[str, np.ndarray]:
    """A Fig. 4 run's stored decoder and test encodings (``aevb.experiments.decoders.load_decoder``, checked against
    its config). Where ``decoder.npz`` is missing or bad and the run's ``checkpoint.pt`` holds the model of its
    last evaluation, the file is written again from it, and a warning says so; otherwise the ``StoreError`` says
    how to regenerate the run."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)[0] if config is None else config
    return _rebuilt(run_dir, config, load_decoder,
                    lambda model: write_decoder(run_dir, decoder_arrays(config, model)),
                    stores_decoder(config), "of the run's last evaluation", "written again")


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


def index_rows(results_dir: str | Path = RESULTS_DIR, errors: list | None = None) -> list[dict]:
    """One row per run directory under ``results_dir/runs`` that has a curve, its files checked on read. A run
    whose ``config.json`` or ``curve.csv`` is bad raises its ``StoreError`` (naming the file, the problem and the
    command that regenerates it); with ``errors`` (a list) it is appended there instead and the run left out."""
    results_dir, rows = Path(results_dir), []
    run_dirs = sorted({p.parent for f in ("config.json", "curve.csv") for p in (results_dir / "runs").glob(f"*/{f}")})
    for run_dir in run_dirs:
        if not (run_dir / "curve.csv").exists():
            continue
        try:
            run = read_run(run_dir)
        except StoreError as e:
            if errors is None:
                raise
            errors.append(e)
            continue
        config, meta, curve = run.config, run.meta, run.curve
        if not curve:
            continue
        last, m = curve[-1], _measure(curve[-1])
        rows.append({"figures": ";".join(memberships(config)), "dataset": config.dataset,
                     "algorithm": config.algorithm, "n_z": config.n_z, "hidden": "x".join(map(str, config.hidden)),
                     "n_train": "all" if config.n_train is None else config.n_train, "seed": config.seed,
                     "samples": int(last["samples"]), "seconds": round(last["seconds"], 1), "measure": m,
                     "train": round(last[f"train_{m}"], 3), "test": round(last[f"test_{m}"], 3),
                     "lr": meta.get("lr_used", ""), "git": meta.get("environment", {}).get("git", "unknown"),
                     "path": run_dir.relative_to(results_dir).as_posix()})
    return rows


def write_index(results_dir: str | Path = RESULTS_DIR) -> Path:
    """Rebuild ``results_dir/index.csv`` from the run directories (atomically). A run whose files are bad is left
    out of the index, which is written from the readable ones; then a ``StoreError`` names every run left out
    (its file, the problem, the command that regenerates it): never a silent skip."""
    errors: list = []
    rows = index_rows(results_dir, errors)
    path = atomic_write_csv(Path(results_dir) / "index.csv", rows, INDEX_COLUMNS)
    if errors:
        raise StoreError(path, f"written without {len(errors)} unreadable run(s), from the {len(rows)} readable: "
                               + " | ".join(map(str, errors)))
    return path


def read_index(results_dir: str | Path = RESULTS_DIR) -> list[dict]:
    """The rows of ``results_dir/index.csv`` (values as text, as ``csv.DictReader`` reads them), checked against
    the run directories it is derived from: where it is missing, torn, empty, foreign, hand-edited or stale it is
    rebuilt (``write_index``) and a warning says what was wrong with it."""
    path = Path(results_dir) / "index.csv"
    rows = index_rows(results_dir)
    want = [{k: str(v) for k, v in r.items()} for r in rows]
    problem = None
    if not path.exists():
        problem = "not found"
    else:
        try:
            text = read_text(path)
        except StoreError as e:  # not text, or empty
            text, problem = "", e.problem
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if problem is None and reader.fieldnames != INDEX_COLUMNS:
            problem = (f"line 1 has the columns {', '.join(reader.fieldnames or [])}; "
                       f"expected {', '.join(INDEX_COLUMNS)}")
        elif problem is None:
            got = list(reader)
            torn = [n for n, r in enumerate(got, start=2) if None in r or None in r.values()]
            if torn:
                problem = f"line {torn[0]} has more or fewer values than the header (torn?)"
            elif got != want:
                bad = next((n for n, (a, b) in enumerate(zip(got, want), start=2) if a != b), len(want) + 2)
                problem = f"line {bad} disagrees with the run directories (hand-edited or stale)"
    if problem is not None:  # every run was readable (index_rows raised otherwise): write what was read
        atomic_write_csv(path, rows, INDEX_COLUMNS)
        warnings.warn(f"{path}: {problem}; rebuilt from the run directories", stacklevel=2)
    return want


def figure_runs(figure: int | str, results_dir: str | Path = RESULTS_DIR, seeds=(0,)) -> list[StoredRun]:
    """The stored runs of ``figure`` (or of a study, by name) for ``seeds``, in the grid's order, a run not in the
    store with an empty curve. Every file is checked on read: a bad one raises its ``StoreError`` (with the
    command that regenerates the run)."""
    results_dir, out = Path(results_dir), []
    for c in [c for s in seeds for c in grid_configs(figure, 1, s)]:
        run_dir = run_path(results_dir, run_name(c))
        stored = (run_dir / "config.json").exists() or (run_dir / "curve.csv").exists()
        out.append(dataclasses.replace(read_run(run_dir), config=c) if stored
                   else StoredRun(run_name(c), c, [], {}, run_dir))
    return out


def check_prefix(name: str, samples: int, atol: float, results_dir: str | Path = RESULTS_DIR,
                 device: str = "cpu") -> list[dict]:
    """Re-train the committed run ``name`` to ``samples`` training samples (its seed, its step size: the
    §5 search is skipped, which does not change the trajectory; the step it was trained by, fused or autograd)
    and compare every stored curve value up to there. Returns rows (samples, column, stored, rerun,
    difference); raises AssertionError where a difference exceeds ``atol`` nats."""
    stored_run = read_run(run_path(results_dir, name))
    meta = stored_run.meta
    stored = [r for r in stored_run.curve if r["samples"] <= samples]
    if not stored:
        raise ValueError(f"{name} has no stored evaluation at or below {samples} samples")
    if "lr_used" not in meta:
        raise StoreError(stored_run.path / "config.json", "has no lr_used (the step size the run was trained with)",
                         _remedy(stored_run.path, stored_run.config))
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
        there = {k: meta.get("environment", {}).get(k, "not recorded") for k in float_kernels()}
        here = float_kernels()
        raise AssertionError(f"re-running {name} to {samples} samples does not reproduce the stored curve: "
                             f"{worst['column']} at {worst['samples']} samples is {worst['rerun']:.4f} here, "
                             f"{worst['stored']:.4f} stored (tolerance {atol} nats); float kernels here: CPU "
                             f"capability {here['cpu_capability']}, BLAS {here['blas']}; the stored run's: CPU "
                             f"capability {there['cpu_capability']}, BLAS {there['blas']}")
    return rows

