"""One validation function for every knob a user turns: CLI flags, ``TrainConfig`` and the chapters'
``parameters`` cells all pass through ``validate``.

A bad value raises ``ParameterError`` naming the parameter, the value and what is allowed; a name that no
chapter or command knows is an error too (papermill itself only logs a warning for ``-p typo 1``).
"""
from __future__ import annotations

from typing import Callable

APPD_MAX_NZ = 5  # App. D is reliable only below about 5 latent dimensions (paper, App. D; chapter 5)


class ParameterError(ValueError):
    """A parameter has a value that is not allowed, or a name nobody knows."""


def _positive_int(v) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        return "a positive whole number"
    return None


def _optional_positive_int(v) -> str | None:
    return None if v is None else _positive_int(v) and "None or a positive whole number"


def _positive_number(v) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
        return "a positive finite number"
    return None


def _optional_positive_number(v) -> str | None:
    return None if v is None else _positive_number(v) and "None (automatic) or a positive finite number"


def _seed(v) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else "a whole number >= 0"


def _bool(v) -> str | None:
    return None if isinstance(v, bool) else "True or False"


def _one_of(*allowed) -> Callable:
    return lambda v: None if v in allowed else f"one of {allowed}"


def _sizes(v) -> str | None:
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(_positive_int(h) is None for h in v)
    return None if ok else "a non-empty list of positive whole numbers"


def _hidden(v) -> str | None:
    return None if _positive_int(v) is None or _sizes(v) is None else "a positive width or a list of widths"


def _device(v) -> str | None:
    from aevb.utils import resolve_device

    try:
        resolve_device(v)
    except ValueError as e:
        return f"a device usable here ({e})"
    return None


def _algorithm(v) -> str | None:
    from aevb.runs import ALGORITHMS

    return None if v in ALGORITHMS else f"one of {tuple(ALGORITHMS)}"


def _algorithms(v) -> str | None:
    from aevb.runs import ALGORITHMS

    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(a in ALGORITHMS for a in v)
    return None if ok else f"a non-empty list drawn from {tuple(ALGORITHMS)}"


def _text(v) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty string"


RULES: dict[str, Callable] = {
    # data, model and training (TrainConfig, CLI, chapters)
    "dataset": _one_of("mnist", "frey"), "algorithm": _algorithm, "n_z": _positive_int, "hidden": _hidden,
    "budget": _positive_int, "n_train": _optional_positive_int, "batch_size": _positive_int,
    "n_samples": _positive_int, "estimator": _one_of("A", "B"), "lr": _optional_positive_number,
    "lr_candidates": lambda v: None if isinstance(v, (list, tuple)) and v and all(
        _positive_number(c) is None for c in v) else "a non-empty list of positive numbers",
    "lr_search_samples": _positive_int, "weight_decay": _bool, "per_decade": _positive_int,
    "eval_start": _positive_int, "eval_train_points": _positive_int,
    "marginal": _one_of(None, "hmc", "iwae", "ais"), "marginal_points": _positive_int,
    "checkpoint_every": _positive_int, "seed": _seed, "device": _device, "progress": _bool, "fused": _bool,
    "out_dir": _text, "smoke_test": _bool,
    # chapter-specific knobs
    "n_examples": _positive_int, "grid_n": _positive_int, "d_x": _positive_int, "noise": _positive_number,
    "n_points": _positive_int, "mc_samples": _positive_int, "fit_steps": _positive_int, "fit_lr": _positive_number,
    "L_values": _sizes, "n_repeats": _positive_int, "mnist_hidden": _positive_int, "mnist_n_z": _positive_int,
    "mnist_budget": _positive_int, "family_samples": _positive_int, "n_exact_points": _positive_int,
    "fig3_budget": _positive_int, "iwae_k": _positive_int, "ais_chains": _positive_int, "ais_steps": _positive_int,
    "n_z_values": _sizes, "study_budget": _positive_int, "study_points": _positive_int,
    "algorithms": _algorithms, "trace_samples": _positive_int, "n_draws": _positive_int, "n_codes": _positive_int,
    # figure chapters (aevb.experiments, aevb.results)
    "retrain_budget": lambda v: None if v == 0 and not isinstance(v, bool) else _positive_int(v) and
    "0 (plot the committed results) or a positive whole number of training samples",
    "panels": _text, "results_dir": lambda v: None if v is None else _text(v) and "None or a directory",
    "workers": _positive_int, "check_run": _text, "check_samples": _positive_int, "check_atol": _positive_number,
}


def validate(params: dict) -> dict:
    """Check every entry of ``params`` against ``RULES`` and the rules that join several; returns params."""
    for name, value in params.items():
        if name not in RULES:
            close = [k for k in RULES if k.replace("_", "") == name.replace("_", "").replace("-", "")]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"unknown parameter {name!r} (value {value!r}){hint} "
                                 f"Known parameters: {', '.join(sorted(RULES))}")
        problem = RULES[name](value)
        if problem:
            raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: it must be {problem}")
    if params.get("marginal") == "hmc" and params.get("n_z", 0) > APPD_MAX_NZ:
        raise ParameterError(
            f"parameter 'n_z' = {params['n_z']} is too large for the App. D estimator (marginal='hmc'), which "
            f"is reliable only up to n_z = {APPD_MAX_NZ} (see chapter 5); use marginal='ais' or 'iwae'")
    algorithm, marginal = params.get("algorithm"), params.get("marginal")
    if algorithm == "mcem" and marginal not in ("hmc", "ais"):
        raise ParameterError(
            f"parameter 'marginal' = {marginal!r} is not allowed with algorithm='mcem': Monte Carlo EM has no "
            f"recognition model, so it has no lower bound and IWAE cannot run; it is evaluated by its "
            f"marginal likelihood: use marginal='hmc' (App. D, as in Fig. 3) or 'ais'")
    if algorithm == "full-vb" and marginal is not None:
        raise ParameterError(
            f"parameter 'marginal' = {marginal!r} is not allowed with algorithm='full-vb': its decoder draws "
            f"fresh parameters θ at every call, so log p(x|θ) is not a fixed target; use marginal=None")
    return params


IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def check_notebook(namespace: dict) -> dict:
    """Validate a chapter's parameters, as they stand after papermill's injected cell: every public name
    defined so far in the notebook's ``namespace`` must be a known, valid parameter."""
    params = {k: v for k, v in namespace.items()
              if not k.startswith("_") and k not in IPYTHON_NAMES and not callable(v)
              and type(v).__name__ != "module"}
    return validate(params)
