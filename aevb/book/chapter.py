"""A chapter's set-up, in one call after its ``parameters`` cell (and papermill's injected one), and its closing
"Rerun time" (issue 26), so that the chapters do not repeat that machinery thirteen times.

``setup(globals())`` checks every parameter (``aevb.book.knobs.check_notebook``: ``papermill -p typo 1`` or a value
out of range stops the chapter with one clear error), claims the kernel's torch threads (``aevb.threads``: its
share of the free cores; one under CI's smoke test, where two chapters run at once and nbval's re-execution must
round as papermill's did), puts the chapter's reduced smoke-test settings in place, and starts the clock of the
page's rerun time. It returns the ``Page``, whose ``glue_rerun_time`` glues the opening's words at the end.
``glue_all`` glues a dict of computed numbers under their names (MyST-NB ``glue``, not displayed).

This module does not read the results store, so that a chapter which only times itself is not executed again
whenever the store changes (``aevb.book.cache``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from myst_nb import glue

from aevb.book.knobs import check_notebook
from aevb.book.rerun import rerun_time
from aevb.threads import claim


@dataclass(frozen=True)
class Page:
    """A chapter being executed: its smoke-test switch and the ``time.perf_counter()`` its rerun time counts from."""

    smoke_test: bool
    started: float

    def rerun_time(self, training: tuple[float, list[str]] | None = None) -> dict[str, str]:
        """The opening's "Rerun time" words (``aevb.book.rerun.rerun_time``), the page measured up to now; given
        the ``training`` of the runs a figure chapter reads (``aevb.book.retrain.runs_training``), that too."""
        return rerun_time(self.started, self.smoke_test, training)

    def glue_rerun_time(self, training: tuple[float, list[str]] | None = None) -> None:
        """Glue ``rerun_time(training)`` under its names, for the chapter's opening (its last cell calls this)."""
        glue_all(self.rerun_time(training))


def setup(namespace: dict, smoke: dict | None = None) -> Page:
    """Set a chapter up, from its notebook's ``namespace`` (``globals()``) as it stands after its parameters:
    check them (a ``ValueError`` names the bad one), claim the torch threads (one under the smoke test, else the
    fair share), then under the smoke test set the names of ``smoke`` in ``namespace`` to its reduced values
    (e.g. ``{"budget": 50_000}``: CI's shorter run), and start the page's clock."""
    check_notebook(namespace)
    smoke_test = namespace["smoke_test"]
    claim(1 if smoke_test else None)
    if smoke_test and smoke:
        unknown = sorted(set(smoke) - set(namespace))
        if unknown:
            raise KeyError(f"setup(smoke=...): {unknown} are not parameters of this chapter")
        namespace.update(smoke)
    return Page(smoke_test=smoke_test, started=time.perf_counter())


def glue_all(values: dict) -> None:
    """Glue each of ``values`` under its name (MyST-NB ``glue``, not displayed: the prose shows it)."""
    for name, value in values.items():
        glue(name, value, display=False)
