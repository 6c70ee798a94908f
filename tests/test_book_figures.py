"""The figure chapters' shared steps (``aevb.book.figures``), checked against the committed store in results/:
what they read matches ``results/index.csv``, nothing is trained unless asked, and the prefix check re-trains
only a tiny prefix (1,000 samples of the smallest committed run)."""
import csv
import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aevb.book import figures
from aevb.book.fig2 import wake_sleep_comparison
from aevb.book.fig3 import MOVED_STUDY, final_ais, moved_since, paper_ylim
from aevb.config import TrainConfig
from aevb.book.figures import (check_report, check_store, fig2_facts, final_rows, final_table, keyed,
                               largest_difference, load_runs, not_stored, panel_table, panel_text, progress_rows,
                               progress_table, store_dir, stored_curves, stored_images)
from aevb.experiments.grids import FIG5_NZ, GRID_N, N_SAMPLES_FIG5, SEEDS, figure_configs, run_name
from aevb.experiments.curves import ahead_since
from aevb.experiments.measurements import COLUMNS, cost_rates, measurement_path
from aevb.files import atomic_write_csv
from aevb.experiments.store import RESULTS_DIR, StoredRun, figure_runs, run_path
from aevb.plots import Table

CHEAP_RUN = "frey-aevb-z2-h200-nall-s0"  # Fig. 2 and 4; its first evaluation is at 1,000 samples


@pytest.fixture(scope="module")
def index():
    """results/index.csv by run name, its numbers as numbers."""
    with open(RESULTS_DIR / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    numbers = ("samples", "seconds", "train", "test", "lr")
    return {r["path"].split("/")[-1]: {**r, **{k: float(r[k]) for k in numbers}} for r in rows}


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if anything asks the runner to train."""
    def refuse(*a, **k):
        raise AssertionError("load_runs trained although retrain_budget is 0")

    monkeypatch.setattr(figures, "run_figure", refuse)


def test_store_dir_is_the_committed_store_unless_given(tmp_path):
    assert store_dir() == store_dir(None) == RESULTS_DIR
    assert store_dir(str(tmp_path)) == tmp_path


@pytest.mark.parametrize("figure", [2, 3, 4, 5])
def test_load_runs_reads_every_committed_run_of_a_figure_without_training(figure, no_training, index):
    runs = load_runs(figure)
    assert [r.name for r in runs] == [run_name(c) for c in figure_configs(figure, 1)]
    assert all(r.curve and r.path == run_path(RESULTS_DIR, r.name) for r in runs)
    assert {r.name for r in runs} <= set(index)
    assert all(str(figure) in index[r.name]["figures"].split(";") for r in runs)
    assert not_stored(runs) == "none"


def test_load_runs_retrains_the_matching_runs_first(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(figures, "run_figure", lambda *a, **k: calls.append((a, k)))
    runs = load_runs(4, 1000, panels="frey-*", results_dir=str(tmp_path), workers=1, device="cpu")
    assert calls == [((4, 1000), {"only": "frey-*", "results_dir": tmp_path, "workers": 1, "device": "cpu"})]
    assert [r.curve for r in runs] == [[], []]  # the stub trained nothing into the empty store
    assert not_stored(runs) == "seed 0 of every run"
    assert not_stored(runs[:1]) == f"{run_name(runs[0].config, omit=('seed',))} (seed 0)"
    assert not_stored(figure_runs(2, tmp_path, seeds=(1, 2))) == "seeds 1, 2 of every run"
    seeds = figure_runs(2, tmp_path, seeds=(0, 1, 2))[:2] + figure_runs(2, tmp_path, seeds=(1,))[:1]
    assert not_stored(seeds) == "mnist-aevb-z3-h500-nall (seeds 0, 1), mnist-wake-sleep-z3-h500-nall (seed 0)"


@pytest.mark.parametrize("figure", [2, 3])
def test_progress_rows_match_the_index(figure, no_training, index):
    runs = load_runs(figure)
    rows = progress_rows(runs)
    assert [r["run"] for r in rows] == [r.name for r in runs]
    for row in rows:
        stored = index[row["run"]]
        assert row["samples"] == stored["samples"]
        assert row["step size"] == pytest.approx(stored["lr"])
        assert row["train seconds"] == pytest.approx(stored["seconds"], abs=0.051)
    shown = progress_table(runs)
    assert isinstance(shown, Table) and list(shown.frame.columns) == ["run", "samples", "step size", "train seconds"]
    assert list(shown.frame["run"]) == [r["run"] for r in rows]
    assert shown.frame["samples"].iloc[0] == f"{rows[0]['samples']:,.0f}"
    assert "<table" in shown._repr_html_()


def test_progress_rows_of_a_missing_run():
    run = StoredRun("x", None, [], {}, Path("x"))
    (row,) = progress_rows([run])
    assert row["samples"] == 0 and row["train seconds"] == 0 and np.isnan(row["step size"])


@pytest.mark.parametrize("figure", [4, 5])
def test_final_rows_match_the_index(figure, no_training, index):
    runs = load_runs(figure)
    rows = final_rows(runs)
    assert [r["run"] for r in rows] == [r.name for r in runs]
    for row in rows:
        stored = index[row["run"]]
        assert stored["measure"] == "bound" and row["samples"] == stored["samples"]
        assert row["train bound"] == pytest.approx(stored["train"], abs=5e-4)
        assert row["test bound"] == pytest.approx(stored["test"], abs=5e-4)
    shown = final_table(runs)
    assert isinstance(shown, Table) and len(shown.frame) == len(rows)
    assert list(shown.frame.columns) == ["run", "samples", "train bound", "test bound"]
    assert final_rows([dataclasses.replace(runs[0], curve=[])]) == []  # a run not in the store has no final row


def test_panel_text_shows_the_final_values_of_the_index(no_training, index):
    runs = load_runs(3)
    table = panel_table(runs, lambda c: f"N_train={c.n_train}", "marginal")
    by_name = keyed(runs, lambda c: (f"N_train={c.n_train}", c.algorithm))
    for row in table:
        stored = index[by_name[(row["panel"], row["algorithm"])].name]
        assert stored["measure"] == "marginal"
        assert row["train"] == pytest.approx(stored["train"], abs=5e-4)
        assert row["test"] == pytest.approx(stored["test"], abs=5e-4)
    shown = panel_text(table)
    assert isinstance(shown, Table) and list(shown.frame.columns)[:7] == ["panel", "algorithm", "seeds", "samples",
                                                                          "train", "train sd", "test"]
    assert len(shown.frame) == len(table) == 6
    assert all(row["seeds"] == 1 and row["train sd"] is row["test sd"] is None for row in table)  # seed 0 alone
    assert set(shown.frame["train sd"]) == set(shown.frame["test sd"]) == {""}  # no spread to show


def test_keyed_and_stored_curves(no_training):
    runs = load_runs(5)
    by_n_z = keyed(runs, lambda c: c.n_z)
    assert list(by_n_z) == list(FIG5_NZ) and all(by_n_z[z].config.n_z == z for z in FIG5_NZ)
    curves = stored_curves(runs + [dataclasses.replace(runs[0], name="gone", curve=[])], lambda c: c.n_z)
    assert curves == {r.config.n_z: r.curve for r in runs}


def test_stored_images(no_training):
    for run in load_runs(5):
        samples = stored_images(run, "samples")
        assert samples.shape == (N_SAMPLES_FIG5, 784) and samples.dtype == np.float32
        assert 0 <= samples.min() and samples.max() <= 1
    frey = keyed(load_runs(4), lambda c: c.dataset)["frey"]
    assert stored_images(frey, "manifold").shape == (GRID_N * GRID_N, 560)
    wake_sleep = next(r for r in load_runs(2) if r.config.algorithm == "wake-sleep")
    assert stored_images(wake_sleep, "samples") is None  # Fig. 2 stores no images


def test_check_store_reproduces_a_tiny_prefix_of_a_committed_run():
    rows = check_store(CHEAP_RUN, 1000, 0.05)
    assert {r["samples"] for r in rows} == {1000} and {r["column"] for r in rows} == {"train_bound", "test_bound"}
    assert largest_difference(rows) <= 0.05
    report = check_report(rows)
    assert isinstance(report, Table)
    assert list(report.frame.columns) == ["samples", "column", "stored", "rerun", "difference"]
    assert len(report.frame) == len(rows)
    assert check_report(rows, table=False) == report.caption == \
        f"largest difference: {largest_difference(rows):.2e} nats"


def test_check_store_reads_the_given_store_and_fails_where_it_differs(tmp_path):
    run_dir = run_path(tmp_path, CHEAP_RUN)
    run_dir.mkdir(parents=True)
    shutil.copy(run_path(RESULTS_DIR, CHEAP_RUN) / "config.json", run_dir)
    curve = (run_path(RESULTS_DIR, CHEAP_RUN) / "curve.csv").read_text().splitlines()
    head, first = curve[0], curve[1].split(",")
    first[head.split(",").index("test_bound")] = str(float(first[head.split(",").index("test_bound")]) + 1.0)
    (run_dir / "curve.csv").write_text("\n".join([head, ",".join(first)]) + "\n")
    with pytest.raises(AssertionError, match="test_bound at 1000 samples"):
        check_store(CHEAP_RUN, 1000, 0.05, results_dir=str(tmp_path))


def _fig3_run(algorithm, n_train, values, seconds_per_sample):
    config = TrainConfig(dataset="mnist", algorithm=algorithm, n_z=3, hidden=(100,), n_train=n_train, marginal="hmc")
    curve = [{"samples": s, "seconds": s * seconds_per_sample, "train_marginal": v + 1, "test_marginal": v}
             for s, v in zip((1000, 10_000, 100_000), values)]
    return StoredRun(run_name(config), config, curve, {}, Path(run_name(config)))


def _seed(run: StoredRun, seed: int, shift: float) -> StoredRun:
    """``run``'s seed ``seed``: its curve with every value moved by ``shift`` nats."""
    config = dataclasses.replace(run.config, seed=seed)
    curve = [{k: v + shift if k.endswith(("_marginal", "_bound")) else v for k, v in r.items()} for r in run.curve]
    return StoredRun(run_name(config), config, curve, {}, Path(run_name(config)))


def test_panel_table_and_facts_average_a_runs_seeds():
    """Three seeds of AEVB against one of wake-sleep: seed 0 alone is behind at the end, the seeds' mean ahead.
    The table, the facts and chapter 8's comparison read the mean (and its standard deviation over seeds); seed 0's
    curve alone would give the opposite sign."""
    aevb = _fig3_run("aevb", 1000, [-150.0, -130.0, -125.0], 1e-4)
    ws = _fig3_run("wake-sleep", 1000, [-160.0, -140.0, -124.0], 2e-4)
    runs = [aevb, ws, _seed(aevb, 1, 3.0), _seed(aevb, 2, 6.0)]  # AEVB's mean: seed 0's + 3 nats
    (a, w) = panel_table(runs, lambda c: c.n_train, "marginal")
    assert (a["seeds"], w["seeds"]) == (3, 1)
    assert a["test"] == pytest.approx(-122.0) and a["test sd"] == pytest.approx(3.0) and w["test sd"] is None
    assert w["aevb ahead (test)"] == "3/3"  # seed 0 alone: 2/3
    facts = figures.fig3_facts(runs)
    assert facts["n1000_ws_test_diff"] == pytest.approx(2.0) and facts["n1000_ws_test_ahead"] == "3 of 3"
    assert facts["n1000_aevb_seeds"] == 3 and facts["seeds"] == "1 to 3 seeds"
    assert facts["n1000_aevb_gap"] == pytest.approx(1.0)
    late = [_seed(aevb, 1, 3.0)]  # a seed that stops early: the mean curve ends where every seed has a value
    late[0].curve.pop()
    (a, _) = panel_table([aevb, ws] + late, lambda c: c.n_train, "marginal")
    assert a["samples"] == 10_000 and a["seeds"] == 2 and a["test"] == pytest.approx(-128.5)


def test_chapter_8s_facts_and_comparison_average_a_runs_seeds():
    def run(algorithm, z, values, seed=0, shift=0.0):
        config = TrainConfig(dataset="frey", algorithm=algorithm, n_z=z, hidden=(200,), seed=seed)
        curve = [{"samples": s, "seconds": s * 1e-4, "train_bound": v + shift + 1, "test_bound": v + shift}
                 for s, v in zip((1000, 10_000, 100_000), values)]
        return StoredRun(run_name(config), config, curve, {}, Path(run_name(config)))

    runs = [run("aevb", 2, [600.0, 700.0, 790.0]), run("wake-sleep", 2, [590.0, 720.0, 795.0]),
            run("aevb", 2, [600.0, 700.0, 790.0], 1, 20.0)]  # seed 1 of AEVB 20 nats higher: mean +10
    facts = fig2_facts(runs)
    assert facts["frey_z2_test_diff"] == pytest.approx(5.0) and facts["frey_z2_test_since"] == 100_000
    assert facts["seeds"] == "1 to 2 seeds"
    table = panel_table(runs, lambda c: f"{c.dataset} N_z={c.n_z}", "bound")
    report, more = wake_sleep_comparison(table, runs)
    assert (more["ws_final_ahead"], more["ws_panels"]) == (1, 1)  # seed 0 alone: 0 of 1
    assert "1 of 1 panels" in report and "the latest at 10,000 samples" in report


def test_accounting_rows_and_curves_put_fig3_on_each_axis():
    """MCEM 1 nat ahead per sample, 16 gradient evaluations per datapoint: behind on that axis."""
    runs = [_fig3_run("aevb", 1000, [-150.0, -130.0, -120.0], 1e-4),
            _fig3_run("mcem", 1000, [-149.0, -129.0, -119.0], 1e-3),
            _fig3_run("aevb", 50_000, [-150.0, -130.0, -120.0], 1e-4)]
    rows = {(r["accounting"], r["baseline"], r["split"]): r for r in figures.accounting_rows(runs, 1000)}
    assert set(rows) == {(a, "mcem", s) for a in ("samples", "updates", "gradients", "seconds")
                         for s in ("train", "test")}
    assert rows[("samples", "mcem", "test")]["AEVB ahead"] == "0/3" and rows[("samples", "mcem", "test")]["share"] == 0
    assert rows[("samples", "mcem", "train")]["AEVB − baseline"] == pytest.approx(-1.0)
    assert rows[("gradients", "mcem", "test")]["AEVB − baseline"] > 0  # 20 nats per decade: log10(16) decades back
    long = figures.accounting_curves(runs, 1000)
    assert len(long) == 2 * 4 * 3 * 2  # algorithms x accountings x evaluations x splits
    assert {r["x"] for r in long if r["algorithm"] == "mcem" and r["accounting"] == "gradients"} == {16e3, 16e4, 16e5}


def test_fig3_facts_find_where_a_test_curve_peaks():
    """A curve that rises then falls peaks inside; one that still rises peaks at its last evaluation (drop 0)."""
    runs = [_fig3_run("aevb", 1000, [-150.0, -120.0, -125.5], 1e-4),
            _fig3_run("wake-sleep", 1000, [-160.0, -140.0, -130.0], 2e-4)]
    facts = figures.fig3_facts(runs)
    assert (facts["n1000_aevb_test_peak"], facts["n1000_aevb_test_peak_at"]) == (-120.0, 10_000)
    assert facts["n1000_aevb_test_drop"] == pytest.approx(5.5)
    assert (facts["n1000_ws_test_peak_at"], facts["n1000_ws_test_drop"]) == (100_000, 0.0)
    assert facts["n1000_ws_test_diff"] == pytest.approx(4.5) and facts["n1000_ws_test_ahead"] == "3 of 3"


def test_fig3_seconds_are_the_measured_cost_where_it_was_measured(tmp_path):
    """Chapter 9's seconds: the runs' recorded seconds (here the same per sample for all three) until ``fig3-cost``
    is measured; then samples × the measured cost, and the prose's basis says which."""
    runs = [_fig3_run(a, 1000, [-150.0, -130.0, -120.0], 1e-4) for a in ("aevb", "wake-sleep", "mcem")]
    facts = figures.fig3_facts(runs, tmp_path)
    assert facts["n1000_mcem_seconds_ratio"] == pytest.approx(1.0)
    assert facts["n1000_seconds_basis"] == figures.RECORDED_BASIS
    per_million = {"aevb": 30.0, "wake-sleep": 45.0, "mcem": 180.0}
    atomic_write_csv(measurement_path("fig3-cost", tmp_path),
                     [{k: 1.0 for k in COLUMNS["fig3-cost"]} | {"run": run_name(c), "algorithm": c.algorithm,
                                                               "n_train": c.n_train,
                                                               "cpu_median": per_million[c.algorithm]}
                      for c in figure_configs(3, 1)], COLUMNS["fig3-cost"])
    facts = figures.fig3_facts(runs, tmp_path)
    assert facts["n1000_mcem_seconds_ratio"] == pytest.approx(6.0)
    assert facts["n1000_seconds_basis"].startswith("the measured cost")
    long = figures.accounting_curves(runs, 1000, cost_rates(tmp_path)[1000])
    mcem = sorted({r["x"] for r in long if r["algorithm"] == "mcem" and r["accounting"] == "seconds"})
    assert mcem == pytest.approx([0.18, 1.8, 18.0])  # 1,000, 10,000 and 100,000 samples × 180 µs


def test_moved_compares_a_curve_with_its_earlier_measurement(tmp_path):
    """Where the lower bound shows the same trajectory, the change of each other column; a run whose bound differs
    (trained again since) or that has no bound in the file (MCEM) is left out."""
    run = _fig3_run("aevb", 1000, [-150.0, -130.0, -120.0], 1e-4)
    for row in run.curve:
        row["test_bound"] = row["test_marginal"] - 10.0
    before = tmp_path / "before.csv"

    def write(bound_shift):
        with open(before, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", "samples", "column", "value"])
            w.writerows([[run.name, 1000, "test_marginal", -150.5], [run.name, 10_000, "test_marginal", -128.0],
                         [run.name, 5000, "test_marginal", 0.0], ["other", 1000, "test_marginal", 0.0]])
            if bound_shift is not None:
                w.writerow([run.name, 1000, "test_bound", run.curve[0]["test_bound"] + bound_shift])

    write(0.0)
    (row,) = [r for r in figures.moved(before, [run]) if r["column"] == "test_marginal"]
    assert row["evaluations"] == 2 and row["mean change"] == pytest.approx((0.5 - 2.0) / 2)
    assert row["largest change"] == pytest.approx(-2.0) and row["change at the last"] == pytest.approx(-2.0)
    for shift, compared in ((5e-5, 2), (0.01, 0), (None, 0)):
        write(shift)
        assert len(figures.moved(before, [run])) == compared
    (tmp_path / "studies").mkdir()
    shutil.copy(before, tmp_path / "studies" / MOVED_STUDY)  # the last write: no bound, so no run compared
    _, facts = moved_since([run], tmp_path)
    assert facts["moved_finding"].startswith("None of the runs shown")
    assert "cannot be compared" in facts["moved_summary"]
    write(0.0)
    shutil.copy(before, tmp_path / "studies" / MOVED_STUDY)
    _, facts = moved_since([run], tmp_path)
    assert facts["moved_finding"].startswith("For the 1 run compared") and "at most 2.00 nats" in facts["moved_summary"]


def test_fig2_facts_name_the_numbers_of_chapter_8(no_training, index):
    runs = load_runs(2)
    facts = fig2_facts(runs)
    curves = stored_curves(runs, lambda c: (c.dataset, c.n_z, c.algorithm))
    a, ws = curves[("mnist", 3, "aevb")], curves[("mnist", 3, "wake-sleep")]
    assert facts["mnist_z3_aevb_gap"] == pytest.approx(a[-1]["train_bound"] - a[-1]["test_bound"])
    assert facts["mnist_z3_test_diff"] == pytest.approx(a[-1]["test_bound"] - ws[-1]["test_bound"])  # both end at
    assert facts["mnist_z3_test_since"] == ahead_since(a, ws, "test_bound")  # the same budget
    gaps = [facts[f"mnist_z{z}_aevb_gap"] for z in (3, 5, 10, 20, 200)]
    assert facts["mnist_aevb_gap_max"] == max(gaps)
    costs = [v for k, v in facts.items() if k.endswith("_ws_cost")]
    assert len(costs) == 9 and facts["ws_cost_min"] == min(costs) and facts["ws_cost_max"] == max(costs)
    assert facts.pop("seeds") == "1 seed"
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in facts.values())


def test_final_ais_shows_only_rows_measured_at_the_end_of_each_stored_curve(tmp_path):
    """Chapter 9's table of App. D against AIS on the final Fig. 3 models: a row measured on an earlier checkpoint
    than the stored curve's end is left out, and the largest |App. D − AIS| per split is computed from the rest."""
    store = tmp_path / "results"
    shutil.copytree(RESULTS_DIR, store)
    runs = [r for r in figure_runs(3, store, seeds=SEEDS) if r.curve][:2]
    rows = [{"run": r.name, "samples": int(r.curve[-1]["samples"]) if i == 0 else 1000, "split": split,
             "n_points": 500, "appd": -100.0, "ais": -100.0 + (3.0 if split == "test" else -0.5), "ais_se": 1.0,
             "seconds": 1.0} for i, r in enumerate(runs) for split in ("train", "test")]
    atomic_write_csv(measurement_path("fig3-ais", store), rows, COLUMNS["fig3-ais"])
    shown, facts = final_ais(figure_runs(3, store, seeds=SEEDS), store)
    assert len(shown.frame) == 1 and facts["final_ais_models"] == 1 and facts["final_ais_points"] == 500
    assert facts["final_ais_train_max"] == pytest.approx(0.5) and facts["final_ais_test_max"] == pytest.approx(3.0)
    atomic_write_csv(measurement_path("fig3-ais", store), rows[2:], COLUMNS["fig3-ais"])  # only the stale run
    shown, facts = final_ais(figure_runs(3, store, seeds=SEEDS), store)
    assert facts["final_ais_models"] == 0 and "No final Fig. 3 model" in shown.data


def test_fig3s_y_range_is_the_papers_raised_only_where_a_curve_ends_above_it():
    """The paper's y-range (-160 to -125 nats on N_train = 50,000) where the curves stay inside it; its top raised
    to the next whole nat above a curve that rises above it (AEVB's training curve at 6e7 samples does); the
    bottom never moves (curves start far below it, as in the paper)."""
    inside = pd.DataFrame({"value": [-300.0, -140.0, -126.0]})
    assert paper_ylim(inside, 50_000) == (-160, -125) and paper_ylim(inside.iloc[:0], 1000) == (-160, -100)
    above = pd.DataFrame({"value": [-300.0, -124.54]})
    assert paper_ylim(above, 50_000) == (-160, -124)
