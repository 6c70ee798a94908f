"""Measurements on stored models (aevb/experiments/measurements.py): on a small trained run, App. D repeated over
seeds spreads as little as the estimator promises and agrees with AIS on a 2-D latent; with no checkpoint the
command stops and leaves the study file alone."""
import shutil

import pytest

from aevb.config import TrainConfig
from aevb.experiments.grids import run_name, study_configs
from aevb.experiments.measurements import (COLUMNS, DIMENSION_METHODS, appd_dimension, appd_repeats, measure,
                                           read_study, study_path)
from aevb.files import atomic_write_csv
from aevb.experiments.runs import run

SMALL = TrainConfig(dataset="mnist", n_z=2, hidden=(20,), budget=5000, n_train=1000, lr=0.1, eval_train_points=200,
                    progress=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run(SMALL, out)
    return out


def test_app_d_repeats_spread_and_dimension_rows(run_dir):
    r = appd_repeats(run_dir, n_points=30, seeds=(0, 1, 2), ais_points=10, ais_steps=200)
    assert r["n_points"] == 30 and r["seeds"] == 3 and r["ais_points"] == 10
    assert abs(r["appd_subset"] - r["ais_subset"]) < 0.5
    assert 0 < r["sd_of_mean"] < 0.2 and 0 < r["mean_point_sd"] < 1.0 <= 1.0 + r["max_point_sd"]
    rows = {x["method"]: x for x in appd_dimension(run_dir, n_points=20, ais_steps=200)}
    assert set(rows) == set(DIMENSION_METHODS)
    # N_z = 2: App. D agrees with AIS within 0.5 nats on the mean of 20 points; IWAE is a lower bound below both
    assert abs(rows["App. D"]["mean"] - rows["AIS"]["mean"]) < 0.5
    assert rows["IWAE k=1000"]["mean"] < max(rows["App. D"]["mean"], rows["AIS"]["mean"]) + 0.1


def test_measure_without_checkpoints_is_an_error_and_writes_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run of measurement 'appd-dimension' has a checkpoint"):
        measure("appd-dimension", tmp_path, log=lambda m: None)
    assert not study_path("appd-dimension", tmp_path).exists()
    with pytest.raises(ValueError, match="not one of"):
        measure("nope", tmp_path)


def test_measure_only_some_runs_keeps_the_rows_of_the_others(tmp_path, run_dir):
    """--only: the rows of runs not measured this time stay in the file; the measured run's row is replaced."""
    names = [run_name(c) for c in study_configs("appd-dimension", 1)]
    shutil.copytree(run_dir, tmp_path / "runs" / names[0])
    old = {"run": names[1], "n_z": 3, "n_points": 5, "method": "AIS", "mean": -1.0, "se": 0.1, "seconds": 1.0}
    atomic_write_csv(study_path("appd-dimension", tmp_path), [old], COLUMNS["appd-dimension"])
    measure("appd-dimension", tmp_path, n_points=5, only=names[0], log=lambda m: None)
    rows = read_study("appd-dimension", tmp_path)
    assert [r["run"] for r in rows] == [names[0]] * 4 + [names[1]] and rows[-1]["mean"] == -1.0
