"""Chapter 9 (Figure 3, §5: the estimated marginal likelihood): its tables and the numbers its prose states,
computed here so that the chapter's cells only call, show and glue.

- ``accounting_figure``: the N_train = 1000 panel under every accounting of ``aevb.experiments.accounting``;
- ``accountings``: AEVB against each baseline under every accounting, as a table, and the MCEM numbers the prose
  states (``mcem1000_*``, ``ahead_share``);
- ``moved_since``: how far the curves shown moved from App. D's fixed-step measurement
  (``results/studies/fig3_fixed_step_appd.csv``), as a table, and ``moved_finding``, ``moved_summary``;
- ``appd_repeats``: App. D's estimate repeated over seeds, against AIS (``python -m aevb measure appd-repeats``),
  as a table, and ``repeat_*``, ``ais_diff_*``, ``ais1000_*``, ``appd1000_*``;
- ``final_ais``: App. D against AIS on every final Fig. 3 model and seed measured (``python -m aevb measure
  fig3-ais``), as a table, and ``final_ais_*``;
- ``appe_curves``, ``appe_facts`` and ``appe_shown``: Fig. 3's runs under App. E's two readings of the step size;
- ``paper_ylim``: a panel's y-range, the paper's, raised where the book's curves end above it.

Every function returns what the page shows (a table, or a line saying what is missing) and the numbers, by name,
for MyST-NB ``glue`` (``aevb.book.chapter.glue_all``).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import pandas as pd
import seaborn as sns
from IPython.display import HTML, Markdown

from aevb.book.figures import accounting_curves, accounting_rows, moved, seconds_basis, seed_runs, store_dir
from aevb.book.scorecard import ReadingPair, appe_table, fig3_ais
from aevb.book.verdicts import AHEAD_SHARE
from aevb.experiments.grids import APPE_BUDGET, FIG3_N_TRAIN, FIG3_YLIM, SEEDS
from aevb.experiments.measurements import cost_rates, read_measurement
from aevb.experiments.store import StoredRun
from aevb.plots import COLORS, Table, curves_frame, table

MOVED_STUDY = "fig3_fixed_step_appd.csv"  # under the store's studies/: App. D with a fixed step, measured then
APPE_READINGS = {"paper": "(a) Adagrad's decay", "annealed": "(b) explicit schedule"}  # protocol -> label
REPEATS_MISSING = ("**`results/studies/appd-repeats.csv` is not in the store** "
                   "(`python -m aevb measure appd-repeats`, where the Fig. 3 checkpoints are).")
REPEATS_FACTS = ("repeat_sd_max", "repeat_point_sd", "ais_diff_min", "ais_diff_max", "ais1000_aevb", "ais1000_wake",
                 "ais1000_mcem", "appd1000_aevb", "appd1000_wake", "appd1000_mcem")


def accounting_figure(runs: Iterable[StoredRun], n_train: int = 1000, results_dir: str | Path | None = None):
    """The Fig. 3 panel ``n_train`` under each accounting (a panel per accounting, log x-axis), as a seaborn
    ``FacetGrid``; None where the panel has no stored curve. Its seconds are the measured cost (``cost_rates``
    of the store ``results_dir``) where the store has it, else as the runs recorded them; the panel's title
    says which."""
    rates = (cost_rates(store_dir(results_dir)) or {}).get(n_train)
    long = pd.DataFrame(accounting_curves(runs, n_train, rates))
    if not len(long):
        return None
    g = sns.relplot(data=long, x="x", y="log p(x)", hue="algorithm", style="split", col="accounting", col_wrap=2,
                    kind="line", marker="o", markersize=3, height=2.6, aspect=1.15, facet_kws={"sharex": False},
                    palette={a: COLORS[a] for a in ("aevb", "wake-sleep", "mcem")})
    g.set(xscale="log", ylim=(long["log p(x)"].quantile(0.05) - 5, long["log p(x)"].max() + 3))
    for ax, title in zip(g.axes.flat, g.col_names):
        seconds = "measured cost" if rates else "as recorded"
        ax.set_title(f"x-axis: seconds ({seconds})" if title == "seconds" else f"x-axis: {title}")
    g.figure.suptitle(f"Figure 3, $N_{{train}}$ = {n_train}, under each accounting", y=1.02)
    return g


def accountings(runs: Iterable[StoredRun], results_dir: str | Path | None = None):
    """AEVB against each baseline of every Fig. 3 panel under every accounting (``accounting_rows``; seconds as in
    ``accounting_figure``): the table shown (a pandas ``Styler``; None where no panel has both curves) and the
    numbers the prose states: for the N_train = 1,000 panel against MCEM, ``mcem1000_{accounting}_{split}_diff``
    (AEVB − MCEM at the end, nats) and ``_ahead`` ("k/m"), ``mcem1000_wins`` (the accountings under which AEVB is
    ahead at ``AHEAD_SHARE`` of the shared evaluations or more, train and test together), ``ahead_share`` and
    ``seconds_basis`` (what the seconds are, in words)."""
    runs = list(runs)
    measured = cost_rates(store_dir(results_dir)) or {}
    acc = pd.DataFrame([dict(r, panel=f"N_train={n:,}") for n in FIG3_N_TRAIN
                        for r in accounting_rows(runs, n, measured.get(n))])
    if not len(acc):
        return None, {}
    shown = acc.drop(columns="share").style.format(
        {"x at the end": "{:,.0f}", "AEVB": "{:.2f}", "baseline value": "{:.2f}", "AEVB − baseline": "{:+.2f}"}
    ).hide(axis="index")
    facts = {"seconds_basis": seconds_basis(measured.get(1000))}
    mcem = acc[(acc.panel == "N_train=1,000") & (acc.baseline == "mcem")]
    for (accounting, split), row in mcem.set_index(["accounting", "split"]).iterrows():
        facts[f"mcem1000_{accounting}_{split}_diff"] = float(row["AEVB − baseline"])
        facts[f"mcem1000_{accounting}_{split}_ahead"] = row["AEVB ahead"]
    counts = mcem.assign(k=mcem["AEVB ahead"].str.split("/").str[0].astype(int),
                         m=mcem["AEVB ahead"].str.split("/").str[1].astype(int)).groupby("accounting")[["k", "m"]].sum()
    wins = [a for a, r in counts.iterrows() if r["m"] and r["k"] / r["m"] >= AHEAD_SHARE]
    facts["mcem1000_wins"] = ", ".join(f"per {CHARGED[a]}" for a in wins) if wins else "none"
    facts["mcem1000_reading"] = mcem1000_reading(wins, [a for a in counts.index if a not in wins])
    facts["ahead_share"] = AHEAD_SHARE
    return shown, facts


CHARGED = {"samples": "minibatch", "updates": "weight update", "gradients": "gradient evaluation",
           "seconds": "training second"}  # what MCEM is charged for under each accounting, in the prose's words


def mcem1000_reading(wins: list[str], losses: list[str]) -> str:
    """What the N_train = 1,000 accountings against MCEM say, in a sentence: under which the paper's ordering is seen
    (``wins``, AEVB ahead at ``AHEAD_SHARE`` of the evaluations or more) and under which not (``losses``)."""
    if not wins:
        return ("No accounting shown gives the ordering of the paper's figure: however MCEM's work is counted, AEVB is "
                f"ahead of it at fewer than {AHEAD_SHARE:.0%} of the evaluations of this panel, so by App. D's "
                "estimates this book does not reproduce the figure's ordering against MCEM on 1,000 training points")
    if not losses:
        return "Every accounting shown gives the ordering of the paper's figure, so it does not hang on the accounting"
    return (f"So the paper's ordering is what one sees when MCEM is charged per "
            f"{' and per '.join(CHARGED[a] for a in wins)}, and not per {' or per '.join(CHARGED[a] for a in losses)}")


def moved_since(runs: Iterable[StoredRun], results_dir: str | Path | None = None):
    """How far each curve shown moved since App. D was measured with a fixed step (``moved`` on the store's
    ``studies/fig3_fixed_step_appd.csv``): the table shown (a ``Styler``, or a line saying no run is still that
    trajectory) and, for the prose, ``moved_finding`` (what the comparison found, a sentence) and
    ``moved_summary`` (the summary's clause), both saying so where no run shown is still the trajectory measured
    then (every run trained again since)."""
    changes = pd.DataFrame(moved(store_dir(results_dir) / "studies" / MOVED_STUDY, runs))
    if not len(changes):
        return Markdown("*None of the runs shown is still a trajectory measured with the old sampler.*"), {
            "moved_finding": "None of the runs shown is still a trajectory that was measured with the old sampler: "
                             "each has been trained again since (three seeds, the fused step, a longer budget), so "
                             "this comparison cannot be made on them any more. The repeated estimates and annealed "
                             "importance sampling below measure App. D's error on the models as they now are",
            "moved_summary": "cannot be compared on the runs shown any more (all were trained again since); its "
                             "error on them is measured against annealed importance sampling instead"}
    shown = changes.style.format(
        {"mean change": "{:+.3f}", "largest change": "{:+.3f}", "change at the last": "{:+.3f}"}).hide(axis="index")
    marginal = changes[changes["column"].str.endswith("_marginal")]
    most, mean = marginal["largest change"].abs().max(), marginal["mean change"].abs().mean()
    n = len(set(changes["run"]))
    return shown, {
        "moved_finding": f"For the {n} run{'s' * (n != 1)} compared, the App. D averages over 1,000 points moved by at "
                         f"most {most:.2f} nats (on average {mean:.3f}): the old sampler's errors were large on "
                         "single points but of both signs, so they cancel in the averages Figure 3 plots. The points "
                         "that did change are the ones a per-point use of App. D (chapter 5's comparisons, the "
                         "scorecard's standard deviation) would have got wrong",
        "moved_summary": f"moved the averaged curves of the runs compared by at most {most:.2f} nats; it matters for "
                         "single points, not for Figure 3's averages"}


def appd_repeats(runs: Iterable[StoredRun], results_dir: str | Path | None = None) -> tuple[Table | Markdown, dict]:
    """App. D's estimate of each Fig. 3 model repeated over seeds, against AIS on its first 100 points (the
    store's ``appd-repeats`` study): the table shown (or a line saying the study is not in the store) and
    ``repeat_sd_max`` (the largest s.d. of the mean over seeds), ``repeat_point_sd`` (one point's s.d., mean over
    models), ``ais_diff_min``/``_max`` (App. D − AIS), and for the N_train = 1000 models ``ais1000_{a}`` and
    ``appd1000_{a}`` (a: ``aevb``, ``wake``, ``mcem``); NaN for each where the study is missing."""
    repeats = read_measurement("appd-repeats", store_dir(results_dir))
    if not repeats:
        return Markdown(REPEATS_MISSING), {name: float("nan") for name in REPEATS_FACTS}
    rep = pd.DataFrame(repeats)
    rep["App. D − AIS"] = rep["appd_subset"] - rep["ais_subset"]
    model = {r.name: f"{r.config.algorithm}, N_train = {r.config.n_train:,}" for r in runs}
    shown = [{"model": model.get(r["run"], r["run"]), "mean": r["mean"], "sd": r["sd_of_mean"],
              "point sd": f"{r['mean_point_sd']:.2f} / {r['max_point_sd']:.1f}",
              "first 100": f"{r['appd_subset']:.2f} / {r['ais_subset']:.2f}",
              "difference": r["appd_subset"] - r["ais_subset"]} for r in repeats]
    shown = table(shown, {"model": "", "mean": ".2f", "sd": ".3f", "point sd": "", "first 100": "",
                          "difference": "+.2f"},
                  headers={"mean": "App. D, mean of 1,000 points", "sd": "its s.d. over seeds",
                           "point sd": "one point's s.d. over seeds: mean / largest",
                           "first 100": "first 100 points: App. D / AIS", "difference": "App. D − AIS"})
    facts = {"repeat_sd_max": float(rep["sd_of_mean"].max()), "repeat_point_sd": float(rep["mean_point_sd"].mean()),
             "ais_diff_min": float(rep["App. D − AIS"].min()), "ais_diff_max": float(rep["App. D − AIS"].max())}
    small = rep[rep["run"].str.contains("-n1000-")]
    small = small.set_index(small["run"].str.split("-").str[1])  # aevb, wake, mcem
    for alg in small.index:
        facts[f"ais1000_{alg.replace('-', '_')}"] = float(small.loc[alg, "ais_subset"])
        facts[f"appd1000_{alg.replace('-', '_')}"] = float(small.loc[alg, "appd_subset"])
    return shown, facts


def final_ais(runs: Iterable[StoredRun], results_dir: str | Path | None = None) -> tuple[Table | Markdown, dict]:
    """App. D against AIS on the first training and test points of every Fig. 3 model (each seed) whose ``fig3-ais``
    row was measured at the samples its stored curve ends at (``aevb.book.scorecard.fig3_ais``, the rows the
    scorecard decides by): the table shown, or a line saying none is measured, and ``final_ais_models`` (how many),
    ``final_ais_points``, ``final_ais_train_max`` and ``final_ais_test_max`` (the largest |App. D − AIS|, nats)."""
    runs = list(runs)
    measured = fig3_ais(store_dir(results_dir), runs)
    by_run = {r.name: r for r in runs}
    names = sorted({name for name, _ in measured}, key=lambda n: (by_run[n].config.n_train, n))
    facts = {"final_ais_models": len(names)}
    if not names:
        return Markdown("*No final Fig. 3 model has been measured by `python -m aevb measure fig3-ais`.*"), facts | {
            "final_ais_points": 0, "final_ais_train_max": float("nan"), "final_ais_test_max": float("nan")}
    shown = []
    for name in names:
        c, row = by_run[name].config, {}
        for split in ("train", "test"):
            m = measured.get((name, split))
            row[split] = f"{m['appd']:.2f} / {m['ais']:.2f} ± {m['ais_se']:.2f}" if m else "–"
            row[f"{split}_diff"] = m["appd"] - m["ais"] if m else None
        shown.append({"model": f"{c.algorithm}, N_train = {c.n_train:,}, seed {c.seed}",
                      "samples": int(measured.get((name, "test"), measured.get((name, "train")))["samples"]),
                      **row})
    diffs = {s: [abs(r[f"{s}_diff"]) for r in shown if r[f"{s}_diff"] is not None] for s in ("train", "test")}
    facts |= {"final_ais_points": int(next(iter(measured.values()))["n_points"]),
              "final_ais_train_max": max(diffs["train"], default=float("nan")),
              "final_ais_test_max": max(diffs["test"], default=float("nan"))}
    return table(shown, {"model": "", "samples": ",", "train": "", "train_diff": "+.2f", "test": "",
                         "test_diff": "+.2f"},
                 headers={"samples": "trained (samples)", "train": "training points: App. D / AIS ± s.e.",
                          "train_diff": "App. D − AIS (training)", "test": "test points: App. D / AIS ± s.e.",
                          "test_diff": "App. D − AIS (test)"}), facts


def paper_ylim(frame: pd.DataFrame, n_train: int) -> tuple[float, float]:
    """The y-range of Fig. 3's ``n_train`` panel: the paper's (``FIG3_YLIM``, read from its figure), its top raised
    to the next whole nat above the highest value of ``frame`` (the panel's ``curves_frame`` rows as drawn) where a
    curve of the book rises above it, so that no curve is cut off at the top; the bottom stays the paper's (every
    curve starts below it, as in the paper's figure)."""
    lo, hi = FIG3_YLIM[n_train]
    return (lo, max(hi, math.floor(frame["value"].max()) + 1)) if len(frame) else (lo, hi)


def appe_curves(results_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict, list[StoredRun]]:
    """Fig. 3's runs under App. E's two readings (``appe-anneal``'s runs and Fig. 3's own, seeds ``SEEDS``), for
    the panels the study trained, up to ``APPE_BUDGET`` samples: the curves (``curves_frame``, key "marginal"),
    the panel labels ((n_train, protocol) -> title) and the study's runs."""
    appe_runs = seed_runs("appe-anneal", SEEDS, results_dir)
    trained = sorted({r.config.n_train for r in appe_runs if r.curve})
    label = {(n, p): f"$N_{{train}}$ = {n:,}\n{APPE_READINGS[p]}" for n in trained for p in APPE_READINGS}
    both = curves_frame([r for r in seed_runs(3, SEEDS, results_dir) if r.config.n_train in trained] + appe_runs,
                        "marginal", lambda c: label[(c.n_train, c.protocol)])
    return both[both["samples"] <= APPE_BUDGET], label, appe_runs


def appe_facts(pairs: list[ReadingPair]) -> dict:
    """The numbers the prose states about App. E's readings (``aevb.book.scorecard.appe_readings``'s ``pairs``):
    ``appe_budget`` (as text), ``appe_compared`` (panel and baseline pairs compared), ``appe_changed`` (of those,
    the verdicts the schedule changed)."""
    return {"appe_budget": f"{APPE_BUDGET:,}", "appe_compared": len(pairs),
            "appe_changed": sum(p.changed for p in pairs)}


def appe_shown(pairs: list[ReadingPair]) -> HTML | Markdown:
    """The verdicts under App. E's two readings (``appe_table``), or the command that runs the study where it has
    not reached its budget in this store."""
    if pairs:
        return HTML(appe_table(pairs))
    command = f"python -m aevb study appe-anneal --budget {APPE_BUDGET} --seed 0-2"
    return Markdown(f"*The study has not reached its budget here:* `{command}`")
