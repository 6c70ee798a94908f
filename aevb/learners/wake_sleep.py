"""The wake-sleep algorithm (Hinton, Dayan, Frey & Neal 1995), the paper's main baseline (§4, Fig. 2-3): its step
through autograd (``losses``), the reference of the fused step (``aevb.learners.fused.steps.wake_sleep_step``).

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

import torch

from aevb.estimators import analytic_kl
from aevb.learners.aevb import Trainer


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
