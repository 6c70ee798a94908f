"""The wake-sleep algorithm (Hinton, Dayan, Frey & Neal 1995), the paper's main baseline (§4, Fig. 2-3): its
step through autograd (``losses``, the reference) and the same step fused for K stacked models (``fused_step``).

Same encoder (recognition model) and decoder as the VAE, same minibatches, Adagrad, weight decay, budget
accounting (M real training samples per step) and evaluation (the lower bound with its recognition model).

- Wake phase: z ~ q_φ(z|x) for the real minibatch (no reparameterization); θ ascends log p_θ(x, z).
- Sleep phase: M dreams (z, x) ~ p(z) p_θ(x|z); φ ascends log q_φ(z|x) on them. For the Bernoulli decoder
  the dreamed x are binary samples, for the Gaussian decoder real-valued samples.
Both gradients come from one backward pass of the sum: the wake term depends only on θ (z is sampled
without a path from φ), the sleep term only on φ (the dreams are drawn without a path from θ).

The random draws of one step, in this order, on both paths: (1) ε of the wake sample z = μ + σ ε, (2) the
dreams' z ~ p(z), (3) their x ~ p_θ(x|z) (the decoder's ``draw``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from aevb.estimators import analytic_kl, neg_kl_std_normal
from aevb.fused import StackedVAE
from aevb.learners.aevb import Trainer


@dataclass
class WakeSleepWorkspace:
    """The fused wake-sleep step's own buffers, kept between steps (the stacked MLPs keep theirs)."""

    eps: torch.Tensor  # (1) ε of the wake sample: (K, M, Z)
    z_dream: torch.Tensor  # (2) the dreams' z: (K, M, Z)
    x_dream: torch.Tensor  # (3) the dreams' x: (K, M, D)

    @classmethod
    def allocate(cls, stack: StackedVAE, K: int, M: int, Z: int, D: int) -> "WakeSleepWorkspace":
        return cls(eps=stack.empty(K, M, Z), z_dream=stack.empty(K, M, Z), x_dream=stack.empty(K, M, D))


class WakeSleepTrainer(Trainer):
    """Wake-sleep on one model: per datapoint, one gradient through the decoder (wake, on the real x) and one
    through the encoder (sleep, on a dream): 2 gradient evaluations, in one Adagrad update of θ and φ."""

    GRADIENTS_PER_POINT = 2

    @classmethod
    def fusable(cls, config) -> bool:
        return True  # the wake sample and the dreams need no estimator: any config

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (M, D) -> (wake loss, sleep loss, minibatch bound (M,) by estimator B, no gradient)."""
        model = self.model
        with torch.no_grad():
            q = model.encoder(x)
            z = q.sample()  # (M, Z): draw (1)
            neg_kl = -analytic_kl(q, model.prior)  # (M,)
        log_lik = model.log_likelihood(x, z)  # (M,): wake, a function of θ only
        z_d, x_d = model.sample_joint(x.shape[0])  # draws (2) and (3), no gradient
        sleep = model.encoder(x_d).log_prob(z_d)  # (M,): sleep, a function of φ only
        return -log_lik.mean(), -sleep.mean(), (neg_kl + log_lik.detach())

    def train_step(self, x: torch.Tensor) -> float:
        """One wake and one sleep update on a minibatch x: (M, D); returns −(mean minibatch bound)."""
        wake, sleep, bound = self.losses(x)
        self._descend(wake + sleep)
        return -bound.mean().item()

    @classmethod
    @torch.no_grad()
    def fused_step(cls, stack: StackedVAE, x: torch.Tensor, gens: list[torch.Generator], config) -> torch.Tensor:
        """``train_step`` for the K models of ``stack``: x: (K, M, D) -> the minibatch mean of estimator B per
        model (K,), with the wake and sleep gradients written into ``stack.grads``; ``gens[k]`` draws model k's
        noise, in the order of ``losses``.

        Wake: ∂/∂θ of −(1/M) Σ log p_θ(x|z), z ~ q_φ(z|x). Sleep: M dreams (z, x) ~ p(z) p_θ(x|z), ∂/∂φ of
        −(1/M) Σ log q_φ(z|x)."""
        K, M, D = x.shape
        Z = stack.n_z
        ws = stack.workspace(WakeSleepWorkspace, K, M, Z, D)
        for k, g in enumerate(gens):
            torch.randn(M, Z, generator=g, out=ws.eps[k])  # (1)
            torch.randn(M, Z, generator=g, out=ws.z_dream[k])  # (2)
        # wake
        q = stack.encoder.forward(x)  # (K, M, 2Z) = μ | log σ²
        mu, log_var = q[..., :Z], q[..., Z:]
        z = torch.addcmul(mu, torch.exp(0.5 * log_var), ws.eps)  # (K, M, Z)
        neg_kl = neg_kl_std_normal(mu, log_var).mean(1)  # (K,), before the encoder's buffers are reused
        dec = stack.decoder.workspace(M)
        log_lik = stack.likelihood.stacked_log_likelihood(x, stack.decoder.forward(z), 1.0 / M, dec.d_out,
                                                          dec.scratch)  # (K,)
        stack.decoder.backward(z)
        # sleep: dreams from the model, then the recognition model learns to invert them
        head = stack.decoder.forward(ws.z_dream).nan_to_num_(0.0)  # a model gone NaN (it stops at its bound)
        for k, g in enumerate(gens):  # must not stop the others' draws
            stack.likelihood.draw(*stack.likelihood.split_head(head[k]), generator=g, out=ws.x_dream[k])  # (3)
        q = stack.encoder.forward(ws.x_dream)
        mu_d, log_var_d = q[..., :Z], q[..., Z:]
        # −log q(z|x) = ½ Σ (log 2π + log σ² + (z − μ)² / σ²): ∂/∂μ = −(z − μ)/σ², ∂/∂log σ² = ½(1 − (z − μ)²/σ²)
        r = ws.z_dream - mu_d
        r_over_var = r * torch.exp(-log_var_d)  # (K, M, Z)
        d_log_var = 1 - r_over_var * r
        torch.cat([r_over_var.mul_(-1.0 / M), d_log_var.mul_(0.5 / M)], -1, out=stack.encoder.workspace(M).d_out)
        stack.encoder.backward(ws.x_dream)
        return neg_kl + log_lik
