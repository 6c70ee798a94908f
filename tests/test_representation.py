"""Chapter 13's representation measurement (aevb.experiments.representation) and its page (aevb.book.representation):
the summary on synthetic rows, the encoder's means, and the store check, which recomputes the cheapest rows and must
fail on a store that differs from them."""
import shutil

import matplotlib.pyplot as plt
import pytest
import torch

from aevb.book import representation as page
from aevb.book.verdicts import CAVEAT, HOLDS
from aevb.experiments import representation as rep
from aevb.experiments.store import RESULTS_DIR
from aevb.files import StoreError
from aevb.models import build_vae


def rows_of(acc: dict) -> list[dict]:
    """Synthetic rows: acc maps (features, dims, labels) to one accuracy per subset seed."""
    out = []
    for (kind, dims, labels), values in acc.items():
        for seed, a in enumerate(values):
            out.append({"run": rep.RUNS[dims] if kind == "aevb" else kind, "features": kind, "dims": float(dims),
                        "labels": float(labels), "subset_seed": float(seed), "accuracy": a, "l2": 0.01,
                        "cv_loss": 0.5, "iterations": 30.0, "gradient": 1e-6,
                        "samples": 1e7 if kind == "aevb" else 0.0, "seconds": 1.0})
    return out


SYNTHETIC = {**{("aevb", z, n): [0.70 + 0.01 * z + d for d in (-0.01, 0, 0.01)] for z in rep.N_ZS for n in (100, 1000)},
             **{("pca", z, n): [0.40 + 0.02 * z + d for d in (-0.01, 0, 0.01)] for z in rep.N_ZS for n in (100, 1000)},
             **{("aevb", z, 50_000): [0.85 + 0.005 * z] for z in rep.N_ZS},
             **{("pca", z, 50_000): [0.45 + 0.02 * z] for z in rep.N_ZS},
             ("pixels", 784, 100): [0.71, 0.72, 0.73], ("pixels", 784, 1000): [0.87, 0.87, 0.88],
             ("pixels", 784, 50_000): [0.925]}


def test_summary_averages_the_subset_seeds_and_pairs_the_settings():
    s = rep.summary(rows_of(SYNTHETIC))
    cell = next(c for c in s["cells"] if (c["features"], c["dims"], c["labels"]) == ("aevb", 5, 100))
    assert cell["accuracy"] == pytest.approx(0.75) and cell["spread"] == pytest.approx(0.01) and cell["seeds"] == 3
    assert len(s["vs_pca"]) == 12  # 4 N_z × 3 label counts
    _, enc, pca, spread = next(e for e in s["vs_pca"] if e[0] == "N_z = 20, 1,000 labels")
    assert (enc, pca, spread) == pytest.approx((0.90, 0.80, 0.0))  # the seeds move both alike: paired, no spread
    noisy = rows_of({("aevb", 2, 100): [0.70, 0.74, 0.72], ("pca", 2, 100): [0.50, 0.50, 0.50]})
    assert rep.summary(noisy)["vs_pca"] == [("N_z = 2, 100 labels", pytest.approx(0.72), 0.50, pytest.approx(0.02))]
    assert s["vs_pixels"][-1] == pytest.approx(("50,000 labels", 0.95, 20, 0.925, 0.0))
    assert s["samples"] == {z: 10_000_000 for z in rep.N_ZS}


def test_the_page_judges_tables_and_states_the_synthetic_numbers(tmp_path):
    result = rep.summary(rows_of(SYNTHETIC))
    result["verdict"], result["note"] = page.represents(result["vs_pca"], result["vs_pixels"], result["n_test"])
    assert result["verdict"] == HOLDS  # ahead of PCA everywhere, above 50%, the best ahead of pixels
    facts = page.facts(result)
    assert facts["rep_enc20_100"] == 90.0 and facts["rep_pixels_all"] == 92.5 and facts["rep_pca2_1000"] == 44.0
    assert facts["rep_best_nz_100"] == 20 and facts["rep_ahead"] == facts["rep_settings"] == 12
    assert facts["rep_minutes"] == round(len(rows_of(SYNTHETIC)) / 60, 1)  # one CPU second a row
    assert facts["rep_widest_nz"] == 2 and facts["rep_widest_margin"] == pytest.approx((28 + 28 + 37) / 3, abs=0.05)
    rows = page.table_rows(result)
    assert rows[0] == {"N_z": 2, "labels": 100, "encoder": "72.0 ± 1.0", "PCA": "44.0 ± 1.0",
                       "pixels": "72.0 ± 1.0", "margin": pytest.approx(28.0)}
    assert "encoder − PCA (points)" in page.accuracy_table(result)._repr_html_()
    fig = page.accuracy_figure(result)
    assert len(fig.axes) == 4 and [len(ax.lines) for ax in fig.axes] == [9, 9, 9, 9]  # 3 kinds, with error bars
    plt.close(fig)
    behind = {**SYNTHETIC, ("pixels", 784, 50_000): [0.97]}
    result = rep.summary(rows_of(behind))
    verdict, note = page.represents(result["vs_pca"], result["vs_pixels"], result["n_test"])
    assert verdict == CAVEAT and "behind raw pixels at 50,000 labels" in note


def test_encoder_means_are_the_encoders_mu_in_batches(monkeypatch):
    model = build_vae("mnist", 3, (20,), seed=0)
    x = torch.rand(25, 784)
    monkeypatch.setattr(rep, "ENCODE_BATCH", 7)
    assert torch.allclose(rep.encoder_means(model, x), model.encoder(x).mu, atol=1e-6)


@pytest.fixture(scope="module")
def checked():
    """The check on the committed store (a few seconds: PCA and raw pixels with 100 labels, subset seed 0)."""
    return rep.check(RESULTS_DIR, log=lambda *_: None)


def test_the_check_reproduces_the_committed_rows(checked):
    assert {(r["features"], r["dims"], r["labels"]) for r in checked["rows"]} == {("pca", 2, 100), ("pixels", 784, 100)}
    assert all(r["images"] <= rep.CHECK_IMAGES and r["stored_l2"] == r["recomputed_l2"] for r in checked["rows"])


@pytest.mark.parametrize("kind,dims", rep.CHECKED)
def test_a_store_off_by_a_few_test_images_or_another_penalty_fails_the_check(checked, kind, dims):
    stored = rep.stored_rows(RESULTS_DIR)
    hit = [i for i, r in enumerate(stored)
           if (r["features"], r["dims"], r["labels"], r["subset_seed"]) == (kind, dims, 100, 0)]
    assert len(hit) == 1
    assert rep.verify(stored, checked["recomputed"])["tolerance"] == rep.CHECK_IMAGES
    for change in ({"accuracy": stored[hit[0]]["accuracy"] + (rep.CHECK_IMAGES + 3) / 10_000},  # a defect's size
                   {"l2": stored[hit[0]]["l2"] * 10}):
        changed = [{**r, **change} if i == hit[0] else r for i, r in enumerate(stored)]
        with pytest.raises(StoreError, match=rf"{kind} \(\d+ dims\), 100 labels, subset seed 0 .*more than 5 test"):
            rep.verify(changed, checked["recomputed"])
    with pytest.raises(StoreError, match="more than 5 test images"):  # a row the store lacks
        rep.verify([r for i, r in enumerate(stored) if i != hit[0]], checked["recomputed"])


def test_a_foreign_file_is_a_store_error(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "representation.csv").write_text("run,accuracy\npixels,0.5\n")
    with pytest.raises(StoreError, match="line 1 has the columns run, accuracy; expected run, features"):
        rep.stored_rows(tmp_path)


def test_measure_stops_before_any_work_where_a_checkpoint_is_missing(tmp_path, monkeypatch):
    for run in rep.RUNS.values():
        (tmp_path / "runs" / run).mkdir(parents=True)
        shutil.copy(RESULTS_DIR / "runs" / run / "config.json", tmp_path / "runs" / run / "config.json")
    monkeypatch.setenv("AEVB_CHECKPOINT_DIR", str(tmp_path / "no-checkpoints"))
    monkeypatch.setattr(rep, "images", lambda *_: pytest.fail("the data were loaded before the checkpoints"))
    with pytest.raises(StoreError, match="no checkpoint"):
        rep.measure(tmp_path, log=lambda *_: None)
