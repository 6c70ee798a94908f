"""The scorecard's rules: how a verdict on one of the paper's claims is decided from numbers.

Each rule is a ``Rule``: its text, which the scorecard page renders, and its judge, which the scorecard calls,
read the same thresholds (the constants below), so the page cannot state one rule while the code applies
another. Every judge returns one of ``VERDICTS`` and can return each of them: ``tests/test_verdicts.py`` runs
every rule on data where its claim clearly holds, clearly fails and is mixed.

Claims about curves are judged panel by panel (``Panel``: one panel of Fig. 2 or Fig. 3, one latent size, one
data set), on the paper's own axis range, with the seeds of a run averaged at each evaluation they share and their
spread (standard deviation over seeds at the end: ``aevb.experiments.curves.seed_mean``) set against the margin
being judged. A claim that speaks of
"all experiments" holds only where every panel holds (``all_panels``).

The functions take plain numbers and curves (lists of rows, one dict per evaluation, as ``curve.csv`` holds
them); ``aevb.book.scorecard`` reads the store and calls them.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from aevb.experiments.curves import seed_mean, shared_means

HOLDS, CAVEAT, FAILS, UNTESTED = VERDICTS = ("holds", "holds with a caveat", "does not hold", "not tested")

AHEAD_SHARE = 0.9  # "faster": ahead at no fewer than this share of the evaluations on the paper's axis
BEHIND_SHARE = 0.5  # clearly not faster: ahead at fewer than this share
SPREAD_FACTOR = 2.0  # a margin is clear where it exceeds this many standard deviations over seeds
GAP_TOLERANCE = 1.0  # nats: overfitting's allowance (gap growth, or a test bound's fall from its peak)
Z_UNBIASED = 4.5  # standard errors: an unbiased estimator's worst point stays within this (over ~100 points)
VARIANCE_FACTOR = 10.0  # "very high variance": at least this many times the reparameterized gradient's
TYPICAL_SHARE = 0.8  # "typically": at no fewer than this share of the cases
COMPLEXITY_FACTOR = 2.0  # "the same computational complexity": cost per datapoint within this factor
COST_FACTOR = 2.0  # "too slow": at least this many times AEVB's training seconds per datapoint
APPD_AGREEMENT = 1.0  # nats: App. D is "good" at an N_z where its mean is this close to AIS's
CAPTION_VARIANCE = 1.0  # nats²: Fig. 2's caption, "The estimator variance was small (< 1) and omitted."
PAPER_AXES = {"Fig. 2": (1e5, 1e8), "Fig. 3": (0.0, 6e7)}  # the x-axis range each figure plots (samples)

_ORDER = {HOLDS: 0, CAVEAT: 1, FAILS: 2}  # from best to worst, for combining columns of one panel


@dataclass(frozen=True)
class Panel:
    """One panel's verdict: ``label`` ("MNIST, N_z = 3"), ``verdict``, ``number`` (the margin or value it
    rests on, as text) and ``note`` (what decided it)."""
    label: str
    verdict: str
    number: str
    note: str = ""
    value: float = math.nan  # the margin judged (nats), for the scorecard's figure
    error: float = math.nan  # what it was set against (SPREAD_FACTOR standard deviations over seeds)


@dataclass(frozen=True)
class Rule:
    """A verdict rule: ``text`` (how it decides, for the page; ``{NAME}`` placeholders are the module's
    thresholds) and ``judge`` (the function that decides)."""
    name: str
    text: str
    judge: Callable = field(repr=False)

    def describe(self) -> str:
        """The rule as the page states it, with the thresholds the code uses."""
        return self.text.format(**{k: _fmt(v) for k, v in globals().items() if k.isupper()})


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.0%}" if 0 < v < 1 else f"{v:g}"
    return v


def worst(verdicts: list[str]) -> str:
    """The worst of several verdicts on one panel (its train and test columns): not tested where none is."""
    judged = [v for v in verdicts if v in _ORDER]
    return max(judged, key=_ORDER.get) if judged else UNTESTED


def all_panels(panels: list[Panel]) -> str:
    """A claim about every panel: holds where every panel holds, does not hold where any panel does not hold,
    holds with a caveat otherwise; not tested where no panel was judged."""
    judged = [p.verdict for p in panels if p.verdict != UNTESTED]
    if not judged:
        return UNTESTED
    return HOLDS if all(v == HOLDS for v in judged) and len(judged) == len(panels) else \
        FAILS if FAILS in judged else CAVEAT


# --- curves of several seeds ---------------------------------------------------------------------------------

def _seeds(n: int) -> str:
    return "1 seed: no spread to set the margin against" if n == 1 else f"{n} seeds"


# --- orderings (Fig. 2, Fig. 3) ------------------------------------------------------------------------------

def ordering(a: list[list[dict]], b: list[list[dict]], column: str, lo: float, hi: float,
             estimator_error: float = 0.0, decider: float | None = None) -> tuple[str, float, float, str]:
    """Curve a (the seeds of AEVB) against curve b (a baseline's) on ``column`` over the evaluations both have
    in [lo, hi]: (verdict, margin at the last, spread, note). Holds where a is above b at the last by more than
    ``SPREAD_FACTOR`` times the spread over seeds and above at no fewer than ``AHEAD_SHARE`` of the evaluations;
    does not hold where a is below at the last by more than that, or above at fewer than ``BEHIND_SHARE``; with a
    caveat otherwise. Where the margin is within ``estimator_error`` (App. D's measured error), ``decider`` (the
    margin by a better estimator, AIS) decides its sign; without one, it is a caveat."""
    shared = shared_means(a, b, column, lo, hi)
    if not shared:
        return UNTESTED, math.nan, math.nan, "no shared evaluation on the paper's axis"
    diffs = [x[0] - y[0] for _, x, y in shared]
    share = sum(d > 0 for d in diffs) / len(diffs)
    margin, spread = diffs[-1], max(shared[-1][1][1], shared[-1][2][1])
    noise = SPREAD_FACTOR * spread
    note = f"ahead at {sum(d > 0 for d in diffs)} of {len(diffs)} evaluations; {_seeds(min(len(a), len(b)))}"
    if abs(margin) <= max(noise, estimator_error) and estimator_error > noise:
        if decider is None:
            return CAVEAT, margin, spread, note + f"; the margin is within App. D's error ({estimator_error:.1f} " \
                                                  "nats), not yet decided by AIS"
        note += f"; within App. D's error ({estimator_error:.1f} nats): decided by AIS ({decider:+.1f} nats)"
        return (HOLDS if decider > 0 and share >= AHEAD_SHARE else FAILS if decider < 0 else CAVEAT), margin, \
            spread, note
    if margin > noise and share >= AHEAD_SHARE:
        return HOLDS, margin, spread, note
    if margin < -noise or share < BEHIND_SHARE:
        return FAILS, margin, spread, note
    return CAVEAT, margin, spread, note


ORDERING = Rule("ordering", (
    "**AEVB ahead of a baseline**, per panel, on the paper's axis range (Fig. 2 from 10⁵ samples; Fig. 3 "
    "to 60 million), train and test each, seeds averaged at each shared evaluation: *holds* where AEVB is "
    "above at the last shared evaluation by more than {SPREAD_FACTOR} standard deviations over seeds and above "
    "at no fewer than {AHEAD_SHARE} of the evaluations; *does not hold* where it is below at the last by more "
    "than that, or above at fewer than {BEHIND_SHARE} of them; *with a caveat* otherwise. A panel takes the "
    "worse of its train and test verdicts. In Fig. 3, where the margin is within App. D's measured error (and "
    "that error exceeds the seeds' spread), AIS decides instead: *holds* where AIS puts AEVB ahead and it is above "
    "at no fewer than {AHEAD_SHARE} of the evaluations, *does not hold* where AIS puts it behind, *with a caveat* "
    "otherwise, and until AIS has measured every run of the panel at that last evaluation. A claim about all "
    "experiments holds where every panel holds and does not hold where any panel does not."), ordering)


# --- overfitting (Fig. 2, §5) --------------------------------------------------------------------------------

def gap_growth(gaps: dict[int, list[float]]) -> tuple[str, float, str]:
    """Gaps train − test at the last evaluation, by N_z, one per seed: (verdict, growth from the smallest to the
    largest N_z, note). Holds where it grows by at most ``GAP_TOLERANCE`` nats plus ``SPREAD_FACTOR`` times the
    spread over seeds; does not hold otherwise."""
    if len(gaps) < 2:
        return UNTESTED, math.nan, "fewer than two latent sizes"
    lo, hi = gaps[min(gaps)], gaps[max(gaps)]
    growth = statistics.fmean(hi) - statistics.fmean(lo)
    spread = max(statistics.stdev(g) if len(g) > 1 else 0.0 for g in (lo, hi))
    allowed = GAP_TOLERANCE + SPREAD_FACTOR * spread
    note = f"allowed {allowed:.1f} nats; {_seeds(min(len(lo), len(hi)))}"
    return (HOLDS if growth <= allowed else FAILS), growth, note


GAP_GROWTH = Rule("gap growth", (
    "**More latent variables, no more overfitting**, per data set: the train − test gap of the bound at the last "
    "evaluation, averaged over seeds; *holds* where it grows by at most {GAP_TOLERANCE} nat (plus {SPREAD_FACTOR} "
    "standard deviations over seeds) from the smallest to the largest N_z; *does not hold* otherwise."),
    gap_growth)


def peak_fall(curves: list[list[dict]], column: str = "test_bound") -> tuple[str, float, str]:
    """One run's seeds: (verdict, how far the seed-mean ``column`` ends below its peak over training, note). Holds
    where at most ``GAP_TOLERANCE`` nats plus ``SPREAD_FACTOR`` times the spread at the end; does not hold
    otherwise."""
    m = seed_mean(curves, column)
    if not m:
        return UNTESTED, math.nan, "no curve"
    peak_at = max(m, key=lambda s: m[s][0])
    last = max(m)
    fall = m[peak_at][0] - m[last][0]
    allowed = GAP_TOLERANCE + SPREAD_FACTOR * m[last][1]
    note = f"peak at {peak_at:,} samples; allowed {allowed:.1f} nats; {_seeds(len(curves))}"
    return (HOLDS if fall <= allowed else FAILS), fall, note


PEAK_FALL = Rule("peak fall", (
    "**Superfluous latent variables, no overfitting**, per data set: the N_z above the one with the best final "
    "test bound are the superfluous ones; *holds* where the test bound of each of them ends within "
    "{GAP_TOLERANCE} nat (plus {SPREAD_FACTOR} standard deviations over seeds) of its own peak over training; "
    "*does not hold* where one falls further; *not tested* where no N_z lies above the best."), peak_fall)


def small_variance(variances: list[float], unmeasured: int) -> str:
    """Fig. 2's caption: the variance (nats²) of the plotted bound over repeated evaluations with fresh noise, one
    per measured model and split (reading (a)); ``unmeasured``: how many of Fig. 2's runs have no model measured.
    Holds where every variance is below ``CAPTION_VARIANCE`` and every run is measured, does not hold where one is
    not below it, with a caveat where every one is below it but some runs are not measured; not tested without
    any."""
    if not variances:
        return UNTESTED
    if max(variances) >= CAPTION_VARIANCE:
        return FAILS
    return HOLDS if unmeasured == 0 else CAVEAT


SMALL_VARIANCE = Rule("small variance", (
    "**The estimator variance was small (< 1)**, in two readings the paper does not choose between: (a) the "
    "variance of the plotted value, the average bound (estimator B, L = 1) over the evaluated points, over repeated "
    "evaluations of one model with fresh noise: the error bar the caption says was omitted; (b) the variance of "
    "the single-sample estimate at one datapoint, averaged over the points, a stricter reading. The caption speaks "
    "of what the figure leaves out, an error bar on a plotted value, and a per-datapoint variance is the error bar "
    "of no plotted value, so reading (a) decides and (b) is stated beside it: *holds* where (a) is below "
    "{CAPTION_VARIANCE} nat² on every run of Fig. 2 (each measured on at least one seed), train and test; *does not "
    "hold* where it is not below {CAPTION_VARIANCE} on some model measured; *with a caveat* where it is below on every "
    "model measured but some of Fig. 2's runs have no model measured."), small_variance)


# --- L = 1 (§2.3) -----------------------------------------------------------------------------------------------

def one_sample(one: list[list[dict]], more: list[list[dict]]) -> tuple[str, dict[str, tuple], str]:
    """§2.3's "L ... can be set to 1 as long as the minibatch size M was large enough, e.g. M = 100": the seeds'
    curves of a run with L = 1 against the same run with more samples per datapoint, at M = 100, at the last
    evaluation both have (equal training samples): (verdict, {split: (margin L = 1 − more, spread, samples)}, note).
    A split is fine where L = 1 is above, or below by at most ``GAP_TOLERANCE`` nats plus ``SPREAD_FACTOR``
    standard deviations over seeds; holds where both splits are, does not hold where neither is, with a caveat
    otherwise; not tested without a shared evaluation."""
    out = {}
    for split in ("train", "test"):
        shared = shared_means(one, more, f"{split}_bound")
        if not shared:
            return UNTESTED, {}, "no evaluation both runs have"
        samples, (a, sa), (b, sb) = shared[-1]
        out[split] = (a - b, max(sa, sb), samples)
    fine = [margin >= -(GAP_TOLERANCE + SPREAD_FACTOR * spread) for margin, spread, _ in out.values()]
    verdict = HOLDS if all(fine) else FAILS if not any(fine) else CAVEAT
    return verdict, out, _seeds(min(len(one), len(more)))


ONE_SAMPLE = Rule("one sample", (
    "**L = 1 suffices at M = 100**: AEVB with L = 1 against the same model with more samples per datapoint (L = 10, "
    "our choice), at M = 100, seeds averaged, at the last evaluation both have (equal training samples, which "
    "favours the larger L: it evaluates the decoder ten times per datapoint), on the training and on the test bound: "
    "*holds* where L = 1 is above, or below by at most {GAP_TOLERANCE} nat plus {SPREAD_FACTOR} standard deviations "
    "over seeds, on both; *does not hold* where it is further below on both; *with a caveat* otherwise."),
    one_sample)


# --- estimators (§1, §2.2, §2.3; computed on random linear-Gaussian models) ----------------------------------

def unbiased(worst_z: float) -> str:
    """The worst standardized deviation |mean − exact| / s.e. over every datapoint and instance."""
    return HOLDS if worst_z <= Z_UNBIASED else FAILS


UNBIASED = Rule("unbiased", (
    "**Unbiased**: on random linear-Gaussian models, where the bound is known exactly, the mean of many "
    "independent estimates of every datapoint's bound; *holds* where the worst datapoint is within {Z_UNBIASED} "
    "standard errors of the exact value; *does not hold* otherwise."), unbiased)


def _at_least(ratios: list[float], factor: float) -> str:
    """Ratios, one per case: holds where every one is at least ``factor``, does not hold where one is not above 1,
    with a caveat otherwise; not tested without any."""
    if not ratios:
        return UNTESTED
    return HOLDS if min(ratios) >= factor else FAILS if min(ratios) <= 1 else CAVEAT


def much_larger(ratios: list[float]) -> str:
    """Variance ratios (the score-function gradient's over the reparameterized one's), one per instance."""
    return _at_least(ratios, VARIANCE_FACTOR)


MUCH_LARGER = Rule("much larger variance", (
    "**Very high variance**: the total variance of the naive (score-function) gradient of the bound over that of "
    "the reparameterized one (estimator B), L = 1, on each random instance; *holds* where it is at least "
    "{VARIANCE_FACTOR} times on every instance; *does not hold* where it is not larger on some instance; *with a "
    "caveat* otherwise."), much_larger)


def typically_less(share: float | None) -> str:
    """The share of cases (datapoints of the random instances) where estimator B's variance is below A's."""
    if share is None:
        return UNTESTED
    return HOLDS if share >= TYPICAL_SHARE else CAVEAT if share >= 0.5 else FAILS


def both_readings(verdicts: list[str]) -> str:
    """A claim with two readings that the paper does not choose between: holds where both hold, does not hold
    where both fail, with a caveat otherwise."""
    if UNTESTED in verdicts or not verdicts:
        return UNTESTED
    return HOLDS if set(verdicts) == {HOLDS} else FAILS if set(verdicts) == {FAILS} else CAVEAT


TYPICALLY_LESS = Rule("typically less", (
    "**Typically less variance**, L = 1, on random instances, in two readings the paper does not choose between: "
    "the variance of the estimate's value at every datapoint, and of its gradient (the encoder's) on every "
    "instance. Each *holds* where B's is lower at no fewer than {TYPICAL_SHARE} of them, *with a caveat* at half "
    "or more, *does not hold* below half; the claim holds where both readings hold, does not hold where both "
    "fail, and holds with a caveat otherwise."), typically_less)


# --- cost ----------------------------------------------------------------------------------------------------

def same_cost(ratios: list[float]) -> str:
    """Training seconds per datapoint of wake-sleep over AEVB's, one per panel."""
    if not ratios:
        return UNTESTED
    spread = max(max(r, 1 / r) for r in ratios)
    return HOLDS if spread <= COMPLEXITY_FACTOR else CAVEAT if spread <= COMPLEXITY_FACTOR ** 2 else FAILS


SAME_COST = Rule("same cost", (
    "**The same computational complexity per datapoint**: wake-sleep's training seconds per datapoint over "
    "AEVB's, for each pair of runs of Fig. 2 (one thread each); *holds* where every ratio is within a factor "
    "{COMPLEXITY_FACTOR}; *with a caveat* within its square; *does not hold* otherwise."), same_cost)


def costlier(ratios: list[float]) -> str:
    """Training seconds per datapoint of Monte Carlo EM over AEVB's, one per Fig. 3 panel."""
    return _at_least(ratios, COST_FACTOR)


COSTLIER = Rule("costlier", (
    "**Too slow**: Monte Carlo EM's training seconds per datapoint over AEVB's, in each panel of Fig. 3; *holds* "
    "where it is at least {COST_FACTOR} times in every panel; *does not hold* where it is not slower in some "
    "panel; *with a caveat* otherwise."), costlier)


def not_efficient(cost_verdict: str, margin_at_equal_time: float, spread: float = 0.0) -> str:
    """Fig. 3's caption on the full data set: the cost verdict, and AEVB − MCEM (test, nats, seeds averaged) at
    the largest training time both reached, against ``SPREAD_FACTOR`` times ``spread`` (the larger standard
    deviation over seeds of the two; 0 where each has one seed)."""
    if cost_verdict == UNTESTED or math.isnan(margin_at_equal_time):
        return UNTESTED
    behind = margin_at_equal_time > SPREAD_FACTOR * spread  # MCEM clearly behind AEVB
    if cost_verdict == HOLDS and behind:
        return HOLDS
    return FAILS if cost_verdict == FAILS and not behind else CAVEAT


NOT_EFFICIENT = Rule("not efficient", (
    "**Not efficiently applicable to the full data set**: on N_train = 50,000, *holds* where Monte Carlo "
    "EM costs at least {COST_FACTOR} times AEVB's training seconds per datapoint and is behind AEVB on the test "
    "set at the largest training time both reached, seeds averaged, by more than {SPREAD_FACTOR} standard "
    "deviations over seeds; *does not hold* where it is neither slower nor behind by that much; *with a caveat* "
    "otherwise."), not_efficient)


def same_sign(margins: list[tuple[float, float]]) -> str:
    """(margin, noise) pairs: AEVB − wake-sleep under each choice of hidden units; holds where all are clearly of
    one sign, does not hold where two are clearly of opposite signs, with a caveat otherwise."""
    if len(margins) < 2:
        return UNTESTED
    signs = {(m > n) - (m < -n) for m, n in margins}
    return HOLDS if len(signs) == 1 and 0 not in signs else FAILS if {1, -1} <= signs else CAVEAT


SAME_SIGN = Rule("same sign", (
    "**Not very sensitive to the hidden units**: AEVB − wake-sleep on the test bound at the last shared "
    "evaluation, with 100 and with 500 hidden units (MNIST, N_z = 3); *holds* where both are clearly of one "
    "sign (beyond {SPREAD_FACTOR} standard deviations over seeds); *does not hold* where they are clearly of "
    "opposite signs; *with a caveat* otherwise."), same_sign)


# --- App. D --------------------------------------------------------------------------------------------------

def good_below(gaps: dict[int, float], below: int = 5) -> str:
    """App. D − AIS (nats, mean over points) by N_z: holds where within ``APPD_AGREEMENT`` at every N_z below
    ``below``."""
    low = [abs(g) for z, g in gaps.items() if z < below]
    if not low:
        return UNTESTED
    return HOLDS if max(low) <= APPD_AGREEMENT else FAILS


GOOD_BELOW = Rule("good below 5", (
    "**Good estimates below 5 dimensions**: App. D's mean log-likelihood against annealed importance sampling's "
    "on the same test points, AEVB models with N_z from 2 to 20; *holds* where they agree within "
    "{APPD_AGREEMENT} nat at every N_z below 5; *does not hold* otherwise."), good_below)


def unreliable_above(gaps: dict[int, float], above: int = 3) -> str:
    """App. D − AIS by N_z: holds where beyond ``APPD_AGREEMENT`` at every N_z tested above ``above``, does not
    hold where within it at each of them, with a caveat where only some depart."""
    high = [abs(g) > APPD_AGREEMENT for z, g in gaps.items() if z > above]
    if not high:
        return UNTESTED
    return HOLDS if all(high) else CAVEAT if any(high) else FAILS


UNRELIABLE_ABOVE = Rule("unreliable above 3", (
    "**Unreliable in higher dimensions** (than the 3 used): *holds* where App. D departs from AIS by more than "
    "{APPD_AGREEMENT} nat at every N_z tested above 3; *with a caveat* where it departs at some of them only; "
    "*does not hold* where it departs at none."), unreliable_above)


# --- representation (§1: "... can also be used for a host of tasks such as recognition, ... representation ...") --

PROBE_MARGIN = 50  # test images (of MNIST's 10,000): the least margin between two probes' accuracies that counts;
# two standard errors of the difference of two classifiers' accuracies on the same test images where they disagree
# on about 6% of them (McNemar: √600 ≈ 25 images)
USEFUL_ACCURACY = 0.5  # "useful for recognition": at least this share of the test images right (5 times chance)


def probe_order(a: float, b: float, spread: float, n_test: int) -> int:
    """+1 where accuracy a is clearly above b, −1 clearly below, 0 within the noise: the larger of
    ``SPREAD_FACTOR`` standard deviations of a − b over subset seeds and ``PROBE_MARGIN`` test images."""
    noise = max(SPREAD_FACTOR * spread, PROBE_MARGIN / n_test)
    return (a - b > noise) - (b - a > noise)


def represents(vs_pca: list[tuple[str, float, float, float]], vs_pixels: list[tuple[str, float, int, float, float]],
               n_test: int = 10_000) -> tuple[str, str]:
    """A linear probe's test accuracy on the encoder's means against PCA of as many components, one entry per
    setting (label, encoder, PCA, spread: the standard deviation of encoder − PCA over the labelled subsets, both
    fitted on the same ones), and the best encoder against raw pixels, one entry per label count (label, best
    encoder, its N_z, pixels, spread of their difference): (verdict, note naming the settings that
    decided it). Holds where the encoder is clearly ahead of PCA at every setting, reaches ``USEFUL_ACCURACY``
    at every one and its best is not clearly behind raw pixels at any label count; does not hold where it is
    clearly ahead of PCA at fewer than ``BEHIND_SHARE`` of the settings or useful at none; with a caveat
    otherwise."""
    if not vs_pca:
        return UNTESTED, "no setting with both the encoder's and PCA's probes"
    ahead = [s for s, a, b, sd in vs_pca if probe_order(a, b, sd, n_test) > 0]
    behind = [s for s, a, b, sd in vs_pca if probe_order(a, b, sd, n_test) < 0]
    weak = [s for s, a, _, _ in vs_pca if a < USEFUL_ACCURACY]
    pixels = [f"{s} (best N_z = {z})" for s, a, z, p, sd in vs_pixels if probe_order(a, p, sd, n_test) < 0]
    parts = [f"ahead of PCA at {len(ahead)} of {len(vs_pca)} settings"]
    parts += [f"behind PCA at {'; '.join(behind)}"] if behind else []
    parts += [f"below {USEFUL_ACCURACY:.0%} at {'; '.join(weak)}"] if weak else []
    parts += [f"behind raw pixels at {'; '.join(pixels)}"] if pixels else []
    note = "; ".join(parts)
    if len(ahead) < BEHIND_SHARE * len(vs_pca) or len(weak) == len(vs_pca):
        return FAILS, note
    if len(ahead) == len(vs_pca) and not weak and not pixels:
        return HOLDS, note
    return CAVEAT, note


REPRESENTS = Rule("represents", (
    "**Usable for recognition and representation**: a linear classifier (multinomial logistic regression, its "
    "L2 penalty chosen by cross-validation on the labelled images only) on the encoder's means μ(x) of Fig. 5's "
    "MNIST models (N_z = 2, 5, 10, 20), against the same classifier on PCA with as many components and on raw "
    "pixels, trained with 100, 1,000 and all training labels, test accuracy on all 10,000 test images, means over "
    "the labelled subsets drawn. A margin counts where it exceeds both {SPREAD_FACTOR} standard deviations of the "
    "difference over those subsets (both classifiers are fitted on the same ones) and {PROBE_MARGIN} test images. "
    "*Holds* where the encoder is ahead of PCA at every N_z and label count, "
    "classifies at least {USEFUL_ACCURACY} of the test images right at each, and its best N_z is behind raw "
    "pixels at no label count; *does not hold* where it is ahead of PCA at fewer than {BEHIND_SHARE} of the "
    "settings, or reaches {USEFUL_ACCURACY} at none; *with a caveat* otherwise (the note says where)."),
    represents)


# --- streaming (§2: "Note that our method can be applied to online, non-stationary settings, e.g. streaming data") --

def _beyond(value: float, spread: float) -> bool:
    """Whether a difference in the bound (nats) counts: beyond ``GAP_TOLERANCE`` plus ``SPREAD_FACTOR`` standard
    deviations over seeds (the book's least difference in a bound, as for overfitting)."""
    return value > GAP_TOLERANCE + SPREAD_FACTOR * spread


def _stream_reading(numbers: dict) -> tuple[list[int], list[int], bool, float]:
    """One setting's numbers of ``aevb.experiments.streaming.summary``: (phases not learned while current: behind
    the shuffled model at their end, phases forgotten by the stream's end, whether the final model is behind the
    shuffled one, the largest forgetting in nats)."""
    unlearned = [k for k, (gap, sd) in enumerate(numbers["current_gap"]) if _beyond(-gap, sd)]
    forgotten = [k for k, (drop, sd) in enumerate(numbers["forgetting"]) if _beyond(drop, sd)]
    behind = _beyond(-numbers["final_gap"][0], numbers["final_gap"][1])
    return unlearned, forgotten, behind, max((d for d, _ in numbers["forgetting"]), default=0.0)


def _phases(ks: list[int], names: list[str]) -> str:
    return ", ".join(names[k] if k < len(names) else str(k + 1) for k in ks)


def _fallen(setting: str, forgotten: list[int], drop: float, names: list[str], numbers: dict, behind: bool) -> str:
    """A setting's forgetting and final bound, in words for the note."""
    return (f"{setting}: {'phases ' + _phases(forgotten, names) if forgotten else 'no phase'} forgotten (largest "
            f"fall {drop:.1f} nats), final bound {numbers['final_gap'][0]:+.1f} nats from the shuffled model's"
            + (" (behind)" if behind else ""))


def online(summary: dict) -> tuple[str, float, str]:
    """Chapter 13's streaming measurement (``aevb.experiments.streaming.summary``): (verdict, the strict stream's
    largest forgetting in nats, note). Per stream length: *does not hold* where some phase's test bound at the end
    of its phase is behind the shuffled model's at that position by more than ``GAP_TOLERANCE`` plus
    ``SPREAD_FACTOR`` standard deviations over seeds (a phase not learned while current); *holds* where every phase
    is learned, none is forgotten by more than that from the end of its phase to the end of the stream, and the
    final whole-test bound is not behind the shuffled model's by more than that; *with a caveat* otherwise, the
    note saying what is forgotten and whether replay or the larger step size removes it. The claim takes the worse
    verdict of the stream lengths."""
    streams, names = summary.get("streams", {}), summary.get("phases", [])
    if not streams or not all("stream" in s and "shuffled" in s for s in streams.values()):
        return UNTESTED, math.nan, "no stream with its shuffled baseline measured"
    verdicts, notes = [], []
    for passes, settings in sorted(streams.items()):
        unlearned, forgotten, behind, drop = _stream_reading(settings["stream"])
        what = f"{passes} pass{'es' if passes > 1 else ''} per phase: "
        if unlearned:
            verdicts.append(FAILS)
            notes.append(what + f"phases {_phases(unlearned, names)} not learned while current")
            continue
        said = ["each phase learned while current", _fallen("stream", forgotten, drop, names, settings["stream"],
                                                            behind)]
        for other in ("replay", "large-step"):
            if other in settings:
                _, f, b, d = _stream_reading(settings[other])
                said.append(_fallen(other, f, d, names, settings[other], b))
        verdicts.append(HOLDS if not forgotten and not behind else CAVEAT)
        notes.append(what + "; ".join(said))
    strict = streams[min(streams)]["stream"]["forgetting"]
    return worst(verdicts), max((d for d, _ in strict), default=0.0), ". ".join(notes)


ONLINE = Rule("online", (
    "**Online, on a non-stationary stream**: Algorithm 1 on MNIST's training digits arriving in five phases of two "
    "classes each (each image seen once, and in a longer stream ten times per phase), against the same model "
    "trained by the same steps on the shuffled whole, three seeds. A difference in the test bound counts where it "
    "exceeds {GAP_TOLERANCE} nat plus {SPREAD_FACTOR} standard deviations over seeds. *Does not hold* where some "
    "phase's bound on its own test digits, at the end of its phase, is behind the shuffled model's there; *holds* "
    "where every phase is learned so, no phase's bound falls from the end of its phase to the end of the stream, "
    "and the final bound on the whole test set is not behind the shuffled model's; *with a caveat* otherwise (the "
    "note says what is forgotten, and what a small replay buffer and a larger step size change). The claim takes "
    "the worse verdict of the two stream lengths."), online)


# --- inpainting, denoising, super-resolution (§2.1; chapter 13) ----------------------------------------------

FILL_SE = 2.0  # standard errors (the two methods' combined): a margin over a baseline is clear beyond this many
FILL_LOST_SHARE = 0.5  # does not hold where a simple baseline is as good or better on more than this share of tasks


def fills_better(comparisons: list[dict]) -> tuple[str, str]:
    """Metropolis-within-Gibbs with the VAE as the prior against each simple baseline, one dict per task, baseline
    and metric (``aevb.experiments.inpainting.comparisons``: ``margin``, its advantage, and ``noise``, the combined
    standard error over the images). A task is won where every margin is clear (beyond ``FILL_SE`` times its
    noise), lost where some baseline is as good or better (no clear margin) on every metric; (verdict, note)."""
    if not comparisons:
        return UNTESTED, "not measured"
    tasks = list(dict.fromkeys(c["task"] for c in comparisons))
    unclear = [c for c in comparisons if not c["margin"] > FILL_SE * c["noise"]]
    lost = []
    for task in tasks:
        mine = [c for c in unclear if c["task"] == task]
        metrics = {c["metric"] for c in comparisons if c["task"] == task}
        if any({c["metric"] for c in mine if c["baseline"] == b} == metrics for b in {c["baseline"] for c in mine}):
            lost.append(task)
    beaten = sorted({f"{c['baseline']} on {c['task']} ({c['metric']})" for c in unclear})
    note = f"ahead of every baseline on {len(tasks) - len({c['task'] for c in unclear})} of {len(tasks)} tasks" + \
        (f"; not clearly ahead of: {', '.join(beaten)}" if beaten else "")
    if not unclear:
        return HOLDS, note
    return (FAILS if len(lost) > FILL_LOST_SHARE * len(tasks) else CAVEAT), note


FILLS_BETTER = Rule("fills better", (
    "**Denoising, inpainting and super-resolution**: with the trained model as the prior over x, the hidden "
    "pixels of test images filled by Metropolis-within-Gibbs (the predictive mean), against the simple baselines "
    "(the mean training image, the nearest training image on the seen pixels, the k nearest ones' mean, and for "
    "denoising the noisy image itself), by the log-likelihood and the error of the hidden pixels; *holds* where "
    "it is ahead of every baseline on every task and both metrics by more than {FILL_SE} standard errors (the two "
    "methods' standard errors over the images combined as if independent: conservative, the images being the "
    "same); *does "
    "not hold* where some baseline is as good or better (no clear margin) on both metrics on more than "
    "{FILL_LOST_SHARE} of the tasks; *with a caveat* otherwise (the note names the baselines not beaten)."),
    fills_better)


# --- §1's host of tasks (chapter 13): recognition and representation, denoising --------------------------------

def host_of_tasks(verdicts: dict[str, str]) -> str:
    """§1's list of tasks, each judged by its own rule ({task: verdict}): the worst verdict of the tasks judged
    (a task that fails makes the list fail); not tested where none is."""
    return worst(list(verdicts.values()))


HOST_OF_TASKS = Rule("host of tasks", (
    "**A host of tasks**: recognition and representation are judged by the *represents* rule, denoising by the "
    "*fills better* rule on the denoising tasks alone (the noisy test images); the claim takes the worse of the "
    "two. Visualization is Fig. 4's latent manifold (chapter 10), shown but not judged."), host_of_tasks)


# every rule, for the scorecard page and tests/test_verdicts.py
RULES = (ORDERING, GAP_GROWTH, PEAK_FALL, UNBIASED, MUCH_LARGER, TYPICALLY_LESS, SAME_COST, COSTLIER, NOT_EFFICIENT,
         SAME_SIGN, GOOD_BELOW, UNRELIABLE_ABOVE, REPRESENTS, ONLINE, FILLS_BETTER, HOST_OF_TASKS, SMALL_VARIANCE,
         ONE_SAMPLE)
