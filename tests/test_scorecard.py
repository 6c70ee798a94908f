"""The scorecard's rules (aevb/book/scorecard.py) on curves whose answer is known, and its rows on the committed
store: every claim gets a verdict by the rule, and a changed store changes the verdict."""
import shutil

import pytest

from aevb.book.scorecard import (AHEAD_SHARE, APPD_AGREEMENT, GAP_TOLERANCE, VERDICTS, Row, appd_error_note,
                                 dimension_row,
                                 estimator_sd_row, html_table, ordering_panels, ordering_verdict,
                                 overfitting_verdict, rising_verdict, scorecard)
from aevb.experiments.measurements import COLUMNS, study_path
from aevb.files import atomic_write_csv
from aevb.experiments.store import RESULTS_DIR, read_index


def _curve(values, train_offset=0.0):
    return [{"samples": 1000 * 10**i, "seconds": float(i), "train_bound": v + train_offset, "test_bound": v}
            for i, v in enumerate(values)]


def test_ordering_rule():
    win = {"ahead": 10, "compared": 10, "final": 2.0}
    late = {"ahead": 5, "compared": 10, "final": 1.0}  # behind early, ahead at the end
    lose = {"ahead": 0, "compared": 10, "final": -1.0}
    assert ordering_verdict([win, win]) == "holds"
    assert ordering_verdict([win, late]) == "holds with a caveat"  # 15/20 < AHEAD_SHARE
    assert 15 / 20 < AHEAD_SHARE
    assert ordering_verdict([win, lose]) == "holds with a caveat"  # ahead at the end of half the panels
    assert ordering_verdict([win, lose, lose]) == "does not hold"
    assert ordering_verdict([]) == "not tested"


def test_ordering_panels_compare_at_shared_evaluations():
    curves = {3: {"aevb": _curve([-150, -130, -120]), "wake-sleep": _curve([-140, -135, -125])},
              5: {"aevb": _curve([-150, -130])}}  # no baseline: not compared
    (p,) = ordering_panels(curves, "wake-sleep", "test_bound")
    assert p == {"panel": 3, "ahead": 2, "compared": 3, "final": 5.0}


def test_overfitting_and_rising_rules():
    assert overfitting_verdict({2: 10.0, 20: 10.0 + GAP_TOLERANCE}) == "holds"
    assert overfitting_verdict({2: 10.0, 20: 10.0 + GAP_TOLERANCE + 0.1}) == "does not hold"
    assert overfitting_verdict({2: 10.0}) == "not tested"
    assert rising_verdict({2: -158.0, 5: -125.0, 10: -108.0}) == "holds"
    assert rising_verdict({2: -158.0, 5: -125.0, 10: -130.0}) == "does not hold"


def test_every_claim_of_the_committed_store_has_a_verdict_and_a_link():
    rows = scorecard(RESULTS_DIR, classifier=False)
    claims = [r.claim for r in rows]
    for needed in ("Fig. 2 (MNIST): AEVB", "Fig. 2 (Frey Face): AEVB", "Fig. 2 (MNIST): more latent",
                   "Fig. 2 (Frey Face): more latent", "Fig. 3 (N_train = 1,000): AEVB ahead of wake-sleep",
                   "Fig. 3 (N_train = 50,000): AEVB ahead of Monte Carlo EM", "not efficiently applicable",
                   "20–40 minutes", "Fig. 5", "standard deviation is below 1 nat", "beyond about 5 latent",
                   "App. F: full VB"):
        assert any(needed in c for c in claims), needed
    assert all(r.verdict in VERDICTS and r.evidence.split("#")[0].endswith(".html") for r in rows)
    table = html_table(rows)
    assert table.count("<tr>") == len(rows) + 1 and "<a href=\"08_fig2_lower_bound.html\">" in table


def test_the_page_follows_the_store(tmp_path):
    """Remove Fig. 5's runs from a copy of the store: that claim becomes "not tested"; the others stay."""
    store = tmp_path / "results"
    shutil.copytree(RESULTS_DIR, store)
    before = {r.claim: r.verdict for r in scorecard(store, classifier=False)}
    for run in ("mnist-aevb-z5-h500-nall-s0", "mnist-aevb-z10-h500-nall-s0", "mnist-aevb-z20-h500-nall-s0"):
        shutil.rmtree(store / "runs" / run)
    with pytest.warns(UserWarning, match="index.csv"):  # the stale index is rebuilt, and says so
        read_index(store)
    after = {r.claim: r.verdict for r in scorecard(store, classifier=False)}
    assert after["Fig. 5: samples improve with N_z"] == "not tested"
    assert before["Fig. 5: samples improve with N_z"] == "holds"


def test_a_row_escapes_its_text():
    row = Row("a <b>", "c & d", "holds", "x", "p.html#s")
    assert "a &lt;b&gt;" in html_table([row]) and "c &amp; d" in html_table([row])


def test_the_rows_from_measurements_follow_their_files(tmp_path):
    """App. D's two claims from results/studies/: not tested without the file; by the rule with it."""
    assert estimator_sd_row(tmp_path).verdict == dimension_row(tmp_path).verdict == "not tested"
    row = {"run": "r", "n_points": 1000, "seeds": 5, "mean": -100.0, "mean_point_sd": 0.3, "max_point_sd": 2.0,
           "ais_points": 100, "appd_subset": -100.0, "ais_subset": -100.2, "seconds": 1.0}
    atomic_write_csv(study_path("appd-repeats", tmp_path), [dict(row, sd_of_mean=0.02)], COLUMNS["appd-repeats"])
    assert estimator_sd_row(tmp_path).verdict == "holds"
    atomic_write_csv(study_path("appd-repeats", tmp_path), [dict(row, sd_of_mean=1.5)], COLUMNS["appd-repeats"])
    assert estimator_sd_row(tmp_path).verdict == "does not hold"

    def dimension(gaps):
        rows = [{"run": f"z{z}", "n_z": z, "n_points": 100, "method": m, "mean": -100.0 + (g if m == "App. D" else 0),
                 "se": 0.5, "seconds": 1.0} for z, g in gaps.items() for m in ("App. D", "AIS")]
        atomic_write_csv(study_path("appd-dimension", tmp_path), rows, COLUMNS["appd-dimension"])
        return dimension_row(tmp_path).verdict
    small, big = APPD_AGREEMENT / 2, APPD_AGREEMENT * 3
    assert dimension({2: small, 5: -small, 10: big}) == "holds"
    assert dimension({2: small, 5: big, 10: big}) == "holds with a caveat"  # unreliable already at 5
    assert dimension({2: small, 5: small, 10: small, 20: big}) == "holds with a caveat"  # only beyond 10
    assert dimension({2: small, 5: small, 10: small, 20: -small}) == "does not hold"  # reliable everywhere


def test_a_fig3_row_notes_app_d_departing_from_ais_only_for_its_algorithms(tmp_path):
    def row(alg, n, gap):
        return {"run": f"mnist-{alg}-z3-h100-n{n}-hmc-s0", "n_points": 1000, "seeds": 5, "mean": -140.0,
                "sd_of_mean": 0.1, "mean_point_sd": 1.0, "max_point_sd": 5.0, "ais_points": 100,
                "appd_subset": -140.0 + gap, "ais_subset": -140.0, "seconds": 1.0}
    atomic_write_csv(study_path("appd-repeats", tmp_path),
                     [row("aevb", 1000, -4.0), row("wake-sleep", 1000, 0.1), row("mcem", 50000, -1.5)],
                     COLUMNS["appd-repeats"])
    assert "aevb -4.0" in appd_error_note(tmp_path, 1000, ("aevb", "wake-sleep"))
    assert appd_error_note(tmp_path, 50000, ("aevb", "wake-sleep")) == ""  # MCEM's departure is not this row's
    assert "mcem -1.5" in appd_error_note(tmp_path, 50000, ("aevb", "mcem"))
    assert appd_error_note(tmp_path / "elsewhere", 1000) == ""  # not measured: no note
