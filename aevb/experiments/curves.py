"""Curves, and how two of them are compared (§5: Fig. 2 and 3 plot a bound or log p(x) against training samples).

A curve is a run's evaluations in order: rows {``samples``, ``seconds``, ``train_bound``/``test_bound`` or
``train_marginal``/``test_marginal``, ...} as ``curve.csv`` holds them (``aevb.experiments.runs.read_curve``).
Every comparison of two curves in the package is made here, in one of two ways:

- at the evaluations they share (the same training-sample count in both): ``shared`` and, built on it,
  ``ahead``, ``behind``, ``ahead_since``, ``last_shared`` and ``largest_difference_between``; for several seeds
  of a run, ``seed_mean`` (their mean and spread at the evaluations all of them have), ``mean_curve`` (the seeds
  as one curve of means, which the comparisons above then take) and ``shared_means`` for two runs' seeds;
- on another axis, where the two curves' points do not line up (Fig. 3's accountings of training,
  ``aevb.experiments.accounting``): ``on_axis``, which interpolates the second curve at the first's points
  (``interpolate``, linear in log x).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def shared(a: list[dict], b: list[dict], column: str) -> list[tuple[int, float, float]]:
    """(samples, a's value, b's value) of ``column`` at the evaluation points two curves share, in a's order."""
    bs = {r["samples"]: r[column] for r in b}
    return [(int(r["samples"]), r[column], bs[r["samples"]]) for r in a if r["samples"] in bs]


def ahead(a: list[dict], b: list[dict], column: str) -> tuple[int, int]:
    """At the evaluation points two curves share: (how many where ``a[column] > b[column]``, how many shared)."""
    pairs = shared(a, b, column)
    return sum(x > y for _, x, y in pairs), len(pairs)


def behind(a: list[dict], b: list[dict], column: str) -> list[int]:
    """The shared evaluation points (sample counts) where ``a[column]`` is not above ``b[column]``."""
    return [s for s, x, y in shared(a, b, column) if x <= y]


def ahead_since(a: list[dict], b: list[dict], column: str) -> int | None:
    """The first shared evaluation point from which ``a[column]`` stays above ``b[column]`` (None where it is not
    above at the last one)."""
    last = max(behind(a, b, column), default=-1)
    return next((s for s, _, _ in shared(a, b, column) if s > last), None)


def last_shared(a: list[dict], b: list[dict], column: str) -> tuple[int, float, float]:
    """(samples, a's value, b's value) of ``column`` at the last evaluation two curves share (IndexError where
    they share none)."""
    return shared(a, b, column)[-1]


def largest_difference_between(a: list[dict], b: list[dict], column: str, start: int, stop: int) -> float:
    """The largest |a − b| of ``column`` (nats) at the evaluations two curves share from ``start`` to ``stop``
    training samples (nan where they share none there): how close two curves stay over a stretch."""
    d = [abs(x - y) for s, x, y in shared(a, b, column) if start <= s <= stop]
    return max(d) if d else float("nan")


def seed_mean(curves: list[list[dict]], column: str, lo: float = 0.0, hi: float = math.inf) -> dict[int, tuple]:
    """{samples: (mean, sd)} of ``column`` over the seeds' ``curves`` at every evaluation that all of them
    have in [lo, hi]; sd is 0 for a single seed."""
    if not curves or any(not c for c in curves):
        return {}
    values = [{int(r["samples"]): r[column] for r in c if lo <= r["samples"] <= hi} for c in curves]
    common = sorted(set.intersection(*(set(v) for v in values)))
    return {s: (statistics.fmean(v[s] for v in values),
                statistics.stdev(v[s] for v in values) if len(values) > 1 else 0.0) for s in common}


def mean_curve(curves: list[list[dict]], columns: Iterable[str]) -> list[dict]:
    """The seeds' ``curves`` of one run as one curve: at every evaluation that all of them have, ``samples``,
    ``seeds`` (how many), and for each of ``columns`` its mean over the seeds and, as ``{column}_sd``, its standard
    deviation (``seed_mean``; 0 for a single seed, whose curve it then is)."""
    columns = list(columns)
    stats = {c: seed_mean(curves, c) for c in columns}
    common = sorted(set.intersection(*(set(s) for s in stats.values()))) if columns else []
    return [{"samples": s, "seeds": len(curves), **{c: stats[c][s][0] for c in columns},
             **{f"{c}_sd": stats[c][s][1] for c in columns}} for s in common]


def shared_means(a: list[list[dict]], b: list[list[dict]], column: str, lo: float = 0.0,
                 hi: float = math.inf) -> list[tuple[int, tuple, tuple]]:
    """(samples, (mean, sd) over a's seeds, (mean, sd) over b's) of ``column`` at the evaluations in [lo, hi] that
    every seed of both runs has (``seed_mean``), in order."""
    ma, mb = seed_mean(a, column, lo, hi), seed_mean(b, column, lo, hi)
    return [(s, ma[s], mb[s]) for s in sorted(set(ma) & set(mb))]


def interpolate(xs: list[float], ys: list[float], x: float) -> float:
    """y at x by linear interpolation in log x between the points (xs increasing, all > 0); NaN outside them."""
    if not xs or x < xs[0] or x > xs[-1]:
        return math.nan
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= x <= x1:
            t = 0.0 if x1 == x0 else (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + t * (y1 - y0)
    return ys[-1]  # x == xs[-1] with a single point


def on_axis(ax: list[float], ay: list[float], bx: list[float], by: list[float]) -> dict:
    """Curve a (x values ``ax``, values ``ay``) against curve b on one x axis: at a's points inside b's range, how
    many have a above b interpolated there (``ahead`` of ``compared``), and both values at the largest x both
    reached (``x_end``, ``a_end``, ``b_end``)."""
    pairs = [(y, interpolate(bx, by, x)) for x, y in zip(ax, ay) if bx and bx[0] <= x <= bx[-1]]
    end = min(ax[-1], bx[-1]) if ax and bx else math.nan
    return {"ahead": sum(p > q for p, q in pairs), "compared": len(pairs),
            "x_end": end, "a_end": interpolate(ax, ay, end), "b_end": interpolate(bx, by, end)}
