"""The chapters' "Rerun time" (``aevb.book.rerun``, ``aevb.book.retrain``): durations written for reading, a
model's training time from the fastest shipped run of that model, and a figure chapter's runs counted once per
training pass."""
import dataclasses
import time

import pytest

from aevb.book.rerun import duration, machine, rerun_time
from aevb.book.retrain import runs_training, projected_seconds, training_time
from aevb.config import TrainConfig
from aevb.experiments.runs import curve_columns
from aevb.experiments.store import StoredRun
from aevb.files import atomic_write_csv, atomic_write_json

ENV = {"cpu_count": 2, "processor": "x86_64", "torch_threads": 1}


def _ship(store, name: str, config: TrainConfig, samples: int, seconds: float, env=ENV) -> StoredRun:
    """A run as the store holds it: config.json (settings, machine) and a curve reaching ``samples`` in ``seconds``."""
    run_dir = store / "runs" / name
    run_dir.mkdir(parents=True)
    meta = {"config": dataclasses.asdict(config), "environment": env, "lr_search": {}, "lr_used": 0.02}
    atomic_write_json(run_dir / "config.json", meta)
    rows = [{c: 0.0 for c in curve_columns(config)} | {"samples": s, "seconds": seconds * s / samples}
            for s in (samples // 10, samples)]
    atomic_write_csv(run_dir / "curve.csv", rows, curve_columns(config))
    return StoredRun(name, config, rows, meta, run_dir)


@pytest.mark.parametrize("seconds, words", [(0.2, "1 s"), (40.4, "40 s"), (89, "89 s"), (91, "2 min"),
                                            (59 * 60, "59 min"), (2.5 * 3600, "2.5 h"), (31.2 * 3600, "31 h")])
def test_durations_read_as_words(seconds, words):
    assert duration(seconds) == words


def test_a_machine_in_words():
    assert machine(ENV) == "2 CPU cores (x86_64), 1 PyTorch thread"
    assert machine({**ENV, "torch_threads": 4}).endswith("4 PyTorch threads")


def test_training_time_at_the_fastest_shipped_speed_of_the_same_model(tmp_path):
    model = TrainConfig(n_z=3, hidden=(100,), budget=1_000_000, lr=0.02)
    _ship(tmp_path, "slow", dataclasses.replace(model, seed=1), 1_000_000, 400.0, {**ENV, "cpu_count": 8})
    _ship(tmp_path, "fast", dataclasses.replace(model, n_train=1000, marginal="hmc"), 2_000_000, 200.0)
    _ship(tmp_path, "other", dataclasses.replace(model, n_z=20), 1_000_000, 10.0)  # faster, another model
    seconds, where = projected_seconds(model, tmp_path)
    assert seconds == pytest.approx(100.0) and where == machine(ENV)  # 10^6 samples at 10^4 per second
    searched = projected_seconds(dataclasses.replace(model, lr=None, budget=850_000), tmp_path)[0]
    assert searched == pytest.approx(100.0)  # the §5 search: 3 step sizes x 50,000 samples
    assert projected_seconds(dataclasses.replace(model, algorithm="wake-sleep"), tmp_path) is None
    assert projected_seconds(model, tmp_path / "empty") is None
    assert training_time([model, dataclasses.replace(model, budget=2_000_000)], tmp_path) == ("5 min", machine(ENV))
    assert training_time([model, dataclasses.replace(model, n_z=7)], tmp_path)[0].startswith("not known")


def test_a_pass_of_several_seeds_is_counted_once(tmp_path):
    base = TrainConfig(n_z=2, hidden=(500,), lr=0.02)
    stacked = [_ship(tmp_path, f"s{s}", dataclasses.replace(base, seed=s), 1_000_000, 600.0 + s / 1000)
               for s in (1, 2, 3)]  # one pass: each seed's run records the pass's time, to the millisecond
    alone = _ship(tmp_path, "frey", TrainConfig(dataset="frey", n_z=2, hidden=(200,)), 1_000_000, 300.0)
    apart = _ship(tmp_path, "s4", dataclasses.replace(base, seed=4), 1_000_000, 620.0)  # trained on its own
    words = rerun_time(time.perf_counter() - 5, False, runs_training(stacked + [alone, stacked[0]]))
    # 600 s for the three seeds, 300 s for the other run and 45 s for its step-size search
    assert words["rerun_train"] == duration(945.0) == "16 min"
    assert words["rerun_train_machine"] == machine(ENV)
    with_apart = runs_training(stacked + [alone, apart])
    assert rerun_time(time.perf_counter(), False, with_apart)["rerun_train"] == duration(1565.0)
    assert words["rerun_page"] == "5 s" and words["rerun_settings"] == "at its default settings"
    assert rerun_time(time.perf_counter(), smoke_test=True)["rerun_settings"].startswith("with the reduced")
    assert "rerun_train" not in rerun_time(time.perf_counter(), smoke_test=True)
