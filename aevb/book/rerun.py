"""How long a chapter takes to rerun, for the "Rerun time" line that opens each chapter (issue 26), in numbers
computed when the page is built: the page itself, measured from the clock a chapter starts after its parameters
to its last cell, on the machine that builds it (``aevb.experiments.runs.environment``), at the settings it was
built with; for a figure chapter also the training of the runs it reads, which ``aevb.book.retrain`` counts.

``rerun_time`` gives the opening's words, ready for MyST-NB's ``glue``; ``duration`` writes seconds for reading,
``machine`` a machine. This module does not read the results store, so that a chapter which only times itself
is not executed again whenever the store changes (``aevb.book.cache``).
"""
from __future__ import annotations

import time

from aevb.experiments.runs import environment


def duration(seconds: float) -> str:
    """``seconds`` for reading: "40 s", "12 min", "2.5 h", "31 h"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"


def machine(env: dict) -> str:
    """A run's or a page's machine in words, from ``aevb.experiments.runs.environment``'s record."""
    threads = env.get("torch_threads", "?")
    return (f"{env.get('cpu_count', '?')} CPU cores ({env.get('processor') or env.get('machine', '?')}), "
            f"{threads} PyTorch thread{'' if threads == 1 else 's'}")


def rerun_time(started: float, smoke_test: bool, training: tuple[float, list[str]] | None = None) -> dict[str, str]:
    """The opening's "Rerun time", as words to glue: ``rerun_page`` (how long the page took, from ``started``, a
    ``time.perf_counter()`` taken after its parameters), ``rerun_settings`` (at which settings), ``rerun_machine``;
    given the ``training`` of the runs a figure chapter reads (``aevb.book.retrain.runs_training``: seconds and
    machines), ``rerun_train`` and ``rerun_train_machine``."""
    out = {"rerun_page": duration(time.perf_counter() - started),
           "rerun_settings": "with the reduced settings of a quick run" if smoke_test else "at its default settings",
           "rerun_machine": machine(environment())}
    if training is not None:
        seconds, machines = training
        out["rerun_train"] = duration(seconds) if seconds else "nothing: none is trained yet"
        out["rerun_train_machine"] = " and ".join(machines) or "no machine yet"
    return out
