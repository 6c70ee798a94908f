"""The book's two teaching diagrams (``aevb.book.diagrams``): each draws, at the page's width (not shrunk in the
page), with the labels the chapters' text refers to, legible and without labels on top of each other."""
import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from aevb.book.diagrams import model_diagram, reparameterization_diagram  # noqa: E402
from aevb.plots import PAGE_WIDTH, book_style  # noqa: E402

LABELS = {
    model_diagram: ["encoder", "decoder", r"$q_\phi(\mathbf{z}|\mathbf{x})$", r"$p_\theta(\mathbf{x}|\mathbf{z})$",
                    "(a) the paper's Fig. 1", r"$N$", r"$\phi$", r"$\theta$"],
    reparameterization_diagram: [r"$\mathbf{z} \sim q_\phi(\mathbf{z}|\mathbf{x})$",
                                 r"$\mathbf{z} = g_\phi(\boldsymbol{\epsilon}, \mathbf{x})$",
                                 r"$\boldsymbol{\epsilon} \sim p(\boldsymbol{\epsilon})$", r"$\nabla_\phi f$",
                                 "no gradient\nthrough a draw", "random node", "deterministic node", "gradient"],
}


def _texts(fig: Figure) -> list:
    legends = [t for ax in fig.axes for t in ([ax.get_legend()] if ax.get_legend() else [])] + fig.legends
    return ([t for ax in fig.axes for t in ax.texts + [ax.title] if t.get_text()]
            + [t for leg in legends for t in leg.get_texts()])


@pytest.fixture(scope="module", params=list(LABELS), ids=lambda f: f.__name__)
def drawn(request):
    book_style()
    fig = request.param()
    fig.canvas.draw()
    yield request.param, fig
    plt.close(fig)


def test_a_diagram_draws_its_labels(drawn):
    draw, fig = drawn
    assert isinstance(fig, Figure)
    shown = [t.get_text() for t in _texts(fig)]
    assert [label for label in LABELS[draw] if label not in shown] == []


def test_a_diagram_fits_the_page_and_is_legible(drawn):
    """As the book shows it (the tight bounding box the inline backend crops to, padded by 0.1 in each side), a
    diagram is at most the page's width, so the page does not shrink it, and no label is below 10 points."""
    _, fig = drawn
    width = fig.get_tightbbox().width + 0.2  # inches
    assert 0.8 * PAGE_WIDTH <= width <= PAGE_WIDTH
    assert min(t.get_fontsize() for t in _texts(fig)) >= 10


def test_no_two_labels_of_a_diagram_overlap(drawn):
    _, fig = drawn
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in _texts(fig)]
    overlapping = [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]
    assert overlapping == []
