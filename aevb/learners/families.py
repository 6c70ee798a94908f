"""The posterior families q(z|x) in Algorithm 1's trainer, each an object (``Family``) that the trainer asks:
``TrainConfig.posterior`` names one (``FAMILIES``, ``family_of``). A family provides its check of the settings it
joins (``check``), its encoder (``make_encoder``, for ``aevb.models.build_vae``), its training bound (``objective``),
the bound its curve records (``bound_estimator``) and whether the fused step applies to it (``fusable``).

- ``"diagonal"``: eq. 9's diagonal Gaussian (``aevb.models.GaussianEncoder``): the training bound is
  ``TrainConfig.estimator``'s (A or B, eq. 7 and 10) with L = ``n_samples``, or with k > 1 the importance-weighted
  bound of Burda et al. 2015 (``aevb.objectives.iwae_objective``); the curve records estimator B.
- ``"full"``, ``"iaf"`` (after the paper: issue 18): a full-covariance Gaussian or an inverse autoregressive flow
  (``aevb.posteriors``); the training bound is the IWAE bound with k samples (k = 1: estimator A with the family's
  exact log q), and the curve records the family's ELBO by estimator A (``family_elbo``: an IAF has no analytic KL
  for estimator B).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from aevb.config import TrainConfig
from aevb.estimators import ESTIMATORS
from aevb.objectives import elbo, iwae_objective
from aevb.posteriors import FullCovarianceEncoder, IAFEncoder
from aevb.validation import POSTERIOR_FAMILIES, ParameterError


def family_elbo(model, encoder, x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Estimator A of the bound (eq. 6) with the encoder family's exact log q, in ``aevb.estimators``' signature:
    x: (B, D) -> (B,), L = ``n_samples`` draws per point (``aevb.objectives.elbo``)."""
    return elbo(model, encoder, x, n_samples)


def check_objective(config: TrainConfig, name: str, value) -> None:
    """The rules of a training objective other than estimator A or B (a posterior family other than eq. 9's
    diagonal Gaussian, or the IWAE objective, k > 1), the error naming the setting ``name`` = ``value`` that asks
    for it."""
    if config.algorithm != "aevb":
        raise ParameterError(
            f"parameter {name!r} = {value!r} is not allowed with algorithm={config.algorithm!r}: a richer "
            f"posterior and the IWAE objective (k > 1) train with algorithm='aevb' only; leave posterior='diagonal' "
            f"and k=1")
    if config.n_samples != 1:
        raise ParameterError(
            f"parameter 'n_samples' = {config.n_samples} is not allowed with {name}={value!r}: the training "
            f"objective draws k samples per datapoint (aevb.objectives.iwae_objective); set k instead and leave "
            f"n_samples=1")


@dataclass(frozen=True)
class Family:
    """eq. 9's diagonal Gaussian (``"diagonal"``) unless a subclass says otherwise."""

    name: str = "diagonal"
    fusable: bool = True  # the fused AEVB step (estimator B, analytic KL) applies where k = 1
    bound_estimator = "B"  # what the curve records: a name of aevb.estimators.ESTIMATORS or an estimator

    def check(self, config: TrainConfig) -> None:
        """Raise ``ParameterError`` where settings that are each valid do not go together with this family."""
        if config.k > 1:
            check_objective(config, "k", config.k)

    def make_encoder(self, config: TrainConfig):
        """The encoder factory ``aevb.models.build_vae`` takes: None, its own ``GaussianEncoder``."""
        return None

    def objective(self, model, x: torch.Tensor, config: TrainConfig) -> torch.Tensor:
        """The training bound per datapoint, x: (M, D) -> (M,): ``config.estimator``'s with L = ``n_samples``
        for k = 1, the IWAE bound with k samples otherwise."""
        if config.k == 1:
            return ESTIMATORS[config.estimator](model, model.encoder, x, config.n_samples)
        return iwae_objective(model, model.encoder, x, config.k)


@dataclass(frozen=True)
class Richer(Family):
    """A family with an exact log q but no analytic KL (``aevb.posteriors``)."""

    fusable: bool = False
    bound_estimator = staticmethod(family_elbo)

    def check(self, config: TrainConfig) -> None:
        check_objective(config, "posterior", self.name)
        for param, given, default, why in (
                ("start", config.start, "paper", "it zeroes the diagonal encoder's log-variance head"),
                ("diagnostics", config.diagnostics, False, "the latent use is that of a diagonal q(z|x)"),
                ("marginal", config.marginal, None, "its estimators start from or propose by a diagonal q(z|x)")):
            if given != default:
                raise ParameterError(
                    f"parameter {param!r} = {given!r} is not allowed with posterior={config.posterior!r}: {why}; "
                    f"leave it at {default!r}")

    def objective(self, model, x: torch.Tensor, config: TrainConfig) -> torch.Tensor:
        """The IWAE bound with k samples (k = 1: estimator A with the family's exact log q)."""
        return iwae_objective(model, model.encoder, x, config.k)


@dataclass(frozen=True)
class FullCovariance(Richer):
    """``"full"``: ``FullCovarianceEncoder``, N(μ, L Lᵀ)."""

    name: str = "full"

    def make_encoder(self, config: TrainConfig):
        return lambda d_x, n_z, hidden: FullCovarianceEncoder(d_x, n_z, hidden)


@dataclass(frozen=True)
class IAF(Richer):
    """``"iaf"``: ``IAFEncoder`` with ``n_flows`` steps whose MADEs have the encoder's tanh widths (the same hidden
    sizes as the diagonal encoder's trunk)."""

    name: str = "iaf"

    def make_encoder(self, config: TrainConfig):
        return lambda d_x, n_z, hidden: IAFEncoder(d_x, n_z, hidden, config.n_flows, hidden)


FAMILIES = {f.name: f for f in (Family(), FullCovariance(), IAF())}  # TrainConfig.posterior -> family
assert tuple(FAMILIES) == POSTERIOR_FAMILIES, "aevb.validation.POSTERIOR_FAMILIES lists the families of FAMILIES"


def family_of(config: TrainConfig) -> Family:
    """The posterior family ``config.posterior`` names."""
    return FAMILIES[config.posterior]
