"""Chapter 3 (the SGVB estimators, §2.3-2.4): its check of the reparameterization trick's pathwise gradients
against the exact ones, computed here so that the chapter's cell only calls, shows and asserts."""
from __future__ import annotations

from typing import Iterable

from aevb.plots import Table, table
from aevb.reparam import exact_gradient, pathwise_gradient

GRADIENT_COLUMNS = {"family": "", "kind": "", "param": "", "pathwise": ".4f", "exact": ".4f", "rel_error": ".4f"}


def gradient_check(families: Iterable, samples: int, seed: int) -> list[dict]:
    """For each of ``families`` (``aevb.reparam.FAMILIES``) and each of its parameters, the pathwise gradient
    estimated from ``samples`` draws (``pathwise_gradient``, ``seed``) against the exact one (``exact_gradient``):
    {family, kind, param, pathwise, exact, rel_error}."""
    check = []
    for fam in families:
        mc, ex = pathwise_gradient(fam, samples, seed=seed), exact_gradient(fam)
        check += [{"family": fam.name, "kind": fam.kind, "param": k, "pathwise": mc[k], "exact": ex[k],
                   "rel_error": abs(mc[k] - ex[k]) / abs(ex[k])} for k in ex]
    return check


def gradient_table(check: list[dict]) -> Table:
    """``gradient_check``'s rows as the page's table."""
    return table(check, GRADIENT_COLUMNS, headers={"param": "parameter", "rel_error": "relative error"})
