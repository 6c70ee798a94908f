"""Chapter 10 (Figure 4: the learned 2-D manifolds): the numbers its prose states and the class coverage of the
MNIST manifold, computed here so that the chapter's cells only call, show and glue.

- ``decoder_facts``: the stored decoders the page's explorer runs in the browser (``dec_*``);
- ``train_instrument``: the classifier that reads the decoded grids (``aevb.classifier``), trained and measured
  (``clf_*``);
- ``coverage``, ``coverage_table``, ``confidence_sweep`` and ``coverage_facts``: which of the ten digit classes
  each seed's MNIST manifold covers (``cov_*``);
- ``exercise_times``: the exercises' training times, at the speed of the shipped runs (``ex_*``).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown

from aevb.book.figures import seed_runs, stored_images
from aevb.book.retrain import training_time
from aevb.classifier import (ClassifierSettings, accuracy, class_coverage, confident_accuracy, coverage_row,
                             fit_classifier, predict, summarize)
from aevb.config import TrainConfig
from aevb.data import load_mnist
from aevb.experiments.store import StoredRun

SWEEP_CONFIDENCE = (0.5, 0.7, 0.8, 0.9, 0.95)  # the thresholds of the coverage's sensitivity table


def decoder_facts(runs: dict[str, StoredRun], decoders: dict[str, dict | None]) -> dict:
    """The stored decoders (``decoders``: dataset -> ``aevb.book.figures.stored_decoder``, None where not stored)
    by name: ``dec_kb`` (their files' size, kB), ``dec_dtype``, ``dec_error`` (the largest difference from the
    model they were stored from) and ``dec_n_mnist``/``dec_n_frey`` (the encodings stored with each)."""
    stored = {k: a for k, a in decoders.items() if a is not None}
    sizes = [(runs[k].path / "decoder.npz").stat().st_size for k in stored]
    return {"dec_kb": sum(sizes) / 1e3, "dec_dtype": " and ".join(sorted({str(a["weight0"].dtype)
                                                                          for a in stored.values()})),
            "dec_error": max((float(a["max_error"]) for a in stored.values()), default=0.0),
            "dec_n_mnist": len(stored["mnist"]["encodings"]) if "mnist" in stored else 0,
            "dec_n_frey": len(stored["frey"]["encodings"]) if "frey" in stored else 0}


@dataclass(frozen=True)
class Instrument:
    """The classifier that reads the manifolds, with MNIST's test set it was measured on, the numbers the prose
    states about it (``clf_*``, ``min_confidence``, ``min_cells``) and a line reporting them."""

    classifier: torch.nn.Module
    x_test: torch.Tensor
    y_test: torch.Tensor
    facts: dict
    report: str


def train_instrument(seed: int, epochs: int, min_confidence: float, min_cells: int) -> Instrument:
    """Train the classifier (``aevb.classifier.fit_classifier``, ``epochs`` passes, ``seed``) on MNIST's training
    images and measure it on the test images: accuracy, the share reaching ``min_confidence`` and their accuracy,
    and its largest confidence on 1,000 images of uniform noise (which it should not read as digits)."""
    settings = ClassifierSettings(epochs=epochs)
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    start = time.perf_counter()
    classifier = fit_classifier(x_train, y_train, seed=seed, settings=settings)
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(classifier, x_test, y_test)
    confident = confident_accuracy(classifier, x_test, y_test, min_confidence)
    noise = torch.rand(1000, 784, generator=torch.Generator().manual_seed(seed))
    noise_confidence = predict(classifier, noise).max().item()
    facts = {"clf_hidden": settings.hidden, "clf_epochs": settings.epochs, "clf_seconds": seconds,
             "clf_accuracy": 100 * test_accuracy, "clf_share": 100 * confident["share"],
             "clf_confident_accuracy": 100 * confident["accuracy"], "clf_noise": noise_confidence,
             "min_confidence": min_confidence, "min_cells": min_cells}
    report = (f"classifier trained in {seconds:.1f} s: test accuracy {100 * test_accuracy:.2f}%; "
              f"{100 * confident['share']:.1f}% of the test images reach {min_confidence}, "
              f"{100 * confident['accuracy']:.2f}% of those are right; uniform noise: at most {noise_confidence:.3f}")
    return Instrument(classifier, x_test, y_test, facts, report)


@dataclass(frozen=True)
class Coverage:
    """The class coverage of the MNIST manifolds of the seeds asked for: their runs, the names of those not
    trained (skipped), and for each trained seed its decoded grid, its training samples, the classifier's
    probabilities on the grid's cells ((400, 10)) and ``aevb.classifier.class_coverage``'s count."""

    runs: list[StoredRun]
    absent: list[str]
    manifolds: dict[int, np.ndarray]
    samples: dict[int, int]
    probs: dict[int, torch.Tensor]
    counts: dict[int, dict]


def coverage(classifier, seeds: Iterable[int], min_confidence: float, min_cells: int,
             results_dir: str | Path | None = None) -> Coverage:
    """The classes ``classifier`` reads in the stored MNIST manifold of each of ``seeds`` (Fig. 4's runs): a
    class is covered where at least ``min_cells`` cells reach ``min_confidence`` for it."""
    runs = [r for r in seed_runs(4, seeds, results_dir) if r.config.dataset == "mnist"]
    manifolds = {r.config.seed: stored_images(r, "manifold") for r in runs}
    absent = [r.name for r in runs if manifolds[r.config.seed] is None]
    samples = {r.config.seed: int(r.curve[-1]["samples"]) for r in runs if r.curve}
    probs = {s: predict(classifier, m) for s, m in manifolds.items() if m is not None}  # (400, 10) each
    counts = {s: class_coverage(p, min_confidence, min_cells) for s, p in probs.items()}
    return Coverage(runs, absent, manifolds, samples, probs, counts)


def coverage_shown(cov: Coverage):
    """What the page shows of ``cov``: which runs were skipped (a line) and a row per seed (a ``Styler``, None
    where no grid was measured) with one header over the ten counts of cells per class: ten narrow columns."""
    line = Markdown(f"**Not trained, so skipped:** {', '.join(cov.absent)}" if cov.absent
                    else f"All {len(cov.counts)} runs asked for are trained.")
    rows = pd.DataFrame([{"seed": s, "training samples": cov.samples[s], **coverage_row(c)}
                         for s, c in cov.counts.items()])
    if not len(rows):
        return line, None
    rows.columns = pd.MultiIndex.from_tuples([("cells per class", c.removeprefix("cells ")) if c.startswith("cells ")
                                              else ("", c) for c in rows.columns])
    return line, rows.style.format({("", "training samples"): "{:,}"}).hide(axis="index")


def confidence_sweep(cov: Coverage, min_cells: int, thresholds: Iterable[float] = SWEEP_CONFIDENCE) -> pd.DataFrame:
    """The classes covered in each seed's grid (rows) at each confidence threshold (columns)."""
    sweep = pd.DataFrame({f"confidence ≥ {t}": {s: class_coverage(p, t, min_cells)["n_covered"]
                                                for s, p in cov.probs.items()} for t in thresholds})
    sweep.index.name = "seed"
    return sweep


def coverage_facts(cov: Coverage) -> tuple[dict, Markdown]:
    """The numbers the prose states about ``cov`` (``cov_grids``, ``cov_all_ten``: how many grids show all ten
    classes, in words; ``cov_fewest``, ``cov_most``) and the measured summary the page shows."""
    parts = [f"at {g['samples']:,} training samples (seed {', '.join(map(str, g['seeds']))})"
             f" {g['span']} of the ten classes are covered, and missing from each of these grids: "
             f"{', '.join(map(str, g['every'])) or 'no class'}" for g in summarize(cov.counts, cov.samples)]
    all_ten = sum(c["n_covered"] == 10 for c in cov.counts.values())
    verdict = "none shows" if all_ten == 0 else f"{all_ten} show"
    counts = [c["n_covered"] for c in cov.counts.values()]
    facts = {"cov_grids": len(cov.counts), "cov_all_ten": verdict, "cov_fewest": min(counts, default=0),
             "cov_most": max(counts, default=0)}
    return facts, Markdown(f"**Measured:** of the {len(cov.counts)} grids {verdict} all ten classes; "
                           + ("; ".join(parts) or "no grid was measured") + ".")


def exercise_times(mnist: TrainConfig) -> dict:
    """The exercises' training times, at the speed of the shipped runs (``aevb.book.retrain.training_time``):
    ``ex_retrain`` (the MNIST run of ``mnist`` to 100,000 samples), ``ex_seeds`` (three more seeds to 10^7)."""
    seeds = [dataclasses.replace(mnist, budget=10_000_000, seed=s) for s in (1, 2, 3)]
    return {"ex_retrain": training_time([dataclasses.replace(mnist, budget=100_000)])[0],
            "ex_seeds": training_time(seeds)[0]}
