"""The density q(z) that App. D fits to posterior samples, and evaluates on fresh ones (App. D).

App. D leaves the density estimator open ("any density estimator"). Two are here, batched over datapoints: every
function takes samples (B, N, Z), N samples for each of B datapoints, and fits one density per datapoint.

- ``"gaussian"``: a full-covariance Gaussian N(mean, cov + jitter·I), this book's default.
- ``"kde"``: the authors' choice in their code (dpkingma/anglepy, ``hmc_est.py`` at commit
  c23d603cb0afa19917c3a787f28d4ef995608dd4, ``kde_infer_factor`` and ``estimate_mcmc_likelihood``): a Gaussian
  kernel density estimate as scipy's ``gaussian_kde`` computes it, the kernel covariance the samples' covariance
  times factor², the factor chosen by ``select_bandwidth``; in one dimension, or with fewer than 4 fitting samples
  per latent dimension (above 12 dimensions with 50 samples), a diagonal Gaussian instead, as there.

What follows hmc_est.py exactly: the candidate factors (``BANDWIDTH_MULTIPLES`` times Scott's factor
N^(−1/(Z+4)) of all N fitting samples), the split (kernels on the second half of the fitting samples, the score
the summed log density of the first half; the first maximum wins), the full bandwidth matrix (the sample
covariance, normalised by N − 1, of the points the kernels sit on), the final estimate (all N fitting samples with
the chosen factor), and the diagonal fallback (mean and standard deviation normalised by N). What does not: a
``jitter``·I is added to every covariance (hmc_est.py has none: scipy fails on a singular one, and its diagonal
fallback replaces a zero standard deviation by the smallest non-zero one instead); log densities are computed by
logsumexp, where hmc_est.py takes the log of scipy's density (a candidate whose density underflows to 0 scores −inf
there, a finite value here: the choice differs only if every candidate underflows); the arithmetic is in the
samples' dtype (float64 in numpy there). Not about the density, and not followed by ``aevb.evaluation``: the
authors' sampler (5 burn-in transitions, 10 (+1) leapfrog steps, chains carried over between evaluations).
"""
from __future__ import annotations

import math

import torch
from torch.distributions import MultivariateNormal, Normal

DENSITIES = ("gaussian", "kde")
# hmc_est.py's candidate bandwidths: Scott's factor times e^((i − 5)/2), i = 0 … 9, i.e. e^−2.5 … e^2
BANDWIDTH_MULTIPLES = tuple(math.exp((i - 5) / 2) for i in range(10))
MIN_SAMPLES_PER_DIM = 4  # hmc_est.py: a diagonal Gaussian where (fitting samples) // Z < 4


def sample_covariance(s: torch.Tensor, jitter: float = 0.0) -> torch.Tensor:
    """Covariance of each datapoint's samples, normalised by N − 1, plus jitter·I: (B, N, Z) -> (B, Z, Z)."""
    dev = s - s.mean(1, keepdim=True)  # (B, N, Z)
    cov = dev.transpose(1, 2) @ dev / max(s.shape[1] - 1, 1)  # (B, Z, Z)
    return cov + jitter * torch.eye(s.shape[-1], dtype=s.dtype, device=s.device)


def scott_factor(n: int, d: int) -> float:
    """Scott's rule for a Gaussian KDE of n points in d dimensions (as scipy): n^(−1/(d + 4))."""
    return n ** (-1.0 / (d + 4))


def squared_mahalanobis(z: torch.Tensor, centers: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """(z_m − c_n)ᵀ Σ⁻¹ (z_m − c_n) for Σ = chol cholᵀ, every query m and center n of each datapoint:
    z (B, M, Z), centers (B, N, Z), chol (B, Z, Z) -> (B, M, N)."""
    B, M, Z = z.shape
    diff = (z[:, :, None, :] - centers[:, None, :, :]).reshape(B, -1, Z)  # (B, M·N, Z)
    white = torch.linalg.solve_triangular(chol, diff.transpose(1, 2), upper=False)  # (B, Z, M·N)
    return (white**2).sum(1).reshape(B, M, -1)  # (B, M, N)


def kde_log_density(z: torch.Tensor, centers: torch.Tensor, cov: torch.Tensor, factor=1.0) -> torch.Tensor:
    """log q(z) for q = (1/N) Σ_n N(c_n, factor² cov), one KDE per datapoint: z (B, M, Z), centers (B, N, Z),
    cov (B, Z, Z); ``factor`` a float or a tensor broadcastable to (..., B), e.g. (B,) or (K, 1).
    Returns (..., B, M): (B, M) for a float or (B,) factor, (K, B, M) for K candidate factors."""
    chol = torch.linalg.cholesky(cov)  # (B, Z, Z)
    m2 = squared_mahalanobis(z, centers, chol)  # (B, M, N)
    f = torch.as_tensor(factor, dtype=z.dtype, device=z.device)[..., None, None]  # (..., B or 1, 1, 1)
    Z, N = z.shape[-1], centers.shape[1]
    half_logdet = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)[:, None, None]  # (B, 1, 1)
    log_norm = -0.5 * Z * math.log(2 * math.pi) - half_logdet - Z * torch.log(f)  # (..., B, 1, 1)
    return torch.logsumexp(-0.5 * m2 / f**2 + log_norm, -1) - math.log(N)  # (..., B, M)


def select_bandwidth(fit: torch.Tensor, jitter: float = 0.0, multiples=BANDWIDTH_MULTIPLES) -> torch.Tensor:
    """The KDE factor per datapoint, chosen as hmc_est.py's ``kde_infer_factor`` does: candidates ``multiples``
    × Scott's factor of all N samples; kernels on the second half of ``fit`` (its own covariance), each candidate
    scored by the summed log density of the first half; the best wins. fit: (B, N, Z) -> (B,)."""
    N, Z = fit.shape[1], fit.shape[2]
    factors = scott_factor(N, Z) * torch.tensor(multiples, dtype=fit.dtype, device=fit.device)  # (K,)
    score_pts, centers = fit[:, : N // 2], fit[:, N // 2:]  # (B, N/2, Z) each
    cov = sample_covariance(centers, jitter)  # (B, Z, Z)
    score = kde_log_density(score_pts, centers, cov, factors[:, None]).sum(-1)  # (K, B, N/2) -> (K, B)
    return factors[score.argmax(0)]  # (B,)


def kde_is_diagonal(n: int, d: int) -> bool:
    """Whether hmc_est.py fits a diagonal Gaussian instead of the KDE to n samples in d dimensions."""
    return d == 1 or n // d < MIN_SAMPLES_PER_DIM


def kde_log_q(fit: torch.Tensor, query: torch.Tensor, jitter: float = 0.0) -> torch.Tensor:
    """hmc_est.py's q: a KDE on all of ``fit`` with the factor of ``select_bandwidth`` (a diagonal Gaussian in 1-D
    or with fewer than 4 samples per dimension). fit: (B, N, Z), query: (B, M, Z) -> log q(query): (B, M)."""
    if kde_is_diagonal(fit.shape[1], fit.shape[2]):
        return diagonal_log_q(fit, query, jitter)
    return kde_log_density(query, fit, sample_covariance(fit, jitter), select_bandwidth(fit, jitter))


def diagonal_log_q(fit: torch.Tensor, query: torch.Tensor, jitter: float = 0.0) -> torch.Tensor:
    """hmc_est.py's ``compute_logq_var``: independent Gaussians with each dimension's mean and standard deviation
    (normalised by N), variance + jitter. fit: (B, N, Z), query: (B, M, Z) -> (B, M)."""
    std = (fit.var(1, correction=0, keepdim=True) + jitter).sqrt()  # (B, 1, Z)
    return Normal(fit.mean(1, keepdim=True), std).log_prob(query).sum(-1)


def gaussian_log_q(fit: torch.Tensor, query: torch.Tensor, jitter: float = 0.0) -> torch.Tensor:
    """The full-covariance Gaussian N(mean, cov + jitter·I) of each datapoint's ``fit``: (B, N, Z),
    query: (B, M, Z) -> (B, M)."""
    q = MultivariateNormal(fit.mean(1), covariance_matrix=sample_covariance(fit, jitter))  # batch (B,)
    return q.log_prob(query.transpose(0, 1)).transpose(0, 1)  # (M, B) -> (B, M)


LOG_Q = {"gaussian": gaussian_log_q, "kde": kde_log_q}


def log_q(density: str, fit: torch.Tensor, query: torch.Tensor, jitter: float = 0.0) -> torch.Tensor:
    """log q(query) for q of family ``density`` (``DENSITIES``) fitted to ``fit``: (B, N, Z), (B, M, Z) -> (B, M)."""
    if density not in LOG_Q:
        raise ValueError(f"density={density!r}: allowed values are {DENSITIES}")
    return LOG_Q[density](fit, query, jitter)
