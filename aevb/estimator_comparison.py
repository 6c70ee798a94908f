"""Chapter 5's comparisons of the marginal-likelihood estimators (App. D, IWAE, AIS), side by side.

- ``error_vs_compute``: each estimator at several budgets on a model whose log p(x) is known, with the
  cost counted as evaluations of log p(x, z) (or its gradient) per datapoint.
- ``side_by_side``: the three estimators on one model and data set, with wall time.
- ``by_dimension``: App. D against AIS and IWAE as the latent dimension grows (the paper: App. D is
  reliable only below about 5 dimensions).
- ``by_density``: App. D's error per point for each density q (a full-covariance Gaussian; the authors' KDE,
  ``aevb.densities``) and each HMC sampler (fixed or jittered step size), with each chain's lag-1
  autocorrelation and effective sample size; ``density_summary`` and ``sampler_summary`` sum it up, and
  ``linear_gaussian_problems`` gives models with exact log p(x) for it.
"""
from __future__ import annotations

import math
import time

import torch

from aevb.densities import DENSITIES, kde_is_diagonal, scott_factor, select_bandwidth
from aevb.evaluation import (APPD_STEP_JITTER, ais, appd_estimate, appd_samples, iwae_bound, log_marginal,
                             log_marginal_hmc)
from aevb.hmc import autocorrelation, effective_sample_size
from aevb.linear_gaussian import LinearGaussian
from aevb.validation import MARGINAL_METHODS

APPD_WARMUP, APPD_LEAPFROG = 300, 4  # log_marginal_hmc's defaults
AIS_CHAINS, AIS_LEAPFROG, AIS_PILOT = 8, 5, 2
SAMPLERS = {"fixed step": 0.0, "jittered step": APPD_STEP_JITTER}  # App. D's HMC: name -> step_jitter


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


def by_dimension(models: dict[int, torch.nn.Module], x: torch.Tensor, iwae_k: int = 1000,
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


def linear_gaussian_problems(n_models: int = 8, n_points: int = 16, d_x: int = 8, n_z: int = 3,
                             noise: float = 0.8) -> dict[str, tuple]:
    """Random linear-Gaussian models with their data and exact log p(x), as ``tests/test_evaluation.py`` builds
    them: {"linear-Gaussian i": (model, x: (n_points, d_x), exact: (n_points,))}, model i from seed i."""
    out = {}
    for i in range(n_models):
        model = LinearGaussian.random(d_x, n_z, s=noise, seed=i).requires_grad_(False)
        _, x = model.sample_joint(n_points, torch.Generator().manual_seed(100 + i))
        out[f"linear-Gaussian {i}"] = (model, x, model.log_marginal(x))
    return out


RESONATING = -0.5  # a chain whose lag-1 autocorrelation is below this, in some coordinate, resonates


def chain_diagnostics(samples: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per chain, the worst of its latent coordinates: the most negative lag-1 autocorrelation, and the smallest
    effective sample size of the squared deviations (the spread, which a resonating chain misrepresents).
    (S, C, Z) -> {"lag1": (C,), "ess_sq": (C,)}."""
    sq = (samples - samples.mean(0)) ** 2  # (S, C, Z)
    return {"lag1": autocorrelation(samples, 1)[1].amin(-1), "ess_sq": effective_sample_size(sq).amin(-1)}


def by_density(problems: dict[str, tuple], samplers: dict[str, float] = SAMPLERS, densities=DENSITIES,
                  n_samples: int = 50, seed: int = 0) -> list[dict]:
    """App. D (L = ``n_samples``) on every problem {name: (model, x, exact log p(x))}, the i-th seeded seed + i,
    for each sampler {name: step_jitter}; each density is fitted to the same chains. One row per point:
    {problem, sampler, density, point, error (estimate − exact, nats), lag1, ess_sq (``chain_diagnostics`` of
    its chain), kept (2L samples), bandwidth (the KDE's factor over Scott's; NaN for other densities)}."""
    rows = []
    for i, (name, (model, x, exact)) in enumerate(problems.items()):
        for sampler, step_jitter in samplers.items():
            s = appd_samples(model, x, 2 * n_samples, seed=seed + i, step_jitter=step_jitter)  # (2L, B, Z)
            diag = chain_diagnostics(s)
            bandwidth = kde_bandwidth(s[:n_samples].transpose(0, 1)).tolist()  # (B,)
            for density in densities:
                err = (appd_estimate(model, x, s, density) - exact).tolist()  # (B,)
                rows += [{"problem": name, "sampler": sampler, "density": density, "point": b, "error": e,
                          "lag1": diag["lag1"][b].item(), "ess_sq": diag["ess_sq"][b].item(), "kept": s.shape[0],
                          "bandwidth": bandwidth[b] if density == "kde" else math.nan} for b, e in enumerate(err)]
    return rows


def kde_bandwidth(fit: torch.Tensor) -> torch.Tensor:
    """The factor App. D's KDE chooses per datapoint, as a multiple of Scott's factor (NaN where hmc_est.py's
    diagonal Gaussian replaces the KDE): fit (B, N, Z) -> (B,)."""
    N, Z = fit.shape[1], fit.shape[2]
    if kde_is_diagonal(N, Z):
        return torch.full(fit.shape[:1], math.nan, dtype=fit.dtype)
    return select_bandwidth(fit, 1e-4) / scott_factor(N, Z)


def _groups(rows: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    out = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def density_summary(rows: list[dict]) -> list[dict]:
    """``by_density``'s errors per (sampler, density): {sampler, density, problems, points, mean (error),
    mean_abs, worst (largest |error| of a point), worst_problem_mean (largest |mean error| of a problem), in nats;
    bandwidth, the KDE's median factor over Scott's (NaN for other densities)}."""
    out = []
    for (sampler, density), sel in _groups(rows, "sampler", "density").items():
        err = torch.tensor([r["error"] for r in sel], dtype=torch.float64)  # (points,)
        by_problem = _groups(sel, "problem")
        out.append({"sampler": sampler, "density": density, "problems": len(by_problem), "points": len(sel),
                    "mean": err.mean().item(), "mean_abs": err.abs().mean().item(), "worst": err.abs().max().item(),
                    "worst_problem_mean": max(abs(sum(r["error"] for r in p) / len(p)) for p in by_problem.values()),
                    "bandwidth": torch.tensor([r["bandwidth"] for r in sel], dtype=torch.float64).median().item()})
    return out


def sampler_summary(rows: list[dict]) -> list[dict]:
    """``by_density``'s chains per sampler: {sampler, chains, kept, lag1 (median of the chains' most negative
    lag-1 autocorrelation), resonating (fraction of chains below ``RESONATING``), ess_sq_median, ess_sq_min}."""
    out = []
    for (sampler,), sel in _groups(rows, "sampler").items():
        chains = list(_groups(sel, "problem", "point").values())
        lag1 = torch.tensor([c[0]["lag1"] for c in chains], dtype=torch.float64)  # (chains,)
        ess = torch.tensor([c[0]["ess_sq"] for c in chains], dtype=torch.float64)  # (chains,)
        out.append({"sampler": sampler, "chains": len(chains), "kept": sel[0]["kept"], "lag1": lag1.median().item(),
                    "resonating": (lag1 < RESONATING).double().mean().item(),
                    "ess_sq_median": ess.median().item(), "ess_sq_min": ess.min().item()})
    return out
