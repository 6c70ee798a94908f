"""One validation function for every knob a user turns: CLI flags, ``TrainConfig`` and (through
``aevb.book.knobs``, which adds the chapters' own knobs to ``RULES``) the chapters' ``parameters`` cells all
pass through ``validate``.

A bad value raises ``ParameterError`` naming the parameter, the value and what is allowed; a name that no
chapter or command knows is an error too (papermill itself only logs a warning for ``-p typo 1``). The rules
that join a learner's settings (Monte Carlo EM needs ``marginal``, full VB allows none) belong to the learners:
``check_config`` of ``aevb.learners``.
"""
from __future__ import annotations

from typing import Callable

from aevb.datasets import DATASETS
from aevb.devices import resolve_device

APPD_MAX_NZ = 5  # App. D is reliable only below about 5 latent dimensions (paper, App. D; chapter 5)
ALGORITHM_NAMES = ("aevb", "wake-sleep", "mcem", "full-vb")  # the learners of aevb.learners.ALGORITHMS
MARGINAL_METHODS = ("hmc", "iwae", "ais")  # the log p(x) estimators of aevb.evaluation.log_marginal
FREY_SPLIT_NAMES = ("blocks", "frames", "none")  # Frey Face test splits (aevb.data.frey_test_mask)
FREY_SCALES = (255, 256)  # Frey Face pixel divisors: ours, and anglepy's data/freyface.py
FREY_DEFAULTS = {"frey_split": "blocks", "frey_scale": 255}  # the values a dataset other than frey allows
BINARIZE_MODES = (None, "dynamic", "static")  # MNIST pixels: grey levels as Bernoulli means (§5), or 0/1 draws
PROTOCOL_NAMES = ("paper", "annealed", "burda")  # parameter updates: §5's Adagrad, the same with an explicit
#   annealing schedule (App. E), Burda et al.'s staged Adam (aevb.protocols)
POSTERIOR_FAMILIES = ("diagonal", "full", "iaf")  # q(z|x): eq. 9's diagonal Gaussian, aevb.posteriors' two others


class ParameterError(ValueError):
    """A parameter has a value that is not allowed, or a name nobody knows."""


def positive_int(v) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        return "a positive whole number"
    return None


def optional_positive_int(v) -> str | None:
    return None if v is None else positive_int(v) and "None or a positive whole number"


def positive_number(v) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
        return "a positive finite number"
    return None


def optional_positive_number(v) -> str | None:
    return None if v is None else positive_number(v) and "None (automatic) or a positive finite number"


def non_negative_int(v) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else "a whole number >= 0"


def boolean(v) -> str | None:
    return None if isinstance(v, bool) else "True or False"


def one_of(*allowed) -> Callable:
    return lambda v: None if v in allowed else f"one of {allowed}"


def sizes(v) -> str | None:
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(positive_int(h) is None for h in v)
    return None if ok else "a non-empty list of positive whole numbers"


def widths(v) -> str | None:
    return None if positive_int(v) is None or sizes(v) is None else "a positive width or a list of widths"


def device(v) -> str | None:
    try:
        resolve_device(v)
    except ValueError as e:
        return f"a device usable here ({e})"
    return None


def algorithms(v) -> str | None:
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(a in ALGORITHM_NAMES for a in v)
    return None if ok else f"a non-empty list drawn from {ALGORITHM_NAMES}"


def text(v) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty string"


RULES: dict[str, Callable] = {  # the settings of TrainConfig and the command line
    "dataset": one_of(*DATASETS), "algorithm": one_of(*ALGORITHM_NAMES), "n_z": positive_int,
    "hidden": widths, "budget": positive_int, "n_train": optional_positive_int, "batch_size": positive_int,
    "n_samples": positive_int, "estimator": one_of("A", "B"), "lr": optional_positive_number,
    "lr_candidates": lambda v: None if isinstance(v, (list, tuple)) and v and all(
        positive_number(c) is None for c in v) else "a non-empty list of positive numbers",
    "lr_search_samples": positive_int, "weight_decay": boolean, "per_decade": positive_int,
    "eval_start": positive_int, "eval_every": optional_positive_int, "eval_train_points": positive_int,
    "marginal": one_of(None, *MARGINAL_METHODS), "marginal_points": positive_int,
    "checkpoint_every": positive_int, "seed": non_negative_int, "device": device, "progress": boolean,
    "fused": boolean, "start": one_of("paper", "anglepy"), "diagnostics": boolean,
    "frey_split": one_of(*FREY_SPLIT_NAMES),
    "frey_scale": lambda v: None if type(v) is int and v in FREY_SCALES else f"one of {FREY_SCALES}",
    "binarize": one_of(*BINARIZE_MODES), "posterior": one_of(*POSTERIOR_FAMILIES), "n_flows": positive_int,
    "k": positive_int, "protocol": one_of(*PROTOCOL_NAMES),
}


def validate(params: dict, rules: dict[str, Callable] = RULES) -> dict:
    """Check every entry of ``params`` against ``rules`` (default ``RULES``) and the rules that join settings:
    the estimator of log p(x) to N_z, the Frey Face data settings and ``binarize`` (MNIST only) to the data set
    (checked where ``params`` names a ``dataset``), ``n_flows`` to ``posterior="iaf"``; returns params."""
    for name, value in params.items():
        if name not in rules:
            close = [k for k in rules if k.replace("_", "") == name.replace("_", "").replace("-", "")]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"unknown parameter {name!r} (value {value!r}){hint} "
                                 f"Known parameters: {', '.join(sorted(rules))}")
        problem = rules[name](value)
        if problem:
            raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: it must be {problem}")
    if params.get("marginal") == "hmc" and params.get("n_z", 0) > APPD_MAX_NZ:
        raise ParameterError(
            f"parameter 'n_z' = {params['n_z']} is too large for the App. D estimator (marginal='hmc'), which "
            f"is reliable only up to n_z = {APPD_MAX_NZ} (see chapter 5); use marginal='ais' or 'iwae'")
    for name, default in FREY_DEFAULTS.items():  # the Frey Face data settings need dataset "frey"
        if "dataset" in params and params["dataset"] != "frey" and params.get(name, default) != default:
            raise ParameterError(
                f"parameter {name!r} = {params[name]!r} is not allowed with dataset {params['dataset']!r}: it "
                f"applies to the Frey Face only (dataset='frey'); leave it at {default!r}")
    if params.get("binarize") is not None and params.get("dataset") == "frey":
        raise ParameterError(
            f"parameter 'binarize' = {params['binarize']!r} is not allowed with dataset 'frey': the Frey Face has a "
            f"Gaussian decoder on continuous pixels; binarize applies to MNIST only (leave it at None)")
    if "posterior" in params and params["posterior"] != "iaf" and params.get("n_flows", 2) != 2:
        raise ParameterError(
            f"parameter 'n_flows' = {params['n_flows']!r} is not allowed with posterior="
            f"{params['posterior']!r}: it counts the steps of an inverse autoregressive flow and "
            f"applies to posterior='iaf' only (leave it at 2)")
    return params
