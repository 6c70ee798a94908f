"""One validation function for every knob a user turns: CLI flags, ``TrainConfig`` and (through
``aevb.book.knobs``, which adds the chapters' own knobs to ``aevb.config.RULES``) the chapters' ``parameters``
cells all pass through ``validate``.

A bad value raises ``ParameterError`` naming the parameter, the value and what is allowed; a name that no
chapter or command knows is an error too (papermill itself only logs a warning for ``-p typo 1``). Each setting's
rule is declared with its field (``aevb.config.TrainConfig``); here are the rules' building blocks, the ``Rule``
that joins a setting to others (a value allowed only beside another setting's value), ``validate``, and the
command line's text forms of values (``parse_count`` ...). The rules that join a learner's settings (Monte Carlo
EM needs ``marginal``, full VB allows none) belong to the learners: ``check_config`` of ``aevb.learners``.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Callable

from aevb.devices import resolve_device

ALGORITHM_NAMES = ("aevb", "wake-sleep", "mcem", "full-vb")  # the learners of aevb.learners.ALGORITHMS
MARGINAL_METHODS = ("hmc", "iwae", "ais")  # the log p(x) estimators of aevb.evaluation.log_marginal
FREY_SPLIT_NAMES = ("blocks", "frames", "none")  # Frey Face test splits (aevb.data.frey_test_mask)
FREY_SCALES = (255, 256)  # Frey Face pixel divisors: ours, and anglepy's data/freyface.py
POSTERIOR_FAMILIES = ("diagonal", "full", "iaf")  # q(z|x): eq. 9's diagonal Gaussian, aevb.posteriors' two others
PROTOCOL_NAMES = ("paper", "annealed", "burda")  # parameter updates: §5's Adagrad, the same with an explicit
#   annealing schedule (App. E), Burda et al.'s staged Adam (aevb.protocols)


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


@dataclass(frozen=True)
class Rule:
    """A setting's rule: ``check(value)`` is None where the value is allowed, else what it must be; ``joint(value,
    params)``, where given, is None where the value is allowed beside the other settings in ``params``, else the
    rest of the error's sentence after "parameter 'NAME' = VALUE " (e.g. "is not allowed with dataset 'frey': ...")."""
    check: Callable[[object], str | None]
    joint: Callable[[object, dict], str | None] | None = None

    def __call__(self, v) -> str | None:
        return self.check(v)


def only_with(other: str, allowed, default, why: str) -> Callable[[object, dict], str | None]:
    """A ``Rule.joint``: a value other than ``default`` is allowed only where ``params`` has no ``other`` or has it at
    ``allowed``; ``why`` ends the error's sentence."""
    def joint(v, params: dict) -> str | None:
        if other in params and params[other] != allowed and v != default:
            return f"is not allowed with {other} {params[other]!r}: {why}"
        return None
    return joint


def validate(params: dict, rules: dict[str, Callable]) -> dict:
    """Check every entry of ``params`` against ``rules`` (a name's rule: a function of the value, or a ``Rule``),
    then the ``Rule.joint`` of every entry that has one (where a setting is allowed only beside another's value,
    e.g. the Frey Face data settings with dataset "frey", ``n_flows`` with posterior "iaf"); returns params."""
    for name, value in params.items():
        if name not in rules:
            close = [k for k in rules if k.replace("_", "") == name.replace("_", "").replace("-", "")]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"unknown parameter {name!r} (value {value!r}){hint} "
                                 f"Known parameters: {', '.join(sorted(rules))}")
        problem = rules[name](value)
        if problem:
            raise ParameterError(f"parameter {name!r} = {value!r} is not allowed: it must be {problem}")
    for name, value in params.items():
        joint = getattr(rules[name], "joint", None)
        problem = joint and joint(value, params)
        if problem:
            raise ParameterError(f"parameter {name!r} = {value!r} {problem}")
    return params


# The command line's text forms of values (argparse ``type``s; ranges are checked by ``validate``)

def parse_count(s: str) -> int:
    """'1e6', '1000000', '1_000_000' -> 1000000."""
    try:
        v = float(s.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if v != int(v):
        raise argparse.ArgumentTypeError(f"{s!r} must be a whole number")
    return int(v)


def parse_widths(s: str) -> tuple[int, ...]:
    """'500' -> (500,); '500,500' -> (500, 500)."""
    try:
        return tuple(int(h) for h in s.split(",") if h.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: give widths like 500 or 500,500") from None


def parse_number(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: give a positive number or 'auto'") from None


def parse_seeds(s: str) -> list[int]:
    """'0' -> [0]; '0,1,5' -> [0, 1, 5]; '0-3' -> [0, 1, 2, 3]."""
    out = []
    for part in s.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None:
            raise argparse.ArgumentTypeError(f"{s!r}: give seeds like 0, 0,1,2 or 0-3")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise argparse.ArgumentTypeError(f"{s!r}: a range of seeds goes up, like 0-3")
        out += range(lo, hi + 1)
    if not out or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"{s!r}: give each seed once")
    return out
