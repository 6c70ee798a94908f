"""Chapter 8's Frey Face split study (aevb.book.frey_split): the table built from runs, the z-free baseline under each
data setting, and a store that lacks the runs."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from aevb.book import frey_split
from aevb.experiments.grids import study_configs
from aevb.experiments.store import StoredRun


def fake_runs(samples: int = 1_000_000) -> list[StoredRun]:
    """The study's 16 runs with made-up curves: train = 1000 + N_z + 100·i, test = train - N_z·(i + 1) for the
    i-th setting, at ``samples`` and at one other point; the last run has no curve (not trained)."""
    runs = []
    configs = study_configs("frey-split", samples)
    for c in configs:
        i = [frey_split.setting_label(s) for s in frey_split.settings()].index(frey_split.setting_label(c))
        train = 1000.0 + c.n_z + 100 * i
        curve = [{"samples": 1000, "train_bound": 1.0, "test_bound": 2.0},
                 {"samples": samples, "train_bound": train, "test_bound": train - c.n_z * (i + 1)}]
        runs.append(StoredRun(f"run{len(runs)}", c, curve, {}, Path(f"run{len(runs)}")))
    runs[-1] = dataclasses.replace(runs[-1], curve=[])
    return runs


def test_split_table_puts_each_run_in_its_cell_and_computes_the_gaps():
    runs = fake_runs()
    base = {frey_split.setting_label(c): {"train": 500.0 + i, "test": 490.0}
            for i, c in enumerate(frey_split.settings())}
    table = frey_split.split_table(runs, 1_000_000, base)
    labels = ["blocks /255", "frames /255", "none /255", "blocks /256"]
    assert list(table.columns.get_level_values(0).unique()) == labels
    assert list(table.index) == ["N_z = 2", "N_z = 5", "N_z = 10", "N_z = 20", frey_split.ZFREE_ROW]
    for i, label in enumerate(labels):
        for z in (2, 5, 10, 20):
            if (label, z) == ("blocks /256", 20):  # the run without a curve
                assert table.loc["N_z = 20", label].isna().all()
                continue
            assert table.loc[f"N_z = {z}", (label, "train")] == 1000.0 + z + 100 * i
            assert table.loc[f"N_z = {z}", (label, "gap")] == pytest.approx(z * (i + 1), abs=1e-9)
        assert table.loc[frey_split.ZFREE_ROW, (label, "gap")] == pytest.approx(10.0 + i, abs=1e-9)
    assert frey_split.missing_runs(runs, 1_000_000) == ["run15"]
    assert len(frey_split.missing_runs(runs, 2_000_000)) == 16  # no run has that evaluation point
    numbers = frey_split.split_numbers(table)
    assert numbers["gap_frames_z20"] == pytest.approx(40.0) and numbers["train_none_z5"] == 1205.0
    assert numbers["growth_blocks"] == pytest.approx(18.0) and numbers["growth_none"] == pytest.approx(54.0)
    assert numbers["gap_div256_zfree"] == pytest.approx(13.0) and math.isnan(numbers["gap_div256_z20"])
    assert numbers["scale_shift"] == pytest.approx(560 * math.log(256 / 255), abs=1e-12)
    assert numbers["excess_frames_z20"] == pytest.approx(40.0 - 11.0)  # the gap less the z-free gap
    assert numbers["excess_blocks_z2"] == pytest.approx(2 - 10.0)
    assert numbers["seen_z10"] == pytest.approx((1210.0 - 30) - (1010.0 - 10))  # none's test less blocks' test
    assert math.isnan(numbers["noise_gap"]) and math.isnan(numbers["noise_bound"])  # the N_z = 20 run is missing
    # now "present", with blocks /255's N_z = 2 values
    runs[-1] = dataclasses.replace(runs[-1], curve=fake_runs()[0].curve)
    numbers = frey_split.split_numbers(frey_split.split_table(runs, 1_000_000, base))
    # train at /256 less /255: 300 at N_z <= 10 (1002 - 1020 at N_z = 20), less the 2.19-nat scale shift;
    # gap at /256 less /255: 3 N_z at N_z <= 10 (2 - 20 at N_z = 20)
    assert numbers["noise_bound"] == pytest.approx(300 - frey_split.SCALE_SHIFT, abs=1e-9)
    assert numbers["noise_gap"] == pytest.approx(30.0, abs=1e-9)


def test_a_store_without_the_runs_gives_empty_curves_and_an_all_missing_table(tmp_path):
    runs = frey_split.split_runs(tmp_path)
    assert len(runs) == 16 and all(r.curve == [] for r in runs)
    assert len(frey_split.missing_runs(runs, 1_000_000)) == 16
    table = frey_split.split_table(runs, 1_000_000, {})
    assert table.isna().all().all()


def test_zfree_baseline_under_each_setting():
    base = frey_split.zfree_baselines()
    assert list(base) == ["blocks /255", "frames /255", "none /255", "blocks /256"]
    # x/256 = (x/255)·(255/256): every log-density per frame rises by 560·log(256/255) = 2.19 nats (up to the
    # float32 rounding of x/255, about 1e-5 nats here)
    for split in ("train", "test"):
        shift = base["blocks /256"][split] - base["blocks /255"][split]
        assert shift == pytest.approx(frey_split.SCALE_SHIFT, abs=1e-4)
    # with no split the fit is to all 1965 frames, the maximum likelihood there: at least as good on them as the
    # fit to the block split's 1785 training frames, whose mean over all frames weighs its train and test means
    blocks_on_all = (1785 * base["blocks /255"]["train"] + 180 * base["blocks /255"]["test"]) / 1965
    assert blocks_on_all <= base["none /255"]["train"] < blocks_on_all + 10
    assert base["none /255"]["test"] > base["blocks /255"]["test"]  # the test frames, now fitted too
    assert np.isfinite([v for b in base.values() for v in b.values()]).all()


def test_the_split_table_is_shown_one_row_per_setting_and_bound():
    runs = fake_runs()
    base = {frey_split.setting_label(c): {"train": 500.0 + i, "test": 490.0}
            for i, c in enumerate(frey_split.settings())}
    shown = frey_split.split_shown(frey_split.split_table(runs, 1_000_000, base))
    frame = shown.frame
    assert list(frame.columns) == ["setting", "bound", "N_z = 2", "N_z = 5", "N_z = 10", "N_z = 20",
                                   frey_split.ZFREE_ROW]
    assert frame["setting"].tolist()[:4] == ["blocks /255", "", "", "frames /255"]
    assert frame["bound"].tolist()[:3] == ["train", "test", "gap"] and len(frame) == 12
    assert frame.iloc[4]["N_z = 20"] == f"{1000.0 + 20 + 100 - 20 * 2:.1f}"  # frames /255, test: train - N_z·2
    assert frame.iloc[5]["N_z = 5"] == "10.0" and frame.iloc[2][frey_split.ZFREE_ROW] == "10.0"  # gaps
    assert frame.iloc[9]["N_z = 20"] == ""  # blocks /256 at N_z = 20: not trained, an empty cell
