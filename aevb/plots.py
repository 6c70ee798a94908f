"""Figures and tables of the book: Fig. 1 (the graphical model), image grids (Fig. 4, 5), training curves
(Fig. 2, 3), the book's one figure style (``book_style``) and its HTML tables (``table``).

Plain matplotlib and seaborn; every plotting function draws on an ``ax`` it is given (or a new one) and returns it,
except ``plot_panels``, which lays out a figure of its own. Curves are drawn by seaborn from long-form tables
(``curve_rows``, ``curves_frame``: one row per evaluation and split), one colour per algorithm (``COLORS``),
training solid and test dashed in a lighter shade, at most ``PAGE_WIDTH`` inches wide (``FULL_WIDTH`` in a cell
tagged ``full-width``).
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
from matplotlib.lines import Line2D
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
    """Show rows of x: (N, D) as a grid of images with ``nrow`` rows (D = 784 or 560: the image shape from
    ``aevb.datasets``); on a new figure of 0.6 in per 28 pixels, shrunk to ``DRAW_WIDTH`` where wider."""
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    h, w = shape or IMAGE_SHAPES[x.shape[1]]
    ncol = int(np.ceil(len(x) / nrow))
    canvas = np.ones((nrow * (h + 1) - 1, ncol * (w + 1) - 1))
    for i, img in enumerate(x):
        r, c = divmod(i, ncol)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = img.reshape(h, w)
    size = np.array([ncol * w, nrow * h]) / 28 * 0.6  # inches: 0.6 per 28 pixels, at most the page's width
    ax = _ax(ax, tuple(size * min(1.0, DRAW_WIDTH / size[0])))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


PAGE_WIDTH = 7.2  # inches: a figure this wide is shown at its natural size in the book's text column
FULL_WIDTH = 10.0  # inches: the same for a cell tagged ``full-width`` (the column and the right margin)
DRAW_WIDTH = PAGE_WIDTH - 0.2  # inches: the width to draw a page-wide figure at: the inline backend shows
# a figure's tight bounding box padded by 0.1 in on each side


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
    there is no HTML (``__repr__``, a terminal). Build it with ``table``; ``folded`` adds a second table of detail
    below it, folded (so that the first keeps few enough columns to fit the page's text column)."""

    def __init__(self, frame: pd.DataFrame, caption: str | None = None,
                 detail: tuple[str, Table] | None = None):
        self.frame = frame  # the formatted cells, as strings, one column per key
        self.caption = caption  # shown above the table, or None
        self.detail = detail  # (summary, table) shown folded below the table under that summary, or None

    def folded(self, summary: str, detail: Table) -> Table:
        """This table with ``detail`` below it, folded under the line ``summary`` (a <details> in the page)."""
        return Table(self.frame, self.caption, (summary, detail))

    def _repr_html_(self) -> str:
        body = self.frame.to_html(index=False, border=0, classes=["aevb-table"], escape=True)
        shown = f"<p><b>{html.escape(self.caption)}</b></p>{body}" if self.caption else body
        if self.detail is None:
            return shown
        summary, detail = self.detail
        return f"{shown}<details><summary>{html.escape(summary)}</summary>{detail._repr_html_()}</details>"

    def __repr__(self) -> str:
        text = self.frame.to_string(index=False)
        shown = f"{self.caption}\n{text}" if self.caption else text
        return shown if self.detail is None else f"{shown}\n\n{self.detail[0]}:\n{self.detail[1]!r}"


def table(rows: list[dict], columns: dict[str, str], caption: str | None = None,
          headers: dict[str, str] | None = None) -> Table:
    """``rows`` as a ``Table``: ``columns`` maps a row key to its format spec (e.g. {"L": "d", "variance": ".3g"};
    "" for ``str``), in the order shown. A value that is None shows as an empty cell. ``headers`` maps a key to
    the header shown for it, in words ({"rel_error": "relative error"}); a key without one is its own header."""
    missing = sorted({k for r in rows for k in columns if k not in r})
    if missing:
        raise KeyError(f"table: the rows have no {missing} (their keys: {sorted({k for r in rows for k in r})})")
    unknown = sorted(set(headers or {}) - set(columns))
    if unknown:
        raise KeyError(f"table: headers for {unknown}, which are not among the columns {list(columns)}")
    cells = {k: ["" if r[k] is None else format(r[k], f) if f else str(r[k]) for r in rows] for k, f in columns.items()}
    frame = pd.DataFrame(cells, columns=list(columns)).rename(columns=headers or {})
    return Table(frame, caption)


COLORS = {"aevb": "tab:red", "wake-sleep": "tab:green", "mcem": "tab:blue", "full-vb": "tab:purple"}
SPLITS = ("train", "test")  # the splits of a curve, drawn solid and dashed
_LINESTYLE = {"train": "-", "test": (0, (4, 2))}
_TEST_LIGHTER = 0.45  # the test curve's colour: this share of the way from the algorithm's colour to white
_YLABEL = {"bound": r"average $\mathcal{L}$ (nats)", "marginal": r"estimated $\log p(\mathbf{x})$ (nats)"}
XLABEL = "# training samples evaluated"
AXES = {"log": XLABEL, "millions": XLABEL + " (millions)"}  # Fig. 2's log x-axis; Fig. 3's linear one in millions


def curve_rows(curve: list[dict], key: str = "bound", **labels) -> list[dict]:
    """One curve (row dicts with ``samples``, ``train_{key}``, ``test_{key}``) in long form: one row per
    evaluation and split, ``{**labels, "samples", "split", "value"}``; a split the curve lacks is left out."""
    return [{**labels, "samples": row["samples"], "split": split, "value": row[f"{split}_{key}"]}
            for row in curve for split in SPLITS if f"{split}_{key}" in row]


def curves_frame(runs, key: str = "bound", panel_of=None) -> pd.DataFrame:
    """Fig. 2 / Fig. 3 curves in long form, for seaborn: one row per stored run (``aevb.experiments.store.
    figure_runs``; a run without a curve has none) x evaluation x split, with columns ``panel``
    (``panel_of(config)``, or None), ``algorithm``, ``run``, ``samples``, ``split`` ("train"/"test") and
    ``value`` (``train_{key}``/``test_{key}``: key "bound" for Fig. 2, "marginal" for Fig. 3)."""
    rows = [row for r in runs if r.curve
            for row in curve_rows(r.curve, key, panel=panel_of(r.config) if panel_of else None,
                                  algorithm=r.config.algorithm, run=r.name)]
    return pd.DataFrame(rows, columns=["panel", "algorithm", "run", "samples", "split", "value"])


def palette(levels) -> dict:
    """A colour for each hue level: the algorithm's (``COLORS``) where it has one, else seaborn's next."""
    taken = {mpl.colors.to_rgb(c) for c in COLORS.values()}
    spare = iter(c for c in sns.color_palette("tab10") if mpl.colors.to_rgb(c) not in taken)
    return {level: COLORS.get(level) or next(spare) for level in levels}


def split_color(color, split: str):
    """The colour of a curve's ``split``: the algorithm's ``color`` for the training curve, a lighter shade of it
    for the test curve (drawn dashed over it), so that the two differ in colour as well as in line style."""
    rgb = np.array(mpl.colors.to_rgb(color))
    return tuple(rgb) if split == "train" else tuple(rgb + (1 - rgb) * _TEST_LIGHTER)


def plot_curve(data, ax=None, label: str = "", color=None, key: str = "bound", legend: bool = True,
               hue: str = "algorithm", axis: str = "log"):
    """Fig. 2 / Fig. 3 style: the training (solid) and test (dashed, a lighter shade: ``split_color``) value vs
    training samples evaluated (log x), one colour per ``hue`` level (an algorithm's from ``COLORS``), drawn by
    ``sns.lineplot``, the test curves over the training ones.

    ``data``: a long-form frame (``curves_frame``, ``curve_rows``: columns ``samples``, ``split``, ``value``
    and ``hue``), or one curve as row dicts, drawn as ``label`` (in ``color`` where given). key "bound": the
    average lower bound (Fig. 2); "marginal": the estimated log p(x) (Fig. 3). ``axis`` (``AXES``): "log" (Fig. 2's
    x-axis) or "millions" (Fig. 3's: linear, in millions of samples)."""
    ax = _ax(ax, (DRAW_WIDTH * 0.75, 3.4))
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(curve_rows(data, key, **{hue: label or key}))
        colors = {label or key: color or COLORS.get(label, "tab:blue")}
    else:
        colors = palette(data[hue].unique())
    splits = [s for s in SPLITS if s in set(data["split"])]
    if axis not in AXES:
        raise ValueError(f"axis={axis!r}: allowed values are {tuple(AXES)}")
    if axis == "millions":
        data = data.assign(samples=data["samples"] / 1e6)
    for split in splits:  # train first: the dashed test curve is drawn over it
        part = data[data["split"] == split]
        sns.lineplot(data=part, x="samples", y="value", hue=hue, palette={k: split_color(c, split) for k, c in
                                                                         colors.items() if k in set(part[hue])},
                     ax=ax, legend=False, estimator=None, units="run" if "run" in part else None,
                     linestyle=_LINESTYLE[split])
    ax.set_xscale("log" if axis == "log" else "linear")
    ax.set_xlabel(AXES[axis])
    ax.set_ylabel(_YLABEL.get(key, key))
    if legend:
        ax.legend(handles=legend_handles(list(colors), splits, colors))
    return ax


def legend_handles(algorithms, splits=SPLITS, colors=None) -> list:
    """Legend entries for the curves of ``plot_curve``: one per algorithm and split ("aevb, train"), in the
    split's colour and line style."""
    colors = colors or palette(algorithms)
    return [Line2D([], [], color=split_color(colors[a], s), ls=_LINESTYLE[s], label=f"{a}, {s}")
            for a in algorithms for s in splits]


def plot_panels(frame: pd.DataFrame, panels=None, title_of=str, key: str = "bound", ncols: int = 3,
                width: float = DRAW_WIDTH, panel_height: float = 2.3, sharey: bool = False, axis: str = "log",
                xmin: float | None = None):
    """The Fig. 2 / Fig. 3 layout laid out for the page: one panel per ``panels`` entry (default: the
    ``panel`` values of ``frame``, a ``curves_frame``), ``ncols`` to a row, ``width`` inches wide in all, each
    drawn with ``plot_curve`` on ``axis`` and titled ``title_of(panel)``, and one legend for the figure (in an
    empty slot of the grid, or beside it). ``xmin``: the x-axis starts at that many training samples (Fig. 2's
    10^5), and the evaluations before it are left out, so that the y-axes fit what is shown. Returns
    (figure, {panel: ax})."""
    panels = list(frame["panel"].unique() if panels is None else panels)
    if xmin is not None:
        frame = frame[frame["samples"] >= xmin]
    ncols = min(ncols, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    spare = nrows * ncols - len(panels)
    fig, grid = plt.subplots(nrows, ncols, figsize=(width, panel_height * nrows + (0 if spare else 0.5)),
                             squeeze=False, sharey=sharey, layout="constrained")
    axes = dict(zip(panels, grid.flat))
    for panel, ax in axes.items():
        plot_curve(frame[frame["panel"] == panel], ax=ax, key=key, legend=False, axis=axis)
        ax.set(title=title_of(panel), xlabel="", ylabel="")
        if xmin is not None:
            ax.set_xlim(left=xmin / (1e6 if axis == "millions" else 1))
    fig.supxlabel(AXES[axis])
    fig.supylabel(_YLABEL.get(key, key))
    algorithms = [a for a in COLORS if a in set(frame["algorithm"])] + sorted(
        set(frame["algorithm"]) - set(COLORS))
    handles = legend_handles(algorithms)
    for ax in list(grid.flat)[len(panels):]:
        ax.axis("off")
    if spare:
        list(grid.flat)[-1].legend(handles=handles, loc="center")
    else:
        fig.legend(handles=handles, loc="outside right center")
    return fig, axes
