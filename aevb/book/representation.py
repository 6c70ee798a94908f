"""Chapter 13, the representation section (§1: "The learned approximate posterior inference model can also be used
for a host of tasks such as recognition, denoising, representation and visualization purposes."): the page's
figure, table and numbers, from the store's ``representation`` measurement
(``aevb.experiments.representation``: linear probes on the encoder's means of Fig. 5's models, PCA and raw
pixels), so that the chapter's cells only call, show and glue.

- ``load``: the measurement's summary and the rule's verdict on it (``aevb.book.verdicts.REPRESENTS``);
- ``accuracy_figure``: test accuracy against the labels used, one panel per N_z, one line per feature kind;
- ``accuracy_table``: the same numbers as a table, with the encoder's margin over PCA;
- ``encoding_scatter``: the N_z = 2 model's encoder means of the test images, coloured by digit (the stored
  encodings of Fig. 4's run: no checkpoint needed);
- ``facts``: every number the prose states (``rep_*``), for ``aevb.book.chapter.glue_all``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from aevb.book.figures import store_dir, stored_decoder
from aevb.book.verdicts import PROBE_MARGIN, USEFUL_ACCURACY, probe_order, represents
from aevb.experiments.measurements import read_measurement
from aevb.experiments.representation import (
    CHECK_IMAGES,
    LABELS,
    N_ZS,
    NAME,
    RUNS,
    SUBSET_SEEDS,
    check,
    summary,
)
from aevb.experiments.store import read_run, run_path
from aevb.linear_probe import PROBE
from aevb.plots import COLORS, Table, table

KINDS = {"aevb": ("encoder means μ(x)", COLORS["aevb"], "-"), "pca": ("PCA, as many components", "tab:blue", "-"),
         "pixels": ("raw pixels (784)", "0.35", "--")}  # feature kind -> (legend, colour, line style)
WIDTH, HEIGHT = 6.0, 4.8  # inches: 2 × 2 panels, legible at the page's width and scaled to a phone's
SCATTER_WIDTH = 4.8  # inches: the N_z = 2 encodings


def load(results_dir: str | Path | None = None) -> dict:
    """The stored rows' summary (``aevb.experiments.representation.summary``) with ``verdict`` and ``note``
    (``aevb.book.verdicts.represents`` on it), from ``results_dir`` (None: the committed store); a
    ``FileNotFoundError`` naming the command where the measurement is not in the store."""
    results_dir = store_dir(results_dir)
    rows = read_measurement(NAME, results_dir)
    if rows is None:
        raise FileNotFoundError(f"{Path(results_dir) / 'studies' / (NAME + '.csv')} is not in the store: measure "
                                f"it with python -m aevb measure {NAME}")
    out = summary(rows)
    out["verdict"], out["note"] = represents(out["vs_pca"], out["vs_pixels"], out["n_test"])
    return out


def _cell(cells: list[dict], kind: str, dims: int, labels: int) -> dict | None:
    return next((c for c in cells if (c["features"], c["dims"], c["labels"]) == (kind, dims, labels)), None)


def accuracy_figure(result: dict):
    """Test accuracy (%) against labelled training images (log axis), one panel per N_z, the encoder's means, PCA
    with N_z components and raw pixels (the same in every panel); bars: ± one standard deviation over the
    labelled subsets drawn. Returns the figure."""
    fig, grid = plt.subplots(2, 2, figsize=(WIDTH, HEIGHT), sharex=True, sharey=True, layout="constrained")
    cells = result["cells"]
    for ax, n_z in zip(grid.flat, N_ZS):
        for kind, (_, color, style) in KINDS.items():
            shown = [c for n in LABELS if (c := _cell(cells, kind, 784 if kind == "pixels" else n_z, n))]
            if shown:
                ax.errorbar([c["labels"] for c in shown], [100 * c["accuracy"] for c in shown],
                            yerr=[100 * c["spread"] for c in shown], color=color, linestyle=style, marker="o",
                            markersize=4, capsize=2)
        ax.set(xscale="log", title=f"$N_z$ = {n_z}", xticks=list(LABELS), xticklabels=[f"{n:,}" for n in LABELS])
        ax.minorticks_off()
    fig.supxlabel("labelled training images")
    fig.supylabel("test accuracy (%)")
    handles = [Line2D([], [], color=color, linestyle=style, marker="o", markersize=4)
               for _, color, style in KINDS.values()]
    fig.legend(handles, [label for label, _, _ in KINDS.values()], loc="outside upper center", ncols=2)
    return fig


def table_rows(result: dict) -> list[dict]:
    """One row per (N_z, labels): the three probes' accuracies (mean ± standard deviation over subset seeds, %)
    and the encoder's margin over PCA (percentage points)."""
    cells, rows = result["cells"], []
    for n_z in N_ZS:
        for n in LABELS:
            enc, pca, pix = (_cell(cells, k, d, n) for k, d in (("aevb", n_z), ("pca", n_z), ("pixels", 784)))
            rows.append({"N_z": n_z, "labels": n, "encoder": _pm(enc), "PCA": _pm(pca), "pixels": _pm(pix),
                         "margin": None if not (enc and pca) else 100 * (enc["accuracy"] - pca["accuracy"])})
    return rows


def _pm(cell: dict | None) -> str | None:
    if cell is None:
        return None
    mean = f"{100 * cell['accuracy']:.1f}"
    return mean if cell["seeds"] == 1 else f"{mean} ± {100 * cell['spread']:.1f}"


def accuracy_table(result: dict) -> Table:
    """``table_rows`` as the page's table."""
    return table(table_rows(result), {"N_z": "d", "labels": ",", "encoder": "", "PCA": "", "pixels": "",
                                      "margin": "+.1f"},
                 headers={"encoder": "encoder μ(x) (%)", "PCA": "PCA (%)", "pixels": "raw pixels (%)",
                          "margin": "encoder − PCA (points)"})


def encoding_scatter(results_dir: str | Path | None = None):
    """The N_z = 2 model's encoder means of MNIST's 10,000 test images, coloured by digit class (the encodings
    stored with Fig. 4's run, ``decoder.npz``; ``results_dir`` None: the committed store). Returns the figure, or
    None where the run stores none."""
    stored = stored_decoder(read_run(run_path(store_dir(results_dir), RUNS[2])))
    if stored is None:
        return None
    z, y = stored["encodings"], stored["labels"]  # (N, 2), (N,)
    fig, ax = plt.subplots(figsize=(SCATTER_WIDTH, SCATTER_WIDTH * 0.8), layout="constrained")
    colors = plt.get_cmap("tab10")
    for c in range(10):
        ax.scatter(*z[y == c].T, s=2, color=colors(c), alpha=0.5, rasterized=True, linewidths=0, label=str(c))
    lo, hi = np.percentile(z, [0.5, 99.5], axis=0)  # (2,), (2,): the few far outliers left out of the view
    ax.set(xlabel=r"$\mu_1(\mathbf{x})$", ylabel=r"$\mu_2(\mathbf{x})$", xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    fig.legend(title="digit", loc="outside right center", markerscale=5, handletextpad=0.1)
    return fig


def check_line(results_dir: str | Path | None = None) -> str:
    """The page's store check (``aevb.experiments.representation.check`` on ``results_dir``, None: the committed
    store), in one line; a ``StoreError`` where the store differs from the code."""
    rows = check(store_dir(results_dir), log=lambda *_: None)["rows"]
    shown = "; ".join(f"{r['features']} ({r['dims']}), {r['labels']} labels: {100 * r['recomputed']:.2f}% here, "
                      f"{100 * r['stored']:.2f}% shipped" for r in rows)
    return (f"Fitted again while this page was built (within {CHECK_IMAGES} test images of the shipped "
            f"accuracies): {shown}")


def facts(result: dict) -> dict:
    """The numbers the prose states, by name: the verdict and its note (``rep_verdict``, ``rep_note``); the
    probes' accuracies (%) at 100 and all labels (``rep_pixels_*``, ``rep_pca2_*``, ``rep_enc{N_z}_*``, ``*_100``
    the mean over subset seeds); the best N_z at 100 labels; how many settings the encoder leads PCA at and the N_z
    where its margin over PCA, averaged over the label counts, is widest (``rep_widest_nz``, ``rep_widest_margin``,
    percentage points); and the
    set-up (labels, seeds, CV folds, λ grid, L-BFGS cap, models' training samples, the rule's thresholds) and
    ``rep_minutes``, the CPU minutes the classifiers took (their rows' ``seconds``)."""
    cells = result["cells"]
    out = {"rep_verdict": result["verdict"], "rep_note": result["note"]}
    for n, tag in ((LABELS[0], "100"), (LABELS[1], "1000"), (LABELS[-1], "all")):
        for kind, dims, name in [("pixels", 784, "pixels"), *[(k, z, f"{k.replace('aevb', 'enc')}{z}")
                                                              for k in ("aevb", "pca") for z in N_ZS]]:
            cell = _cell(cells, kind, dims, n)
            if cell:
                out[f"rep_{name}_{tag}"] = round(100 * cell["accuracy"], 1)
    at_100 = [c for c in cells if c["features"] == "aevb" and c["labels"] == LABELS[0]]
    if at_100:
        best = max(at_100, key=lambda c: c["accuracy"])
        out.update(rep_best_nz_100=best["dims"], rep_best_100=round(100 * best["accuracy"], 1))
    margins = [100 * (a - b) for _, a, b, _ in result["vs_pca"]]
    by_nz = {z: [100 * (e["accuracy"] - p["accuracy"]) for n in LABELS
                 if (e := _cell(cells, "aevb", z, n)) and (p := _cell(cells, "pca", z, n))] for z in N_ZS}
    by_nz = {z: sum(m) / len(m) for z, m in by_nz.items() if m}
    if by_nz:
        widest = max(by_nz, key=by_nz.get)
        out.update(rep_widest_nz=widest, rep_widest_margin=round(by_nz[widest], 1))
    ahead = [s for s, a, b, sd in result["vs_pca"] if probe_order(a, b, sd, result["n_test"]) > 0]
    samples = sorted(set(result["samples"].values()))
    out.update(rep_ahead=len(ahead), rep_settings=len(result["vs_pca"]),
               rep_margin_min=round(min(margins), 1) if margins else float("nan"),
               rep_margin_max=round(max(margins), 1) if margins else float("nan"),
               rep_labels=", ".join(f"{n:,}" for n in LABELS), rep_all_labels=f"{LABELS[-1]:,}",
               rep_seeds=len(SUBSET_SEEDS), rep_folds=PROBE.folds,
               rep_l2_grid=", ".join(f"{v:g}" for v in PROBE.l2_grid), rep_max_iter=PROBE.max_iter,
               rep_samples=" and ".join(f"{s:,}" for s in samples), rep_probe_margin=PROBE_MARGIN,
               rep_useful=f"{USEFUL_ACCURACY:.0%}", rep_minutes=round(result["seconds"] / 60, 1))
    return out
