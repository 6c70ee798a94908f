"""The book's curve figures (``aevb.plots``): the long-form tables seaborn draws from, and figures that fit the
page (at most ``PAGE_WIDTH`` inches wide, one legend per figure)."""
import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from aevb.config import TrainConfig  # noqa: E402
from aevb.experiments.store import StoredRun  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402

from aevb.plots import (COLORS, PAGE_WIDTH, curve_rows, curves_frame, image_grid, palette, plot_curve,  # noqa: E402
                        plot_panels, split_color, table)


def _run(dataset, algorithm, n_z, samples=(1000, 10_000, 100_000), key="bound"):
    """A stored run (``aevb.experiments.store.StoredRun``): name, config, curve."""
    config = TrainConfig(dataset=dataset, algorithm=algorithm, n_z=n_z)
    curve = [{"samples": s, "seconds": s / 1e4, f"train_{key}": -100.0 + i, f"test_{key}": -101.0 + i}
             for i, s in enumerate(samples)]
    return StoredRun(f"{dataset}-{algorithm}-z{n_z}", config, curve, {"lr_used": 0.02}, Path("unused"))


@pytest.fixture
def runs():
    out = [_run(d, a, z) for d, zs in (("mnist", (3, 5, 10, 20, 200)), ("frey", (2, 5)))
           for z in zs for a in ("aevb", "wake-sleep")]
    out.append(dataclasses.replace(_run("frey", "aevb", 20), curve=[]))  # not in the store: no rows
    return out


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_curve_rows_are_one_row_per_evaluation_and_split():
    rows = curve_rows(_run("mnist", "aevb", 3).curve, "bound", algorithm="aevb")
    assert len(rows) == 3 * 2
    assert rows[0] == {"algorithm": "aevb", "samples": 1000, "split": "train", "value": -100.0}
    assert rows[1] == {"algorithm": "aevb", "samples": 1000, "split": "test", "value": -101.0}
    assert curve_rows([{"samples": 1, "train_bound": 0.0}], "bound") == [
        {"samples": 1, "split": "train", "value": 0.0}]  # a split the curve lacks is left out


def test_curves_frame_has_a_row_per_run_evaluation_and_split(runs):
    frame = curves_frame(runs, "bound", lambda c: (c.dataset, c.n_z))
    assert list(frame.columns) == ["panel", "algorithm", "run", "samples", "split", "value"]
    stored = [r for r in runs if r.curve]
    assert len(frame) == len(stored) * 3 * 2
    assert set(frame["run"]) == {r.name for r in stored}  # the run without a curve has no rows
    assert set(frame["split"]) == {"train", "test"} and set(frame["algorithm"]) == {"aevb", "wake-sleep"}
    one = frame[(frame["panel"] == ("mnist", 3)) & (frame["algorithm"] == "aevb") & (frame["split"] == "test")]
    assert list(one["samples"]) == [1000, 10_000, 100_000] and list(one["value"]) == [-101.0, -100.0, -99.0]
    assert curves_frame(runs, "bound")["panel"].isna().all()  # no panel_of: no panels
    empty = curves_frame([], "marginal")
    assert len(empty) == 0 and list(empty.columns) == list(frame.columns)


def test_plot_panels_lays_out_the_panels_for_the_page(runs):
    frame = curves_frame(runs, "bound", lambda c: (c.dataset, c.n_z))
    mnist = frame[frame["panel"].map(lambda p: p[0]) == "mnist"]
    fig, axes = plot_panels(mnist, title_of=lambda p: f"N_z = {p[1]}", ncols=3)
    assert list(axes) == [("mnist", z) for z in (3, 5, 10, 20, 200)]
    assert fig.get_size_inches()[0] <= PAGE_WIDTH
    assert [ax.get_title() for ax in axes.values()] == [f"N_z = {z}" for z in (3, 5, 10, 20, 200)]
    for ax in axes.values():
        assert ax.get_xscale() == "log" and ax.get_legend() is None  # one legend for the figure
        assert len(ax.get_lines()) == 2 * 2  # two algorithms, train and test
    spare = [ax for ax in fig.axes if ax not in axes.values()]
    assert len(spare) == 1 and spare[0].get_legend() is not None  # the legend fills the empty slot
    labels = [t.get_text() for t in spare[0].get_legend().get_texts()]
    assert labels == ["aevb, train", "aevb, test", "wake-sleep, train", "wake-sleep, test"]
    entries = {t.get_text(): line for t, line in zip(spare[0].get_legend().get_texts(),
                                                    spare[0].get_legend().get_lines())}
    drawn = {(to_hex(line.get_color()), line.get_linestyle()) for line in axes[("mnist", 3)].get_lines()}
    for algorithm in ("aevb", "wake-sleep"):  # each legend entry is what the panels draw
        train, test = entries[f"{algorithm}, train"], entries[f"{algorithm}, test"]
        assert to_hex(train.get_color()) == to_hex(COLORS[algorithm]) and train.get_linestyle() == "-"
        assert test.get_linestyle() == "--" and to_hex(test.get_color()) != to_hex(train.get_color())
        assert {(to_hex(e.get_color()), e.get_linestyle()) for e in (train, test)} <= drawn


def test_test_curves_differ_from_training_curves_in_colour_and_style():
    """A test curve is dashed and lighter than its training curve (and drawn over it), for every algorithm."""
    for algorithm, color in COLORS.items():
        train, test = (np.array(to_rgb(split_color(color, s))) for s in ("train", "test"))
        assert np.allclose(train, to_rgb(color))
        assert (test >= train).all() and (test - train).max() > 0.2  # lighter, visibly
    ax = plot_curve(_run("mnist", "aevb", 3).curve, label="aevb")
    first, second = ax.get_lines()[:2]
    assert first.get_linestyle() == "-" and second.get_linestyle() == "--"  # test over train


def test_plot_panels_starts_the_axis_at_xmin_and_fits_y_to_what_is_shown(runs):
    frame = curves_frame(runs, "bound", lambda c: (c.dataset, c.n_z))
    mnist = frame[frame["panel"].map(lambda p: p[0]) == "mnist"]
    _, axes = plot_panels(mnist, xmin=10_000)
    for ax in axes.values():
        assert ax.get_xlim()[0] == pytest.approx(10_000)
        assert all(min(line.get_xdata()) >= 10_000 for line in ax.get_lines())
        low, high = ax.get_ylim()
        assert low > -100.5 and high >= -99.0  # the first evaluation (-101, -100) is left out of the y-range


def test_plot_panels_puts_the_legend_below_a_full_grid(runs):
    frame = curves_frame(runs, "bound", lambda c: c.n_z)
    frey = frame[frame["run"].str.startswith("frey")]
    fig, axes = plot_panels(frey, ncols=2)
    assert list(axes) == [2, 5] and len(fig.axes) == 2 and fig.get_size_inches()[0] <= PAGE_WIDTH
    assert len(fig.legends) == 1


def test_plot_curve_draws_one_curve_or_a_frame():
    ax = plot_curve(_run("mnist", "aevb", 3).curve, label="AEVB")
    assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log" and ax.get_legend() is not None
    assert ax.figure.get_size_inches()[0] <= PAGE_WIDTH
    frame = pd.DataFrame(curve_rows(_run("mnist", "mcem", 3, key="marginal").curve, "marginal",
                                    algorithm="mcem"))
    ax = plot_curve(frame, key="marginal", legend=False)
    assert ax.get_legend() is None and to_hex(ax.get_lines()[0].get_color()) == to_hex(COLORS["mcem"])
    assert "log p" in ax.get_ylabel()


def test_palette_keeps_the_algorithms_colours_and_gives_others_new_ones():
    colors = palette(["aevb", "other", "another"])
    assert colors["aevb"] == COLORS["aevb"] and colors["other"] != colors["another"]
    assert colors["other"] not in COLORS.values()


def test_image_grid_fits_the_page():
    import numpy as np

    ax = image_grid(np.zeros((40, 784)), nrow=2)  # 20 columns: 12 in at 0.6 in per image, shrunk
    assert ax.figure.get_size_inches()[0] == pytest.approx(PAGE_WIDTH - 0.2)  # the padding: PAGE_WIDTH
    ax = image_grid(np.zeros((10, 784)), nrow=1)
    assert ax.figure.get_size_inches()[0] == pytest.approx(6.0)


def test_table_shows_words_for_headers_and_formats_each_column():
    rows = [{"samples": 10_000_000, "rel_error": 0.01234, "note": None}]
    shown = table(rows, {"samples": ",d", "rel_error": ".2g", "note": ""}, headers={"rel_error": "relative error"})
    assert list(shown.frame.columns) == ["samples", "relative error", "note"]
    assert shown.frame.iloc[0].tolist() == ["10,000,000", "0.012", ""]
    assert "<th>relative error</th>" in shown._repr_html_()
    with pytest.raises(KeyError, match="rel_eror"):  # a header for no column: a typo, not silently ignored
        table(rows, {"rel_error": ".2g"}, headers={"rel_eror": "relative error"})


def test_a_table_folds_its_detail_below_it():
    main = table([{"model": "VAE", "nll": 86.5}], {"model": "", "nll": ".1f"})
    shown = main.folded("each row's training time", table([{"model": "VAE", "minutes": 12.0}], {"model": "",
                                                                                           "minutes": ".0f"}))
    html = shown._repr_html_()
    assert html.index("86.5") < html.index("<details><summary>each row&#x27;s training time</summary>") < html.index(
        "<td>12</td>")
    assert main.detail is None and "each row's training time:" in repr(shown) and "12" in repr(shown)
