"""The fused steps: one minibatch step of an algorithm for the K models of a ``FusedVAE`` at once, the gradient
written out and the same random draws as the autograd reference, each beside that reference's description.

- ``aevb_step``: Algorithm 1's step with estimator B (eq. 10), L = ``n_samples``; the reference is
  ``aevb.learners.aevb.Trainer.train_step`` (``aevb.estimators.sgvb_b`` through autograd);
- ``wake_sleep_step``: the wake-sleep step (§4); the reference is ``aevb.learners.wake_sleep.WakeSleepTrainer``'s
  ``losses`` through autograd.

``FUSED_STEPS`` maps each trainer with a fused step to it (``fused_step_of`` finds a subclass's); a trainer's
``fusable(config)`` says whether the step applies to ``config``. Each step takes the ``FusedVAE`` of the K models,
x: (K, M, D), ``gens[k]`` the ``torch.Generator`` of model k and the config, writes ∂J/∂(θ, φ) into ``vae.grads``
and returns the minibatch mean of the bound per model (K,).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from aevb.config import TrainConfig
from aevb.estimators import neg_kl_std_normal
from aevb.learners.aevb import Trainer
from aevb.learners.fused.blocks import FusedVAE
from aevb.learners.wake_sleep import WakeSleepTrainer


@dataclass
class AEVBWorkspace:
    """The fused AEVB step's own buffer, kept between steps (the fused MLPs keep theirs)."""

    eps: torch.Tensor  # ε ~ N(0, I): (K, L, M, Z)

    @classmethod
    def allocate(cls, vae: FusedVAE, K: int, L: int, M: int, Z: int) -> "AEVBWorkspace":
        return cls(eps=vae.empty(K, L, M, Z))


@torch.no_grad()
def aevb_step(vae: FusedVAE, x: torch.Tensor, gens: list[torch.Generator], config: TrainConfig) -> torch.Tensor:
    """Algorithm 1's step for the K models of ``vae``, estimator B (eq. 10) with L = ``n_samples``:
    x: (K, M, D) -> the minibatch mean of L̃^B per model (K,); writes ∂J/∂(θ, φ) of J = −(that mean) into
    ``vae.grads``. ε ~ N(0, I) is drawn from ``gens[k]`` as ``q.rsample((L,))`` draws it for model k."""
    K, M, D = x.shape
    L, Z = config.n_samples, vae.n_z
    eps = vae.workspace(AEVBWorkspace, K, L, M, Z).eps
    for k, g in enumerate(gens):
        torch.randn(L, M, Z, generator=g, out=eps[k])
    q = vae.encoder.forward(x)  # (K, M, 2Z) = μ | log σ²
    mu, log_var = q[..., :Z], q[..., Z:]
    std = log_var.mul(0.5).exp_()  # (K, M, Z)
    z = torch.addcmul(mu.unsqueeze(1), std.unsqueeze(1), eps).view(K, L * M, Z)  # z = g(ε, x), §2.4
    xl = x if L == 1 else x.repeat(1, L, 1)  # (K, L·M, D), rows in the order of z's
    dec = vae.decoder.workspace(L * M)
    log_lik = vae.likelihood.value_and_grad(xl, vae.decoder.forward(z), 1.0 / (M * L),
                                              dec.d_out, dec.scratch)  # (K,)
    bound = neg_kl_std_normal(mu, log_var).mean(1).add_(log_lik)  # (K,): App. B + reconstruction
    dz = vae.decoder.backward(z, input_grad=True).view(K, L, M, Z)
    # through z = μ + σ ε, plus ∂KL/∂μ = μ and ∂KL/∂log σ² = (σ² − 1)/2 (App. B), each over M
    dq = vae.encoder.workspace(M).d_out  # (K, M, 2Z)
    d_mu, d_log_var = dq[..., :Z], dq[..., Z:]
    torch.add(dz.sum(1) if L > 1 else dz[:, 0], mu, alpha=1.0 / M, out=d_mu)  # (K, M, Z)
    torch.mul(dz, eps, out=dz)  # ∂J/∂z ⊙ ε (dz is a buffer of ours)
    torch.mul(dz.sum(1) if L > 1 else dz[:, 0], std, out=d_log_var).add_(std * std, alpha=1.0 / M)
    d_log_var.sub_(1.0 / M).mul_(0.5)
    vae.encoder.backward(x)
    return bound


@dataclass
class WakeSleepWorkspace:
    """The fused wake-sleep step's own buffers, kept between steps (the fused MLPs keep theirs)."""

    eps: torch.Tensor  # (1) ε of the wake sample: (K, M, Z)
    z_dream: torch.Tensor  # (2) the dreams' z: (K, M, Z)
    x_dream: torch.Tensor  # (3) the dreams' x: (K, M, D)

    @classmethod
    def allocate(cls, vae: FusedVAE, K: int, M: int, Z: int, D: int) -> "WakeSleepWorkspace":
        return cls(eps=vae.empty(K, M, Z), z_dream=vae.empty(K, M, Z), x_dream=vae.empty(K, M, D))


@torch.no_grad()
def wake_sleep_step(vae: FusedVAE, x: torch.Tensor, gens: list[torch.Generator],
                    config: TrainConfig) -> torch.Tensor:
    """The wake-sleep step for the K models of ``vae``: x: (K, M, D) -> the minibatch mean of estimator B per
    model (K,), with the wake and sleep gradients written into ``vae.grads``; ``gens[k]`` draws model k's noise in
    the reference's order: (1) ε of the wake sample z = μ + σ ε, (2) the dreams' z ~ p(z), (3) their x ~ p_θ(x|z).

    Wake: ∂/∂θ of −(1/M) Σ log p_θ(x|z), z ~ q_φ(z|x). Sleep: M dreams (z, x) ~ p(z) p_θ(x|z), ∂/∂φ of
    −(1/M) Σ log q_φ(z|x)."""
    K, M, D = x.shape
    Z = vae.n_z
    ws = vae.workspace(WakeSleepWorkspace, K, M, Z, D)
    for k, g in enumerate(gens):
        torch.randn(M, Z, generator=g, out=ws.eps[k])  # (1)
        torch.randn(M, Z, generator=g, out=ws.z_dream[k])  # (2)
    # wake
    q = vae.encoder.forward(x)  # (K, M, 2Z) = μ | log σ²
    mu, log_var = q[..., :Z], q[..., Z:]
    z = torch.addcmul(mu, torch.exp(0.5 * log_var), ws.eps)  # (K, M, Z)
    neg_kl = neg_kl_std_normal(mu, log_var).mean(1)  # (K,), before the encoder's buffers are reused
    dec = vae.decoder.workspace(M)
    log_lik = vae.likelihood.value_and_grad(x, vae.decoder.forward(z), 1.0 / M, dec.d_out, dec.scratch)  # (K,)
    vae.decoder.backward(z)
    # sleep: dreams from the model, then the recognition model learns to invert them
    head = vae.decoder.forward(ws.z_dream).nan_to_num_(0.0)  # a model gone NaN (it stops at its bound)
    for k, g in enumerate(gens):  # must not stop the others' draws
        vae.likelihood.draw(head[k], generator=g, out=ws.x_dream[k])  # (3)
    q = vae.encoder.forward(ws.x_dream)
    mu_d, log_var_d = q[..., :Z], q[..., Z:]
    # −log q(z|x) = ½ Σ (log 2π + log σ² + (z − μ)² / σ²): ∂/∂μ = −(z − μ)/σ², ∂/∂log σ² = ½(1 − (z − μ)²/σ²)
    r = ws.z_dream - mu_d
    r_over_var = r * torch.exp(-log_var_d)  # (K, M, Z)
    d_log_var = 1 - r_over_var * r
    torch.cat([r_over_var.mul_(-1.0 / M), d_log_var.mul_(0.5 / M)], -1, out=vae.encoder.workspace(M).d_out)
    vae.encoder.backward(ws.x_dream)
    return neg_kl + log_lik


FUSED_STEPS = {Trainer: aevb_step, WakeSleepTrainer: wake_sleep_step}  # the trainer -> its fused step


def fused_step_of(trainer_cls: type):
    """The fused step of ``trainer_cls``: that of the nearest class in its method resolution order that has one."""
    return next(FUSED_STEPS[c] for c in trainer_cls.__mro__ if c in FUSED_STEPS)
