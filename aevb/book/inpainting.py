"""Chapter 13's inpainting section (§2.1: "Common applications in computer vision include image denoising,
inpainting and super-resolution."): the ``inpainting`` measurement (``python -m aevb measure inpainting``,
``aevb.experiments.inpainting``) as the page's figure, table and glued numbers.

- ``fill_rows``: the stored rows (None where not measured); ``fill_summary``: what they show
  (``aevb.experiments.inpainting.summary``, the scorecard's numbers too); ``fill_check``: the page's store check;
- ``fill_figure``: before / during / after for each task on the first test digits: the truth, what is seen
  (unseen pixels in colour), chain samples, the predictive mean;
- ``fill_table``: the log-likelihood and error of the hidden pixels per task and method;
- ``fill_facts``: every number the prose states, under flat names (``fill_bottom_mwg_ll``: Metropolis-within-
  Gibbs's log-likelihood per hidden pixel on the bottom half; ...), with the scorecard rule's verdict and note.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from aevb.book.figures import store_dir
from aevb.book.verdicts import FILL_SE, fills_better
from aevb.experiments.inpainting import (
    BURN_IN,
    EXAMPLE_COLUMNS,
    FLOOR,
    N_TRAIN,
    PROPOSALS,
    STEPS,
    TASKS,
    WARM,
    K,
    check,
    read_examples,
    summary,
)
from aevb.experiments.measurements import read_measurement
from aevb.imputation import METHODS
from aevb.plots import DRAW_WIDTH, Table, table

NAME = "inpainting"
KEYS = {"bottom half": "bottom", "random 80%": "random", "super-resolution ×2": "superres",
        "noise ρ = 0.1": "noise1", "noise ρ = 0.2": "noise2"}  # a task's name in the facts' names
SHORT = {METHODS[0]: "mwg", METHODS[1]: "pseudo"}
UNSEEN = "#3b75af"  # the colour of a pixel not seen at all
HEADERS = ("truth", "seen", "sample", "sample", "sample", "predictive\nmean")


def fill_rows(results_dir: str | Path | None = None) -> list[dict] | None:
    """The stored rows of the measurement (``store_dir(results_dir)``), or None where it has not been measured."""
    return read_measurement(NAME, store_dir(results_dir))


def fill_check(results_dir: str | Path | None = None) -> dict:
    """The store check of the page (``aevb.experiments.inpainting.check``, quiet): the baselines that need no
    checkpoint recomputed and compared with the store; a ``StoreError`` where they differ."""
    return check(store_dir(results_dir), log=lambda *a: None)


def fill_summary(rows: list[dict]) -> dict:
    """What the rows show (``aevb.experiments.inpainting.summary``): the one home of these numbers."""
    return summary(rows)


def fill_figure(results_dir: str | Path | None = None, digits: int = 2):
    """Before / during / after: for each task, the first ``digits`` test digits in rows, in columns the truth,
    what is seen (unseen pixels in ``UNSEEN``), three samples of the Metropolis-within-Gibbs chain after burn-in,
    and the predictive mean. Returns the figure."""
    examples = read_examples(store_dir(results_dir))
    cmap = plt.get_cmap("gray").with_extremes(bad=UNSEEN)
    n_cols = len(EXAMPLE_COLUMNS)
    size = min(0.7, (DRAW_WIDTH - 0.2) / n_cols)  # inches per image
    fig, axes = plt.subplots(len(examples), 1, figsize=(n_cols * size, len(examples) * (digits * size + 0.35)),
                             layout="constrained")
    for ax, (task, images) in zip(np.atleast_1d(axes), examples.items()):
        canvas = np.full((digits * 29 - 1, n_cols * 29 - 1), 1.0)
        for r in range(digits):
            for c in range(n_cols):
                canvas[r * 29: r * 29 + 28, c * 29: c * 29 + 28] = images[r, c].reshape(28, 28)
        ax.imshow(canvas, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([c * 29 + 13.5 for c in range(n_cols)], HEADERS if ax is np.atleast_1d(axes)[0] else [])
        ax.xaxis.set_ticks_position("top")
        ax.tick_params(length=0, labelsize="small")
        ax.set_yticks([])
        ax.set_title(task, loc="left", fontsize="medium", pad=2 if ax is not np.atleast_1d(axes)[0] else None)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig


def fill_table(rows: list[dict]) -> Table:
    """The page's table: per task and method, the log-likelihood per hidden pixel (± its standard error over the
    images) and the error (the share of hidden pixels wrong, %)."""
    shown = [{"task": r["task"], "method": r["method"], "ll": f"{r['loglik']:.3f} ± {r['loglik_se']:.3f}",
              "err": f"{100 * r['error']:.1f} ± {100 * r['error_se']:.1f}"} for r in rows]
    s = summary(rows)
    return table(shown, {"task": "", "method": "", "ll": "", "err": ""},
                 caption=f"The hidden pixels of the first {s['n_images']} test images (mean ± standard error)",
                 headers={"ll": "log-lik. per pixel (nats)", "err": "error (%)"})


def _won(comparisons: list[dict], task: str) -> bool:
    """Whether Metropolis-within-Gibbs is clearly ahead (beyond ``FILL_SE`` standard errors) of every baseline on
    both metrics on ``task``."""
    return all(c["margin"] > FILL_SE * c["noise"] for c in comparisons if c["task"] == task)


def fill_facts(rows: list[dict]) -> dict:
    """Every number the prose states: the settings (``fill_images``, ``fill_train``, ``fill_steps``, ``fill_burn_in``,
    ``fill_proposals``, ``fill_warm``, ``fill_k``, ``fill_floor``, ``fill_samples``: the model's training samples
    in millions); per task (``KEYS``) each chain's log-likelihood (``fill_TASK_mwg_ll``, ``fill_TASK_pseudo_ll``),
    error (``..._err``, %) and acceptance (``fill_TASK_mwg_acc``, %), the best baseline by log-likelihood
    (``fill_TASK_base``) with its numbers (``fill_TASK_base_ll``, ``fill_TASK_base_err``); the verdict
    (``fill_verdict``, ``fill_note``) and the tasks where it is clearly ahead of every baseline on both metrics
    (``fill_won``: "3 of 5"), and those where pseudo-Gibbs's log-likelihood is below its
    (``fill_pseudo_behind``); each task's setting (``fill_TASK_amount``: the noise tasks' ρ)."""
    s = summary(rows)
    tasks, best = s["tasks"], s["best"]
    verdict, note = fills_better(s["comparisons"])
    won = sum(_won(s["comparisons"], t) for t in tasks)
    behind = sum(best[t][METHODS[1]]["loglik"] < best[t][METHODS[0]]["loglik"] for t in tasks)
    out = {"fill_images": f"{s['n_images']:,}", "fill_train": f"{N_TRAIN:,}", "fill_steps": f"{STEPS:,}",
           "fill_burn_in": f"{BURN_IN:,}", "fill_proposals": str(PROPOSALS), "fill_warm": str(WARM),
           "fill_k": str(K), "fill_floor": f"{FLOOR:g}", "fill_samples": f"{s['samples'] / 1e6:g}",
           "fill_verdict": verdict, "fill_note": note, "fill_won": f"{won} of {len(tasks)}",
           "fill_pseudo_behind": f"{behind} of {len(tasks)}",
           **{f"fill_{KEYS.get(name, name)}_amount": f"{task.amount:g}" for name, task in TASKS.items()}}
    for task in tasks:
        key, b = KEYS.get(task, task), best[task]
        for method, short in SHORT.items():
            r = b[method]
            out |= {f"fill_{key}_{short}_ll": f"{r['loglik']:.3f}",
                    f"fill_{key}_{short}_err": f"{100 * r['error']:.1f}"}
        out[f"fill_{key}_mwg_acc"] = f"{100 * b[METHODS[0]]['acceptance']:.0f}"
        base = b["baseline_row"]
        out |= {f"fill_{key}_base": b["baseline"], f"fill_{key}_base_ll": f"{base['loglik']:.3f}",
                f"fill_{key}_base_err": f"{100 * base['error']:.1f}"}
    return out

