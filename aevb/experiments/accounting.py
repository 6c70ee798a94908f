"""Fig. 3's x-axis: how the training of each algorithm is counted, and who is ahead under each count.

The paper plots the estimated marginal likelihood against "training samples evaluated" and does not say how
a Monte Carlo EM step is counted: its E-step runs 10 leapfrog steps per datapoint and its M-step makes 5 weight
updates on the same minibatch. Our store counts M samples per minibatch for every algorithm (``samples``). The
other reasonable accountings (``ACCOUNTINGS``) rescale a curve's x by the learner's cost per minibatch step
(``UPDATES_PER_STEP``, ``GRADIENTS_PER_POINT`` of ``aevb.learners``), or use training wall time:

- ``samples``: M per minibatch step (the store's x-axis);
- ``updates``: M per weight update (MCEM: 5 M per step);
- ``gradients``: M per gradient evaluation through the model (AEVB 1, wake-sleep 2, MCEM 16 per datapoint);
- ``seconds``: training seconds (evaluation excluded), on the machine the run was trained on.

``compare`` puts two curves on one such axis (``aevb.experiments.curves.on_axis``: the second is interpolated,
linear in log x, at the first's points where both are defined, and at the largest x both reached);
``ahead_share`` sums its counts over columns (e.g. the training and the test points).
"""
from __future__ import annotations

from aevb.experiments.curves import on_axis
from aevb.learners import ALGORITHMS

ACCOUNTINGS = ("samples", "updates", "gradients", "seconds")


def x_axis(curve: list[dict], algorithm: str, accounting: str) -> list[float]:
    """The x value of every row of ``curve`` (a run of ``algorithm``) under ``accounting``."""
    if accounting not in ACCOUNTINGS:
        raise ValueError(f"accounting={accounting!r}: allowed values are {ACCOUNTINGS}")
    if accounting == "seconds":
        return [float(r["seconds"]) for r in curve]
    cls = ALGORITHMS[algorithm]
    factor = {"samples": 1, "updates": cls.UPDATES_PER_STEP, "gradients": cls.GRADIENTS_PER_POINT}[accounting]
    return [float(r["samples"]) * factor for r in curve]


def compare(a: tuple[str, list[dict]], b: tuple[str, list[dict]], column: str, accounting: str) -> dict:
    """Curve a = (algorithm, rows) against curve b on the ``accounting`` axis, for ``column``: at a's points
    inside b's range, how many have a above b (``ahead`` of ``compared``), and both values at the largest x both
    reached (``x_end``, ``a_end``, ``b_end``)."""
    return {"accounting": accounting, **on_axis(x_axis(a[1], a[0], accounting), [r[column] for r in a[1]],
                                                x_axis(b[1], b[0], accounting), [r[column] for r in b[1]])}


def ahead_share(a: tuple[str, list[dict]], b: tuple[str, list[dict]], columns: tuple[str, ...],
                accounting: str) -> tuple[int, int]:
    """``compare`` over several ``columns``: (evaluations of a where it is above b, evaluations compared), summed."""
    results = [compare(a, b, c, accounting) for c in columns]
    return sum(r["ahead"] for r in results), sum(r["compared"] for r in results)
