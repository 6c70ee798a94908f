"""Two curves compared (aevb/experiments/curves.py): at the evaluations they share, over several seeds, and on
another axis by interpolation, against answers worked out by hand and by brute force on random curves."""
import math
import random
import statistics

import pytest

from aevb.experiments.curves import (ahead, ahead_since, behind, interpolate, largest_difference_between,
                                     last_shared, mean_curve, on_axis, seed_mean, shared, shared_means)

SAMPLES = (1000, 10_000, 100_000, 1_000_000)


def test_orderings_between_two_curves_at_their_shared_evaluations():
    a = [{"samples": s, "v": v} for s, v in [(1000, -5.0), (1800, 1.0), (3200, -1.0), (5600, 2.0), (10000, 3.0)]]
    b = [{"samples": s, "v": 0.0} for s in (1000, 1800, 3200, 5600)]  # a shorter curve
    assert ahead(a, b, "v") == (2, 4)
    assert behind(a, b, "v") == [1000, 3200]
    assert ahead_since(a, b, "v") == 5600
    assert ahead_since(b, a, "v") is None  # b is below a at the last shared point
    assert last_shared(a, b, "v") == (5600, 2.0, 0.0)
    with pytest.raises(IndexError):
        last_shared(a, [{"samples": 7, "v": 0.0}], "v")  # nothing shared


def _random_curve(rng, points):
    return [{"samples": s, "v": rng.gauss(0, 1)} for s in sorted(rng.sample(points, rng.randint(1, len(points))))]


def test_shared_evaluations_of_random_curves_by_brute_force():
    rng = random.Random(0)
    points = list(range(1000, 21_000, 1000))
    for _ in range(200):
        a, b = _random_curve(rng, points), _random_curve(rng, points)
        want = [(r["samples"], r["v"], q["v"]) for r in a for q in b if q["samples"] == r["samples"]]
        assert shared(a, b, "v") == want
        assert ahead(a, b, "v") == (sum(x > y for _, x, y in want), len(want))
        assert behind(a, b, "v") == [s for s, x, y in want if x <= y]
        stays = [s for i, (s, _, _) in enumerate(want) if all(x > y for _, x, y in want[i:])]
        assert ahead_since(a, b, "v") == (stays[0] if stays else None)
        lo, hi = sorted(rng.sample(points, 2))
        inside = [abs(x - y) for s, x, y in want if lo <= s <= hi]
        got = largest_difference_between(a, b, "v", lo, hi)
        assert got == max(inside) if inside else math.isnan(got)


def test_largest_difference_between():
    a = [{"samples": s, "v": v} for s, v in ((1, 0.0), (2, 1.0), (3, 5.0), (4, 0.0))]
    b = [{"samples": s, "v": 0.0} for s in (1, 2, 4)]
    assert largest_difference_between(a, b, "v", 2, 4) == 1.0  # 3 is not shared
    assert math.isnan(largest_difference_between(a, b, "v", 5, 9))


def test_seed_means_at_the_evaluations_every_seed_has():
    rng = random.Random(1)
    points = list(range(1000, 11_000, 1000))
    for _ in range(100):
        a = [_random_curve(rng, points) for _ in range(rng.randint(1, 3))]
        b = [_random_curve(rng, points) for _ in range(rng.randint(1, 3))]
        lo, hi = sorted(rng.sample(points, 2))
        common = [s for s in points if lo <= s <= hi and all(any(r["samples"] == s for r in c) for c in a)]
        m = seed_mean(a, "v", lo, hi)
        assert sorted(m) == common
        for s in common:
            vals = [r["v"] for c in a for r in c if r["samples"] == s]
            assert m[s][0] == pytest.approx(statistics.fmean(vals), abs=1e-12)
            assert m[s][1] == (pytest.approx(statistics.stdev(vals), abs=1e-12) if len(vals) > 1 else 0.0)
        both = shared_means(a, b, "v", lo, hi)
        mb = seed_mean(b, "v", lo, hi)
        assert both == [(s, m[s], mb[s]) for s in common if s in mb]
    assert seed_mean([], "v") == {} and seed_mean([[{"samples": 1, "v": 0.0}], []], "v") == {}


def test_a_mean_curve_is_the_seeds_means_at_the_evaluations_all_of_them_have():
    """Random seeds of random lengths, two columns: every row's mean and sd against the values by hand, an
    evaluation one seed lacks left out, a single seed its own curve with sd 0."""
    rng = random.Random(2)
    points = list(range(1000, 11_000, 1000))
    for _ in range(100):
        curves = [[{"samples": r["samples"], "v": r["v"], "w": 2 * r["v"] + rng.gauss(0, 1)}
                   for r in _random_curve(rng, points)] for _ in range(rng.randint(1, 4))]
        m = mean_curve(curves, ["v", "w"])
        common = [s for s in points if all(any(r["samples"] == s for r in c) for c in curves)]
        assert [r["samples"] for r in m] == common
        for row in m:
            for col in ("v", "w"):
                vals = [r[col] for c in curves for r in c if r["samples"] == row["samples"]]
                assert row[col] == pytest.approx(statistics.fmean(vals), abs=1e-12)
                assert row[f"{col}_sd"] == (pytest.approx(statistics.stdev(vals), abs=1e-12) if len(vals) > 1
                                            else 0.0)
            assert row["seeds"] == len(curves)
    one = [{"samples": 1000, "v": -3.0}, {"samples": 2000, "v": -2.0}]
    assert mean_curve([one], ["v"]) == [{"samples": 1000, "seeds": 1, "v": -3.0, "v_sd": 0.0},
                                        {"samples": 2000, "seeds": 1, "v": -2.0, "v_sd": 0.0}]
    assert mean_curve([one, one[:1]], ["v"]) == [{"samples": 1000, "seeds": 2, "v": -3.0, "v_sd": 0.0}]
    assert mean_curve([], ["v"]) == [] and mean_curve([one, []], ["v"]) == []


def test_interpolation_is_exact_for_a_log_linear_curve_and_nan_outside():
    xs = [float(s) for s in SAMPLES]
    ys = [2 * math.log(x) - 3 for x in xs]
    for x in (1000.0, 3162.0, 54_321.0, 1e6):
        assert interpolate(xs, ys, x) == pytest.approx(2 * math.log(x) - 3, abs=1e-12)
    assert math.isnan(interpolate(xs, ys, 999.0)) and math.isnan(interpolate(xs, ys, 1.1e6))


def test_on_axis_compares_inside_the_other_curves_range_and_at_the_common_end():
    """b = log x − 10 on [10^3, 10^5]; a one nat above it on a finer grid that runs past b's end."""
    bx = [1e3, 1e4, 1e5]
    ax = [1e3, 3e3, 1e4, 3e4, 1e5, 1e6]
    got = on_axis(ax, [math.log(x) - 9 for x in ax], bx, [math.log(x) - 10 for x in bx])
    assert (got["ahead"], got["compared"], got["x_end"]) == (5, 5, 1e5)
    assert got["a_end"] - got["b_end"] == pytest.approx(1.0, abs=1e-12)
    below = on_axis(ax, [math.log(x) - 11 for x in ax], bx, [math.log(x) - 10 for x in bx])
    assert (below["ahead"], below["compared"]) == (0, 5)
    empty = on_axis([], [], bx, [0.0, 0.0, 0.0])
    assert (empty["ahead"], empty["compared"]) == (0, 0) and math.isnan(empty["x_end"])
