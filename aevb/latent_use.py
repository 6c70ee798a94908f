"""Does a trained model use its latent variables? (Chapter 8's Frey Face wake-sleep plateau.)

- ``latent_use``: per latent dimension j, KL(q(z_j|x) ‖ N(0, 1)) averaged over the data (App. B's KL term, split
  by dimension) and the *activity* Cov_x(E_q[z_j | x]), the variance over the data of the encoder's mean.
  Burda, Grosse & Salakhutdinov (2015, §5.2) call dimension j active when its activity exceeds 0.01
  (``ACTIVE_THRESHOLD``; ``active_units``). A dimension with KL ≈ 0 carries no information about x: q(z_j|x) is
  the prior whatever x is, and a decoder trained on such z learns to ignore it.
- ``independent_gaussian``: the model with no latent variable at all, an independent Gaussian per pixel fitted by
  maximum likelihood to the training data. A Gaussian-decoder VAE whose decoder ignores z and whose q(z|x) is the
  prior reaches exactly this model's log-likelihood as its bound (its output biases can represent the per-pixel
  means and variances, and the KL term is 0); so a bound at this value says the latent variables are unused.
"""
from __future__ import annotations

import math

import torch

ACTIVE_THRESHOLD = 0.01  # Burda et al. (2015): Cov_x(E_q[z_j]) above this counts dimension j as active


@torch.no_grad()
def latent_use(encoder, x: torch.Tensor, batch_size: int = 2000) -> dict[str, torch.Tensor]:
    """x: (N, D) -> {"kl": (Z,) mean over x of KL(q(z_j|x) ‖ N(0, 1)), "activity": (Z,) Var_x(E_q[z_j|x])}."""
    mus, kls = [], []
    for xb in x.split(batch_size):
        q = encoder(xb)  # DiagonalGaussian: mu, log_var (b, Z)
        mus.append(q.mu)
        kls.append(0.5 * (q.mu**2 + q.log_var.exp() - 1 - q.log_var))  # (b, Z), App. B per dimension
    mu = torch.cat(mus)  # (N, Z)
    return {"kl": torch.cat(kls).mean(0), "activity": mu.var(0, unbiased=False)}


def active_units(activity: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many dimensions have activity above ``threshold``: (Z,) -> int."""
    return int((activity > threshold).sum())


def independent_gaussian(x_train: torch.Tensor, x_test: torch.Tensor, min_var: float = 0.0) -> dict[str, float]:
    """The z-free model: per-pixel Gaussian maximum-likelihood fit to x_train (N, D); its mean log-likelihood per
    datapoint (nats) on x_train and on x_test (M, D). ``min_var`` floors each pixel's variance (0: none; a pixel
    constant over the training set then has infinite density, and the fit says so with an error)."""
    mean = x_train.double().mean(0)  # (D,)
    var = x_train.double().var(0, unbiased=False).clamp(min=min_var)  # (D,)
    if not (var > 0).all():
        raise ValueError(f"{int((var == 0).sum())} pixels are constant over the training set: give min_var > 0")

    def ll(x):
        return (-0.5 * (math.log(2 * math.pi) + var.log() + (x.double() - mean) ** 2 / var)).sum(1).mean().item()
    return {"train": ll(x_train), "test": ll(x_test)}
