"""The steps the figure chapters (8-11: the paper's Fig. 2, 3, 4 and 5) share, so that each chapter only says
what is particular to its figure.

Every figure chapter does the same five things with the results store (``aevb.experiments.store``):

1. optionally re-train the runs of its figure (its ``retrain_budget``, ``panels``, ``workers`` and ``device``
   knobs) and load the stored runs: ``load_runs``, with ``keyed`` and ``stored_curves`` to look them up;
2. show how far each run got: ``progress_table`` (Fig. 2, 3) or ``final_table`` (Fig. 4, 5), tables
   (``aevb.plots.Table``) shown as HTML, with ``not_stored`` naming the runs the store lacks;
3. set the final values of each panel side by side: ``panel_table`` (with who is ahead at the evaluations the
   curves share, ``aevb.experiments.curves``), shown by ``panel_text``; ``fig2_facts`` and ``fig3_facts`` name
   the numbers the prose states, for MyST-NB's ``glue``;
4. show the stored images of a run (Fig. 4, 5): ``stored_images``;
5. check that the store holds what the code produces, by re-training the first samples of one committed run
   (``check_run``, ``check_samples``, ``check_atol``): ``check_store``, ``largest_difference`` and
   ``check_report``.

A run is an ``aevb.experiments.store.StoredRun`` as ``aevb.experiments.store.figure_runs`` returns it: ``name``,
``config`` (``TrainConfig``), ``curve`` (list of row dicts: ``samples``, ``seconds``, ``train_bound``/``test_bound``
or ``train_marginal``/``test_marginal``; empty where the run is not in the store), ``meta``, ``lr`` and ``path``.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Callable, Hashable, Iterable

import numpy as np

from aevb.classifier import per_class
from aevb.config import TrainConfig, seedless
from aevb.experiments.accounting import ACCOUNTINGS, Rates, compare, seconds_ratio, x_axis
from aevb.experiments.curves import ahead, ahead_since, last_shared, mean_curve, shared
from aevb.experiments.decoders import DECODER_FILE, decode_stored, grey_level_difference, stores_decoder
from aevb.experiments.grids import run_name
from aevb.experiments.measurements import COST_BASIS, cost_rates
from aevb.experiments.runner import run_figure
from aevb.experiments.store import RESULTS_DIR, StoredRun, check_prefix, figure_runs, run_decoder, run_images
from aevb.files import read_text
from aevb.plots import Table, table

PROGRESS_COLUMNS = {"run": "", "samples": ",.0f", "step size": "g", "train seconds": ",.0f"}
FINAL_COLUMNS = {"run": "", "samples": ",.0f", "train bound": ".2f", "test bound": ".2f"}
PANEL_COLUMNS = {"panel": "", "algorithm": "", "seeds": "d", "samples": ",d", "train": ".2f", "train sd": ".2f",
                 "test": ".2f", "test sd": ".2f", "aevb ahead (train)": "", "aevb ahead (test)": ""}
CHECK_COLUMNS = {"samples": "d", "column": "", "stored": ".4f", "rerun": ".4f", "difference": ".2e"}


def store_dir(results_dir: str | Path | None = None) -> Path:
    """The results store a chapter reads: its ``results_dir`` knob, or the committed ``results/`` where None."""
    return RESULTS_DIR if results_dir is None else Path(results_dir)


def load_runs(figure: int, retrain_budget: int = 0, panels: str = "*", results_dir: str | Path | None = None,
              workers: int = 2, device: str = "cpu") -> list[StoredRun]:
    """The stored runs of ``figure`` (2, 3, 4 or 5), in the grid's order (``aevb.experiments.store.figure_runs``).

    With ``retrain_budget`` > 0 the runs whose names match ``panels`` (comma-separated shell patterns) are first
    trained, or extended, to that many samples into the store (``aevb.experiments.runner.run_figure``, ``workers``
    processes, on ``device``); with 0 (a chapter's default) nothing is trained.
    """
    store = store_dir(results_dir)
    if retrain_budget:
        run_figure(figure, retrain_budget, only=panels, results_dir=store, workers=workers, device=device)
    return figure_runs(figure, store)


def seed_runs(figure: int, seeds: Iterable[int], results_dir: str | Path | None = None) -> list[StoredRun]:
    """The stored runs of ``figure`` for each of ``seeds`` (seed by seed, each in the grid's order), as
    ``load_runs`` reads them, training nothing: a run not in the store has an empty curve."""
    return figure_runs(figure, store_dir(results_dir), seeds=tuple(seeds))


def keyed(runs: Iterable[StoredRun], key: Callable[[TrainConfig], Hashable]) -> dict:
    """The runs by ``key(run.config)``, e.g. ``keyed(runs, lambda c: c.n_z)``: {key: run}, in the runs' order."""
    return {key(r.config): r for r in runs}


def stored_curves(runs: Iterable[StoredRun], key: Callable[[TrainConfig], Hashable]) -> dict:
    """The curves of the stored runs (those with a curve) by ``key(run.config)``: {key: list of row dicts}."""
    return {key(r.config): r.curve for r in runs if r.curve}


def seed_curves(runs: Iterable[StoredRun], panel_of: Callable[[TrainConfig], Hashable]) -> dict:
    """The stored runs' curves by panel and algorithm, a list of the seeds' (in the runs' order; seeds without a
    curve left out): {panel_of(config): {algorithm: [curve, ...]}}."""
    out: dict = {}
    for r in runs:
        if r.curve:
            out.setdefault(panel_of(r.config), {}).setdefault(r.config.algorithm, []).append(r.curve)
    return out


def mean_curves(runs: Iterable[StoredRun], panel_of: Callable[[TrainConfig], Hashable], key: str) -> dict:
    """``seed_curves`` with each run's seeds as one curve of means (``aevb.experiments.curves.mean_curve``) of
    ``train_{key}`` and ``test_{key}`` ("bound" or "marginal"): {panel: {algorithm: mean curve}}; a single seed's
    curve is its own mean (standard deviations 0)."""
    columns = (f"train_{key}", f"test_{key}")
    return {p: {a: mean_curve(cs, columns) for a, cs in algs.items()}
            for p, algs in seed_curves(runs, panel_of).items()}


def not_stored(runs: Iterable[StoredRun]) -> str:
    """The runs without a curve in the store, comma-separated, each named once with its missing seeds
    ("mnist-aevb-z3-h500-nall (seeds 1, 2)"); "seeds 1, 2 of every run" where every run lacks the same seeds (and
    there is more than one run); "none" where nothing is missing."""
    runs = list(runs)
    missing: dict[str, list[int]] = {}
    for r in runs:
        if not r.curve:
            missing.setdefault(run_name(r.config, omit=("seed",)), []).append(r.config.seed)
    seeds = lambda s: f"seed{'s' * (len(s) > 1)} {', '.join(map(str, s))}"  # noqa: E731
    every = {run_name(r.config, omit=("seed",)) for r in runs}
    if len(every) > 1 and set(missing) == every and len({tuple(s) for s in missing.values()}) == 1:
        return f"{seeds(next(iter(missing.values())))} of every run"
    return ", ".join(f"{name} ({seeds(s)})" for name, s in missing.items()) or "none"


def progress_rows(runs: Iterable[StoredRun]) -> list[dict]:
    """How far each run got, one row per run (a missing one with 0 samples): ``run`` (str), ``samples`` (int,
    at its last evaluation), ``step size`` (the §5 search's pick; nan where unknown), ``train seconds``."""
    return [{"run": r.name, "samples": r.curve[-1]["samples"] if r.curve else 0,
             "step size": r.lr or float("nan"), "train seconds": r.curve[-1]["seconds"] if r.curve else 0}
            for r in runs]


def progress_table(runs: Iterable[StoredRun]) -> Table:
    """``progress_rows`` as a table (Fig. 2, 3)."""
    return table(progress_rows(runs), PROGRESS_COLUMNS)


def final_rows(runs: Iterable[StoredRun]) -> list[dict]:
    """The last evaluation of each stored run: ``run``, ``samples``, ``train bound``, ``test bound`` (nats)."""
    return [{"run": r.name, "samples": r.curve[-1]["samples"], "train bound": r.curve[-1]["train_bound"],
             "test bound": r.curve[-1]["test_bound"]} for r in runs if r.curve]


def final_table(runs: Iterable[StoredRun]) -> Table:
    """``final_rows`` as a table (Fig. 4, 5)."""
    return table(final_rows(runs), FINAL_COLUMNS)


def panel_table(runs: list[StoredRun], panel_of, key: str, baseline: str = "aevb") -> list[dict]:
    """One row per stored run, its seeds averaged (``mean_curves``): its panel, how many seeds, samples reached
    (the last evaluation all its seeds have), the mean final train and test value of ``key`` ("bound" or
    "marginal") and their standard deviations over seeds (None for a single seed, which has no spread; the
    ``panel_text`` cell is then empty), and at how many shared evaluations the ``baseline``
    algorithm of its panel is ahead of it on train and on test, seed means against seed means (the paper's ordering
    claim)."""
    rows = []
    for panel, curves in mean_curves(runs, panel_of, key).items():
        for alg, curve in curves.items():
            if not curve:  # its seeds share no evaluation
                continue
            last = curve[-1]
            row = {"panel": panel, "algorithm": alg, "seeds": last["seeds"], "samples": int(last["samples"])}
            for split in ("train", "test"):
                row[split] = last[f"{split}_{key}"]
                row[f"{split} sd"] = last[f"{split}_{key}_sd"] if last["seeds"] > 1 else None
            for split in ("train", "test"):
                if alg != baseline and curves.get(baseline):
                    n, m = ahead(curves[baseline], curve, f"{split}_{key}")
                    row[f"{baseline} ahead ({split})"] = f"{n}/{m}"
                else:
                    row[f"{baseline} ahead ({split})"] = "-"
            rows.append(row)
    return rows


def panel_text(rows: list[dict]) -> Table:
    """The rows of ``panel_table`` (final train and test values per panel and algorithm,
    and at how many shared evaluations AEVB is ahead) as a table."""
    return table(rows, PANEL_COLUMNS)


def stored_images(run: StoredRun, kind: str) -> np.ndarray | None:
    """The committed images of a run: ``kind`` "manifold" (Fig. 4, (GRID_N², D)) or "samples" (Fig. 5,
    (N_SAMPLES_FIG5, D)), floats in [0, 1]; None where the run has no ``images.npz`` yet."""
    if not (run.path / "images.npz").exists():
        return None
    return run_images(run.path, run.config)[kind]  # checked; drawn again from a checkpoint where bad


def stored_decoder(run: StoredRun) -> dict[str, np.ndarray] | None:
    """The stored decoder and test encodings of a Fig. 4 run (``aevb.experiments.decoders``: weights, encodings,
    MNIST's labels), checked on read; None where the run has no ``decoder.npz`` yet."""
    if not (run.path / DECODER_FILE).exists():
        return None
    return run_decoder(run.path, run.config)  # checked; written again from a checkpoint where bad


def check_decoders(runs: Iterable[StoredRun]) -> Table:
    """The store check of the Fig. 4 runs' stored decoders: each decodes the Fig. 4 grid to the committed images
    (``images.npz``) within one grey level (float16 weights round; the images were drawn by the float32 decoder
    and rounded to grey levels). One row per run that stores its decoder; AssertionError where one differs by
    more, or where a Fig. 4 run's ``decoder.npz`` is missing."""
    rows = []
    for r in runs:
        if not r.curve or not stores_decoder(r.config):
            continue
        arrays = stored_decoder(r)
        assert arrays is not None, f"{r.path / DECODER_FILE}: not found (a Fig. 4 run stores its decoder)"
        grey = grey_level_difference(arrays, run_images(r.path, r.config)["manifold"])
        assert grey <= 1, (f"{r.path / DECODER_FILE}: decodes the Fig. 4 grid {grey} grey levels away from the "
                           f"committed images.npz (at most 1 allowed)")
        rows.append({"run": r.name, "weights": str(arrays["weight0"].dtype),
                     "kB": (r.path / DECODER_FILE).stat().st_size / 1000, "error": float(arrays["max_error"]),
                     "grey": grey})
    return table(rows, {"run": "", "weights": "", "kB": ".0f", "error": ".1e", "grey": "d"},
                 caption="the explorers' decoders: weights' precision, file size (kB), largest pixel error "
                         "against the float32 decoder, largest difference from the Fig. 4 images (grey levels)")


def instrument_rows(classifier, images, labels, arrays: dict[str, np.ndarray], min_confidence: float) -> list[dict]:
    """The classifier of ``aevb.classifier`` checked on the kind of image it counts, class by class: MNIST's
    labelled test images (N, 784) and the decoder means p(x|z = μ_φ(x)) of the same images (``arrays``: a stored
    MNIST decoder with its test encodings and labels, which must be those images' labels). One row per class, then
    "all": ``class``, ``digits``, ``accuracy`` on the digits, ``decoded accuracy``, ``decoded confident`` (share
    reaching ``min_confidence``), ``decoded confident accuracy``, ``read as`` (the class most often predicted for
    a wrongly classified decoded mean; "" where none is wrong)."""
    if not np.array_equal(np.asarray(labels), arrays["labels"]):
        raise ValueError("instrument_rows: the stored encodings are not of these test images (their labels differ)")
    decoded = decode_stored(arrays, arrays["encodings"])  # (N, 784): the decoder mean at μ_φ(x) of each test image
    raw = per_class(classifier, images, labels, min_confidence)
    dec = per_class(classifier, decoded, labels, min_confidence)
    return [{"class": a["class"], "digits": a["images"], "accuracy": a["accuracy"], "decoded accuracy": b["accuracy"],
             "decoded confident": b["share"],
             "decoded confident accuracy": None if np.isnan(b["confident accuracy"]) else b["confident accuracy"],
             "read as": "" if b["read as"] < 0 or b["class"] == "all" else str(b["read as"])}
            for a, b in zip(raw, dec)]


def instrument_facts(rows: list[dict], shown: int = 3) -> dict:
    """What the page says of ``instrument_rows``: ``inst_accuracy``, ``inst_share``, ``inst_confident`` (percent,
    over all decoded means; nan where none is confident), ``inst_worst`` and ``inst_best`` (text: the ``shown``
    classes whose decoded means are named worst, with the class each is most often misread as, and best)."""
    overall, by_class = rows[-1], sorted(rows[:-1], key=lambda r: r["decoded accuracy"])

    def named(r, misread):
        text = f"{r['class']} ({100 * r['decoded accuracy']:.0f}%"
        return text + (f", most often misread as {r['read as']})" if misread and r["read as"] else ")")

    confident = overall["decoded confident accuracy"]
    return {"inst_accuracy": 100 * overall["decoded accuracy"], "inst_share": 100 * overall["decoded confident"],
            "inst_confident": float("nan") if confident is None else 100 * confident,
            "inst_worst": "; ".join(named(r, True) for r in by_class[:shown]),
            "inst_best": ", ".join(named(r, False) for r in by_class[::-1][:shown])}


INSTRUMENT_COLUMNS = {"class": "", "digits": ",", "accuracy": ".1%", "decoded accuracy": ".1%",
                      "decoded confident": ".1%", "decoded confident accuracy": ".1%", "read as": ""}


def check_store(check_run: str, check_samples: int, check_atol: float, results_dir: str | Path | None = None,
                device: str = "cpu") -> list[dict]:
    """Re-train the first ``check_samples`` samples of the committed run ``check_run`` of the store
    (``store_dir(results_dir)``) and compare them with its stored curve (``aevb.experiments.store.check_prefix``):
    one row per stored value (``samples``, ``column``, ``stored``, ``rerun``, ``difference``); raises
    AssertionError where a difference exceeds ``check_atol`` nats."""
    return check_prefix(check_run, check_samples, check_atol, results_dir=store_dir(results_dir), device=device)


def largest_difference(rows: list[dict]) -> float:
    """The largest absolute difference (nats) between the stored and the re-trained values of ``check_store``."""
    return max(abs(r["difference"]) for r in rows)


def check_report(rows: list[dict], table: bool = True) -> Table | str:
    """What ``check_store`` found: with ``table``, every compared value as a table captioned with the largest
    difference; without, only that line ("largest difference: ... nats")."""
    last = f"largest difference: {largest_difference(rows):.2e} nats"
    return _table(rows, CHECK_COLUMNS, caption=last) if table else last


_table = table  # ``check_report``'s argument ``table`` hides the function


# --- Fig. 3's investigations: the x-axis accountings, and how far the fixed sampler moved the curves ------------

def accounting_curves(runs: Iterable[StoredRun], n_train: int, rates: Rates | None = None) -> list[dict]:
    """Long-form rows of the Fig. 3 panel ``n_train`` under every accounting of ``aevb.experiments.accounting``
    (seconds at the panel's measured ``rates`` where given, ``cost_rates``; else as the runs recorded them):
    {accounting, algorithm, split, x, log p(x)}, one per stored evaluation, for seaborn."""
    out = []
    for r in runs:
        c = r.config
        if c.n_train != n_train or not r.curve:
            continue
        for accounting in ACCOUNTINGS:
            for x, row in zip(x_axis(r.curve, c.algorithm, accounting, rates), r.curve):
                for split in ("train", "test"):
                    out.append({"accounting": accounting, "algorithm": c.algorithm, "split": split, "x": x,
                                "log p(x)": row[f"{split}_marginal"]})
    return out


def accounting_rows(runs: Iterable[StoredRun], n_train: int, rates: Rates | None = None) -> list[dict]:
    """AEVB against each baseline of the Fig. 3 panel ``n_train`` under every accounting (seconds as in
    ``accounting_curves``), on the training and the test points: {accounting, baseline, split, AEVB ahead
    (evaluations of AEVB inside the baseline's range where it is above, "k/m"), share (k/m), x at the end, AEVB,
    baseline value, AEVB − baseline (nats, at the largest x both reached)}."""
    curves = {r.config.algorithm: r.curve for r in runs if r.config.n_train == n_train and r.curve}
    out = []
    for baseline in ("wake-sleep", "mcem"):
        if "aevb" not in curves or baseline not in curves:
            continue
        for accounting in ACCOUNTINGS:
            for split in ("train", "test"):
                c = compare(("aevb", curves["aevb"]), (baseline, curves[baseline]), f"{split}_marginal", accounting,
                            rates)
                out.append({"accounting": accounting, "baseline": baseline, "split": split,
                            "AEVB ahead": f"{c['ahead']}/{c['compared']}",
                            "share": c["ahead"] / c["compared"] if c["compared"] else float("nan"),
                            "x at the end": c["x_end"], "AEVB": c["a_end"], "baseline value": c["b_end"],
                            "AEVB − baseline": c["a_end"] - c["b_end"]})
    return out


SAME_TRAJECTORY_ATOL = 1e-4  # nats: ``moved``'s lower bounds of one trajectory agree to float32 printing


def moved(before: str | Path, runs: Iterable[StoredRun]) -> list[dict]:
    """How far each stored curve moved from the values in ``before`` (a CSV of run, samples, column, value: the
    same runs measured another way, e.g. ``results/studies/fig3_fixed_step_appd.csv``), at the evaluations both
    have: {run, column, evaluations, mean change, largest change, change at the last} (nats, now − before).
    Only runs shown to be the same trajectory are compared: their lower bounds (``*_bound``, which the other
    measurement does not change) are in ``before`` and agree with it within ``SAME_TRAJECTORY_ATOL``. A run whose
    bounds differ was trained again since (another seed, step or float rounding); a run without a bound (MCEM)
    cannot show it: both are left out."""
    old: dict = {}  # (run, column) -> the earlier measurement as a curve of that column
    for r in csv.DictReader(io.StringIO(read_text(Path(before)), newline="")):
        row = {"samples": int(r["samples"]), r["column"]: float(r["value"])}
        old.setdefault((r["run"], r["column"]), []).append(row)
    out = []
    for r in runs:
        mine = {c: v for (name, c), v in old.items() if name == r.name}
        if not mine or not r.curve:
            continue
        bounds = [abs(x - y) for c, v in mine.items() if c.endswith("_bound") for _, x, y in shared(r.curve, v, c)]
        if not bounds or max(bounds) > SAME_TRAJECTORY_ATOL:
            continue  # not shown to be the same trajectory
        for column, values in mine.items():
            d = [x - y for _, x, y in shared(r.curve, values, column)]
            if d:
                out.append({"run": r.name, "column": column, "evaluations": len(d), "mean change": sum(d) / len(d),
                            "largest change": max(d, key=abs), "change at the last": d[-1]})
    return out


RECORDED_BASIS = "as the runs recorded them: wall time, a run's seeds trained together, partly beside other work"


def seconds_basis(rates: Rates | None) -> str:
    """What Fig. 3's seconds are, in words: measured (a panel's ``rates``, ``cost_rates``) or as recorded."""
    return f"the measured cost ({COST_BASIS})" if rates else RECORDED_BASIS


def fig3_facts(runs: Iterable[StoredRun], results_dir: str | Path | None = None) -> dict:
    """The numbers chapter 9's prose states, by name, for MyST-NB ``glue``, each run's stored seeds averaged at
    the evaluations they share (``mean_curves``): for each panel n (``n1000``, ``n50000``), baseline b (``ws``,
    ``mcem``) and split s (``train``, ``test``): ``{n}_{b}_{s}_ahead`` (shared evaluations where AEVB is above,
    "k of m"), ``{n}_{b}_{s}_since`` (the first from which it stays above, or "never"), ``{n}_{b}_{s}_diff`` (AEVB −
    b at the last shared evaluation, nats); for each algorithm a (``aevb``, ``ws``, ``mcem``): ``{n}_{a}_seeds``,
    ``{n}_{a}_{s}_final`` and ``{n}_{a}_gap`` (train − test at its last evaluation), ``{n}_{a}_samples``, and where
    its test estimate peaked: ``{n}_{a}_test_peak`` (nats), ``{n}_{a}_test_peak_at`` (samples) and
    ``{n}_{a}_test_drop`` (peak − last, nats; 0 where the last evaluation is the peak); ``{n}_mcem_seconds_ratio``
    (MCEM's training seconds per sample over AEVB's: measured, ``cost_rates`` of the store ``results_dir``, where it
    has them, else as the first stored seed of each recorded them) and ``{n}_seconds_basis`` (which of the two, in
    words); ``seeds`` (how many seeds each run has, in words)."""
    short = {"aevb": "aevb", "wake-sleep": "ws", "mcem": "mcem"}
    measured = cost_rates(store_dir(results_dir)) or {}
    runs = list(runs)
    means = mean_curves(runs, lambda c: c.n_train, "marginal")
    first = {n: {a: cs[0] for a, cs in algs.items()} for n, algs in seed_curves(runs, lambda c: c.n_train).items()}
    facts: dict = {"seeds": seeds_in_words(runs)}
    for n, algs in means.items():
        a = algs.get("aevb")
        for alg, c in algs.items():
            if not c:
                continue
            key = f"n{n}_{short[alg]}"
            facts[f"{key}_seeds"] = c[-1]["seeds"]
            for s in ("train", "test"):
                facts[f"{key}_{s}_final"] = c[-1][f"{s}_marginal"]
            facts[f"{key}_gap"] = c[-1]["train_marginal"] - c[-1]["test_marginal"]
            facts[f"{key}_samples"] = int(c[-1]["samples"])
            peak = max(c, key=lambda r: r["test_marginal"])  # the first of equal maxima
            facts[f"{key}_test_peak"] = peak["test_marginal"]
            facts[f"{key}_test_peak_at"] = int(peak["samples"])
            facts[f"{key}_test_drop"] = peak["test_marginal"] - c[-1]["test_marginal"]
            if alg == "aevb" or not a:
                continue
            for s in ("train", "test"):
                col = f"{s}_marginal"
                k, m = ahead(a, c, col)
                since = ahead_since(a, c, col)
                _, x, y = last_shared(a, c, col)
                facts[f"{key}_{s}_ahead"] = f"{k} of {m}"
                facts[f"{key}_{s}_since"] = "never" if since is None else f"{since:,}"
                facts[f"{key}_{s}_diff"] = x - y
            if alg == "mcem":
                rates = measured.get(n)
                facts[f"{key}_seconds_ratio"] = seconds_ratio(("mcem", first[n]["mcem"]), ("aevb", first[n]["aevb"]),
                                                              rates)
                facts[f"n{n}_seconds_basis"] = seconds_basis(rates)
    return facts


def seeds_in_words(runs: Iterable[StoredRun]) -> str:
    """How many seeds the stored runs have, each run counted once: "3 seeds", or "1 to 3 seeds" where they
    differ; "no seed" where none is stored."""
    counts = {}
    for r in runs:
        if r.curve:
            counts.setdefault(seedless(r.config), set()).add(r.config.seed)
    n = sorted({len(s) for s in counts.values()})
    if not n:
        return "no seed"
    return f"{n[0]} seed{'s' * (n[0] != 1)}" if len(n) == 1 else f"{n[0]} to {n[-1]} seeds"


def fig2_facts(runs: Iterable[StoredRun]) -> dict:
    """The numbers chapter 8's prose states, by name, for MyST-NB ``glue``, each run's stored seeds averaged at the
    evaluations they share (``mean_curves``): for each panel (dataset d, latent size z: ``{d}_z{z}``) with both
    algorithms stored and each split s (``train``, ``test``): ``{d}_z{z}_{s}_diff`` (AEVB − wake-sleep at the last
    shared evaluation, nats), ``{d}_z{z}_{s}_since`` (the first shared evaluation from which AEVB stays above, or 0
    where it is not above at the last) and ``{d}_z{z}_ws_cost`` (wake-sleep's training seconds per sample over
    AEVB's, as the first stored seed of each recorded them); for every AEVB run ``{d}_z{z}_aevb_gap`` (train − test
    at its last evaluation), and per dataset ``{d}_aevb_gap_max`` and ``{d}_ws_cost_min``/``_max`` over its
    panels; ``seeds`` (how many seeds each run has, in words)."""
    runs = list(runs)
    panel_of = lambda c: (c.dataset, c.n_z)  # noqa: E731
    means = mean_curves(runs, panel_of, "bound")
    first = {p: {a: cs[0] for a, cs in algs.items()} for p, algs in seed_curves(runs, panel_of).items()}
    facts: dict = {}
    for (d, z), algs in means.items():
        a, ws = algs.get("aevb"), algs.get("wake-sleep")
        if not a:
            continue
        key = f"{d}_z{z}"
        facts[f"{key}_aevb_gap"] = a[-1]["train_bound"] - a[-1]["test_bound"]
        facts[f"{d}_aevb_gap_max"] = max(facts.get(f"{d}_aevb_gap_max", -np.inf), facts[f"{key}_aevb_gap"])
        if not ws:
            continue
        for s in ("train", "test"):
            col = f"{s}_bound"
            _, x, y = last_shared(a, ws, col)
            facts[f"{key}_{s}_diff"] = x - y
            facts[f"{key}_{s}_since"] = ahead_since(a, ws, col) or 0
        cost = seconds_ratio(("wake-sleep", first[(d, z)]["wake-sleep"]), ("aevb", first[(d, z)]["aevb"]))
        facts[f"{key}_ws_cost"] = cost
        facts[f"{d}_ws_cost_min"] = min(facts.get(f"{d}_ws_cost_min", np.inf), cost)
        facts[f"{d}_ws_cost_max"] = max(facts.get(f"{d}_ws_cost_max", -np.inf), cost)
    costs = [v for k, v in facts.items() if k.endswith("_ws_cost")]
    if costs:
        facts["ws_cost_min"], facts["ws_cost_max"] = min(costs), max(costs)
    facts = {k: float(v) if isinstance(v, (float, np.floating)) else int(v) for k, v in facts.items()}
    return {**facts, "seeds": seeds_in_words(runs)}
