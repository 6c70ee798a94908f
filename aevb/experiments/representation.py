"""Placeholder for issue 29 (being written): the representation measurement of chapter 13.

The contract aevb.experiments.measurements relies on: COLUMNS (the CSV's columns, the first run),
TEXT_COLUMNS (those read back as text) and measure(results_dir, log) (the rows, dicts with COLUMNS)."""
from __future__ import annotations

COLUMNS = ["run"]
TEXT_COLUMNS: tuple[str, ...] = ("run",)


def measure(results_dir, log=print) -> list[dict]:
    raise NotImplementedError("issue 29: being written")
