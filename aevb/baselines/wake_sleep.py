"""The wake-sleep algorithm (Hinton, Dayan, Frey & Neal 1995), the paper's main baseline (§4, Fig. 2-3).

Same encoder (recognition model) and decoder as the VAE, same minibatches, Adagrad, weight decay, budget
accounting (M real training samples per step) and evaluation (the lower bound with its recognition model).

- Wake phase: z ~ q_φ(z|x) for the real minibatch (no reparameterization); θ ascends log p_θ(x, z).
- Sleep phase: M dreams (z, x) ~ p(z) p_θ(x|z); φ ascends log q_φ(z|x) on them. For the Bernoulli decoder
  the dreamed x are binary samples, for the Gaussian decoder real-valued samples.
Both gradients come from one backward pass of the sum: the wake term depends only on θ (z is sampled
without a path from φ), the sleep term only on φ (the dreams are drawn without a path from θ).
"""
from __future__ import annotations

import torch

from aevb.estimators import analytic_kl
from aevb.train import Trainer


class WakeSleepTrainer(Trainer):
    @classmethod
    def fusable(cls, config) -> bool:
        return True  # the wake sample and the dreams need no estimator: any config

    @classmethod
    def fused_step(cls, stack, x, gens, config):
        """``train_step`` for K stacked models: ``aevb.fused.FusedVAE.wake_sleep``."""
        return stack.wake_sleep(x, gens)

    def dream(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples (z, x) ~ p(z) p_θ(x|z): ((n, Z), (n, D)), no gradient."""
        return self.model.sample_joint(n)

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (M, D) -> (wake loss, sleep loss, minibatch bound (M,) by estimator B, no gradient)."""
        model = self.model
        with torch.no_grad():
            q = model.encoder(x)
            z = q.sample()  # (M, Z)
            neg_kl = -analytic_kl(q, model.prior)  # (M,)
        log_lik = model.log_likelihood(x, z)  # (M,): wake, a function of θ only
        z_d, x_d = self.dream(x.shape[0])
        sleep = model.encoder(x_d).log_prob(z_d)  # (M,): sleep, a function of φ only
        return -log_lik.mean(), -sleep.mean(), (neg_kl + log_lik.detach())

    def train_step(self, x: torch.Tensor) -> float:
        """One wake and one sleep update on a minibatch x: (M, D); returns −(mean minibatch bound)."""
        wake, sleep, bound = self.losses(x)
        self._descend(wake + sleep)
        return -bound.mean().item()
