"""Chapter 13's streaming section (§2: "Note that our method can be applied to online, non-stationary settings,
e.g. streaming data, but here we assume a fixed dataset for simplicity."): the ``streaming`` measurement
(``python -m aevb measure streaming``, ``aevb.experiments.streaming``) as the page's figure, table and glued
numbers.

- ``stream_rows``: the stored rows (None where not measured); ``stream_summary``: what they show
  (``aevb.experiments.streaming.summary``, the scorecard's numbers too);
- ``plot_stream``: for one stream length, the test bound on each phase's digits over the stream, seeds averaged,
  the phases shaded, the shuffled model's dotted; one panel per setting (stream, replay, larger step);
- ``stream_table``: per stream length and setting, learning the current phase, forgetting and the final bound,
  each against the shuffled model's;
- ``stream_facts``: every number the prose states, under flat names (``stream1_forgetting``: the strict stream's
  mean forgetting; ``replay10_final_gap``: ...);
- ``stream_findings``: what the numbers show, as markdown computed from them, ending with the scorecard rule's
  verdict (``aevb.book.verdicts.ONLINE``) and its note;
- ``check_stream``: the page's check of the store (a prefix of one run re-trained).
"""
from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.lines import Line2D

from aevb.book.figures import store_dir
from aevb.book.verdicts import online
from aevb.config import TrainConfig
from aevb.experiments.measurements import read_measurement
from aevb.experiments.streaming import (
    MODEL,
    PER_PHASE,
    PHASES,
    REPLAY_CAPACITY,
    check,
    phase_end_positions,
    phase_name,
    summary,
)
from aevb.plots import DRAW_WIDTH, Table, table

NAME = "streaming"
PANELS = ("stream", "replay", "large-step")  # the settings drawn, one panel each, against "shuffled"
KEYS = {"shuffled": "shuffled", "stream": "stream", "replay": "replay", "large-step": "large"}  # in facts' names
TITLES = {"stream": "the stream", "replay": f"the stream with replay ({REPLAY_CAPACITY:,} images)",
          "large-step": "the stream at a larger step size", "shuffled": "shuffled whole (the paper's setting)"}


def stream_rows(results_dir: str | Path | None = None) -> list[dict] | None:
    """The stored rows of the measurement (``store_dir(results_dir)``), or None where it has not been measured."""
    return read_measurement(NAME, store_dir(results_dir))


def stream_summary(rows: list[dict]) -> dict:
    """What the rows show (``aevb.experiments.streaming.summary``): the one home of these numbers."""
    return summary(rows)


def _seed_means(rows: list[dict], passes: int, setting: str) -> dict[str, list[tuple[float, float]]]:
    """{phase or "all": [(samples, bound averaged over seeds)]} of one setting and stream length."""
    by: dict = {}
    for r in rows:
        if int(r["passes"]) == passes and r["setting"] == setting:
            by.setdefault(r["phase"], {}).setdefault(r["samples"], []).append(r["bound"])
    return {ph: [(s, statistics.fmean(b)) for s, b in sorted(v.items())] for ph, v in by.items()}


def plot_stream(rows: list[dict], passes: int, fig=None):
    """The test bound on each phase's test digits (one colour per phase) over the stream of ``passes`` passes per
    phase, seeds averaged: one panel per setting of ``PANELS`` (solid), the shuffled model's at the same positions
    dotted, each phase's stretch of the stream shaded in its colour. The y-axis spans the stream's and the shuffled
    model's curves from the second phase on; lower values (every curve's first evaluations, the larger step
    size's falls) are cut."""
    names = [phase_name(p) for p in PHASES]
    colors = dict(zip(names, sns.color_palette("tab10", len(names))))
    ends = [0] + phase_end_positions(rows, passes)
    scale = 1_000
    base = _seed_means(rows, passes, "shuffled")
    panels = [p for p in PANELS if any(r["setting"] == p and int(r["passes"]) == passes for r in rows)]
    if fig is None:
        fig = plt.figure(figsize=(DRAW_WIDTH, 1.0 + 2.3 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    shown = []
    for ax, setting in zip(axes, panels):
        mine = _seed_means(rows, passes, setting)
        for k, name in enumerate(names):
            ax.axvspan(ends[k] / scale, ends[k + 1] / scale, color=colors[name], alpha=0.12, lw=0)
            for curve, style in ((base, ":"), (mine, "-")):
                xs, ys = zip(*curve[name])
                ax.plot([x / scale for x in xs], ys, style, color=colors[name], lw=1.8 if style == "-" else 1.3)
                if setting == "stream" or curve is base:  # the y-range: theirs, from the second phase on
                    shown += [y for x, y in zip(xs, ys) if x > ends[1]]
        ax.set_title(TITLES[setting], loc="left")
        ax.set_ylabel("test bound (nats)")
    lo, hi = min(shown), max(shown)
    axes[0].set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    axes[-1].set_xlabel(f"stream samples (thousands), {passes} pass{'es' if passes > 1 else ''} per phase")
    handles = [Line2D([], [], color=colors[n], lw=6, alpha=0.6, label=f"digits {n.replace('-', ', ')}")
               for n in names]
    handles += [Line2D([], [], color="0.3", ls="-", label="this setting"),
                Line2D([], [], color="0.3", ls=":", label="shuffled whole")]
    fig.legend(handles=handles, loc="outside upper center", ncol=4, frameon=False)
    return fig


def _pm(mean_sd: tuple[float, float]) -> str:
    return f"{mean_sd[0]:+.1f} ± {mean_sd[1]:.1f}"


def _mean_of(pairs: list[tuple[float, float]]) -> float:
    return statistics.fmean(m for m, _ in pairs)


def stream_table(s: dict) -> Table:
    """Per stream length and setting: the mean over phases of (its bound on the current phase's digits at the end
    of the phase − the shuffled model's there), the mean and the largest forgetting (a phase's bound at the end of
    its phase − at the end of the stream), the final whole-test bound and its difference from the shuffled
    model's (± the standard deviation over seeds); the per-phase numbers folded below."""
    shown, detail = [], []
    for passes, settings in sorted(s["streams"].items()):
        for setting, n in settings.items():
            shown.append({"passes": passes, "setting": setting,
                          "current phase": f"{_mean_of(n['current_gap']):+.1f}",
                          "forgetting": f"{_mean_of(n['forgetting']):.1f} ({max(m for m, _ in n['forgetting']):.1f})",
                          "final": f"{n['final'][0]:.1f}", "final − shuffled": _pm(n["final_gap"])})
            detail += [{"passes": passes, "setting": setting, "phase": name, "end of its phase": f"{c[0]:.1f}",
                        "− shuffled": _pm(g), "forgetting": _pm(f) if f else ""}
                       for name, c, g, f in zip(s["phases"], n["current"], n["current_gap"], [*n["forgetting"], None])]
    main = table(shown, dict.fromkeys(shown[0], ""), headers={"current phase": "current phase − shuffled",
                                                               "forgetting": "forgetting: mean (largest)"},
                 caption=f"Test bound (nats), {s['seeds']} seeds: on the current phase's digits at the end of each "
                         f"phase against the shuffled model's there (mean over phases), the fall of each earlier "
                         f"phase's bound by the stream's end, and the whole test set's bound at the end")
    return main.folded("Per phase (± standard deviation over seeds)", table(detail, dict.fromkeys(detail[0], "")))


def stream_facts(s: dict) -> dict:
    """The numbers the prose states: the step sizes, replay capacity, seeds, phases' sizes; per stream length p and
    setting key (``KEYS``) ``{key}{p}_current_gap`` (mean over phases), ``_forgetting`` (mean), ``_forgetting_max``,
    ``_final``, ``_final_gap`` (and ``_final_sd``); the model's sizes, M, evaluations per phase, phases, the longer
    stream's passes. Numbers only (glued as text); the verdict is in ``stream_findings``."""
    out = {"stream_lr": s["lr"], "stream_larger_lr": s["larger_lr"], "stream_larger_factor": s["larger_lr"] / s["lr"],
           "stream_replay": s["replay"], "stream_seeds": s["seeds"]}
    for passes, settings in s["streams"].items():
        out[f"stream{passes}_samples"] = s["ends"][passes][-1]
        for setting, n in settings.items():
            key = f"{KEYS[setting]}{passes}"
            out.update({f"{key}_current_gap": _mean_of(n["current_gap"]),
                        f"{key}_forgetting": _mean_of(n["forgetting"]),
                        f"{key}_forgetting_max": max(m for m, _ in n["forgetting"]),
                        f"{key}_final": n["final"][0], f"{key}_final_sd": n["final"][1],
                        f"{key}_final_gap": n["final_gap"][0]})
    out.update({"stream_nz": MODEL["n_z"], "stream_batch": TrainConfig(**MODEL).batch_size,
                "stream_hidden": MODEL["hidden"][0], "stream_per_phase": PER_PHASE, "stream_phases": len(PHASES),
                "stream_long_passes": max(s["streams"])})
    return out


def _relative(gap: float) -> str:
    """A difference from the shuffled model in words: "3.2 nats ahead of" / "3.2 nats behind"."""
    return f"{abs(gap):.1f} nats {'ahead of' if gap > 0 else 'behind'}"


def _change(forgetting: float) -> str:
    """The mean forgetting in words: the earlier phases' bounds "fell by 3.2 nats on average" / "rose by"."""
    return f"earlier phases' bounds {'fell' if forgetting > 0 else 'rose'} by {abs(forgetting):.1f} nats on average"


def stream_findings(s: dict) -> str:
    """What the measurement shows, as markdown bullets computed from ``summary`` (so that a rerun with another
    store says what *its* numbers show): per stream length, learning the current phase, forgetting, the final
    model, and what replay and the larger step size change."""
    out = []
    for passes, settings in sorted(s["streams"].items()):
        st, base = settings["stream"], settings["shuffled"]
        gaps = [m for m, _ in st["current_gap"]]
        falls = [m for m, _ in st["forgetting"]]
        k = falls.index(max(falls))
        line = (f"- **{passes} pass{'es' if passes > 1 else ''} per phase "
                f"({s['ends'][passes][-1]:,} stream samples).** At the end of each phase the stream's bound on "
                f"that phase's test digits is {_relative(statistics.fmean(gaps))} the shuffled model's there "
                f"(mean over phases; {min(gaps):+.1f} to {max(gaps):+.1f}). By the stream's end an earlier "
                f"phase's bound has fallen by {statistics.fmean(falls):.1f} nats on average, most for digits "
                f"{s['phases'][k].replace('-', ' and ')} ({falls[k]:.1f}; the shuffled model's "
                f"{'fell' if base['forgetting'][k][0] > 0 else 'rose'} by {abs(base['forgetting'][k][0]):.1f} "
                f"over the same stretch); on the whole test set the stream ends "
                f"{_relative(st['final_gap'][0])} the shuffled model.")
        for other, words in (("replay", f"Replay from {s['replay']:,} images"),
                             ("large-step", f"{s['larger_lr'] / s['lr']:g} times the step size")):
            if other in settings:
                n = settings[other]
                line += (f" {words}: {_change(_mean_of(n['forgetting']))} (the largest fall "
                         f"{max(m for m, _ in n['forgetting']):.1f}), final {_relative(n['final_gap'][0])} the "
                         f"shuffled model.")
        out.append(line)
    verdict, _, note = online(s)
    out.append(f"- **The scorecard's verdict: {verdict}.** {note}.")
    return "\n".join(out)


def check_stream(results_dir: str | Path | None = None) -> str:
    """Re-train the first samples of one stored run (``aevb.experiments.streaming.check``; raises ``StoreError``
    where the store disagrees) and say what was compared, in a line for the page."""
    c = check(store_dir(results_dir), log=lambda *_: None)
    return (f"{c['run']}: trained again to {c['samples']:,} stream samples, all {c['compared']} bounds within "
            f"{c['atol']} nats of the shipped ones (largest difference {c['largest_difference']:.1e} nats)")
