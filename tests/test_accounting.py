"""Fig. 3's x-axis accountings (aevb/experiments/accounting.py): the rescaling by each learner's cost per step,
log-linear interpolation, and who is ahead once two curves share an axis."""
import math

import pytest

from aevb.experiments.accounting import (ACCOUNTINGS, ahead_share, compare, seconds_per_sample, seconds_ratio,
                                       training_seconds, value_at, x_axis)

SAMPLES = [1000, 10_000, 100_000, 1_000_000]


def _curve(offset: float, seconds_per_sample: float):
    """y = log(samples) + offset at the store's points, seconds proportional to samples."""
    return [{"samples": s, "seconds": s * seconds_per_sample, "test_marginal": math.log(s) + offset} for s in SAMPLES]


def test_each_accounting_rescales_by_the_learners_cost():
    c = _curve(0.0, 1e-3)
    assert x_axis(c, "mcem", "samples") == SAMPLES
    assert x_axis(c, "mcem", "updates") == [5 * s for s in SAMPLES]  # 5 M-steps per minibatch
    assert x_axis(c, "mcem", "gradients") == [16 * s for s in SAMPLES]  # 1 + 10 leapfrog + 5 M-steps
    assert x_axis(c, "wake-sleep", "gradients") == [2 * s for s in SAMPLES]
    assert x_axis(c, "aevb", "updates") == x_axis(c, "aevb", "gradients") == SAMPLES
    assert x_axis(c, "aevb", "seconds") == [s * 1e-3 for s in SAMPLES]
    with pytest.raises(ValueError, match="accounting='epochs'"):
        x_axis(c, "aevb", "epochs")
    assert set(ACCOUNTINGS) == {"samples", "updates", "gradients", "seconds"}


def test_the_ordering_of_two_curves_depends_on_the_accounting():
    """MCEM 1 nat ahead per sample is 1.77 nats behind per gradient evaluation (log 16 = 2.77)."""
    aevb, mcem = ("aevb", _curve(0.0, 1e-4)), ("mcem", _curve(1.0, 1e-3))
    per_sample = compare(aevb, mcem, "test_marginal", "samples")
    assert per_sample["ahead"] == 0 and per_sample["compared"] == 4
    assert per_sample["b_end"] - per_sample["a_end"] == pytest.approx(1.0)
    per_gradient = compare(aevb, mcem, "test_marginal", "gradients")
    # MCEM's axis spans 16e3 … 16e6: AEVB's points 1e5 and 1e6 fall inside it, and AEVB is above at both
    assert per_gradient["ahead"] == per_gradient["compared"] == 2
    assert per_gradient["x_end"] == 1e6
    assert per_gradient["a_end"] - per_gradient["b_end"] == pytest.approx(math.log(16) - 1.0)
    per_second = compare(aevb, mcem, "test_marginal", "seconds")  # MCEM 10x slower per sample: log 10 − 1 behind
    assert per_second["a_end"] - per_second["b_end"] == pytest.approx(math.log(10) - 1.0)


def test_value_at_reads_a_curve_where_compare_does():
    """log-linear in x between evaluations: y = log(samples) + offset is exact there; NaN outside the curve; the
    values ``compare`` gives at the end of two curves."""
    mcem = ("mcem", _curve(1.0, 1e-3))
    assert value_at(mcem, "test_marginal", "samples", 31_622.8) == pytest.approx(math.log(31_622.8) + 1.0)
    assert value_at(mcem, "test_marginal", "gradients", 16_000) == pytest.approx(math.log(1000) + 1.0)
    assert math.isnan(value_at(mcem, "test_marginal", "samples", 2e6))
    aevb = ("aevb", _curve(0.0, 1e-4))
    end = compare(aevb, mcem, "test_marginal", "seconds")
    assert value_at(aevb, "test_marginal", "seconds", end["x_end"]) == pytest.approx(end["a_end"])
    assert value_at(mcem, "test_marginal", "seconds", end["x_end"]) == pytest.approx(end["b_end"])


def test_ahead_share_sums_over_columns():
    aevb, mcem = ("aevb", _curve(0.0, 1e-4)), ("mcem", _curve(1.0, 1e-3))
    for row in aevb[1]:
        row["train_marginal"] = row["test_marginal"] + 5.0  # AEVB's training points far above MCEM's test curve
    for row in mcem[1]:
        row["train_marginal"] = row["test_marginal"]
    assert ahead_share(aevb, mcem, ("train_marginal", "test_marginal"), "samples") == (4, 8)


def test_the_seconds_axis_at_measured_rates_is_samples_times_the_rate():
    """With a panel's measured cost (seconds per training sample, by algorithm) the seconds axis is samples × rate,
    whatever the run recorded; without it, the recorded seconds. Here both runs recorded the same seconds (as
    seeds stacked in one pass may): only the rates tell MCEM's cost."""
    recorded = 2e-5
    aevb, mcem = ("aevb", _curve(0.0, recorded)), ("mcem", _curve(1.0, recorded))
    rates = {"aevb": 3e-5, "mcem": 3e-4, "wake-sleep": 5e-5}
    assert training_seconds(mcem[1]) == x_axis(mcem[1], "mcem", "seconds") == [s * recorded for s in SAMPLES]
    assert training_seconds(mcem[1], 3e-4) == pytest.approx([0.3, 3.0, 30.0, 300.0])  # by hand: 1e3 × 3e-4 = 0.3
    assert x_axis(aevb[1], "aevb", "seconds", rates) == pytest.approx([0.03, 0.3, 3.0, 30.0])
    assert x_axis(aevb[1], "aevb", "samples", rates) == SAMPLES  # the other accountings do not use the rates
    assert seconds_per_sample(mcem[1], 3e-4) == pytest.approx(3e-4)
    assert seconds_per_sample(mcem[1]) == pytest.approx(recorded)
    assert seconds_ratio(mcem, aevb, rates) == pytest.approx(10.0)  # by hand: 3e-4 / 3e-5
    assert seconds_ratio(mcem, aevb) == pytest.approx(1.0)  # as recorded: the same seconds
    as_recorded = compare(aevb, mcem, "test_marginal", "seconds")
    assert as_recorded["a_end"] - as_recorded["b_end"] == pytest.approx(-1.0)  # equal cost: MCEM 1 nat ahead
    measured = compare(aevb, mcem, "test_marginal", "seconds", rates)
    # MCEM 10× AEVB's cost: at MCEM's last point, 300 s, AEVB has trained 1e7 samples, beyond its curve: the
    # largest x both reached is AEVB's last, 30 s, where MCEM has trained 1e5 samples: log(1e6) − (log(1e5) + 1)
    assert measured["x_end"] == pytest.approx(30.0)
    assert measured["a_end"] - measured["b_end"] == pytest.approx(math.log(10) - 1.0)
    assert ahead_share(aevb, mcem, ("test_marginal",), "seconds", rates) == (measured["ahead"], measured["compared"])
