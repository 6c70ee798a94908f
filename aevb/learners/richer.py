"""The richer posteriors and the importance-weighted objective in Algorithm 1's trainer (after the paper: issue 18):
the rules that join their settings (``check_richer``), the encoder factory of ``TrainConfig.posterior``
(``make_encoder``: eq. 9's diagonal Gaussian, a full-covariance Gaussian or an inverse autoregressive flow, from
``aevb.posteriors``) and the bound reported for them (``family_elbo``: estimator A, eq. 6, with the family's exact
log q). ``aevb.learners.aevb.Trainer`` uses all three."""
from __future__ import annotations

import torch

from aevb.config import TrainConfig
from aevb.objectives import elbo
from aevb.posteriors import FullCovarianceEncoder, IAFEncoder
from aevb.validation import ParameterError


def check_richer(config: TrainConfig) -> None:
    """The rules of a posterior family other than eq. 9's diagonal Gaussian, or the IWAE objective (k > 1)."""
    name, value = ("posterior", config.posterior) if config.posterior != "diagonal" else ("k", config.k)
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
    if config.posterior != "diagonal":
        for param, given, default, why in (
                ("start", config.start, "paper", "it zeroes the diagonal encoder's log-variance head"),
                ("diagnostics", config.diagnostics, False, "the latent use is that of a diagonal q(z|x)"),
                ("marginal", config.marginal, None, "its estimators start from or propose by a diagonal q(z|x)")):
            if given != default:
                raise ParameterError(
                    f"parameter {param!r} = {given!r} is not allowed with posterior={config.posterior!r}: {why}; "
                    f"leave it at {default!r}")


def make_encoder(config: TrainConfig):
    """The encoder factory ``aevb.models.build_vae`` takes for ``config.posterior``: None for eq. 9's diagonal
    Gaussian; ``FullCovarianceEncoder``, or ``IAFEncoder`` with ``n_flows`` steps whose MADEs have the encoder's
    tanh widths, otherwise (the same hidden sizes as the diagonal encoder's trunk)."""
    if config.posterior == "full":
        return lambda d_x, n_z, hidden: FullCovarianceEncoder(d_x, n_z, hidden)
    if config.posterior == "iaf":
        return lambda d_x, n_z, hidden: IAFEncoder(d_x, n_z, hidden, config.n_flows, hidden)
    return None


def family_elbo(model, encoder, x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Estimator A of the bound (eq. 6) with the encoder family's exact log q, in ``aevb.estimators``' signature:
    x: (B, D) -> (B,), L = ``n_samples`` draws per point (``aevb.objectives.elbo``)."""
    return elbo(model, encoder, x, n_samples)
