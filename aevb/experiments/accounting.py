"""Fig. 3's x-axis: how the training of each algorithm is counted, and who is ahead under each count.

The paper plots the estimated marginal likelihood against "training samples evaluated" and does not say how
a Monte Carlo EM step is counted: its E-step runs 10 leapfrog steps per datapoint and its M-step makes 5 weight
updates on the same minibatch. Our store counts M samples per minibatch for every algorithm (``samples``). The
other reasonable accountings (``ACCOUNTINGS``) rescale a curve's x by the learner's cost per minibatch step
(``UPDATES_PER_STEP``, ``GRADIENTS_PER_POINT`` of ``aevb.learners``), or use training wall time:

- ``samples``: M per minibatch step (the store's x-axis);
- ``updates``: M per weight update (MCEM: 5 M per step);
- ``gradients``: M per gradient evaluation through the model (AEVB 1, wake-sleep 2, MCEM 16 per datapoint);
- ``seconds``: training seconds (evaluation excluded), ``training_seconds``: the samples times the measured cost
  per training sample of the run's algorithm and panel (one run alone on one thread, CPU time: ``rates``, the
  ``fig3-cost`` measurement of ``aevb.experiments.measurements``) where given; else the seconds the run recorded,
  wall time on the machine it was trained on, which depend on how it was trained (its seeds stacked in one pass,
  each recording the whole pass; beside other work or not).

``compare`` puts two curves on one such axis (``aevb.experiments.curves.on_axis``: the second is interpolated,
linear in log x, at the first's points where both are defined, and at the largest x both reached);
``ahead_share`` sums its counts over columns (e.g. the training and the test points).
"""
from __future__ import annotations

from collections.abc import Mapping

from aevb.experiments.curves import interpolate, on_axis
from aevb.learners import ALGORITHMS

ACCOUNTINGS = ("samples", "updates", "gradients", "seconds")
Rates = Mapping[str, float]  # one panel's measured cost: seconds per training sample, by algorithm


def training_seconds(curve: list[dict], rate: float | None = None) -> list[float]:
    """A run's training seconds at each evaluation of ``curve`` (evaluation excluded): its samples times ``rate``
    (seconds per training sample, measured for its algorithm and panel) where given, else the seconds it
    recorded."""
    if rate is None:
        return [float(r["seconds"]) for r in curve]
    return [float(r["samples"]) * rate for r in curve]


def seconds_per_sample(curve: list[dict], rate: float | None = None) -> float:
    """A run's training seconds per training sample, at its last evaluation (``training_seconds``)."""
    return training_seconds(curve, rate)[-1] / curve[-1]["samples"]


def seconds_ratio(a: tuple[str, list[dict]], b: tuple[str, list[dict]], rates: Rates | None = None) -> float:
    """Run a = (algorithm, rows) over run b: training seconds per training sample (``seconds_per_sample``), at the
    measured ``rates`` of their panel where given, else as the runs recorded them."""
    def per_sample(run):
        return seconds_per_sample(run[1], None if rates is None else rates[run[0]])
    return per_sample(a) / per_sample(b)


def x_axis(curve: list[dict], algorithm: str, accounting: str, rates: Rates | None = None) -> list[float]:
    """The x value of every row of ``curve`` (a run of ``algorithm``) under ``accounting`` (``seconds``: at the
    measured ``rates`` of its panel where given)."""
    if accounting not in ACCOUNTINGS:
        raise ValueError(f"accounting={accounting!r}: allowed values are {ACCOUNTINGS}")
    if accounting == "seconds":
        return training_seconds(curve, None if rates is None else rates[algorithm])
    cls = ALGORITHMS[algorithm]
    factor = {"samples": 1, "updates": cls.UPDATES_PER_STEP, "gradients": cls.GRADIENTS_PER_POINT}[accounting]
    return [float(r["samples"]) * factor for r in curve]


def value_at(run: tuple[str, list[dict]], column: str, accounting: str, x: float, rates: Rates | None = None) -> float:
    """``column`` of run = (algorithm, rows) at ``x`` on the ``accounting`` axis (``rates``: as for ``x_axis``),
    interpolated between its evaluations as ``compare`` does; NaN outside them."""
    return interpolate(x_axis(run[1], run[0], accounting, rates), [r[column] for r in run[1]], x)


def compare(a: tuple[str, list[dict]], b: tuple[str, list[dict]], column: str, accounting: str,
            rates: Rates | None = None) -> dict:
    """Curve a = (algorithm, rows) against curve b on the ``accounting`` axis (``rates``: as for ``x_axis``), for
    ``column``: at a's points inside b's range, how many have a above b (``ahead`` of ``compared``), and both
    values at the largest x both reached (``x_end``, ``a_end``, ``b_end``)."""
    return {"accounting": accounting, **on_axis(x_axis(a[1], a[0], accounting, rates), [r[column] for r in a[1]],
                                                x_axis(b[1], b[0], accounting, rates), [r[column] for r in b[1]])}


def ahead_share(a: tuple[str, list[dict]], b: tuple[str, list[dict]], columns: tuple[str, ...],
                accounting: str, rates: Rates | None = None) -> tuple[int, int]:
    """``compare`` over several ``columns``: (evaluations of a where it is above b, evaluations compared), summed."""
    results = [compare(a, b, c, accounting, rates) for c in columns]
    return sum(r["ahead"] for r in results), sum(r["compared"] for r in results)
