"""Chapter 13's representation measurement (§1: "The learned approximate posterior inference model can also be used
for a host of tasks such as recognition, denoising, representation and visualization purposes."): a linear probe
(``aevb.linear_probe``) on the encoder's means μ(x) of Fig. 5's four MNIST models (``RUNS``: 784-500-N_z, N_z = 2,
5, 10, 20, Bernoulli decoder, §5's data: the 50,000 training images as grey levels, 10⁷ training samples), against
the same probe on raw pixels (784) and on PCA with as many components as N_z (``python -m aevb measure
representation`` -> ``results/studies/representation.csv``).

The images are the runs' own (``aevb.data.load_split`` of their config: training split and test set). Every
feature kind is standardized with the statistics of all 50,000 training images, unlabelled (PCA is fitted on them
too, and the encoder was trained on them without labels); labels: ``LABELS`` (100, 1,000: class-balanced subsets of
the training set drawn with each of ``SUBSET_SEEDS``; and all 50,000), the probe's L2 penalty chosen by 3-fold
cross-validation on the labelled images only, its accuracy measured on all 10,000 test images. Rows: one per
(features, dims, labels, subset seed); ``run`` names the model ("pixels", "pca" for the others). The cost is
dominated by the all-label pixel probe (about 33,000 × 784 per fold): ``aevb.linear_probe.PROBE`` caps each L-BFGS fit
at 100 iterations (scikit-learn's default), and ``iterations`` and ``gradient`` record where a fit stopped.

``summary`` gives what the scorecard's rule (``aevb.book.verdicts.REPRESENTS``) and the page need; ``check``
recomputes the two rows that need no checkpoint and are cheapest (``CHECKED``) and compares them with the store.
"""
from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import torch

from aevb.data import load_mnist, load_split
from aevb.experiments.runs import load_checkpointed
from aevb.experiments.store import run_config, run_path
from aevb.files import StoreError, read_csv
from aevb.linear_probe import balanced_subset, fit_pca, probe, standardizer

N_ZS = (2, 5, 10, 20)
RUNS = {n_z: f"mnist-aevb-z{n_z}-h500-nall-s0" for n_z in N_ZS}  # Fig. 5's models
LABELS = (100, 1_000, 50_000)  # labelled training images: two balanced subsets, and all of them
SUBSET_SEEDS = (0, 1, 2)  # the draws of each subset (all labels: one row, seed 0)
FEATURES = ("aevb", "pca", "pixels")  # the encoder's means, PCA with as many components, raw pixels
CHECKED = (("pca", 2), ("pixels", 784))  # check: these features with LABELS[0] labels, subset seed 0
CHECK_IMAGES = 5  # check: stored and recomputed accuracy differ by at most this many test images
ENCODE_BATCH = 10_000  # images per pass through an encoder
TEST_IMAGES = 10_000  # MNIST's test set: every accuracy is over all of it

COLUMNS = ["run", "features", "dims", "labels", "subset_seed", "accuracy", "l2", "cv_loss", "iterations",
           "gradient", "samples", "seconds"]
TEXT_COLUMNS: tuple[str, ...] = ("run", "features")
NAME = "representation"


def images(results_dir: str | Path) -> dict[str, torch.Tensor]:
    """The runs' training and test images (checked to be the same data for all of ``RUNS``, from their stored
    configs) with their labels: {"train": (N, 784), "train_labels": (N,), "test": (M, 784), "test_labels": (M,)}."""
    configs = {n_z: run_config(run_path(results_dir, run))[0] for n_z, run in RUNS.items()}
    data = {(c.dataset, c.binarize, c.n_train) for c in configs.values()}
    if len(data) != 1 or next(iter(data))[0] != "mnist":
        raise ValueError(f"the runs {', '.join(RUNS.values())} are not trained on one MNIST data set: {data}")
    config = configs[N_ZS[0]]
    out = {split: load_split(config, split, torch.device("cpu")) for split in ("train", "test")}
    for split in ("train", "test"):
        out[f"{split}_labels"] = torch.from_numpy(load_mnist(split)[1][:len(out[split])])
    return out


@torch.no_grad()
def encoder_means(model, x: torch.Tensor) -> torch.Tensor:
    """μ(x) of the model's q(z|x) (eq. 9) for x: (N, 784) -> (N, N_z)."""
    return torch.cat([model.encoder(xb).mu for xb in x.split(ENCODE_BATCH)])  # (N, N_z)


def features(kind: str, dims: int, data: dict, results_dir: str | Path) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(train (N, dims), test (M, dims), samples) of one feature kind, standardized with the training features'
    statistics, float32; ``samples``: the training samples of the model's checkpoint (0 without a model)."""
    x, x_test, samples = data["train"], data["test"], 0
    if kind == "aevb":
        model, ckpt, _ = load_checkpointed(run_path(results_dir, RUNS[dims]))
        model.eval()
        train, test, samples = encoder_means(model, x), encoder_means(model, x_test), ckpt["trainer"]["samples"]
    elif kind == "pca":
        pca = fit_pca(x, dims)
        train, test = pca(x), pca(x_test)
    elif kind == "pixels":
        train, test = x, x_test
    else:
        raise ValueError(f"features {kind!r}: allowed values are {FEATURES}")
    scale = standardizer(train)
    return scale(train).float().contiguous(), scale(test).float().contiguous(), samples


def probe_rows(kind: str, dims: int, data: dict, results_dir: str | Path, which=None, log=print) -> list[dict]:
    """The rows of one feature kind: one per (labels, subset seed) pair of ``which`` (default: every one of
    ``LABELS`` × ``SUBSET_SEEDS``, all labels once); ``seconds`` is the CPU time of the row's probe (its
    cross-validation and fit; the features are computed once before)."""
    train, test, samples = features(kind, dims, data, results_dir)
    y, y_test = data["train_labels"], data["test_labels"]
    rows = []
    for labels, seed in which or [(n, s) for n in LABELS for s in (SUBSET_SEEDS if n < len(y) else (0,))]:
        start = time.process_time()
        chosen = balanced_subset(y, labels, seed) if labels < len(y) else torch.arange(len(y))  # (labels,)
        out = probe(train[chosen], y[chosen], test, y_test, seed=seed)
        rows.append({"run": RUNS[dims] if kind == "aevb" else kind, "features": kind, "dims": dims,
                     "labels": labels, "subset_seed": seed, **out, "samples": samples,
                     "seconds": round(time.process_time() - start, 2)})
        log(f"{kind} ({dims}), {labels} labels, subset seed {seed}: accuracy {out['accuracy']:.4f}, λ {out['l2']:g},"
            f" {out['iterations']} iterations, {rows[-1]['seconds']:.1f} s")
    return rows


def measure(results_dir: str | Path, log=print) -> list[dict]:
    """Every row: raw pixels, PCA with N_z components and the encoder's means of each of ``RUNS`` (their
    checkpoints read first, so that a missing one stops the measurement before it starts)."""
    for run in RUNS.values():
        samples = load_checkpointed(run_path(results_dir, run))[1]["trainer"]["samples"]
        log(f"{run}: checkpoint at {samples:,} training samples")
    data = images(results_dir)
    kinds = [("pixels", 784)] + [("pca", n) for n in N_ZS] + [("aevb", n) for n in N_ZS]
    return [row for kind, dims in kinds for row in probe_rows(kind, dims, data, results_dir, log=log)]


def cells(rows: list[dict]) -> list[dict]:
    """The rows averaged over subset seeds: one per (features, dims, labels) with ``run``, ``accuracy`` (mean),
    ``spread`` (standard deviation over the subset seeds; 0 for one row), ``seeds`` and ``l2s`` (the penalties
    chosen, as text), in the rows' order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["features"], int(r["dims"]), int(r["labels"])), []).append(r)
    out = []
    for (kind, dims, labels), group in groups.items():
        acc = [r["accuracy"] for r in group]
        out.append({"run": group[0]["run"], "features": kind, "dims": dims, "labels": labels,
                    "accuracy": statistics.fmean(acc), "spread": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                    "seeds": len(acc), "l2s": ", ".join(f"{r['l2']:g}" for r in group),
                    "samples": int(group[0]["samples"]),
                    "by_seed": {int(r["subset_seed"]): r["accuracy"] for r in group}})
    return out


def paired_spread(a: dict, b: dict) -> float:
    """The standard deviation over subset seeds of a − b, two cells' accuracies on the same labelled images (the
    seeds both have; 0 with fewer than two): how much the margin between two probes depends on the labels drawn."""
    diffs = [a["by_seed"][s] - b["by_seed"][s] for s in sorted(a["by_seed"]) if s in b["by_seed"]]
    return statistics.stdev(diffs) if len(diffs) > 1 else 0.0


def summary(rows: list[dict]) -> dict:
    """What the scorecard's rule and the page need, from the rows: ``cells`` (``cells(rows)``); ``vs_pca``, one
    entry per (N_z, labels) where both the encoder's and PCA's rows are: (label, encoder accuracy, PCA accuracy,
    spread: ``paired_spread`` of the two); ``vs_pixels``, per label count: (label, the best encoder's accuracy,
    its N_z, raw pixels' accuracy, their ``paired_spread``); ``samples`` (each model's training samples, by N_z),
    ``n_test`` and ``seconds`` (the classifiers' CPU seconds, all rows). Accuracies are means over subset seeds."""
    by = {(c["features"], c["dims"], c["labels"]): c for c in cells(rows)}
    labels = sorted({c["labels"] for c in by.values()})
    vs_pca, vs_pixels = [], []
    for n in labels:
        for n_z in N_ZS:
            a, b = by.get(("aevb", n_z, n)), by.get(("pca", n_z, n))
            if a and b:
                vs_pca.append((f"N_z = {n_z}, {n:,} labels", a["accuracy"], b["accuracy"], paired_spread(a, b)))
        encoders = [c for c in by.values() if c["features"] == "aevb" and c["labels"] == n]
        pixels = by.get(("pixels", 784, n))
        if encoders and pixels:
            best = max(encoders, key=lambda c: c["accuracy"])
            vs_pixels.append((f"{n:,} labels", best["accuracy"], best["dims"], pixels["accuracy"],
                              paired_spread(best, pixels)))
    samples = {c["dims"]: c["samples"] for c in by.values() if c["features"] == "aevb"}
    return {"cells": list(by.values()), "vs_pca": vs_pca, "vs_pixels": vs_pixels, "samples": samples,
            "n_test": TEST_IMAGES, "seconds": math.fsum(r["seconds"] for r in rows)}


def stored_rows(results_dir: str | Path) -> list[dict]:
    """The committed rows (``results_dir/studies/representation.csv``), text columns as text, the others as float;
    a missing, torn or foreign file is a ``StoreError`` naming it."""
    return read_csv(Path(results_dir) / "studies" / f"{NAME}.csv", COLUMNS,
                    f"measure it again: python -m aevb measure {NAME}", TEXT_COLUMNS)


def recompute(results_dir: str | Path, log=print) -> list[dict]:
    """The rows of ``CHECKED`` (PCA with 2 components and raw pixels, ``LABELS[0]`` labels, subset seed 0), computed
    afresh: no checkpoint, a few seconds."""
    data = images(results_dir)
    return [r for kind, dims in CHECKED for r in probe_rows(kind, dims, data, results_dir, [(LABELS[0], 0)], log=log)]


def verify(stored: list[dict], recomputed: list[dict], path: str | Path = "representation.csv",
           n_test: int = TEST_IMAGES) -> dict:
    """Each recomputed row beside its stored one (same features, dims, labels, subset seed): a ``StoreError`` naming
    ``path`` where one is missing, its accuracy differs by more than ``CHECK_IMAGES`` of the ``n_test`` test
    images or its chosen penalty differs (rounding on another CPU moves neither: the fits are converged optima of
    strictly convex objectives). Returns {"rows": the comparison, "recomputed", "tolerance"}."""
    key = ("features", "dims", "labels", "subset_seed")
    by_key = {tuple(r[k] for k in key): r for r in stored}
    rows = []
    for r in recomputed:
        s = by_key.get(tuple(r[k] if k == "features" else float(r[k]) for k in key))
        rows.append({**{k: r[k] for k in key}, "stored": math.nan if s is None else s["accuracy"],
                     "recomputed": r["accuracy"], "stored_l2": math.nan if s is None else s["l2"],
                     "recomputed_l2": r["l2"],
                     "images": math.inf if s is None else round(abs(r["accuracy"] - s["accuracy"]) * n_test)})
    for r in rows:
        if not (r["images"] <= CHECK_IMAGES and r["stored_l2"] == r["recomputed_l2"]):
            raise StoreError(path, f"the probe on {r['features']} ({r['dims']:g} dims), {r['labels']:g} labels, "
                                   f"subset seed {r['subset_seed']:g} gives accuracy {r['recomputed']:.4f} (λ "
                                   f"{r['recomputed_l2']:g}) here, {r['stored']:.4f} (λ {r['stored_l2']:g}) "
                                   f"stored: more than {CHECK_IMAGES} test images apart, or another λ",
                             f"measure it again: python -m aevb measure {NAME}")
    return {"rows": rows, "recomputed": recomputed, "tolerance": CHECK_IMAGES}


def check(results_dir: str | Path, log=print) -> dict:
    """The CI check: ``recompute`` the rows of ``CHECKED`` and ``verify`` them against the store's."""
    path = Path(results_dir) / "studies" / f"{NAME}.csv"
    return verify(stored_rows(results_dir), recompute(results_dir, log), path)
