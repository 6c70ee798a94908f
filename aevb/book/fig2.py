"""Chapter 8 (Figure 2, §5: the lower bound against training samples): the comparison its prose states, and what
the page shows of its two studies (the Frey Face split, ``aevb.book.frey_split``; the latent-use study,
``aevb.book.frey_latent_use``), computed here so that the chapter's cells only call, show and glue.

- ``wake_sleep_comparison``: AEVB against wake-sleep at the last evaluation and over training (``mnist_z3_tie``);
- ``split_notice``, ``split_facts`` and ``split_figure``: the Frey Face split study's missing runs, numbers and
  figure;
- ``latent_use_shown`` and ``latent_use_figure``: the latent-use study's table, numbers (``latent_*``) and figure.
"""
from __future__ import annotations

from typing import Iterable

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from matplotlib.ticker import MaxNLocator

from aevb.book.figures import mean_curves
from aevb.book.frey_latent_use import curves, final_rows, findings, z_free_baseline
from aevb.book.frey_split import ZFREE_ROW, split_numbers, split_shown
from aevb.experiments.curves import behind, largest_difference_between
from aevb.experiments.grids import FIG2_NZ
from aevb.experiments.store import StoredRun
from aevb.plots import COLORS, DRAW_WIDTH

TIE_SAMPLES = (200_000, 1_000_000)  # where MNIST N_z = 3's test curves of AEVB and wake-sleep stay close


def wake_sleep_comparison(table: list[dict], runs: Iterable[StoredRun]) -> tuple[str, dict]:
    """AEVB against wake-sleep in Fig. 2, each run's seeds averaged (``aevb.book.figures.mean_curves``): in how
    many panels of ``table`` (``aevb.book.figures.panel_table``'s rows) AEVB is above at the last shared evaluation
    on both splits, and at which test evaluations wake-sleep is at or above AEVB (a report of both); and
    ``mnist_z3_tie``: the largest difference of MNIST N_z = 3's test curves between ``TIE_SAMPLES`` (nats; NaN where
    a curve is not stored), ``ws_final_ahead`` (those panels) and ``ws_panels`` (the panels with both)."""
    aevb = {r["panel"]: r for r in table if r["algorithm"] == "aevb"}
    ws = [r for r in table if r["algorithm"] == "wake-sleep"]
    final_ahead = sum(aevb[r["panel"]]["train"] > r["train"] and aevb[r["panel"]]["test"] > r["test"]
                      for r in ws if r["panel"] in aevb)
    by_panel = mean_curves(runs, lambda c: (c.dataset, c.n_z), "bound")
    late = [s for algs in by_panel.values() if algs.get("aevb") and algs.get("wake-sleep")
            for s in behind(algs["aevb"], algs["wake-sleep"], "test_bound")]
    report = (f"AEVB ahead of wake-sleep at the last shared evaluation, train and test: {final_ahead} of {len(ws)} "
              "panels\ntest evaluations where wake-sleep is at or above AEVB: "
              + (f"{len(late)}, the latest at {max(late):,} samples" if late else "none"))
    tie = [by_panel.get(("mnist", 3), {}).get(alg) for alg in ("aevb", "wake-sleep")]
    return report, {"mnist_z3_tie": largest_difference_between(*tie, "test_bound", *TIE_SAMPLES)
                    if all(tie) else float("nan"), "ws_final_ahead": final_ahead, "ws_panels": len(ws)}


def split_notice(absent: list[str], samples: int) -> Markdown | None:
    """The line saying which runs of the split study (``absent``: ``frey_split.missing_runs``) are not trained to
    ``samples`` yet, so left out of its table, with the command that trains them; None where none is missing."""
    if not absent:
        return None
    command = f"python -m aevb study frey-split --budget {samples}"
    return Markdown(f"**Not trained to {samples:,} samples yet, left out of the table:** "
                    + ", ".join(f"`{name}`" for name in absent) + f" (train them: `{command}`).")


def split_facts(split: pd.DataFrame, samples: int) -> dict:
    """The split study's numbers, by name, for the prose (``split_samples``, ``frey_split.split_numbers``) and its
    table (``split_table``), from ``frey_split.split_table``'s ``split``."""
    return {"split_samples": samples, **split_numbers(split), "split_table": split_shown(split)}


def split_figure(split: pd.DataFrame, samples: int):
    """The split study as a figure: AEVB's train − test gap (the z-free model's dotted) and its test bound against
    N_z, a line per setting; narrower than the page (the page shows it in a folded box)."""
    split_long = (  # one row per N_z and setting: train, test, gap
        split.iloc[:-1].set_axis(FIG2_NZ["frey"]).rename_axis("N_z").stack("setting")).reset_index()
    settings = list(split.columns.unique("setting"))
    colors = dict(zip(settings, sns.color_palette("colorblind")))
    fig, (ax_gap, ax_test) = plt.subplots(1, 2, figsize=(DRAW_WIDTH - 0.6, 3.6), layout="constrained")
    for ax, measure in ((ax_gap, "gap"), (ax_test, "test")):
        sns.lineplot(data=split_long, x="N_z", y=measure, hue="setting", hue_order=settings, palette=colors,
                     marker="o", legend=ax is ax_gap, ax=ax)
        ax.set(xticks=FIG2_NZ["frey"])
        ax.set_xlabel("$N_z$")
    for setting, color in colors.items():  # the z-free model's gap, dotted
        ax_gap.axhline(split.loc[ZFREE_ROW, (setting, "gap")], color=color, ls=":", lw=1)
    ax_gap.axhline(0, color="black", lw=0.5)
    ax_gap.set(ylabel="train − test bound (nats)", title="AEVB gap (dotted: no z)")
    ax_test.set(ylabel="test bound (nats)", title="test bound")
    handles, labels = ax_gap.get_legend_handles_labels()
    ax_gap.get_legend().remove()
    fig.legend(handles, labels, loc="outside lower center", ncols=4)
    fig.suptitle(f"Frey Face splits at {samples:,} samples")
    return fig


def latent_use_shown(latent: list[StoredRun]):
    """The latent-use study's runs (``frey_latent_use.latent_use_runs``) at their end: the table shown (a
    ``Styler``, or a line with the command that trains the study) and its findings, named ``latent_*``."""
    rows = final_rows(latent)
    if not rows:
        return Markdown("**The `frey-latent-use` study has not been trained yet** "
                        "(`python -m aevb study frey-latent-use --budget 1e6 --seed 0-3`)."), {}
    facts = {f"latent_{name}": value for name, value in findings(rows, z_free_baseline(latent[0].config)).items()}
    shown = (pd.DataFrame(rows).style.format(precision=3).format("{:,}", subset=["samples"])
             .format("{:g}", subset=["step size"]).hide(axis="index"))
    return shown, facts


def latent_use_figure(latent: list[StoredRun]):
    """The latent-use study over training: active units and the total KL of each run (a panel each), as a
    seaborn ``FacetGrid``; None where no run has a curve."""
    over = pd.DataFrame(curves(latent))
    if not len(over):
        return None
    long = over.melt(id_vars=["algorithm", "start", "seed", "samples"], value_vars=["active units", "KL total"],
                     var_name="measure", value_name="value")
    g = sns.relplot(data=long, x="samples", y="value", hue="algorithm", style="start", units="seed", estimator=None,
                    row="measure", kind="line", height=2.5, aspect=2.3, lw=1, facet_kws={"sharey": False},
                    palette={a: COLORS[a] for a in ("aevb", "wake-sleep")})
    g.set(xscale="log", xlabel="training samples")
    g.set_titles(row_template="{row_name}")
    g.axes[0, 0].yaxis.set_major_locator(MaxNLocator(integer=True))  # a count
    g.axes[1, 0].set_yscale("symlog", linthresh=0.01)  # from 0: a KL is never negative
    g.axes[1, 0].set_ylim(bottom=0)
    g.axes[0, 0].set_ylabel("active units")
    g.axes[1, 0].set_ylabel("Σ_j KL (nats)")
    return g
