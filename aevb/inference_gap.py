"""The inference gap of Cremer, Li & Duvenaud (2018), "Inference Suboptimality in Variational Autoencoders".

For a trained model and a datapoint x, with q_enc = q_φ(z|x) the encoder's posterior and q* the best member of
its family for x alone (its parameters optimised on x's ELBO, eq. 3):

    log p(x) − L[q_enc] = (log p(x) − L[q*])  +  (L[q*] − L[q_enc])      (their eq. 5-7)
       total gap        =  approximation gap   +  amortization gap

The approximation gap is KL(q* ‖ p(z|x)) (eq. 1): what the family cannot do; the amortization gap is what the
encoder loses by sharing one network across datapoints. Both are >= 0 up to estimation error. The families are
``aevb.posteriors``': eq. 9's diagonal Gaussian (free: μ, log σ² per point), the full-covariance Gaussian (μ and
the Cholesky factor) and the inverse autoregressive flow (its base μ, log σ² and context h per point; the flow's
MADE weights are shared by all points and held, where Cremer et al. optimise them per point too, so our IAF q*
lies in a sub-family: its approximation gap is an upper bound and its amortization gap a lower bound of theirs).

- ``amortized_elbo``: L[q_enc] per datapoint by Monte Carlo, with its standard error;
- ``optimized_q``: q* per datapoint, by Adam on the reparameterized ELBO (§2.4) from the encoder's q, over its
  ``local_parameters``;
- ``elbo_of``: L[q] and its standard error for any reparameterizable q (fresh draws);
- ``log_marginal_reference``: log p(x) by AIS (``aevb.evaluation.ais``); with exact posterior samples (simulated
  data) also the reverse chain's upper bound, the bidirectional Monte Carlo sandwich; without them (real data)
  only the forward, stochastic lower bound;
- ``inference_gap``: the three quantities and the gaps, per point and averaged, with rows for a table.
"""
from __future__ import annotations

import math

import torch

from aevb.distributions import DiagonalGaussian
from aevb.estimators import analytic_kl, log_joint
from aevb.evaluation import ais
from aevb.posteriors import FullCovarianceGaussian, IAFPosterior, sample_and_log_q
from aevb.rng import seeded

ELBO_ESTIMATORS = ("A", "B")  # eq. 6: log p(x, z) − log q(z|x); eq. 7: −KL(q ‖ p(z)) + log p(x|z)
QUANTITIES = ("log_px", "elbo_opt", "elbo_enc", "approximation_gap", "amortization_gap", "total_gap")


@torch.no_grad()
def elbo_samples(model, q, x: torch.Tensor, n_samples: int = 1000, seed: int = 0,
                 estimator: str = "A") -> torch.Tensor:
    """Per-draw terms of the ELBO of q: x: (B, D) -> (S, B), S = ``n_samples`` draws z ~ q(z|x) under ``seed``;
    their mean over S estimates L[q](x) without bias. ``estimator`` "A" (eq. 6) has zero variance when q is the
    exact posterior, and takes q of any family (``aevb.posteriors.sample_and_log_q``); "B" (eq. 7) uses the
    closed-form KL to the prior (a Gaussian q). Two q of one family and shapes get the same noise ε (z = μ + σ ⊙ ε,
    μ + L ε, or the flow of it) under the same seed, so their differences are paired."""
    if estimator not in ELBO_ESTIMATORS:
        raise ValueError(f"estimator={estimator!r}: allowed values are {ELBO_ESTIMATORS}")
    with seeded(seed, x.device):
        z, log_q = sample_and_log_q(q, None, n_samples)  # (S, B, Z), (S, B)
    if estimator == "A":
        return log_joint(model, x, z) - log_q  # (S, B)
    return model.log_likelihood(x, z) - analytic_kl(q, model.prior)  # (S, B)


def _mean_se(terms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """terms: (S, B) -> (mean over S, its standard error): (B,) each."""
    return terms.mean(0), terms.std(0) / math.sqrt(terms.shape[0])


def elbo_of(model, q, x: torch.Tensor, n_samples: int = 1000, seed: int = 0,
            estimator: str = "A") -> tuple[torch.Tensor, torch.Tensor]:
    """L[q](x) per datapoint and its Monte Carlo standard error: x: (B, D) -> ((B,), (B,)) (``elbo_samples``)."""
    return _mean_se(elbo_samples(model, q, x, n_samples, seed, estimator))


def amortized_elbo(model, encoder, x: torch.Tensor, n_samples: int = 1000, seed: int = 0,
                   estimator: str = "A") -> tuple[torch.Tensor, torch.Tensor]:
    """L[q_enc](x) of the encoder's q(z|x) per datapoint, with its standard error: x: (B, D) -> ((B,), (B,))."""
    with torch.no_grad():
        q = encoder(x)
    return elbo_of(model, q, x, n_samples, seed, estimator)


def local_parameters(q) -> tuple[list[torch.Tensor], object]:
    """The free parameters of a posterior q for a batch of datapoints, and the map back: q -> (tensors, build),
    ``build(*tensors)`` a q of the same family. DiagonalGaussian: μ, log σ²: (B, Z) each; FullCovarianceGaussian: μ
    (B, Z), log diag L (B, Z) and L's strictly lower part (B, Z, Z); IAFPosterior: base μ, log σ² (B, Z) and
    context h (B, C), its steps (shared weights) kept."""
    if isinstance(q, DiagonalGaussian):
        return [q.mu, q.log_var.expand_as(q.mu)], DiagonalGaussian
    if isinstance(q, FullCovarianceGaussian):
        L = q.scale_tril.expand(q.loc.shape + q.loc.shape[-1:])  # (B, Z, Z)

        def full(mu, log_diag, lower):
            return FullCovarianceGaussian(mu, torch.tril(lower, -1) + torch.diag_embed(log_diag.exp()))
        return [q.loc, torch.diagonal(L, dim1=-2, dim2=-1).log(), torch.tril(L, -1)], full
    if isinstance(q, IAFPosterior):
        return [q.mu, q.log_var, q.h], lambda mu, log_var, h: IAFPosterior(mu, log_var, h, q.steps)
    raise TypeError(f"local_parameters: unsupported posterior {type(q).__name__}")


def optimized_q(model, x: torch.Tensor, init, steps: int = 1000, lr: float = 0.05, n_samples: int = 64,
                seed: int = 0, average: float = 0.5):
    """q*: the member of ``init``'s family fitted to each datapoint alone: x: (B, D) -> a q of that family, (B,).

    Its free parameters (``local_parameters``) start at ``init`` (the encoder's q) and ascend, by Adam at rate
    ``lr``, the reparameterized ELBO E_q[log p(x, z)] + H[q] (§2.4; the entropy in closed form for the Gaussians,
    −log q at the draws for a flow), ``n_samples`` draws a step, summed over the datapoints (each point's
    parameters see only its own term). The result is the average of the iterates over the last ``average``
    fraction of the steps (Polyak-Ruppert): the stochastic gradients keep the last iterate jittering about the
    optimum (on the linear-Gaussian model ~0.05 posterior standard deviations with 16 draws a step; averaged, with
    64, ~0.01). Only q's own parameters are updated; the model (and an IAF's shared steps) are left as they are,
    gradients included. Cremer et al. optimise q* the same way, by Adam on the ELBO."""
    if steps < 1 or not 0 < average <= 1:
        raise ValueError(f"steps={steps}, average={average}: need steps >= 1 and 0 < average <= 1")
    tensors, build = local_parameters(init)
    params = [t.detach().clone().requires_grad_(True) for t in tensors]
    opt = torch.optim.Adam(params, lr=lr)
    start = min(steps - 1, int(steps * (1 - average)))
    sums = [torch.zeros_like(p) for p in params]
    with seeded(seed, x.device):
        for t in range(steps):
            q = build(*params)
            z, log_q = sample_and_log_q(q, None, n_samples)  # (S, B, Z), (S, B)
            entropy = -log_q.mean(0) if isinstance(q, IAFPosterior) else q.entropy()  # (B,)
            objective = log_joint(model, x, z).mean(0) + entropy  # (B,)
            grads = torch.autograd.grad(-objective.sum(), params)
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
            if t >= start:
                for total, p in zip(sums, params):
                    total += p.detach()
    return build(*(total / (steps - start) for total in sums))


def log_marginal_reference(model, x: torch.Tensor, z_posterior: torch.Tensor | None = None, n_chains: int = 16,
                           n_steps: int = 500, seed: int = 0, **ais_kw) -> dict[str, torch.Tensor | None]:
    """log p(x) by annealed importance sampling (``aevb.evaluation.ais``): x: (B, D) ->
    {"lower": (B,), "upper": (B,) or None}.

    "lower" is the forward chain's estimate log (1/K) Σ_k w_k, a stochastic lower bound on log p(x). With
    ``z_posterior``: (B, Z), exact posterior samples (the z that generated simulated x), "upper" is the reverse
    chain's stochastic upper bound, and lower ≲ log p(x) ≲ upper (bidirectional Monte Carlo, Grosse et al.
    2015). ``ais`` has no reverse chain without exact posterior samples, so on real data "upper" is None and
    the reference is the lower bound alone (as in Cremer et al., who report AIS). ``ais_kw`` go to ``ais``."""
    out = ais(model, x, n_chains=n_chains, n_steps=n_steps, seed=seed, z_posterior=z_posterior, **ais_kw)
    if z_posterior is None:
        return {"lower": out, "upper": None}
    return {"lower": out[0], "upper": out[1]}


def _row(name: str, per_point: torch.Tensor, se: torch.Tensor) -> dict:
    """The average over the B datapoints of one quantity: its Monte Carlo standard error (the points held
    fixed: sqrt(Σ se_i²) / B) and the standard error of the mean over datapoints (their spread / √B)."""
    B = per_point.shape[0]
    spread = per_point.std().item() / math.sqrt(B) if B > 1 else float("nan")
    return {"quantity": name, "mean": per_point.mean().item(), "se_mc": (se**2).sum().sqrt().item() / B,
            "se_data": spread}


def inference_gap(model, encoder, x: torch.Tensor, n_samples: int = 1000, steps: int = 1000, lr: float = 0.05,
                  train_samples: int = 64, seed: int = 0, estimator: str = "A", log_px: torch.Tensor | None = None,
                  z_posterior: torch.Tensor | None = None, ais_kw: dict | None = None) -> dict:
    """Cremer et al.'s decomposition of the inference gap for every row of x: (B, D).

    q_enc = encoder(x); q* = ``optimized_q`` from q_enc (``steps``, ``lr``, ``train_samples`` draws a step,
    seed + 1); both ELBOs from ``n_samples`` fresh draws (seed + 2) with the same noise ε, so the amortization
    gap L[q*] − L[q_enc] is estimated from paired differences. log p(x) is ``log_px`` when given (e.g. the exact
    value of ``aevb.linear_gaussian``), else ``log_marginal_reference`` (AIS, seed + 3, ``ais_kw``; the BDMC
    upper bound too when ``z_posterior`` is given).

    Returns {"per_point": {q: (B,)}, "se": {q: (B,)}, "rows": [dict], "q_opt": q*, "log_px_upper": (B,) or None}
    for q in ``QUANTITIES``: log p(x), L[q*], L[q_enc], the approximation gap log p(x) − L[q*], the amortization
    gap L[q*] − L[q_enc] and the total gap log p(x) − L[q_enc]. The standard errors are the ELBOs' Monte Carlo
    errors; log p(x) is taken as exact (se 0): the AIS error is not included, though the BDMC sandwich bounds it.
    "rows" hold each quantity averaged over the points (``_row``: mean, se_mc, se_data), ready for
    ``pandas.DataFrame``."""
    with torch.no_grad():
        q_enc = encoder(x)
    tensors, build = local_parameters(q_enc)
    q_enc = build(*tensors)  # its parameters per point, (B, …)
    q_opt = optimized_q(model, x, q_enc, steps, lr, train_samples, seed + 1)
    t_opt = elbo_samples(model, q_opt, x, n_samples, seed + 2, estimator)  # (S, B)
    t_enc = elbo_samples(model, q_enc, x, n_samples, seed + 2, estimator)  # (S, B), the same ε
    upper = None
    if log_px is None:
        ref = log_marginal_reference(model, x, z_posterior, seed=seed + 3, **(ais_kw or {}))
        log_px, upper = ref["lower"], ref["upper"]
    log_px = log_px.detach()
    (e_opt, s_opt), (e_enc, s_enc), (amort, s_amort) = map(_mean_se, (t_opt, t_enc, t_opt - t_enc))
    per_point = {"log_px": log_px, "elbo_opt": e_opt, "elbo_enc": e_enc, "approximation_gap": log_px - e_opt,
                 "amortization_gap": amort, "total_gap": log_px - e_enc}
    se = {"log_px": torch.zeros_like(log_px), "elbo_opt": s_opt, "elbo_enc": s_enc, "approximation_gap": s_opt,
          "amortization_gap": s_amort, "total_gap": s_enc}
    rows = [_row(k, per_point[k], se[k]) for k in QUANTITIES]
    return {"per_point": per_point, "se": se, "rows": rows, "q_opt": q_opt, "log_px_upper": upper}
