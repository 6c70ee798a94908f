"""Chapter 7 (full VB, App. F: a posterior q(θ) over the decoder's parameters too): its table, the curves of its
figure and the numbers its prose states, computed here so that the chapter's cells only call, plot and glue.

- ``final_table``: AEVB and full VB at the end of training, with full VB's KL(q(θ)‖p(θ))/N and eq. 14's bound;
- ``bound_curves`` and ``bound_facts``: the per-datapoint bounds over training and the numbers the prose states;
- ``decoder_spread``: full VB's posterior over the decoder's parameters, its standard deviations and signal to
  noise, and the numbers the prose states about them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from aevb.learners.full_vb import posteriors
from aevb.plots import Table, curve_rows, table

FINAL_COLUMNS = {"algorithm": "", "lr": "g", "train bound": ".2f", "test bound": ".2f", "KL(q(θ)‖p(θ))/N": ".2f",
                 "eq. 14 bound / N": ".2f"}
WIDE_SIGMA = 0.5  # a parameter's σ_θ above this is close to the prior's 1: the data do not hold it


def final_rows(results: dict) -> list[dict]:
    """A row per algorithm of ``results`` (algorithm -> ``aevb.experiments.runs.run``'s result) at its last
    evaluation: step size, train and test bounds, and for full VB KL(q(θ)‖p(θ))/N and eq. 14's bound per
    datapoint (AEVB has no q(θ): None, empty cells)."""
    rows = []
    for alg, r in results.items():
        last = r.curve[-1]
        kl = last.get("kl_theta")
        rows.append({"algorithm": alg, "lr": r.lr, "train bound": last["train_bound"],
                     "test bound": last["test_bound"], "KL(q(θ)‖p(θ))/N": kl,
                     "eq. 14 bound / N": None if kl is None else last["train_bound"] - kl})
    return rows


def final_table(rows: list[dict]) -> Table:
    """``final_rows`` as the page's table."""
    return table(rows, FINAL_COLUMNS, headers={"lr": "step size"})


def bound_facts(results: dict, rows: list[dict]) -> dict:
    """The numbers the prose states about training: ``kl_start``/``kl_end`` (full VB's KL(q(θ)‖p(θ))/N at its
    first and last evaluation), ``n_decoder_params`` (the parameters q(θ) is over) and ``gap_aevb``/``gap_vb``
    (train − test bound at the end, ``final_rows``' ``rows``)."""
    vb_curve = results["full-vb"].curve
    by = {r["algorithm"]: r for r in rows}
    return {"kl_start": float(vb_curve[0]["kl_theta"]), "kl_end": float(vb_curve[-1]["kl_theta"]),
            "n_decoder_params": sum(m.numel() for m, _ in posteriors(results["full-vb"].model.decoder)),
            "gap_aevb": float(by["aevb"]["train bound"] - by["aevb"]["test bound"]),
            "gap_vb": float(by["full-vb"]["train bound"] - by["full-vb"]["test bound"])}


def bound_curves(results: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The figure's curves: both algorithms' per-datapoint bounds (``aevb.plots.curve_rows``), and full VB's
    bound on log p(X)/N (eq. 14) beside its −KL(q(θ)‖p(θ))/N term, over training samples."""
    bounds = pd.DataFrame([row for alg in ("aevb", "full-vb")
                           for row in curve_rows(results[alg].curve, "bound", algorithm=alg)])
    evidence = pd.DataFrame([{"samples": row["samples"], "term": term, "nats per datapoint": value}
                             for row in results["full-vb"].curve
                             for term, value in (("eq. 14 bound / N", row["train_bound"] - row["kl_theta"]),
                                                 ("−KL(q(θ)‖p(θ)) / N", -row["kl_theta"]))])
    return bounds, evidence


def decoder_spread(model) -> tuple[pd.DataFrame, dict, str]:
    """Full VB's q(θ) over ``model``'s decoder: a row per parameter (``log10 σ_θ``, ``log10 |μ_θ| / σ_θ``), the
    numbers the prose states (``share_wide``: the share with σ_θ > ``WIDE_SIGMA``; ``held_q1``/``held_q3``: the
    quartiles of σ_θ of the others; ``snr_median``; ``share_snr2``: the share with ``|μ|/σ > 2``) and a report of
    them."""
    sigma = torch.cat([torch.exp(0.5 * q.log_var).flatten() for _, q in posteriors(model.decoder)]).detach()
    mu = torch.cat([m.flatten() for m, _ in posteriors(model.decoder)]).detach()
    snr = (mu.abs() / sigma).numpy()
    spread = pd.DataFrame({"log10 σ_θ": np.log10(sigma.numpy()), "log10 |μ_θ| / σ_θ": np.log10(snr + 1e-6)})
    held = sigma[sigma <= WIDE_SIGMA]  # the parameters the data hold away from the prior's 1
    facts = {"share_wide": (sigma > WIDE_SIGMA).float().mean(),
             "held_q1": held.quantile(0.25) if len(held) else float("nan"),
             "held_q3": held.quantile(0.75) if len(held) else float("nan"),
             "snr_median": np.median(snr), "share_snr2": (torch.from_numpy(snr) > 2).float().mean()}
    facts = {name: float(value) for name, value in facts.items()}
    report = "\n".join([f"{len(sigma):,} decoder parameters; median σ_θ = {sigma.median():.3g}",
                        f"{facts['share_wide']:.1%} have σ_θ > {WIDE_SIGMA} (close to the prior's 1)",
                        f"{facts['share_snr2']:.1%} have |μ|/σ > 2"])
    return spread, facts, report
