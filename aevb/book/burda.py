"""Chapter 12's steps: the ``burda`` study (``aevb.experiments.grids``) and its measurement
(``python -m aevb measure burda``, ``aevb.experiments.measurements``) as the chapter's tables, figure and glued
numbers.

- ``benchmark_runs``: the stored runs of the study (the schedule each reached is in its curve);
- ``benchmark_table``: one row per run beside Burda et al.'s Table 1 row it reproduces (``PUBLISHED``): test
  NLL by the k = 5000 bound (± its standard error over the test points), active units and passes reached; folded
  below it, each run's data, training time, and NLL by AIS on a subset with the bound on the same points;
- ``gap_table``: the inference gap per trained encoder (Cremer et al. 2018), log p(x) by AIS;
- ``grey_levels``: why a grey-level "log-likelihood" is not one (the Bernoulli cross-entropy of a grey image is
  the expected log-likelihood of its binarizations, at most −Σ_i H(y_i) rather than 0), with the grey-level
  run's own number beside its number on binary images;
- ``benchmark_facts``: the numbers the prose states, under flat names (MyST-NB glue);
- ``benchmark_findings``: what the two tables show, as markdown computed from them;
- ``plot_benchmark_curves``: the test bound of every binarized run against passes over the training set.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from aevb.book.figures import store_dir
from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.experiments.measurements import IWAE_K, PUBLISHED, published_row, read_measurement
from aevb.experiments.store import StoredRun, figure_runs
from aevb.plots import DRAW_WIDTH, Table, palette, table
from aevb.protocols import BURDA_N_TRAIN, BURDA_PASSES, passes_done

STUDY = "burda"
GAP_QUANTITIES = ("log_px", "elbo_opt", "elbo_enc", "approximation_gap", "amortization_gap", "total_gap")


def label(config: TrainConfig) -> str:
    """A run's row name: its objective and k, and what it changes from Burda et al.'s VAE."""
    name = "VAE" if config.k == 1 else f"IWAE, k = {config.k}"
    if config.posterior == "full":
        name += ", full-covariance q"
    elif config.posterior == "iaf":
        name += f", IAF q ({config.n_flows} steps)"
    return name + (", grey levels" if config.binarize is None else "")


def benchmark_runs(results_dir: str | Path | None = None) -> list[StoredRun]:
    """The stored runs of the ``burda`` study (``figure_runs``), in the grid's order."""
    return figure_runs(STUDY, store_dir(results_dir))


def benchmark_rows(runs: list[StoredRun], results_dir: str | Path | None = None) -> list[dict]:
    """Per run: its label, objective, posterior, data, passes and samples reached, training minutes, test NLL
    (−the k = 5000 bound) ± s.e. on n points, AIS and the bound on the AIS subset, active units, the encoder's
    ELBO as an NLL (``elbo_nll``, measured rows only) and the published NLL and active units of its row of Burda
    et al.'s Table 1 (None where it has none or is not measured)."""
    measured = {r["run"]: r for r in read_measurement("burda", store_dir(results_dir)) or []}
    out = []
    for r in runs:
        c, m = r.config, measured.get(r.name)
        ref = PUBLISHED.get(published_row(c)) if published_row(c) else None
        last = r.curve[-1] if r.curve else {"samples": 0, "seconds": 0.0}
        row = {"model": label(c), "k": c.k, "q": c.posterior, "data": "grey levels" if c.binarize is None else
               f"binarized ({c.binarize})", "passes": passes_done(int(last["samples"]), BURDA_N_TRAIN, c.batch_size),
               "samples": last["samples"], "minutes": last["seconds"] / 60,
               "nll": None, "nll_se": None, "n_points": None, "ais_nll": None, "iwae_subset_nll": None,
               "ais_points": None, "active_units": None,
               "published_nll": ref[0] if ref else None, "published_au": ref[1] if ref else None}
        if m is not None:
            row.update(nll=-m["iwae"], nll_se=m["iwae_se"], n_points=int(m["n_points"]), ais_nll=-m["ais"],
                       iwae_subset_nll=-m["iwae_on_ais"], ais_points=int(m["ais_points"]),
                       active_units=int(m["active_units"]), elbo_nll=-m["test_elbo"])
        out.append(row)
    return out


def benchmark_table(rows: list[dict]) -> Table:
    """``benchmark_rows`` as the chapter's table, ours beside Burda et al.'s: the test NLL and active units (ours /
    theirs in one cell), with each row's data, training time and AIS check folded below it (few enough columns
    for the text column)."""
    def cell(v, spec):
        return "" if v is None else format(v, spec)

    shown = [{"model": r["model"], "passes": f"{r['passes']:,}",
              "test NLL ± s.e.": "" if r["nll"] is None else f"{r['nll']:.2f} ± {r['nll_se']:.2f}",
              "published NLL": cell(r["published_nll"], ".2f"),
              "ours − published": "" if r["nll"] is None or r["published_nll"] is None else
              f"{r['nll'] - r['published_nll']:+.2f}",
              "active units, ours / published": " / ".join(cell(r[k], "d") for k in ("active_units", "published_au")
                                                           if r[k] is not None)}
             for r in rows]
    detail = [{"model": r["model"], "data": r["data"], "minutes": f"{r['minutes']:.1f}",
               "AIS / bound, subset": "" if r["ais_nll"] is None else
               f"{r['ais_nll']:.2f} / {r['iwae_subset_nll']:.2f}"} for r in rows]
    n = next((r["n_points"] for r in rows if r["n_points"]), None)
    m = next((r["ais_points"] for r in rows if r["ais_points"]), None)
    main = table(shown, dict.fromkeys(shown[0], ""),
                 caption=f"Test NLL (nats, lower is better): −(k = {IWAE_K:,} bound) on the first {n or 0:,} test "
                         f"images ± its standard error over them; passes of Burda et al.'s {BURDA_PASSES:,}; "
                         f"published: their Table 1")
    return main.folded(f"Each row's data, training time (minutes of wall time) and AIS check (the test NLL by AIS "
                       f"and by the same bound on the first {m or 0} test images)",
                       table(detail, dict.fromkeys(detail[0], "")))


def gap_rows(runs: list[StoredRun], results_dir: str | Path | None = None) -> list[dict]:
    """Per run with a measured inference gap: log p(x) (AIS), the ELBO of q* and of the encoder, the two gaps and
    their sum, each ± its standard error over the points."""
    gaps = read_measurement("inference-gap", store_dir(results_dir)) or []
    out = []
    for r in runs:
        mine = {g["quantity"]: g for g in gaps if g["run"] == r.name}
        if not mine:
            continue
        row = {"model": label(r.config), "points": int(next(iter(mine.values()))["points"])}
        for q in GAP_QUANTITIES:
            row[q], row[f"{q}_se"] = mine[q]["mean"], mine[q]["se_data"]
        out.append(row)
    return out


GAP_HEADERS = {"log_px": "log p(x), AIS", "elbo_opt": "ELBO of q*", "elbo_enc": "ELBO of the encoder's q",
               "approximation_gap": "approximation gap", "amortization_gap": "amortization gap",
               "total_gap": "total gap"}


def gap_table(rows: list[dict]) -> Table:
    """``gap_rows`` as a table: each quantity's mean over the points ± its standard error over them."""
    shown = [{"model": r["model"], **{GAP_HEADERS[q]: f"{r[q]:.2f} ± {r[q + '_se']:.2f}" for q in GAP_QUANTITIES}}
             for r in rows]
    points = rows[0]["points"] if rows else 0
    return table(shown, dict.fromkeys(["model", *GAP_HEADERS.values()], ""),
                 caption=f"The inference gap (nats) on the first {points} test images: log p(x) by AIS; the ELBO "
                         f"of q optimised per image within the encoder's family (q*) and of the encoder's q")


def grey_levels(runs: list[StoredRun], rows: list[dict]) -> dict[str, float]:
    """Why the paper's grey-level nats are not a log-likelihood, in numbers: the grey test images' binary entropy
    Σ_i H(y_i) (mean over images: the best a grey-level Bernoulli "log-likelihood" can reach is minus it), the
    grey-level run's final test bound on grey levels, its NLL on the binary test images and the binarized VAE's."""
    y = load_split(TrainConfig(), "test", torch.device("cpu")).double().clamp(1e-12, 1 - 1e-12)  # (N, D) grey
    entropy = -(y * y.log() + (1 - y) * (1 - y).log()).sum(1).mean().item()
    grey = next(r for r in runs if r.config.binarize is None and r.config.k == 1
                and r.config.posterior == "diagonal")
    by_label = {r["model"]: r for r in rows}
    return {"grey_entropy": entropy, "grey_bound": grey.curve[-1]["test_bound"] if grey.curve else math.nan,
            "grey_nll": _or_nan(by_label[label(grey.config)]["nll"]),
            "binary_nll": _or_nan(by_label["VAE"]["nll"])}


def _or_nan(v):
    return math.nan if v is None else v


def benchmark_facts(runs: list[StoredRun], rows: list[dict], gaps: list[dict]) -> dict[str, float]:
    """The numbers the chapter's prose states, under flat names: per row key (vae, iwae5, iwae50, full, iaf,
    grey) its NLL, the difference from the published row, active units and passes; the study's common passes
    and samples; per encoder the two gaps; and ``grey_levels``."""
    keys = {"VAE": "vae", "IWAE, k = 5": "iwae5", "IWAE, k = 50": "iwae50", "VAE, full-covariance q": "full",
            "VAE, grey levels": "grey"}
    out: dict[str, float] = {}
    for r in rows:
        key = keys.get(r["model"], "iaf" if "IAF" in r["model"] else r["model"])
        out[f"{key}_nll"] = _or_nan(r["nll"])
        out[f"{key}_au"] = _or_nan(r["active_units"])
        out[f"{key}_minutes"] = r["minutes"]
        if r["published_nll"] is not None and r["nll"] is not None:
            out[f"{key}_diff"] = r["nll"] - r["published_nll"]
        out[f"{key}_ais_gap"] = _or_nan(r["iwae_subset_nll"]) - _or_nan(r["ais_nll"])
    for g in gaps:
        key = keys.get(g["model"], "iaf" if "IAF" in g["model"] else g["model"])
        out[f"{key}_approx"], out[f"{key}_amort"] = g["approximation_gap"], g["amortization_gap"]
    out["passes"] = min(r["passes"] for r in rows)
    out["samples"] = min(r["samples"] for r in rows)
    out["share"] = out["passes"] / BURDA_PASSES
    out["ratio"] = BURDA_PASSES / max(out["passes"], 1)
    out.update(grey_levels(runs, rows))
    return out


def plot_benchmark_curves(runs: list[StoredRun], ax=None):
    """The test bound of every run on binary images (estimator B for the diagonal q, A with the family's exact
    log q for a richer one) against passes over the training set, log x; the grey-level run is left out (its
    curve is on grey levels, another scale: ``grey_levels``)."""
    frame = pd.DataFrame([{"model": label(r.config), "passes": row["samples"] / BURDA_N_TRAIN,
                           "test bound": row["test_bound"]}
                          for r in runs if r.config.binarize is not None for row in r.curve])
    if ax is None:
        _, ax = plt.subplots(figsize=(DRAW_WIDTH, 3.8), layout="constrained")
    sns.lineplot(data=frame, x="passes", y="test bound", hue="model", palette=palette(frame["model"].unique()),
                 ax=ax, estimator=None)
    ax.set(xscale="log", xlabel="passes over the 60,000 training images", ylabel="test bound (nats)")
    ax.legend(loc="lower right", title=None)
    return ax


def _still_improving(run: StoredRun) -> bool:
    """Whether a run's test bound rose between its last two evaluations."""
    c = run.curve
    return len(c) >= 2 and c[-1]["test_bound"] > c[-2]["test_bound"]


def benchmark_findings(runs: list[StoredRun], rows: list[dict], gaps: list[dict]) -> tuple[str, str]:
    """What the two tables show, as markdown bullets computed from them (so that a rerun with another store says
    what *its* numbers show): (beside Table 1, the inference gap)."""
    by = {r["model"]: r for r in rows}
    vae, k5, k50 = by.get("VAE"), by.get("IWAE, k = 5"), by.get("IWAE, k = 50")
    measured = [r for r in rows if r["nll"] is not None]
    if not measured or vae is None or vae["nll"] is None:
        return "- Not measured yet: `python -m aevb measure burda`.", ""
    improving = [label(r.config) for r in runs if r.config.binarize is not None and _still_improving(r)]
    passes = min(r["passes"] for r in rows)
    out = [f"- **The budget.** After {passes:,} of Burda et al.'s {BURDA_PASSES:,} passes "
           f"({passes / BURDA_PASSES:.1%} of their schedule) our VAE's test NLL is {vae['nll']:.2f} nats, "
           f"{vae['nll'] - vae['published_nll']:+.2f} from their {vae['published_nll']:.2f}"
           + (f", and IWAE with k = 50 is {k50['nll'] - k50['published_nll']:+.2f} from theirs" if k50 and
              k50["nll"] is not None else "")
           + f". {len(improving)} of the {sum(r.config.binarize is not None for r in runs)} binarized runs were "
             f"still improving at their last evaluation (the figure below): the schedule not run is the first "
             f"difference to rule out, by the full-schedule command above."]
    order = [r for r in (vae, k5, k50) if r is not None and r["nll"] is not None]
    if len(order) == 3:
        holds = order[0]["nll"] > order[1]["nll"] > order[2]["nll"]
        out.append(f"- **The ordering {'holds already' if holds else 'does not hold yet'}.** Burda et al. find the "
                   f"NLL falling with k under the IWAE objective; ours: VAE {vae['nll']:.2f}, IWAE k = 5 "
                   f"{k5['nll']:.2f}, k = 50 {k50['nll']:.2f}.")
        out.append(f"- **Active units.** Ours: VAE {vae['active_units']}, IWAE k = 5 {k5['active_units']}, k = 50 "
                   f"{k50['active_units']} of 50; theirs after the full schedule: {vae['published_au']}, "
                   f"{k5['published_au']}, {k50['published_au']}. A count after a short schedule need not be the "
                   f"count at its end: the full schedule settles it.")
    gaps_ais = [r["iwae_subset_nll"] - r["ais_nll"] for r in measured]
    out.append(f"- **AIS against the bound.** On the first {measured[0]['ais_points']} test images the k = {IWAE_K:,} "
               f"bound's NLL is {min(gaps_ais):+.2f} to {max(gaps_ais):+.2f} nats from AIS's over the rows "
               f"(positive: AIS finds the higher log-likelihood): the bound is what Table 1 reports, AIS the check.")
    richer = [by[m] for m in by if ("full" in m or "IAF" in m) and by[m]["nll"] is not None]
    if richer:
        out.append("- **Richer posteriors** (no row in Burda et al.): " + "; ".join(
            f"{r['model']} {r['nll']:.2f} ({r['nll'] - vae['nll']:+.2f} from the VAE)" for r in richer)
            + ", on the same networks and schedule.")
    gap_lines = [f"- {g['model']}: approximation gap {g['approximation_gap']:.2f} ± "
                 f"{g['approximation_gap_se']:.2f}, amortization gap {g['amortization_gap']:.2f} ± "
                 f"{g['amortization_gap_se']:.2f} nats: the "
                 f"{'amortization' if g['amortization_gap'] > g['approximation_gap'] else 'approximation'} gap "
                 f"is the larger." for g in gaps]
    return "\n".join(out), "\n".join(gap_lines)
