"""Does the paper reproduce? The scorecard at the front of the book: one row per empirical sentence of the paper
(``aevb.book.claims.SENTENCES``, quoted exactly), the readings of Fig. 3 that are ours (``READINGS``), and,
apart, the book's own demonstrations (``DEMONSTRATIONS``); each with a verdict, the number it rests on and, per
panel, the verdict of every panel, computed when the book is built.

The verdicts come from the rules of ``aevb.book.verdicts`` (whose text the page prints), applied to:
- the results store (``aevb.experiments.store.figure_runs``): Fig. 2's and Fig. 3's runs with every stored seed
  (``SEEDS``), and the measurements of ``results/studies/`` (``aevb.experiments.measurements``);
- for the estimator claims of §1, §2.2 and §2.3, random linear-Gaussian models whose bound is known exactly
  (``estimator_evidence``, a few seconds).
A claim whose evidence is not in the store is "not tested", and its row says what would test it.
"""
from __future__ import annotations

import html
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from aevb.book.claims import CLAIMS, DEMONSTRATIONS, READINGS, SENTENCES, Claim
from aevb.book.figures import seed_curves
from aevb.book.verdicts import (
    APPD_AGREEMENT,
    CAVEAT,
    COSTLIER,
    FAILS,
    FILLS_BETTER,
    GAP_GROWTH,
    GOOD_BELOW,
    HOLDS,
    HOST_OF_TASKS,
    MUCH_LARGER,
    NOT_EFFICIENT,
    ONE_SAMPLE,
    ONLINE,
    ORDERING,
    PAPER_AXES,
    PEAK_FALL,
    RULES,
    SAME_COST,
    SAME_SIGN,
    SMALL_VARIANCE,
    SPREAD_FACTOR,
    TYPICALLY_LESS,
    UNBIASED,
    UNRELIABLE_ABOVE,
    UNTESTED,
    VERDICTS,
    Panel,
    Rule,
    all_panels,
    both_readings,
    costlier,
    fills_better,
    gap_growth,
    good_below,
    host_of_tasks,
    much_larger,
    not_efficient,
    one_sample,
    online,
    ordering,
    peak_fall,
    represents,
    same_cost,
    same_sign,
    small_variance,
    typically_less,
    unbiased,
    unreliable_above,
    worst,
)
from aevb.classifier import ClassifierSettings, class_coverage, fit_classifier, predict
from aevb.data import load_mnist
from aevb.estimators import gradient_variance, sgvb_a, sgvb_b
from aevb.experiments import inpainting, representation, streaming
from aevb.experiments.accounting import Rates, seconds_per_sample, seconds_ratio, value_at, x_axis
from aevb.experiments.curves import shared_means
from aevb.experiments.grids import APPE_BUDGET, SEEDS
from aevb.experiments.images import load_images
from aevb.experiments.measurements import (COST_BASIS, FIG2_COST_BASIS, FIG3_AIS_POINTS, cost_rates,
                                           read_measurement, run_rates)
from aevb.experiments.store import RESULTS_DIR, StoredRun, figure_runs
from aevb.linear_gaussian import LinearEncoder, LinearGaussian
from aevb.rng import seeded

PAPER_MINUTES = (20, 40)  # Fig. 2's caption: "20-40 minutes per million training samples" on the authors' CPU
TRAINABLE_RISE = 10.0  # nats: full VB (a demonstration) "trains" where its training bound rose by more than this
# estimator_evidence: random linear-Gaussian instances (chapter 2's model), datapoints and draws
ESTIMATOR_INSTANCES, ESTIMATOR_POINTS, ESTIMATOR_DRAWS, GRADIENT_DRAWS = 5, 20, 2000, 200
NAMES = {"mnist": "MNIST", "frey": "Frey Face"}
ALGORITHM_NAMES = {"aevb": "AEVB", "wake-sleep": "wake-sleep"}


@dataclass(frozen=True)
class Row:
    """One claim's verdict: ``number`` (ours, as text), ``why`` (what it rests on, or why it is not tested),
    ``panels`` (the verdict of every panel), ``rule`` (the rule that decided it)."""
    claim: Claim
    verdict: str
    number: str = "–"
    why: str = ""
    panels: tuple[Panel, ...] = ()
    rule: Rule | None = None


def _untested(key: str, why: str) -> Row:
    return Row(CLAIMS[key], UNTESTED, why=why)


# --- the store, by panel ---------------------------------------------------------------------------------------

def _fig2(results_dir: Path) -> dict:
    return seed_curves(figure_runs(2, results_dir, seeds=SEEDS), lambda c: (c.dataset, c.n_z))


def _fig3(results_dir: Path) -> dict:
    return seed_curves(figure_runs(3, results_dir, seeds=SEEDS), lambda c: c.n_train)


def _reached(curves: list[list[dict]]) -> int:
    return int(min(c[-1]["samples"] for c in curves))


def _margin(value: float, spread: float, seeds: int) -> str:
    """A margin in nats as the card shows it: "± sd over seeds" where a run compared has more than one seed,
    none where every run has one (a single seed has no spread to show; 0.0 would claim one)."""
    return f"{value:+.1f} ± {spread:.1f}" if seeds > 1 else f"{value:+.1f}"


def _ordering_panel(label: str, a, b, columns: tuple[str, ...], axis: tuple[float, float],
                    errors: dict | None = None, deciders: dict | None = None) -> Panel:
    """One panel of an ordering: the worse of its columns' verdicts (``aevb.book.verdicts.ordering``), each column
    with the estimator's error and the deciding margin of ``errors`` and ``deciders`` (by column) where given."""
    errors, deciders = errors or {}, deciders or {}
    results = {c: ordering(a, b, c, *axis, estimator_error=errors.get(c, 0.0), decider=deciders.get(c))
               for c in columns}
    verdict = worst([r[0] for r in results.values()])
    seeds = max(len(a), len(b))
    number = ", ".join(f"{c.split('_')[0]} {_margin(r[1], r[2], seeds)}" for c, r in results.items()
                       if not math.isnan(r[1]))
    reached = min(_reached(a), _reached(b))
    notes = "; ".join(dict.fromkeys(r[3] for r in results.values()))
    test = results[columns[-1]]  # the test column: what the figure plots
    return Panel(label, verdict, f"{number} nats at {reached:,} samples" if number else "–", notes, test[1],
                 SPREAD_FACTOR * test[2])


def _panels_row(key: str, panels: list[Panel], rule: Rule, why: str = "") -> Row:
    if not panels:
        return Row(CLAIMS[key], UNTESTED, why=why or "no runs of the book to compare", rule=rule)
    verdict = all_panels(panels)
    counts = ", ".join(f"{sum(p.verdict == v for p in panels)} {v}" for v in VERDICTS
                       if any(p.verdict == v for p in panels))
    return Row(CLAIMS[key], verdict, f"{len(panels)} panel{'s' * (len(panels) != 1)}: {counts}", why, tuple(panels),
               rule)


def fig2_ordering_row(results_dir: Path) -> Row:
    """Fig. 2's caption: "Our method converged considerably faster and reached a better solution in all
    experiments." AEVB against wake-sleep in every panel, train and test bound."""
    panels = [_ordering_panel(f"{NAMES[d]}, N_z = {z}", by["aevb"], by["wake-sleep"], ("train_bound", "test_bound"),
                              PAPER_AXES["Fig. 2"])
              for (d, z), by in sorted(_fig2(results_dir).items()) if "aevb" in by and "wake-sleep" in by]
    return _panels_row("fig2-ordering", panels, ORDERING,
                       "AEVB − wake-sleep (mean ± sd over seeds) at the last shared evaluation on the paper's axis; "
                       "the paper trained to 10⁸ samples")


def _final(curve: list[dict], column: str) -> float:
    return curve[-1][column]


def fig2_overfitting_row(results_dir: Path) -> Row:
    """Fig. 2's caption: "more latent variables does not result in more overfitting": the train − test gap of
    AEVB's bound at the end, by N_z, per data set."""
    by = _fig2(results_dir)
    panels = []
    for dataset in NAMES:
        gaps = {z: [_final(c, "train_bound") - _final(c, "test_bound") for c in algs["aevb"]]
                for (d, z), algs in by.items() if d == dataset and "aevb" in algs}
        if len(gaps) < 2:
            continue
        verdict, growth, note = gap_growth(gaps)
        detail = ", ".join(f"N_z = {z}: {statistics.fmean(g):.1f}" for z, g in sorted(gaps.items()))
        panels.append(Panel(NAMES[dataset], verdict, f"gap grows by {growth:+.1f} nats ({detail})", note))
    return _panels_row("fig2-overfitting", panels, GAP_GROWTH, "AEVB's train − test bound at the last evaluation")


def superfluous_row(results_dir: Path) -> Row:
    """§5: "superfluous latent variables did not result in overfitting": the N_z above the best one, per data set:
    does their test bound fall from its peak?"""
    by = _fig2(results_dir)
    panels, notes = [], []
    for dataset in NAMES:
        runs = {z: algs["aevb"] for (d, z), algs in by.items() if d == dataset and "aevb" in algs}
        if not runs:
            continue
        best = max(runs, key=lambda z: statistics.fmean(_final(c, "test_bound") for c in runs[z]))
        above = sorted(z for z in runs if z > best)
        if not above:
            notes.append(f"{NAMES[dataset]}: the largest N_z ({best}) has the best test bound, so none is "
                         f"superfluous")
        for z in above:
            verdict, fall, note = peak_fall(runs[z])
            panels.append(Panel(f"{NAMES[dataset]}, N_z = {z} (best: {best})", verdict,
                                f"test bound ends {fall:.1f} nats below its peak", note))
    return _panels_row("superfluous", panels, PEAK_FALL, "; ".join(notes))


def hidden_units_row(results_dir: Path) -> Row:
    """§5: "the relative performance of different algorithms was not very sensitive to these choices": AEVB −
    wake-sleep on MNIST, N_z = 3, with 500 hidden units (Fig. 2) and 100 (Fig. 3's full training set)."""
    fig2 = _fig2(results_dir).get(("mnist", 3), {})
    fig3 = _fig3(results_dir).get(50_000, {})
    pairs = [(label, by) for label, by in (("500 hidden units (Fig. 2)", fig2),
                                           ("100 hidden units (Fig. 3, N_train = 50,000)", fig3))
             if "aevb" in by and "wake-sleep" in by]
    hi = min((_reached(c) for _, by in pairs for c in by.values()), default=0)  # the same budget for both sizes
    panels, margins = [], []
    for label, by in pairs:
        verdict, margin, spread, note = ordering(by["aevb"], by["wake-sleep"], "test_bound", PAPER_AXES["Fig. 2"][0],
                                                 hi)
        margins.append((margin, SPREAD_FACTOR * spread))
        seeds = max(len(by["aevb"]), len(by["wake-sleep"]))
        panels.append(Panel(label, verdict, f"AEVB − wake-sleep {_margin(margin, spread, seeds)} nats (test bound)",
                            note))
    if len(margins) < 2:
        return Row(CLAIMS["hidden-units"], UNTESTED, why="needs runs with both hidden sizes", rule=SAME_SIGN)
    return Row(CLAIMS["hidden-units"], same_sign(margins), "; ".join(p.number for p in panels),
               f"the test bound at {hi:,} samples, the largest budget both sizes reached",
               tuple(panels), SAME_SIGN)


def _fig2_seconds(runs: list[StoredRun], results_dir: Path) -> tuple[dict[str, float], str]:
    """Training seconds per sample of Fig. 2's ``runs``, by run name, and what they are, in words: measured
    (``fig2-cost``) where the store has every one of them, else all as the runs recorded them (never some measured,
    some recorded: CPU time set against wall time)."""
    measured = run_rates("fig2-cost", results_dir) or {}
    if all(r.name in measured for r in runs):
        return {r.name: measured[r.name] for r in runs}, FIG2_COST_BASIS
    return {r.name: seconds_per_sample(r.curve) for r in runs}, (
        "the seconds the runs recorded, wall time on this machine, one thread each (a run paused or sharing its core "
        "records more than its cost; python -m aevb measure fig2-cost measures it)")


def ws_complexity_row(results_dir: Path) -> Row:
    """§4: "Wake-Sleep has the same computational complexity as AEVB per datapoint.": training seconds per
    datapoint of Fig. 2's seed-0 runs: measured (``fig2-cost``) where the store has it, else as recorded."""
    by = {(r.config.dataset, r.config.n_z, r.config.algorithm): r for r in figure_runs(2, results_dir) if r.curve}
    pairs = {(d, z): (by[(d, z, "wake-sleep")], by[(d, z, "aevb")]) for d, z, a in sorted(by)
             if a == "aevb" and (d, z, "wake-sleep") in by}
    seconds, basis = _fig2_seconds([r for pair in pairs.values() for r in pair], results_dir)
    ratios = {k: seconds[w.name] / seconds[a.name] for k, (w, a) in pairs.items()}
    if not ratios:
        return Row(CLAIMS["ws-complexity"], UNTESTED, why="no pair of runs to compare", rule=SAME_COST)
    panels = tuple(Panel(f"{NAMES[d]}, N_z = {z}", same_cost([r]), f"{r:.2f}×") for (d, z), r in ratios.items())
    return Row(CLAIMS["ws-complexity"], same_cost(list(ratios.values())), f"wake-sleep / AEVB seconds per "
               f"datapoint: {min(ratios.values()):.2f}× to {max(ratios.values()):.2f}×",
               f"Fig. 2's seed-0 runs, both by the fused step; {basis}", panels, SAME_COST)


def _mcem_ratio(by: dict, rates: Rates | None) -> float:
    """MCEM's training seconds per datapoint over AEVB's in one Fig. 3 panel (seed 0 of each): at the panel's
    measured ``rates`` where given, else as the runs recorded them."""
    return seconds_ratio(("mcem", by["mcem"][0]), ("aevb", by["aevb"][0]), rates)


def sampling_slow_row(results_dir: Path) -> Row:
    """§2.1: "Sampling-based solutions, e.g. Monte Carlo EM, would in general be too slow": MCEM's training
    seconds per datapoint against AEVB's, per Fig. 3 panel: measured (``fig3-cost``) where the store has it, else
    the runs' recorded seconds."""
    measured = cost_rates(results_dir) or {}
    ratios = {n: (_mcem_ratio(by, measured.get(n)), len(by["aevb"]), measured.get(n))
              for n, by in sorted(_fig3(results_dir).items()) if "aevb" in by and "mcem" in by}
    if not ratios:
        return Row(CLAIMS["sampling-slow"], UNTESTED, why="no MCEM and AEVB runs to compare", rule=COSTLIER)
    panels = tuple(Panel(f"N_train = {n:,}", costlier([r]), f"{r:.1f}×",
                         f"MCEM {rates['mcem'] * 1e6:.0f}, AEVB {rates['aevb'] * 1e6:.0f} seconds per million "
                         f"samples" if rates else
                         f"AEVB's seconds are those of its {k} seeds trained together" if k > 1 else "")
                   for n, (r, k, rates) in ratios.items())
    recorded = [n for n, (_, _, rates) in ratios.items() if rates is None]
    why = (f"seconds per training sample, {COST_BASIS}" if not recorded else
           "where AEVB's seeds trained together, their shared seconds are counted for each, so the ratio "
           "understates MCEM's cost" + (f"; measured ({COST_BASIS}) for the other panels" if measured else ""))
    return Row(CLAIMS["sampling-slow"], costlier([r for r, _, _ in ratios.values()]), "MCEM / AEVB training seconds "
               "per datapoint: " + ", ".join(f"{p.label}: {p.number}" for p in panels), why, panels, COSTLIER)


def mcem_full_set_row(results_dir: Path) -> Row:
    """Fig. 3's caption: MCEM "can't be applied efficiently for the full MNIST dataset": its cost per datapoint,
    and who is ahead on the test set at equal training time, on N_train = 50,000: seconds measured
    (``fig3-cost``) where the store has them, else as the runs recorded them."""
    by = _fig3(results_dir).get(50_000, {})
    if "aevb" not in by or "mcem" not in by:
        return Row(CLAIMS["mcem-full-set"], UNTESTED, why="no full-set MCEM and AEVB runs to compare",
                   rule=NOT_EFFICIENT)
    rates = (cost_rates(results_dir) or {}).get(50_000)
    ratio = _mcem_ratio(by, rates)
    aevb, mcem = by["aevb"], by["mcem"]
    # every seed of each, at the largest training time all of them reached
    x_end = min(x_axis(c, alg, "seconds", rates)[-1] for alg, cs in (("aevb", aevb), ("mcem", mcem)) for c in cs)
    a_ends, b_ends = ([value_at((alg, c), "test_marginal", "seconds", x_end, rates) for c in cs]
                      for alg, cs in (("aevb", aevb), ("mcem", mcem)))
    margin = statistics.fmean(a_ends) - statistics.fmean(b_ends)
    spread = max(statistics.stdev(e) if len(e) > 1 else 0.0 for e in (a_ends, b_ends))
    seeds = f"{len(aevb)} seed{'s' * (len(aevb) > 1)} of AEVB, {len(mcem)} of MCEM"
    return Row(CLAIMS["mcem-full-set"], not_efficient(costlier([ratio]), margin, spread),
               f"{ratio:.1f}× AEVB's seconds per datapoint; AEVB {_margin(margin, spread, max(len(aevb), len(mcem)))} "
               f"nats (test, App. D) at {x_end:,.0f} training seconds",
               f"{seeds}, averaged; " + (f"training seconds = samples × the cost per sample, {COST_BASIS}" if rates
                                         else "wall-clock training seconds on this machine"),
               rule=NOT_EFFICIENT)


def appd_errors(results_dir: Path) -> dict[str, float]:
    """|App. D − AIS| (nats) on each Fig. 3 model's first test points, by run name (the ``appd-repeats``
    measurement of the seed-0 models): App. D's measured error where ``fig3-ais`` has not measured a run."""
    return {r["run"]: abs(r["appd_subset"] - r["ais_subset"])
            for r in read_measurement("appd-repeats", results_dir) or []}


def fig3_ais(results_dir: Path, runs: list[StoredRun]) -> dict:
    """The ``fig3-ais`` rows of the stored Fig. 3 runs measured at the samples their curve ends at: {(run, split):
    row} (a row measured on an earlier checkpoint than the curve's end is left out)."""
    ends = {r.name: int(r.curve[-1]["samples"]) for r in runs if r.curve}
    return {(m["run"], m["split"]): m for m in read_measurement("fig3-ais", results_dir) or []
            if ends.get(m["run"]) == int(m["samples"])}


def _fig3_column_evidence(names_a: list[str], names_b: list[str], measured: dict, fallback: dict, split: str,
                          at: int):
    """For one Fig. 3 column compared at ``at`` samples (the last evaluation both algorithms share): (App. D's
    error, the AIS margin AEVB − baseline or None): the error the largest |App. D − AIS| of the runs of both
    algorithms, as ``fig3-ais`` measured them, and for a run it has not measured (yet), as ``appd-repeats``
    measured the seed-0 models (so a partial measurement never makes the error smaller than what is known of the
    unmeasured runs); the margin the difference of the seed means of AIS where every run of both is measured at
    ``at`` (not where one ends later: a model trained further is not the one compared)."""
    rows = [measured.get((n, split)) for n in names_a + names_b]
    errors = [abs(r["appd"] - r["ais"]) for r in rows if r is not None]
    # appd-repeats measured test points only: taken for the training points too (the cautious choice)
    errors += [fallback[n] for n, r in zip(names_a + names_b, rows) if r is None and n in fallback]
    if any(r is None or int(r["samples"]) != at for r in rows):
        return max(errors, default=0.0), None
    mean = lambda names: statistics.fmean(measured[(n, split)]["ais"] for n in names)  # noqa: E731
    return max(errors), mean(names_a) - mean(names_b)


def fig3_reading_rows(results_dir: Path) -> list[Row]:
    """The readings of Fig. 3: AEVB against wake-sleep (both panels) and against MCEM (each panel), on the
    estimated marginal likelihood (App. D), train and test, on the paper's axis (to 6e7 samples); a margin inside
    App. D's measured error is decided by AIS where ``fig3-ais`` has measured every run of the panel at the
    evaluation compared."""
    runs = figure_runs(3, results_dir, seeds=SEEDS)
    measured, fallback = fig3_ais(results_dir, runs), appd_errors(results_dir)
    names = {}
    for r in runs:
        if r.curve:
            names.setdefault((r.config.n_train, r.config.algorithm), []).append(r.name)
    fig3 = _fig3(results_dir)

    def panel(n, by, baseline):
        errors, deciders = {}, {}
        for split in ("train", "test"):
            shared = shared_means(by["aevb"], by[baseline], f"{split}_marginal", *PAPER_AXES["Fig. 3"])
            errors[f"{split}_marginal"], deciders[f"{split}_marginal"] = _fig3_column_evidence(
                names[(n, "aevb")], names[(n, baseline)], measured, fallback, split, shared[-1][0] if shared else -1)
        return _ordering_panel(f"N_train = {n:,}", by["aevb"], by[baseline], ("train_marginal", "test_marginal"),
                               PAPER_AXES["Fig. 3"], errors, deciders)

    ws_panels = [n for n, by in sorted(fig3.items()) if "aevb" in by and "wake-sleep" in by]
    rows = [(_panels_row("fig3-wake-sleep", [panel(n, fig3[n], "wake-sleep") for n in ws_panels], ORDERING),
             [name for n in ws_panels for name in names[(n, "aevb")] + names[(n, "wake-sleep")]])]
    for n in (1000, 50_000):
        by = fig3.get(n, {})
        key = f"fig3-mcem-{n}"
        rows.append((_panels_row(key, [panel(n, by, "mcem")], ORDERING), names[(n, "aevb")] + names[(n, "mcem")])
                    if "aevb" in by and "mcem" in by else (_untested(key, "no AEVB and MCEM runs to compare"), []))
    return [Row(r.claim, r.verdict, r.number, "; ".join(filter(None, (r.why, _ais_why(compared, measured, fallback)))),
                r.panels, r.rule) for r, compared in rows]


def _ais_why(compared: list[str], measured: dict, fallback: dict) -> str:
    """What App. D's error and the AIS margins of a Fig. 3 reading rest on, for the runs ``compared``: how many of
    them ``fig3-ais`` measured as they end (``measured``), and where App. D's error of the others comes from."""
    done = [n for n in compared if (n, "train") in measured and (n, "test") in measured]
    ais = f"{FIG3_AIS_POINTS} training and test points"
    if compared and len(done) == len(compared):
        return f"App. D's error and AIS: {ais} of every run compared (python -m aevb measure fig3-ais)"
    old = ("|App. D − AIS| on the first test points of the seed-0 models of the figure's first version (python -m "
           "aevb measure appd-repeats)")
    if done:
        return (f"App. D's error and AIS: {ais} of {len(done)} of the {len(compared)} runs compared as they end "
                f"(python -m aevb measure fig3-ais); for the others App. D's error is {old}; AIS decides a panel's "
                "margin only where it has measured every run of the panel at the evaluation compared")
    if fallback:
        return f"App. D's error: {old}; AIS has not yet measured the runs as they end (python -m aevb measure fig3-ais)"
    return "App. D's error not measured" if compared else ""


@dataclass(frozen=True)
class ReadingPair:
    """App. E's two readings side by side for one Fig. 3 panel and baseline: the ordering rule's panel verdict on
    the study's axis (0 to ``APPE_BUDGET`` samples) under reading (a), Adagrad's own decay (Fig. 3's runs), and
    under reading (b), an explicit schedule (study ``appe-anneal``); ``changed`` where the two verdicts differ."""
    panel: int  # N_train
    baseline: str  # "wake-sleep" or "mcem"
    adagrad: Panel  # reading (a)
    annealed: Panel  # reading (b)

    @property
    def changed(self) -> bool:
        return self.adagrad.verdict != self.annealed.verdict


def _upto(curves: list[list[dict]], samples: int) -> list[list[dict]]:
    return [[r for r in c if r["samples"] <= samples] for c in curves]


def appe_readings(results_dir: Path, budget: int = APPE_BUDGET) -> list[ReadingPair]:
    """Does App. E's explicit annealing schedule change Fig. 3's orderings? For every panel and baseline whose
    runs of study ``appe-anneal`` have reached ``budget`` samples (every stored seed): AEVB against the baseline
    by the ``ORDERING`` rule on 0 to ``budget`` samples, train and test App. D estimates, under each reading, the
    seeds of Fig. 3's runs and of the study's taken alike (App. D's error is left aside under both: the comparison
    is between readings, not with the paper)."""
    fig3 = _fig3(results_dir)
    annealed = seed_curves(figure_runs("appe-anneal", results_dir, seeds=SEEDS), lambda c: c.n_train)
    out = []
    for n, by in sorted(annealed.items()):
        for baseline in ("wake-sleep", "mcem"):
            pair = [d.get(a) for d in (fig3.get(n, {}), by) for a in ("aevb", baseline)]
            if any(not p or _reached(p) < budget for p in pair):
                continue
            label = f"N_train = {n:,}, AEVB against {baseline}"
            panels = [_ordering_panel(label, _upto(a, budget), _upto(b, budget), ("train_marginal", "test_marginal"),
                                      (0.0, budget)) for a, b in (pair[:2], pair[2:])]
            out.append(ReadingPair(n, baseline, *panels))
    return out


def appe_table(pairs: list[ReadingPair]) -> str:
    """``appe_readings`` as an HTML table: a row per panel and baseline, the verdict and margins under each
    reading, and whether the schedule changed the verdict (in a box that scrolls sideways where the page is
    narrower than the table)."""
    headers = ("Panel", "Reading (a): Adagrad's own decay", "Reading (b): an explicit schedule", "Changed?")

    def cell(p: Panel, header: str) -> str:
        return f"<td data-label=\"{header}\">{badge(p.verdict)}<br><small>{html.escape(p.number)}</small></td>"

    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(f"<tr><td class=\"aevb-label\">{html.escape(q.adagrad.label)}</td>{cell(q.adagrad, headers[1])}"
                   f"{cell(q.annealed, headers[2])}"
                   f"<td data-label=\"{headers[3][:-1]}\">{'yes' if q.changed else 'no'}</td>"
                   f"</tr>" for q in pairs)
    return (f"<div class=\"aevb-card aevb-scroll\"><table class=\"aevb-appe\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def _appd_gaps(results_dir: Path) -> dict[int, float] | None:
    rows = read_measurement("appd-dimension", results_dir)
    if not rows:
        return None
    by = {(int(r["n_z"]), r["method"]): float(r["mean"]) for r in rows}
    return {z: by[(z, "App. D")] - by[(z, "AIS")] for z in sorted({z for z, _ in by}) if (z, "AIS") in by}


def appd_rows(results_dir: Path) -> list[Row]:
    """App. D's "good estimates ... as long as the dimensionality of the sampled space is low (less then 5
    dimensions)" and §5's "for higher dimensional latent space the estimates became unreliable", from the
    ``appd-dimension`` measurement (App. D against AIS, AEVB models with N_z from 2 to 20)."""
    gaps = _appd_gaps(results_dir)
    if gaps is None:
        why = "App. D has not been measured against AIS by N_z (python -m aevb measure appd-dimension)"
        return [_untested("appd-good", why), _untested("appd-unreliable", why)]
    number = "App. D − AIS: " + ", ".join(f"N_z = {z}: {g:+.2f}" for z, g in gaps.items()) + " nats"
    why = "the mean over the same test points of AEVB models with 100 hidden units"
    panels = tuple(Panel(f"N_z = {z}", HOLDS if abs(g) <= APPD_AGREEMENT else FAILS, f"{g:+.2f} nats")
                   for z, g in gaps.items())
    return [Row(CLAIMS["appd-good"], good_below(gaps), number, why, panels, GOOD_BELOW),
            Row(CLAIMS["appd-unreliable"], unreliable_above(gaps), number, why, panels, UNRELIABLE_ABOVE)]


# --- the estimator claims, on models with an exact bound ---------------------------------------------------------

def estimator_evidence(instances: int = ESTIMATOR_INSTANCES, draws: int = ESTIMATOR_DRAWS,
                       gradient_draws: int = GRADIENT_DRAWS, seed: int = 0) -> dict:
    """On ``instances`` random linear-Gaussian models (chapter 2's, D = 5, N_z = 2) with a random linear encoder
    and ``ESTIMATOR_POINTS`` datapoints each: estimators A and B drawn ``draws`` times at every datapoint, and the
    encoder's gradient by the score function and by B ``gradient_draws`` times. Returns ``worst_z`` (the largest
    |mean − exact bound| / s.e. over every datapoint, instance and estimator), ``ratios`` (score-function / B
    gradient variance, per instance), ``b_less`` (the share of datapoints where the variance of B's value is below
    A's) and ``b_gradient_less`` (the share of instances where the variance of B's gradient is below A's)."""
    worst_z, ratios, less, gradient_less = 0.0, [], [], []
    for i in range(instances):
        model = LinearGaussian.random(5, 2, s=0.5, seed=seed + i)
        for p in model.parameters():
            p.requires_grad_(False)
        x = model.sample(ESTIMATOR_POINTS, torch.Generator().manual_seed(seed + 100 + i))  # (B, D)
        encoder = LinearEncoder(5, 2, seed=seed + 200 + i)
        with torch.no_grad(), seeded(seed + 300 + i):
            exact = model.elbo(x, encoder(x))  # (B,)
            a = torch.stack([sgvb_a(model, encoder, x) for _ in range(draws)])  # (R, B)
            b = torch.stack([sgvb_b(model, encoder, x) for _ in range(draws)])  # (R, B)
        for est in (a, b):
            z = (est.mean(0) - exact).abs() / (est.std(0) / draws**0.5)  # (B,)
            worst_z = max(worst_z, z.max().item())
        less += (b.var(0) < a.var(0)).tolist()
        with seeded(seed + 400 + i):
            var = {(r["estimator"], r["L"]): r["variance"]
                   for r in gradient_variance(model, encoder, x, (1,), gradient_draws)}
        ratios.append(var[("score function", 1)] / var[("B", 1)])
        gradient_less.append(var[("B", 1)] < var[("A", 1)])
    return {"worst_z": worst_z, "ratios": ratios, "b_less": sum(less) / len(less),
            "b_gradient_less": sum(gradient_less) / len(gradient_less), "instances": instances,
            "points": ESTIMATOR_POINTS, "draws": draws, "gradient_draws": gradient_draws}


def _b_variance_row(e: dict, setting: str) -> Row:
    """§2.3's "typically has less variance": the estimate's value (per datapoint) and its gradient (per instance);
    the paper does not say which, so both are judged, and the claim holds only where both do."""
    panels = (Panel("the estimate's value", typically_less(e["b_less"]), f"B below A at {e['b_less']:.0%} of "
                    f"datapoints", setting),
              Panel("its gradient (the encoder's)", typically_less(e["b_gradient_less"]), f"B below A on "
                    f"{e['b_gradient_less']:.0%} of instances", f"{e['gradient_draws']} gradients per instance"))
    return Row(CLAIMS["b-variance"], both_readings([p.verdict for p in panels]),
               "; ".join(f"{p.label}: {p.number}" for p in panels),
               "random encoders: near the exact posterior, A's value varies less (its variance vanishes at the "
               "posterior) while B's does not", panels, TYPICALLY_LESS)


def estimator_rows(evidence: dict) -> list[Row]:
    e = evidence
    setting = (f"{e['instances']} random linear-Gaussian models, {e['points']} datapoints each, {e['draws']:,} "
               f"draws per estimate")
    return [
        Row(CLAIMS["unbiased"], unbiased(e["worst_z"]), f"worst datapoint {e['worst_z']:.1f} standard errors from "
            f"the exact bound", setting, rule=UNBIASED),
        Row(CLAIMS["score-variance"], much_larger(e["ratios"]), f"{min(e['ratios']):,.0f}× to "
            f"{max(e['ratios']):,.0f}× estimator B's gradient variance", f"{e['instances']} random linear-Gaussian "
            f"models, {e['gradient_draws']} gradients each; chapter 3 shows the same on an MNIST VAE",
            rule=MUCH_LARGER),
        _b_variance_row(e, setting),
    ]


def fig2_variance_row(results_dir: Path) -> Row:
    """Fig. 2's caption: "The estimator variance was small (< 1) and omitted." By ``SMALL_VARIANCE`` on the
    ``fig2-variance`` measurement (the curve's bound evaluated again with fresh noise on the models whose
    checkpoint is at the stored curve's end); a measured row on another checkpoint than the curve's end is left
    out."""
    runs = figure_runs(2, results_dir, seeds=SEEDS)
    ends = {r.name: int(r.curve[-1]["samples"]) for r in runs if r.curve}
    rows = [m for m in read_measurement("fig2-variance", results_dir) or [] if ends.get(m["run"]) == int(m["samples"])]
    if not rows:
        return Row(CLAIMS["fig2-variance"], UNTESTED, why="not measured at the ends of the curves shown: the curve's "
                   "bound evaluated again with fresh noise needs Fig. 2's trained models, which the book does not ship "
                   "(python -m aevb measure fig2-variance, where their checkpoints are)", rule=SMALL_VARIANCE)
    by: dict[str, dict[str, dict]] = {}
    for m in rows:
        by.setdefault(m["run"], {})[m["split"]] = m
    configs = {r.name: r.config for r in runs}
    panels = []
    for name, splits in by.items():
        c = configs[name]
        sd = ", ".join(f"{k} {m['sd_of_mean']:.3f}" for k, m in splits.items())
        point = ", ".join(f"{k} {math.sqrt(m['mean_point_var']):.1f}" for k, m in splits.items())
        panels.append(Panel(f"{NAMES[c.dataset]}, {ALGORITHM_NAMES[c.algorithm]}, N_z = {c.n_z}, seed {c.seed}",
                            small_variance([m["var_of_mean"] for m in splits.values()], 0),
                            f"sd of the plotted bound: {sd} nats; per-point sd: {point} nats",
                            f"at {int(next(iter(splits.values()))['samples']):,} samples"))
    kinds = {(c.dataset, c.algorithm, c.n_z) for c in configs.values()}
    unmeasured = len(kinds - {(configs[n].dataset, configs[n].algorithm, configs[n].n_z) for n in by})
    sds = [m["sd_of_mean"] for m in rows]
    point_vars = [m["mean_point_var"] for m in rows]
    repeats = "/".join(str(r) for r in sorted({int(m["repeats"]) for m in rows}))
    points = {k: "/".join(f"{n:,}" for n in sorted({int(m["n_points"]) for m in rows if m["split"] == k}))
              for k in ("train", "test")}
    curves = {r.name: r.curve[-1] for r in runs if r.curve}
    replay = max(abs(m["replayed"] - curves[m["run"]][f"{m['split']}_bound"]) for m in rows)
    number = (f"sd of the plotted bound {min(sds):.3f}–{max(sds):.3f} nats (variance at most "
              f"{max(m['var_of_mean'] for m in rows):.1g} nats², {len(by)} model{'s' * (len(by) != 1)}, train and "
              f"test); per-point variance {min(point_vars):.1f}–{max(point_vars):.1f} nats² (sd "
              f"{math.sqrt(min(point_vars)):.1f}–{math.sqrt(max(point_vars)):.1f})")
    why = (f"the curve's bound (estimator B, L = 1) evaluated {repeats} times with fresh noise on the points the "
           f"curve evaluates ({points['train']} training, {points['test']} test), on the model"
           f"{'s' * (len(by) != 1)} of {', '.join(by)} at the samples the curve ends at (the first repeat, under "
           f"the curve's own seed, is within {replay:.1g} nats of the curve shown); per-point sd: the root of the "
           f"points' mean variance; {unmeasured} of Fig. 2's {len(kinds)} runs have no model measured here (no "
           "checkpoint); python -m aevb measure fig2-variance")
    return Row(CLAIMS["fig2-variance"], small_variance([m["var_of_mean"] for m in rows], unmeasured), number, why,
               tuple(panels), SMALL_VARIANCE)


# --- claims not tested ---------------------------------------------------------------------------------------

def time_row(results_dir: Path) -> Row:
    """Fig. 2's caption's computation time: about the authors' machine; ours beside it."""
    row = _untested("fig2-time", "a statement about the authors' machine (an Intel Xeon at an effective 40 "
                    "GFLOPS); ours is beside it")
    runs = [r for r in figure_runs(2, results_dir) if r.curve and r.config.dataset == "mnist"
            and r.config.algorithm == "aevb"]
    if not runs:
        return row
    seconds, basis = _fig2_seconds(runs, results_dir)
    minutes = [s * 1e6 / 60 for s in seconds.values()]
    return Row(row.claim, UNTESTED, f"ours: {min(minutes):.1f}–{max(minutes):.1f} minutes per million samples "
               f"(AEVB, MNIST, one thread of this machine)", f"{row.why}; {basis}")


def one_sample_row(results_dir: Path) -> Row:
    """§2.3: "the number of samples L per datapoint can be set to 1 as long as the minibatch size M was large
    enough, e.g. M = 100." By ``ONE_SAMPLE`` on the ``one-sample`` study: Fig. 2's MNIST N_z = 20 run (L = 1) and
    the same run with L = 10, every stored seed; not tested until the L = 10 run is trained."""
    by = {n: algs["aevb"] for n, algs in seed_curves(figure_runs("one-sample", results_dir, seeds=SEEDS),
                                                       lambda c: c.n_samples).items()}
    more = max((n for n in by if n > 1), default=None)
    command = "python -m aevb study one-sample --budget 3162300 --seed 0-2"  # a point of Fig. 2's evaluation grid
    if 1 not in by or more is None:
        return Row(CLAIMS["one-sample"], UNTESTED, why=f"no run with L > 1 to set beside L = 1 yet ({command})",
                   rule=ONE_SAMPLE)
    verdict, margins, note = one_sample(by[1], by[more])
    if verdict == UNTESTED:
        return Row(CLAIMS["one-sample"], UNTESTED, why=note, rule=ONE_SAMPLE)
    samples = next(iter(margins.values()))[2]
    seeds = max(len(by[1]), len(by[more]))
    number = (f"L = 1 − L = {more}: " + ", ".join(f"{s} {_margin(m, sd, seeds)}" for s, (m, sd, _) in margins.items())
              + f" nats at {samples:,} samples")
    return Row(CLAIMS["one-sample"], verdict, number,
               f"MNIST, N_z = 20, 500 hidden units, M = 100 (Fig. 2's run and the same with L = {more}; {note}); "
               f"the training and test bounds at the last evaluation both have ({command})", rule=ONE_SAMPLE)


NOT_TESTED: dict[str, str] = {}  # claims no measurement of the book reaches, and why (none at present)


# --- the uses the paper names (chapter 13) -------------------------------------------------------------------

def streaming_row(results_dir: Path) -> Row:
    """§2's streaming sentence, by ``ONLINE`` on the ``streaming`` measurement."""
    rows = read_measurement("streaming", results_dir)
    if not rows:
        return _untested("streaming", "no run on a non-stationary stream (python -m aevb measure streaming)")
    verdict, drop, note = online(streaming.summary(rows))
    return Row(CLAIMS["streaming"], verdict, f"largest forgetting on the strict stream: {drop:.1f} nats", note,
               rule=ONLINE)


def _fill_panels(rows: list[dict], comparisons: list[dict]) -> list[Panel]:
    """One panel per task of ``comparisons`` (``aevb.experiments.inpainting.comparisons`` of the ``inpainting``
    ``rows``, or some of them), by ``FILLS_BETTER`` on that task's, with Metropolis-within-Gibbs's error."""
    error = {r["task"]: r["error"] for r in rows if r["method"] == inpainting.METHODS[0]}
    panels = []
    for task in dict.fromkeys(c["task"] for c in comparisons):
        verdict, note = fills_better([c for c in comparisons if c["task"] == task])
        panels.append(Panel(task, verdict, f"{error[task]:.1%} of hidden pixels wrong", note))
    return panels


def vision_row(results_dir: Path) -> Row:
    """§2.1's denoising, inpainting and super-resolution, by ``FILLS_BETTER`` on every task of the ``inpainting``
    measurement (a panel per task)."""
    rows = read_measurement("inpainting", results_dir)
    if not rows:
        return _untested("vision", "no denoising, inpainting or super-resolution is measured "
                                   "(python -m aevb measure inpainting)")
    comparisons = inpainting.comparisons(rows)
    verdict, note = fills_better(comparisons)
    panels = _fill_panels(rows, comparisons)
    won = sum(p.verdict == HOLDS for p in panels)
    return Row(CLAIMS["vision"], verdict, f"ahead of every simple fill on {won} of {len(panels)} tasks", note,
               tuple(panels), FILLS_BETTER)


def tasks_row(results_dir: Path) -> Row:
    """§1's host of tasks, by ``HOST_OF_TASKS``: recognition and representation (``REPRESENTS`` on the
    ``representation`` measurement) and denoising (``FILLS_BETTER`` on the ``inpainting`` measurement's noise
    tasks); visualization is Fig. 4's, not judged."""
    panels = []
    probes = read_measurement("representation", results_dir)
    if probes:
        s = representation.summary(probes)
        verdict, note = represents(s["vs_pca"], s["vs_pixels"], s["n_test"])
        best = max((a for _, a, _, _, _ in s["vs_pixels"]), default=math.nan)
        panels.append(Panel("recognition and representation", verdict, f"best linear probe {best:.1%}", note))
    fills = read_measurement("inpainting", results_dir)
    if fills:
        noise = [c for c in inpainting.comparisons(fills) if inpainting.TASKS[c["task"]].kind == "noise"]
        verdict, note = fills_better(noise)
        panels.append(Panel("denoising", verdict, "; ".join(f"{p.label}: {p.number}"
                                                           for p in _fill_panels(fills, noise)), note))
    if not panels:
        return _untested("tasks", "Fig. 4 shows visualization; recognition, denoising and representation are not "
                                  "measured (python -m aevb measure representation, inpainting)")
    verdict = host_of_tasks({p.label: p.verdict for p in panels})
    return Row(CLAIMS["tasks"], verdict, "; ".join(f"{p.label}: {p.verdict}" for p in panels),
               "visualization is Fig. 4's (chapter 10), shown but not judged", tuple(panels), HOST_OF_TASKS)


# --- the book's own demonstrations (outside the tally) -------------------------------------------------------

def rising(values: dict[int, float]) -> str:
    """Demonstration rule: values by N_z rise with every step up in N_z."""
    if len(values) < 2:
        return UNTESTED
    v = [values[k] for k in sorted(values)]
    return HOLDS if all(b > a for a, b in zip(v, v[1:])) else FAILS


def fig4_row(results_dir: Path, seeds=(0, 1, 2, 3), classifier_seed: int = 0, epochs: int | None = None) -> Row:
    """Our demonstration: the digit classes on the stored MNIST manifolds, counted by ``aevb.classifier`` (trained
    here for ``epochs`` passes, default its settings')."""
    runs = [r for s in seeds for r in figure_runs(4, results_dir, seeds=(s,))
            if r.config.dataset == "mnist" and (r.path / "images.npz").exists()]
    if not runs:
        return _untested("fig4-digits", "no MNIST manifold to count")
    settings = ClassifierSettings() if epochs is None else ClassifierSettings(epochs=epochs)
    classifier = fit_classifier(*load_mnist("train"), seed=classifier_seed, settings=settings)
    covered = {r.config.seed: (class_coverage(predict(classifier, load_images(r.path)["manifold"]))["n_covered"],
                                  int(r.curve[-1]["samples"])) for r in runs}
    full = [s for s, (n, _) in covered.items() if n == 10]
    verdict = HOLDS if len(full) == len(covered) else CAVEAT if full else FAILS
    return Row(CLAIMS["fig4-digits"], verdict, "classes shown: " + ", ".join(
        f"{n} (seed {s}, {m:,} samples)" for s, (n, m) in covered.items()), "counted by a classifier trained on "
        "MNIST's training images (chapter 10)")


def fig5_row(results_dir: Path) -> Row:
    runs = [r for r in figure_runs(5, results_dir) if r.curve]
    values = {r.config.n_z: r.curve[-1]["test_bound"] for r in runs}
    return Row(CLAIMS["fig5-nz"], rising(values), "test bound " + ", ".join(
        f"N_z = {k}: {v:.1f}" for k, v in sorted(values.items())), "whether the test bound of the sampled models "
        "rises with N_z; the samples themselves are in chapter 11")


def full_vb_row(results_dir: Path) -> Row:
    runs = {r.config.algorithm: r for r in figure_runs("full-vb", results_dir) if r.curve}
    if "full-vb" not in runs:
        return _untested("full-vb", "no full-VB run (python -m aevb study full-vb)")
    c = runs["full-vb"].curve
    finite = all(math.isfinite(r["train_bound"]) and math.isfinite(r["test_bound"]) for r in c)
    verdict = HOLDS if finite and c[-1]["train_bound"] - c[0]["train_bound"] > TRAINABLE_RISE else FAILS
    number = (f"bound per datapoint {c[0]['train_bound']:.1f} → {c[-1]['train_bound']:.1f} (train), "
              f"{c[-1]['test_bound']:.1f} (test) at {int(c[-1]['samples']):,} samples")
    if "aevb" in runs:
        number += f"; AEVB on the same data: {runs['aevb'].curve[-1]['test_bound']:.1f} (test)"
    return Row(CLAIMS["full-vb"], verdict, number, f"1,000 MNIST points, N_z = 10, 100 hidden units; trains where "
               f"finite throughout and its bound rose by more than {TRAINABLE_RISE:g} nats")


# --- the card --------------------------------------------------------------------------------------------------

def scorecard(results_dir: str | Path = RESULTS_DIR, evidence: dict | None = None) -> list[Row]:
    """The rows of the paper's sentences (``SENTENCES``' order) and of the readings of Fig. 3 (``READINGS``);
    ``evidence``: ``estimator_evidence()``'s result (computed here where None)."""
    d = Path(results_dir)
    rows = {r.claim.key: r for r in (
        estimator_rows(evidence or estimator_evidence()) + appd_rows(d) + fig3_reading_rows(d)
        + [fig2_ordering_row(d), fig2_overfitting_row(d), superfluous_row(d), hidden_units_row(d),
           ws_complexity_row(d), sampling_slow_row(d), mcem_full_set_row(d), time_row(d), fig2_variance_row(d),
           one_sample_row(d), streaming_row(d), vision_row(d), tasks_row(d)]
        + [_untested(k, why) for k, why in NOT_TESTED.items()])}
    return [rows[c.key] for c in SENTENCES + READINGS]


def demonstrations(results_dir: str | Path = RESULTS_DIR, classifier: bool = True,
                   classifier_epochs: int | None = None) -> list[Row]:
    """The book's own demonstrations (``DEMONSTRATIONS``), outside the tally; ``classifier=False`` leaves Fig. 4's
    class count out (it trains a classifier for ``classifier_epochs`` passes, default its settings')."""
    d = Path(results_dir)
    rows = {r.claim.key: r for r in ([fig4_row(d, epochs=classifier_epochs)] if classifier else [])
            + [fig5_row(d), full_vb_row(d)]}
    return [rows[c.key] for c in DEMONSTRATIONS if c.key in rows]


def verdict_counts(rows: list[Row]) -> dict[str, int]:
    """How many rows have each verdict, in ``VERDICTS`` order."""
    return {v: sum(r.verdict == v for r in rows) for v in VERDICTS}


def tally(rows: list[Row]) -> dict[str, dict[str, int]]:
    """The counts of the paper's sentences and, apart, of the readings of its figures."""
    sentences = {c.key for c in SENTENCES}
    return {"sentences": verdict_counts([r for r in rows if r.claim.key in sentences]),
            "readings": verdict_counts([r for r in rows if r.claim.key not in sentences])}


# the ordering claims, shortly, for the figure's rows
ORDERING_LABELS = {"fig2-ordering": "Fig. 2 vs WS", "fig3-wake-sleep": "Fig. 3 vs WS",
                   "fig3-mcem-1000": "Fig. 3 vs MCEM", "fig3-mcem-50000": "Fig. 3 vs MCEM"}


def panel_margins(rows: list[Row]) -> list[dict]:
    """Long-form rows for the scorecard's figure: every panel of the ordering claims (``where``: the figure, the
    baseline and the panel, shortly), its test-set margin (AEVB − baseline, nats), what the margin was set against
    and its verdict."""
    return [{"where": f"{ORDERING_LABELS[r.claim.key]}: {p.label}", "margin": p.value, "error": p.error,
             "verdict": p.verdict}
            for r in rows if r.rule is ORDERING for p in r.panels if not math.isnan(p.value)]


def store_budgets(results_dir: str | Path = RESULTS_DIR) -> dict[str, dict]:
    """What the card rests on, per figure: the samples its runs reached (least and most), the seeds stored, and
    the machine they were trained on (from their config.json)."""
    out = {}
    for label, fig in (("Fig. 2", 2), ("Fig. 3", 3)):
        runs = [r for r in figure_runs(fig, results_dir, seeds=SEEDS) if r.curve]
        if not runs:
            continue
        reached = [int(r.curve[-1]["samples"]) for r in runs]
        env = runs[0].meta.get("environment", {})
        out[label] = {"least": min(reached), "most": max(reached), "runs": len(runs),
                      "seeds": sorted({r.config.seed for r in runs}),
                      "machine": f"{env.get('cpu_count', '?')} cores ({env.get('processor', '?')}), torch "
                                 f"{env.get('torch', '?')}, one thread a run"}
    return out


# --- the page: the answer at a glance, and the claims' table (styled by _static/aevb-scorecard.css) ------------

MARKS = {HOLDS: "✓", CAVEAT: "!", FAILS: "✗", UNTESTED: "–"}  # shown beside a verdict's word, never instead of it
COUNTED = {HOLDS: ("holds", "hold"), CAVEAT: ("holds with a caveat", "hold with a caveat"),
           FAILS: ("does not hold", "do not hold"), UNTESTED: ("not tested", "not tested")}  # 1, and more
HEADERS = ("Where", "The paper says", "Verdict", "What we measured")


def verdict_class(verdict: str) -> str:
    """The CSS class of ``verdict`` ("aevb-v-holds-with-a-caveat"): its colour, light and dark."""
    return "aevb-v-" + verdict.replace(" ", "-")


def _mark(verdict: str) -> str:
    return f"<span class=\"aevb-v-mark\" aria-hidden=\"true\">{MARKS[verdict]}</span>"


def badge(verdict: str) -> str:
    """A verdict as the page shows it: a mark and the word, coloured by its class."""
    return f"<span class=\"aevb-v {verdict_class(verdict)}\">{_mark(verdict)} {html.escape(verdict)}</span>"


def counted(n: int, verdict: str) -> str:
    """"1 holds", "3 do not hold"."""
    return f"{n} {COUNTED[verdict][n != 1]}"


def row_id(row: Row) -> str:
    """The anchor of a claim's row in the table ("claim-fig2-ordering"), which the summary links to."""
    return f"claim-{row.claim.key}"


def failing_line(row: Row) -> str:
    """One line on a claim that does not hold, as HTML: what it says (linked to its row), where, and the panels
    that fail with their numbers (or the claim's number where it has no panels)."""
    failing = [p for p in row.panels if p.verdict == FAILS]
    detail = "; ".join(f"{p.label}: {p.number}" if len(row.panels) > 1 else p.number for p in failing)
    return (f"<li><a href=\"#{row_id(row)}\">{html.escape(row.claim.subject)}</a> "
            f"<span class=\"aevb-place\">({html.escape(row.claim.place)})</span>: "
            f"{html.escape(detail or row.number)}.</li>")


def _span(least: int, most: int) -> str:
    return f"{least:,}" if least == most else f"{least:,} to {most:,}"


def summary_html(rows: list[Row], budgets: dict[str, dict]) -> str:
    """The card's answer at a glance: the paper's sentences counted by verdict (claims, not panels), a line on
    each that does not hold, the readings of Fig. 3 counted apart (each that does not hold in a line too), and
    what it all rests on (``store_budgets``)."""
    counts = tally(rows)
    sentences, readings = counts["sentences"], counts["readings"]
    keys = {c.key for c in SENTENCES}

    def fails(in_sentences: bool) -> str:
        lines = "".join(failing_line(r) for r in rows if r.verdict == FAILS and (r.claim.key in keys) == in_sentences)
        return f"<ul class=\"aevb-fails\">{lines}</ul>" if lines else ""

    chips = "".join(f"<li class=\"aevb-v {verdict_class(v)}\">{_mark(v)} <strong>{n}</strong> {COUNTED[v][n != 1]}</li>"
                    for v, n in sentences.items())
    lead = f"Of the paper's <strong>{sum(sentences.values())}</strong> empirical sentences:"
    parts = [f"<p class=\"aevb-lead\">{lead}</p>", f"<ul class=\"aevb-tally\">{chips}</ul>", fails(True)]
    if sum(readings.values()):
        shown = ", ".join(counted(n, v) for v, n in readings.items() if n or v != UNTESTED)
        readings_line = f"What Figure 3 shows with no sentence claiming it (our readings, counted apart): {shown}."
        parts += [f"<p class=\"aevb-readings\">{readings_line}</p>", fails(False)]
    basis = " ".join(f"{label}'s {b['runs']} runs reached {_span(b['least'], b['most'])} training samples "
                     f"({'seed' if len(b['seeds']) == 1 else 'seeds'} {', '.join(map(str, b['seeds']))}), trained "
                     f"on {b['machine']}." for label, b in budgets.items())
    if basis:
        parts.append(f"<p class=\"aevb-basis\">{html.escape(basis)}</p>")
    return f"<div class=\"aevb-card aevb-summary\">{''.join(parts)}</div>"


def rules_markdown() -> str:
    """Every rule the card applies, as the page states it (from the same source as the code)."""
    return "\n".join(f"- {r.describe()}" for r in RULES)


def emphasis(text: str) -> str:
    """A rule's text (Markdown's **strong** and *emphasis*, as ``rules_markdown`` prints it) as escaped HTML."""
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))
    return re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)


def _panels_table(panels: tuple[Panel, ...]) -> str:
    """Every panel's verdict, as a small table (stacked at phone width)."""
    head = "".join(f"<th>{h}</th>" for h in ("Panel", "Verdict", "What we measured", "What decided it"))
    body = "".join(f"<tr><td class=\"aevb-label\">{html.escape(p.label)}</td><td>{badge(p.verdict)}</td>"
                   f"<td>{html.escape(p.number)}</td><td>{html.escape(p.note)}</td></tr>" for p in panels)
    return f"<table class=\"aevb-panels\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _detail(r: Row) -> str:
    """A claim's folded detail: what its verdict rests on, every panel's verdict, the rule, the evidence's page."""
    parts = [f"<p>{html.escape(r.why)}</p>" if r.why else "", _panels_table(r.panels) if r.panels else ""]
    if r.rule is not None:
        parts.append(f"<p class=\"aevb-rule\">Rule ({html.escape(r.rule.name)}): {emphasis(r.rule.describe())}</p>")
    parts.append(f"<p><a href=\"{html.escape(r.claim.evidence)}\">The evidence in the book</a></p>")
    panels = f" ({len(r.panels)} panels)" if len(r.panels) > 1 else ""
    return f"<details><summary>How it was judged{panels}</summary>{''.join(parts)}</details>"


def _claim_rows(r: Row) -> str:
    """One claim as a ``<tbody>`` of two rows: the claim (where, quote, verdict, number) and its folded detail
    across the table; at phone width the ``<tbody>`` is one card."""
    return (f"<tbody id=\"{row_id(r)}\" class=\"aevb-claim aevb-row-{verdict_class(r.verdict)[7:]}\">"
            f"<tr><td class=\"aevb-where\" data-label=\"{HEADERS[0]}\">{html.escape(r.claim.place)}</td>"
            f"<td class=\"aevb-says\"><span class=\"aevb-subject\">{html.escape(r.claim.subject)}</span> "
            f"<q>{html.escape(r.claim.quote)}</q></td>"
            f"<td class=\"aevb-verdict\">{badge(r.verdict)}</td>"
            f"<td class=\"aevb-number\" data-label=\"{HEADERS[3]}\">{html.escape(r.number)}</td></tr>"
            f"<tr class=\"aevb-more\"><td colspan=\"{len(HEADERS)}\">{_detail(r)}</td></tr></tbody>")


def html_table(rows: list[Row]) -> str:
    """The rows as an HTML table: where the claim stands, its quote, the verdict (a mark and the word, coloured),
    our number, and under each a folded detail (``<details>``) with what it rests on, every panel's verdict, the
    rule and a link to the evidence. The readings of Fig. 3 come under a heading of their own."""
    keys = {c.key for c in SENTENCES}
    body, headed = [], False
    for r in rows:
        if r.claim.key in {c.key for c in READINGS} and not headed and any(q.claim.key in keys for q in rows):
            headed = True
            body.append(f"<tbody class=\"aevb-group\"><tr><th colspan=\"{len(HEADERS)}\">What Figure 3 shows with no "
                        f"sentence claiming it: our readings, counted apart</th></tr></tbody>")
        body.append(_claim_rows(r))
    cols = "".join(f"<col class=\"aevb-col-{i}\">" for i in range(len(HEADERS)))
    head = "".join(f"<th>{h}</th>" for h in HEADERS)
    return (f"<div class=\"aevb-card aevb-claims-box\"><table class=\"aevb-claims\"><colgroup>{cols}</colgroup>"
            f"<thead><tr>{head}</tr></thead>{''.join(body)}</table></div>")
