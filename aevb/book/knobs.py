"""The chapters' knobs: the rules of every name a chapter's ``parameters`` cell may hold, beyond the settings of
``TrainConfig`` (``aevb.config.RULES``), and ``check_notebook``, which every chapter calls after that cell
(and papermill's injected one), so that ``papermill -p typo 1`` or a value out of range stops the chapter with
one clear error.
"""
from __future__ import annotations

from typing import Callable

from aevb.config import RULES
from aevb.validation import algorithms, boolean, positive_int, positive_number, sizes, text, validate


def _retrain_budget(v) -> str | None:
    if v == 0 and not isinstance(v, bool):
        return None
    return positive_int(v) and "0 (plot the committed results) or a positive whole number of training samples"


CHAPTER_RULES: dict[str, Callable] = {
    **RULES,
    # every chapter
    "out_dir": text, "smoke_test": boolean,
    # chapters 1-7
    "n_examples": positive_int, "grid_n": positive_int, "d_x": positive_int, "noise": positive_number,
    "n_points": positive_int, "mc_samples": positive_int, "fit_steps": positive_int, "fit_lr": positive_number,
    "L_values": sizes, "n_repeats": positive_int, "mnist_hidden": positive_int, "mnist_n_z": positive_int,
    "mnist_budget": positive_int, "mnist_lr": positive_number, "family_samples": positive_int,
    "n_exact_points": positive_int, "fig3_budget": positive_int, "iwae_k": positive_int, "ais_chains": positive_int,
    "ais_steps": positive_int, "n_z_values": sizes, "dimension_budget": positive_int, "dimension_points": positive_int,
    "density_models": positive_int, "density_points": positive_int,
    "algorithms": algorithms, "trace_samples": positive_int,
    "trace_lr": positive_number, "trace_every": positive_int, "n_draws": positive_int, "n_codes": positive_int,
    # the figure chapters 8-11 (aevb.book.figures)
    "retrain_budget": _retrain_budget, "panels": text,
    "results_dir": lambda v: None if v is None else text(v) and "None or a directory",
    "workers": positive_int, "check_run": text, "check_samples": positive_int, "check_atol": positive_number,
    "study_check_run": text, "study_check_samples": positive_int,
    # chapter 8's Frey Face split study (aevb.book.frey_split)
    "split_samples": positive_int,
    # chapter 10's class coverage of the MNIST manifold (aevb.classifier)
    "coverage_seeds": lambda v: None if isinstance(v, (list, tuple)) and v and len(set(v)) == len(v) and all(
        type(s) is int and s >= 0 for s in v) else "a non-empty list of distinct whole numbers >= 0",
    "classifier_seed": lambda v: None if type(v) is int and v >= 0 else "a whole number >= 0",
    "classifier_epochs": positive_int, "min_cells": positive_int, "estimator_instances": positive_int,
    "min_confidence": lambda v: None if type(v) in (int, float) and 0 < v <= 1 else "a number in (0, 1]",
}

IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def check_notebook(namespace: dict) -> dict:
    """Validate a chapter's parameters, as they stand after papermill's injected cell: every public name
    defined so far in the notebook's ``namespace`` must be a known, valid parameter (``CHAPTER_RULES``)."""
    params = {k: v for k, v in namespace.items()
              if not k.startswith("_") and k not in IPYTHON_NAMES and not callable(v)
              and type(v).__name__ != "module"}
    return validate(params, CHAPTER_RULES)
