"""Chapter 8's latent-use study (aevb/book/frey_latent_use.py): its tables and long-form curves from stored runs,
and the findings the chapter states, on made-up runs whose answers are known."""
import math
from pathlib import Path

import pytest

from aevb.book.frey_latent_use import curves, final_rows, findings, kl_total, step_size_search
from aevb.config import TrainConfig
from aevb.experiments.store import StoredRun


def _run(algorithm, start, seed, kl, lr=0.01):
    config = TrainConfig(dataset="frey", algorithm=algorithm, n_z=2, hidden=(200,), start=start, seed=seed,
                         diagnostics=True)
    curve = [{"samples": s, "seconds": 1.0, "train_bound": b, "test_bound": b - 5, "active_units": a,
              "kl_z1": k, "kl_z2": k / 2} for s, b, a, k in ((1000, 500.0, 0, 0.001), (10_000, 700.0, 2, kl))]
    return StoredRun(f"{algorithm}-{start}-s{seed}", config, curve,
                     {"lr_used": lr, "lr_search": {"0.01": 550.0, "0.1": -math.inf}}, Path("unused"))


def test_the_study_tables_and_curves():
    runs = [_run("aevb", "paper", 0, 4.0), _run("wake-sleep", "anglepy", 1, 0.002, lr=0.1)]
    rows = final_rows(runs)
    assert rows[0]["active units"] == 2 and rows[0]["KL total"] == pytest.approx(6.0)
    assert rows[1]["start"] == "anglepy" and rows[1]["step size"] == 0.1
    assert len(curves(runs)) == 4 and kl_total(runs[0].curve[0], 2) == pytest.approx(0.0015)
    search = step_size_search(runs)
    assert search[0]["lr=0.01"] == 550.0 and search[0]["lr=0.1"] == -math.inf and search[1]["kept"] == 0.1


def test_findings_name_the_fixed_point_only_where_every_seed_collapsed():
    ws = [_run("wake-sleep", s, i, 0.002, lr=0.1 if s == "anglepy" else 0.01) for s in ("paper", "anglepy")
          for i in range(2)]
    for r in ws:
        r.curve[-1]["active_units"] = 0
    aevb = [_run("aevb", "paper", 0, 4.0)]
    f = findings(final_rows(ws + aevb), {"train": 690.0, "test": 680.0})
    assert f["ws_paper_active_max"] == 0 and f["ws_anglepy_seeds"] == 2 and f["aevb_paper_active_min"] == 2
    assert f["ws_paper_above_zfree"] == pytest.approx(10.0) and f["ws_anglepy_lrs"] == "0.1"
    assert "fixed point of wake-sleep" in f["verdict"] and f["ws_paper_train_sd"] == pytest.approx(0.0)
    ws[3].curve[-1]["active_units"] = 1  # one seed under the authors' start escapes
    assert "depends on how the optimiser starts" in findings(final_rows(ws + aevb), {"train": 0, "test": 0})["verdict"]
