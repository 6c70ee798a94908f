"""Figures and tables of the book: Fig. 1 (the graphical model), image grids (Fig. 4, 5), training curves
(Fig. 2, 3), the book's one figure style (``book_style``) and its HTML tables (``table``).

Plain matplotlib and seaborn; every plotting function draws on an ``ax`` it is given (or a new one) and returns it.
"""
from __future__ import annotations

import html

import IPython
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib_inline.backend_inline import set_matplotlib_formats
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from aevb.datasets import DATASETS

IMAGE_SHAPES = {info.d_x: info.image_shape for info in DATASETS.values()}  # pixels -> (height, width)


def _ax(ax, figsize=(4, 3)):
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def draw_figure1(ax=None):
    """Fig. 1: solid lines p_θ(z) p_θ(x|z), dashed lines the approximation q_φ(z|x); plate over N."""
    ax = _ax(ax, (3.6, 3.2))
    nodes = {"phi": (0.45, 2.0, r"$\phi$", False), "theta": (2.55, 2.0, r"$\theta$", False),
             "z": (1.5, 2.0, r"$\mathbf{z}$", True), "x": (1.5, 0.75, r"$\mathbf{x}$", True)}
    for name, (x, y, label, random) in nodes.items():
        r = 0.3 if random else 0.12
        face = "#d9d9d9" if name == "x" else "white"
        if random:
            ax.add_patch(Circle((x, y), r, fc=face, ec="black", lw=1.3, zorder=2))
        else:
            ax.add_patch(Circle((x, y), r, fc="black", zorder=2))
        ax.text(x + (0 if random else 0.02), y + (0 if random else 0.3), label, ha="center", va="center",
                fontsize=14, zorder=3)

    def arrow(a, b, dashed=False, rad=0.0):
        (xa, ya), (xb, yb) = nodes[a][:2], nodes[b][:2]
        ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), arrowstyle="-|>", mutation_scale=14,
                                     shrinkA=12 if a in "zx" else 6, shrinkB=14, lw=1.3,
                                     linestyle="--" if dashed else "-", connectionstyle=f"arc3,rad={rad}",
                                     color="black", zorder=1))

    arrow("z", "x", rad=-0.35)
    arrow("x", "z", dashed=True, rad=-0.35)
    arrow("theta", "z")
    arrow("theta", "x")
    arrow("phi", "z", dashed=True)
    ax.add_patch(FancyBboxPatch((1.0, 0.3), 1.0, 2.2, boxstyle="round,pad=0.02", fc="none", ec="black"))
    ax.text(1.9, 0.4, r"$N$", ha="center", va="center", fontsize=12)
    ax.set_xlim(0, 3)
    ax.set_ylim(0, 2.8)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def image_grid(x, nrow: int, ax=None, shape: tuple[int, int] | None = None, title: str | None = None):
    """Show rows of x: (N, D) as a grid of images with ``nrow`` rows (D = 784 or 560: the image shape from ``aevb.datasets``)."""
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    h, w = shape or IMAGE_SHAPES[x.shape[1]]
    ncol = int(np.ceil(len(x) / nrow))
    canvas = np.ones((nrow * (h + 1) - 1, ncol * (w + 1) - 1))
    for i, img in enumerate(x):
        r, c = divmod(i, ncol)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = img.reshape(h, w)
    ax = _ax(ax, (ncol * w / 28 * 0.6, nrow * h / 28 * 0.6))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def plot_curve(rows: list[dict], ax=None, label: str = "", color=None, key: str = "bound", legend: bool = True):
    """Fig. 2 / Fig. 3 style: ``train_{key}`` (solid) and ``test_{key}`` (dashed) vs training samples evaluated
    (log x). key "bound": the average lower bound (Fig. 2); "marginal": the estimated log p(x) (Fig. 3)."""
    ax = _ax(ax, (5, 3.5))
    s = [r["samples"] for r in rows]
    line, = ax.plot(s, [r[f"train_{key}"] for r in rows], "-", color=color, label=f"{label} train".strip())
    ax.plot(s, [r[f"test_{key}"] for r in rows], "--", color=line.get_color(), label=f"{label} test".strip())
    ax.set_xscale("log")
    ax.set_xlabel("# training samples evaluated")
    ax.set_ylabel(r"average $\mathcal{L}$ (nats)" if key == "bound" else "estimated log p(x) (nats)")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend()
    return ax


PAGE_WIDTH = 7.2  # inches: a figure this wide is shown at its natural size in the book's text column
FULL_WIDTH = 10.0  # inches: the same for a cell tagged ``full-width`` (the column and the right margin)


def book_style() -> None:
    """The one style of every figure in the book, set once at the top of each chapter: seaborn's theme, fonts
    legible at the page's width (figures are drawn at most ``PAGE_WIDTH`` inches wide, so they are not shrunk),
    and figures shown as SVG (vector: sharp at any zoom) with deterministic ids, so that a re-execution of a
    chapter (nbval) gives the same output."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.15,
                  rc={"figure.dpi": 96, "svg.hashsalt": "aevb-companion", "svg.fonttype": "path",
                      "axes.titlesize": "medium", "legend.fontsize": "small", "legend.frameon": False})
    mpl.rcParams["image.cmap"] = "gray"
    if IPython.get_ipython() is not None:  # in a notebook's kernel: its inline figures as SVG without a date
        set_matplotlib_formats("svg", metadata={"Date": None})


class Table:
    """A results table as the book shows it: an HTML table in the page (``_repr_html_``), aligned text where
    there is no HTML (``__repr__``, a terminal). Build it with ``table``."""

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame = frame  # the formatted cells, as strings, one column per key
        self.caption = caption  # shown above the table, or None

    def _repr_html_(self) -> str:
        body = self.frame.to_html(index=False, border=0, classes=["aevb-table"], escape=True)
        return f"<p><b>{html.escape(self.caption)}</b></p>{body}" if self.caption else body

    def __repr__(self) -> str:
        text = self.frame.to_string(index=False)
        return f"{self.caption}\n{text}" if self.caption else text


def table(rows: list[dict], columns: dict[str, str], caption: str | None = None) -> Table:
    """``rows`` as a ``Table``: ``columns`` maps a row key to its format spec (e.g. {"L": "d", "variance": ".3g"};
    "" for ``str``), in the order shown. A value that is None shows as an empty cell."""
    missing = sorted({k for r in rows for k in columns if k not in r})
    if missing:
        raise KeyError(f"table: the rows have no {missing} (their keys: {sorted({k for r in rows for k in r})})")
    cells = {k: ["" if r[k] is None else format(r[k], f) if f else str(r[k]) for r in rows] for k, f in columns.items()}
    return Table(pd.DataFrame(cells, columns=list(columns)), caption)


def format_table(rows: list[dict], columns: dict[str, str]) -> Table:
    """Deprecated name of ``table`` (kept while the chapters move to it)."""
    return table(rows, columns)


COLORS = {"aevb": "tab:red", "wake-sleep": "tab:green", "mcem": "tab:blue", "full-vb": "tab:purple"}


def plot_panels(runs: list[dict], axes: dict, panel_of, title_of, key: str = "bound"):
    """Fig. 2 / Fig. 3 layout: every stored run (``aevb.experiments.store.figure_runs``) drawn with ``plot_curve`` on the
    panel ``axes[panel_of(config)]``, one colour per algorithm; each panel titled ``title_of(panel)``."""
    for r in runs:
        if r["curve"]:
            alg = r["config"].algorithm
            plot_curve(r["curve"], axes[panel_of(r["config"])], label=alg, color=COLORS.get(alg), key=key,
                       legend=False)
    for panel, ax in axes.items():
        ax.set_title(title_of(panel), fontsize=10)
        ax.legend(fontsize=6)
    return axes
