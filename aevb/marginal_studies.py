"""Side-by-side studies of the marginal-likelihood estimators (App. D, IWAE, AIS) for the book.

- ``error_vs_compute``: each estimator at several budgets on a model whose log p(x) is known, with the
  cost counted as evaluations of log p(x, z) (or its gradient) per datapoint.
- ``side_by_side``: the three estimators on one model and data set, with wall time.
- ``dimension_study``: App. D against AIS and IWAE as the latent dimension grows (the paper: App. D is
  reliable only below about 5 dimensions).
"""
from __future__ import annotations

import time

import torch

from aevb.evaluation import ais, iwae_bound, log_marginal, log_marginal_hmc
from aevb.validation import MARGINAL_METHODS

APPD_WARMUP, APPD_LEAPFROG = 300, 4  # log_marginal_hmc's defaults
AIS_CHAINS, AIS_LEAPFROG, AIS_PILOT = 8, 5, 2


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def error_vs_compute(model, encoder, x: torch.Tensor, exact: torch.Tensor, appd_L=(10, 50, 200),
                     iwae_k=(1, 10, 100, 1000, 10000), ais_steps=(10, 50, 200, 500), seed: int = 0) -> list[dict]:
    """Rows {method, setting, evals, error, seconds}: ``error`` is the mean over x of estimate − exact
    log p(x) (nats), ``evals`` the log p(x, z) (or gradient) evaluations per datapoint."""
    rows = []
    for L in appd_L:
        est, s = _timed(lambda: log_marginal_hmc(model, x, n_samples=L, seed=seed))
        rows.append({"method": "App. D", "setting": f"L={L}", "seconds": s,
                     "evals": (APPD_WARMUP + 2 * L) * APPD_LEAPFROG + L, "error": (est - exact).mean().item()})
    for k in iwae_k:
        est, s = _timed(lambda: iwae_bound(model, encoder, x, k, seed=seed))
        rows.append({"method": "IWAE", "setting": f"k={k}", "seconds": s, "evals": k,
                     "error": (est - exact).mean().item()})
    for T in ais_steps:
        est, s = _timed(lambda: ais(model, x, n_chains=AIS_CHAINS, n_steps=T, seed=seed))
        rows.append({"method": "AIS", "setting": f"T={T}, K={AIS_CHAINS}", "seconds": s,
                     "evals": (AIS_PILOT + AIS_CHAINS) * T * (AIS_LEAPFROG + 1), "error": (est - exact).mean().item()})
    return rows


def side_by_side(model, x: torch.Tensor, iwae_k: int = 5000, ais_chains: int = AIS_CHAINS, ais_steps: int = 500,
                 seed: int = 0) -> list[dict]:
    """Rows {method, mean, se, seconds}: each estimator's mean log p(x) over x and its standard error."""
    names = {"hmc": "App. D (L=50, 4 leapfrog)", "iwae": f"IWAE (k={iwae_k})",
             "ais": f"AIS (K={ais_chains}, T={ais_steps})"}
    rows = []
    for method in MARGINAL_METHODS:
        est, s = _timed(lambda: log_marginal(model, x, method, seed=seed, k=iwae_k, n_chains=ais_chains,
                                             n_steps=ais_steps))
        rows.append({"method": names[method], "mean": est.mean().item(),
                     "se": (est.std() / len(est) ** 0.5).item(), "seconds": s})
    return rows


def dimension_study(models: dict[int, torch.nn.Module], x: torch.Tensor, iwae_k: int = 1000,
                    ais_steps: int = 200, seed: int = 0) -> list[dict]:
    """For trained models keyed by N_z: rows {n_z, appd, iwae, ais, appd_minus_ais} (means over x, nats).

    IWAE is a lower bound and AIS a stochastic lower bound, so an App. D estimate well above both is an
    overestimate: the fitted Gaussian's tails no longer cover the posterior's."""
    rows = []
    for n_z, model in models.items():
        appd = log_marginal_hmc(model, x, seed=seed).mean().item()
        iw = iwae_bound(model, model.encoder, x, iwae_k, seed=seed).mean().item()
        a = ais(model, x, n_chains=AIS_CHAINS, n_steps=ais_steps, seed=seed).mean().item()
        rows.append({"n_z": n_z, "appd": appd, "iwae": iw, "ais": a, "appd_minus_ais": appd - a})
    return rows
