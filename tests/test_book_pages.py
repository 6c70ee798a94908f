"""The chapters' page modules (aevb.book.fig3, fig2, full_vb, marginal_likelihood): the numbers a chapter glues,
computed from rows whose answers are known."""
from types import SimpleNamespace

import pytest

from aevb.book.fig2 import split_notice
from aevb.book.fig3 import appe_facts, appe_shown, mcem1000_reading
from aevb.book.full_vb import final_rows
from aevb.book.marginal_likelihood import best_errors, error_facts
from aevb.experiments.grids import APPE_BUDGET


def _rows(errors: dict[str, list[float]], settings=("L=5", "L=50")) -> list[dict]:
    return [{"method": m, "setting": s, "error": e} for m, es in errors.items() for s, e in zip(settings, es)]


def test_error_facts_take_each_methods_last_error_and_the_larger_of_the_two_models():
    lg = _rows({"App. D": [0.5, -0.02], "IWAE": [-0.9, -0.25], "AIS": [0.3, 0.01]})
    vae = _rows({"App. D": [0.4, 0.07], "IWAE": [-1.5, -0.4], "AIS": [-0.2, -0.12]})
    facts = error_facts(lg, vae)
    assert facts == {"largest_appd": 0.07, "largest_iwae": 0.4, "largest_ais": 0.12, "largest_all": 0.4,
                     "iwae_vae_largest": -0.4, "appd_L50": 0.4}  # L=50 is every method's second setting here
    assert best_errors(vae) == {"App. D": 0.07, "IWAE": 0.4, "AIS": 0.12}


def test_appe_facts_count_the_pairs_and_the_changed_verdicts():
    pairs = [SimpleNamespace(changed=c) for c in (True, False, False, True, True)]
    assert appe_facts(pairs) == {"appe_budget": f"{APPE_BUDGET:,}", "appe_compared": 5, "appe_changed": 3}
    assert appe_facts([])["appe_compared"] == 0
    missing = appe_shown([]).data
    assert f"--budget {APPE_BUDGET} --seed 0-2" in missing and "not reached its budget" in missing


def test_split_notice_names_each_missing_run_with_the_command_or_is_none():
    assert split_notice([], 200_000) is None
    text = split_notice(["frey-a", "frey-b"], 200_000).data
    assert "`frey-a`, `frey-b`" in text and "200,000 samples" in text and "--budget 200000" in text


def test_full_vbs_rows_at_the_end_of_training():
    def curve(*rows):
        return [dict(zip(("train_bound", "test_bound", "kl_theta"), r)) for r in rows]

    vb = SimpleNamespace(lr=0.02, curve=curve((-300.0, -301.0, 40.0), (-120.0, -125.5, 12.5)),
                         model=SimpleNamespace(decoder=None))
    aevb = SimpleNamespace(lr=0.01, curve=[{"train_bound": -110.0, "test_bound": -112.0}])
    rows = final_rows({"aevb": aevb, "full-vb": vb})
    assert rows[0]["KL(q(θ)‖p(θ))/N"] is None and rows[0]["eq. 14 bound / N"] is None
    assert rows[1]["eq. 14 bound / N"] == pytest.approx(-132.5, abs=1e-12) and rows[1]["lr"] == 0.02


def test_chapter9_reading_of_the_mcem_accountings_follows_the_wins():
    """Chapter 9's sentence on the 1,000-point panel against MCEM says what the accountings found: no accounting, every
    one, or which ones give the paper's ordering, in the prose's words."""
    none = mcem1000_reading([], ["samples", "updates", "gradients", "seconds"])
    assert none.startswith("No accounting shown gives the ordering") and "does not reproduce" in none
    assert mcem1000_reading(["samples", "seconds"], []).startswith("Every accounting shown gives")
    mixed = mcem1000_reading(["updates", "gradients"], ["samples", "seconds"])
    assert mixed == ("So the paper's ordering is what one sees when MCEM is charged per weight update and per "
                     "gradient evaluation, and not per minibatch or per training second")
