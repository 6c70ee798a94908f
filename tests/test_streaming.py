"""aevb.experiments.streaming: ``summary`` computed by hand on synthetic rows (current-phase bounds, their gaps to the
shuffled model, forgetting, the final gap, means and spreads over seeds); ``check`` re-trains the stored prefix
exactly, fails on a perturbed store and on a store without the run, and passes on the committed store."""
import shutil
import statistics

import matplotlib
import matplotlib.pyplot as plt
import pytest

from aevb.book import streaming as page
from aevb.experiments import streaming as s
from aevb.experiments.store import RESULTS_DIR
from aevb.files import StoreError, atomic_write_csv

ENDS = [100 * (k + 1) for k in range(len(s.PHASES))]  # synthetic: each phase ends at 100 (k + 1) samples
LEVEL = {"shuffled": -120.0, "stream": -110.0, "replay": -115.0, "large-step": -130.0}  # each setting's offset
SLOPE = {"shuffled": 0.01, "stream": -0.01, "replay": 0.01, "large-step": -0.03}  # per sample (nats)
SEED_EFFECT = {"shuffled": 0.5, "stream": 2.0, "replay": 0.5, "large-step": 1.0}  # nats per seed


def bound(setting, seed, samples, phase):
    index = len(s.PHASES) if phase == "all" else [s.phase_name(p) for p in s.PHASES].index(phase)
    return LEVEL[setting] + SLOPE[setting] * samples - 3.0 * index + SEED_EFFECT[setting] * seed


def synthetic_rows(seeds=(0, 1, 2)):
    names = [s.phase_name(p) for p in s.PHASES] + ["all"]
    return [{"run": s.run_name(setting, 1, seed), "setting": setting, "passes": 1.0, "seed": float(seed),
             "lr": 0.1 if setting == "large-step" else 0.02, "replay": 10.0 if setting == "replay" else 0.0,
             "samples": float(at),
             "stream_phase": float(k + 1), "phase": n, "points": 100.0, "bound": bound(setting, seed, at, n),
             "seconds": 1.0}
            for setting in LEVEL for seed in seeds for k, end in enumerate(ENDS) for at in (end - 50, end)
            for n in names]


def test_summary_by_hand():
    out = s.summary(synthetic_rows())
    assert out["ends"] == {1: ENDS} and out["seeds"] == 3 and out["replay"] == 10 and out["lr"] == 0.02
    stream, last = out["streams"][1]["stream"], ENDS[-1]
    for k, (end, name) in enumerate(zip(ENDS, out["phases"])):
        mean, sd = stream["current"][k]
        assert mean == pytest.approx(statistics.fmean(bound("stream", z, end, name) for z in (0, 1, 2)))
        assert sd == pytest.approx(SEED_EFFECT["stream"])  # stdev of 0, 1, 2 is 1
        gap, gap_sd = stream["current_gap"][k]
        assert gap == pytest.approx(LEVEL["stream"] - LEVEL["shuffled"] + (SLOPE["stream"] - SLOPE["shuffled"]) * end
                                    + (SEED_EFFECT["stream"] - SEED_EFFECT["shuffled"]))
        assert gap_sd == pytest.approx(SEED_EFFECT["stream"] - SEED_EFFECT["shuffled"])
    assert len(stream["forgetting"]) == len(s.PHASES) - 1
    for k, (f, f_sd) in enumerate(stream["forgetting"]):
        assert f == pytest.approx(-SLOPE["stream"] * (last - ENDS[k])) and f_sd == pytest.approx(0.0, abs=1e-9)
    assert all(f < 0 for f, _ in out["streams"][1]["replay"]["forgetting"])  # it improves: no forgetting
    final = stream["final"][0]
    assert final == pytest.approx(statistics.fmean(bound("stream", z, last, "all") for z in (0, 1, 2)))
    assert stream["final_gap"][0] == pytest.approx(final - statistics.fmean(
        bound("shuffled", z, last, "all") for z in (0, 1, 2)))
    assert out["streams"][1]["shuffled"]["current_gap"][0] == (0.0, 0.0)


def test_summary_of_one_seed_has_no_spread():
    out = s.summary(synthetic_rows(seeds=(4,)))
    assert out["seeds"] == 1 and out["streams"][1]["stream"]["final"][1] == 0.0


def test_check_passes_on_the_committed_store():
    """The CI check itself: a prefix of one stored run re-trained here (any CPU's float kernels) within CHECK_ATOL."""
    out = s.check(RESULTS_DIR, log=lambda *_: None)
    assert out["largest_difference"] <= s.CHECK_ATOL and out["compared"] == 6 * 5  # 5 positions x (5 phases + all)


def test_check_fails_on_a_perturbed_store(tmp_path, monkeypatch):
    store = tmp_path / "store"
    (store / "runs" / s.STEP_RUN).mkdir(parents=True)
    shutil.copy(RESULTS_DIR / "runs" / s.STEP_RUN / "config.json", store / "runs" / s.STEP_RUN / "config.json")
    rows = s.stored_rows(RESULTS_DIR)
    name = s.run_name(*s.CHECK_RUN)
    first = min(r["samples"] for r in rows if r["run"] == name)
    hit = next(r for r in rows if r["run"] == name and r["samples"] == first and r["phase"] == "2-3")
    hit["bound"] += 5 * s.CHECK_ATOL
    csv = store / "studies" / "streaming.csv"
    atomic_write_csv(csv, rows, s.COLUMNS)
    monkeypatch.setattr(s, "CHECK_SAMPLES", int(first))  # the perturbed position only: a shorter re-run
    with pytest.raises(StoreError, match=f"bound on phase 2-3 at {int(first):,} samples .* stored \\(tolerance"):
        s.check(store, log=lambda *_: None)
    atomic_write_csv(csv, [r for r in rows if r["phase"] != "all"], s.COLUMNS)
    with pytest.raises(StoreError, match=f"has no row of {name} at \\({int(first)}, 'all'\\)"):
        s.check(store, log=lambda *_: None)
    atomic_write_csv(csv, [r for r in rows if r["run"] != name], s.COLUMNS)
    with pytest.raises(StoreError, match=f"has no row of {name}; measure it again"):
        s.check(store, log=lambda *_: None)


def test_the_pages_numbers_table_findings_and_figure():
    rows = synthetic_rows()
    summary = page.stream_summary(rows)
    facts = page.stream_facts(summary)
    stream = summary["streams"][1]["stream"]
    assert facts["stream1_forgetting"] == pytest.approx(statistics.fmean(m for m, _ in stream["forgetting"]))
    assert facts["stream1_forgetting_max"] == pytest.approx(max(m for m, _ in stream["forgetting"]))
    assert facts["large1_final_gap"] == pytest.approx(summary["streams"][1]["large-step"]["final_gap"][0])
    assert facts["stream_larger_lr"] == 0.1 and facts["stream_larger_factor"] == pytest.approx(5.0)
    assert all(isinstance(v, (int, float)) for v in facts.values())  # glued as numbers
    assert len(page.stream_table(summary).frame) == 4  # a row per setting
    findings = page.stream_findings(summary)
    assert "1 pass per phase (500 stream samples)" in findings and "5 times the step size" in findings
    assert "The scorecard's verdict: holds with a caveat.** 1 pass per phase: " in findings  # the stream forgets
    matplotlib.use("Agg")
    fig = page.plot_stream(rows, 1)
    assert [ax.get_title(loc="left") for ax in fig.axes] == [page.TITLES[p] for p in page.PANELS]
    plt.close(fig)
