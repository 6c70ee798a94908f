"""Two diagrams the book draws by code, for teaching (issue 26), each a page-wide figure (``aevb.plots``):

- ``model_diagram`` (chapter 1): the model of §2.1 and Fig. 1 twice, (a) as the paper draws it (a plate over the
  N datapoints, ``aevb.plots.draw_figure1``) and (b) as an auto-encoder (§2.1, §3): a datapoint x, the encoder
  (recognition model) q_φ(z|x), a code z, the decoder p_θ(x|z), and the prior p_θ(z), with the two terms of
  eq. (3) placed where they act.
- ``reparameterization_diagram`` (chapter 3): the reparameterization trick of §2.4, eq. (4), as a computation
  graph: (a) z ~ q_φ(z|x) drawn as a random node, through which the gradient of f(z) cannot reach φ, and (b)
  z = g_φ(ε, x) with ε ~ p(ε), a deterministic node: the randomness is moved to ε, off the gradient's path from
  f back to φ. Forward arrows black, the gradient's arrows red and dashed.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch

from aevb.plots import DRAW_WIDTH, draw_figure1

GRADIENT = "tab:red"  # the colour of the gradient's arrows and labels
FILL = {"random": "#fde0c5", "observed": "#d9d9d9", "deterministic": "#d6e6f5", "parameter": "white"}
FONT = 12  # points: node labels (the book's body text is about this size at page width)
SMALL = 10.5  # points: annotations


def _node(ax, xy: tuple[float, float], label: str, kind: str, size: float = 0.42) -> None:
    """One node of a graph: a circle for a random variable (``random``, ``observed``: shaded, as in Fig. 1), a
    rounded square for a deterministic value, a small square for a parameter."""
    x, y = xy
    if kind in ("random", "observed"):
        ax.add_patch(Circle(xy, size, fc=FILL[kind], ec="black", lw=1.3, zorder=2))
    else:
        s = size * (0.55 if kind == "parameter" else 0.9)
        ax.add_patch(FancyBboxPatch((x - s, y - s), 2 * s, 2 * s, boxstyle="round,pad=0.05", fc=FILL[kind],
                                    ec="black", lw=1.3, zorder=2))
    ax.text(x, y, label, ha="center", va="center", fontsize=FONT, zorder=3)


def _arrow(ax, a, b, gradient: bool = False, dashed: bool = False, rad: float = 0.0, shrink: float = 18) -> None:
    """A forward arrow from ``a`` to ``b`` (dashed: the recognition model's direction, as in Fig. 1), or a
    gradient's arrow (red, dashed)."""
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=14, shrinkA=shrink, shrinkB=shrink,
                                 lw=1.6 if gradient else 1.3, color=GRADIENT if gradient else "black",
                                 linestyle="--" if gradient or dashed else "-",
                                 connectionstyle=f"arc3,rad={rad}", zorder=1))


def _box(ax, xy: tuple[float, float], title: str, label: str, width: float = 2.0, height: float = 1.3,
         dashed: bool = False) -> None:
    """A network drawn as a box: its role (``encoder``, ``decoder``) over the distribution it outputs."""
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.05",
                                fc=FILL["deterministic"], ec="black", lw=1.3, linestyle="--" if dashed else "-",
                                zorder=2))
    ax.text(x, y + 0.25, title, ha="center", va="center", fontsize=SMALL, zorder=3)
    ax.text(x, y - 0.25, label, ha="center", va="center", fontsize=FONT, zorder=3)


def _frame(ax, xlim: tuple[float, float], ylim: tuple[float, float], title: str) -> None:
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=SMALL)


def model_diagram() -> Figure:
    """The model of §2.1 (Fig. 1) and its auto-encoder reading (§2.1: "probabilistic encoder", "probabilistic
    decoder"; §3), side by side, ``DRAW_WIDTH`` inches wide."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(DRAW_WIDTH, 3.0), width_ratios=[1.0, 2.35],
                                      layout="constrained")
    draw_figure1(ax=left)
    left.set_title("(a) the paper's Fig. 1", fontsize=SMALL)

    y, r, w = 1.6, 0.42, 1.8  # the row of the auto-encoder, a node's radius, a box's width
    xs = (0.5, 2.75, 5.0, 7.25, 9.5)  # x, encoder, z, decoder, x
    _node(right, (xs[0], y), r"$\mathbf{x}$", "observed", size=r)
    _box(right, (xs[1], y), "encoder", r"$q_\phi(\mathbf{z}|\mathbf{x})$", width=w, dashed=True)
    _node(right, (xs[2], y), r"$\mathbf{z}$", "random", size=r)
    _box(right, (xs[3], y), "decoder", r"$p_\theta(\mathbf{x}|\mathbf{z})$", width=w)
    _node(right, (xs[4], y), r"$\mathbf{x}$", "observed", size=r)
    for i, (a, b) in enumerate(zip(xs, xs[1:])):  # edge to edge: a node's radius, a box's half width
        start = a + (w / 2 + 0.1 if i % 2 else r)
        end = b - (r if i % 2 else w / 2 + 0.1)
        _arrow(right, (start, y), (end, y), dashed=i < 2, shrink=1)
    right.text(xs[2], y + 1.55, r"prior $p_\theta(\mathbf{z}) = \mathcal{N}(\mathbf{0}, \mathbf{I})$",
               ha="center", va="center", fontsize=SMALL)
    _arrow(right, (xs[2], y + 1.3), (xs[2], y + r), shrink=1)
    right.text(xs[1], y - 1.0, r"parameters $\phi$", ha="center", va="center", fontsize=SMALL)
    right.text(xs[3], y - 1.0, r"parameters $\theta$", ha="center", va="center", fontsize=SMALL)
    kl = r"$\mathcal{L} = -D_{KL}(q_\phi(\mathbf{z}|\mathbf{x})\,\|\,p_\theta(\mathbf{z}))$"
    right.text(3.6, y - 1.65, "eq. (3): " + kl + "\ncompares code and prior", ha="center", va="center",
               fontsize=SMALL, color="0.25")
    right.text(8.1, y - 1.65, r"$+\,\mathbb{E}_{q_\phi}[\log p_\theta(\mathbf{x}|\mathbf{z})]$"
               "\nscores the reconstruction", ha="center", va="center", fontsize=SMALL, color="0.25")
    _frame(right, (0.0, 10.0), (-0.5, 3.45), "(b) the same model as an auto-encoder")
    return fig


def reparameterization_diagram() -> Figure:
    """§2.4's trick as a computation graph, ``DRAW_WIDTH`` inches wide: (a) the original form, (b) the
    reparameterized form (eq. 4), with the gradient's path from f back to φ."""
    fig, axes = plt.subplots(1, 2, figsize=(DRAW_WIDTH, 3.9), layout="constrained")
    phi, x, eps, z, f = (0.7, 3.6), (2.3, 3.6), (3.9, 3.6), (1.5, 2.0), (1.5, 0.45)
    for ax, reparameterized in zip(axes, (False, True)):
        zz = (2.3, 2.0) if reparameterized else z
        ff = (2.3, 0.45) if reparameterized else f
        _node(ax, phi, r"$\phi$", "parameter")
        _node(ax, x, r"$\mathbf{x}$", "observed")
        _node(ax, zz, r"$\mathbf{z}$", "deterministic" if reparameterized else "random")
        _node(ax, ff, r"$f$", "deterministic")
        for a in (phi, x):
            _arrow(ax, a, zz)
        _arrow(ax, zz, ff)
        _arrow(ax, ff, zz, gradient=True, rad=0.55)
        ax.text(zz[0] + 0.55, (zz[1] + ff[1]) / 2, r"$\partial f / \partial \mathbf{z}$", ha="left", va="center",
                fontsize=SMALL, color=GRADIENT)
        if reparameterized:
            _node(ax, eps, r"$\boldsymbol{\epsilon}$", "random")
            _arrow(ax, eps, zz)
            _arrow(ax, zz, phi, gradient=True, rad=-0.45)
            ax.text(0.05, 2.35, r"$\nabla_\phi f$", ha="left", va="center", fontsize=SMALL, color=GRADIENT)
            ax.text(2.85, 2.0, r"$\mathbf{z} = g_\phi(\boldsymbol{\epsilon}, \mathbf{x})$", ha="left",
                    va="center", fontsize=SMALL)
            ax.text(3.9, 4.25, r"$\boldsymbol{\epsilon} \sim p(\boldsymbol{\epsilon})$", ha="center", va="center",
                    fontsize=SMALL)
            title = "(b) reparameterized: $\\mathbf{z} = g_\\phi(\\boldsymbol{\\epsilon}, \\mathbf{x})$"
        else:
            ax.text(0.2, 1.2, "no gradient\nthrough a draw", ha="center", va="center", fontsize=SMALL,
                    color=GRADIENT)
            ax.text(0.72, 2.7, "×", ha="center", va="center", fontsize=20, color=GRADIENT)
            _arrow(ax, z, phi, gradient=True, rad=-0.45)
            ax.text(2.0, 2.0, r"$\mathbf{z} \sim q_\phi(\mathbf{z}|\mathbf{x})$", ha="left", va="center",
                    fontsize=SMALL)
            title = r"(a) original: $\mathbf{z} \sim q_\phi(\mathbf{z}|\mathbf{x})$"
        _frame(ax, (-0.3, 4.7), (0.0, 4.5), title)
    legend = [Patch(fc=FILL["random"], ec="black", label="random node"),
              Patch(fc=FILL["deterministic"], ec="black", label="deterministic node"),
              Line2D([], [], color="black", lw=1.3, label="forward"),
              Line2D([], [], color=GRADIENT, lw=1.6, ls="--", label="gradient")]
    fig.legend(handles=legend, loc="outside lower center", ncols=4, fontsize=SMALL, frameon=False)
    return fig
