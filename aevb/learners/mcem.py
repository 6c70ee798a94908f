"""Monte Carlo EM with HMC (App. E), the paper's second baseline (Fig. 3).

No recognition model: only the generative model p(z) p_θ(x|z) (``aevb.models.LatentVariableModel``, the
same decoder and initial weights as the VAE of the same seed). For each minibatch:

- E-step (sampling): one HMC transition of 10 leapfrog steps on log p_θ(z|x) for each datapoint, using
  ∇z log p_θ(z|x) = ∇z log p(z) + ∇z log p_θ(x|z); the step size is tuned automatically towards a 90%
  acceptance rate;
- M-step: 5 Adagrad updates of θ on the acquired samples, ascending (1/M) Σ_i log p_θ(x_i, z_i) (plus the
  §5 weight decay 1/N, as for AEVB).

Choices the paper leaves open, made here:
- **Persistent chains**, one per training datapoint: a datapoint's chain continues from where its last
  visit left it (started at a draw from the prior). Restarting every chain from scratch at each visit would
  need a long burn-in per minibatch; persistence makes one transition per visit a sensible E-step.
  It is also why MCEM is not an online algorithm: with N = 50,000 each chain moves only once per epoch.
- **One global step size**, adapted after every minibatch by a Robbins-Monro step on log ε towards the mean
  acceptance of 0.9 (``aevb.hmc.adapt_step_size``); per-datapoint step sizes would be visited too rarely
  on the full data set to adapt.
- **Budget accounting**: a minibatch step counts M training samples, like AEVB's, although it evaluates
  log p(x|z) and its gradient 10 times (HMC) + 5 times (M-step) per datapoint; compare by ``seconds``
  for the cost in compute.
- **The gradients written out** where ``TrainConfig.fused`` (the default): HMC's ∇z log p_θ(x, z) and the
  M-step's ∇θ by the fused path's ``log_joint_and_grad_z`` and ``neg_log_joint_and_grads``
  (``aevb.learners.fused.log_joint``),
  the same quantities as autograd's on ``aevb.estimators.log_joint`` (``fused=False``, the reference) up to
  rounding, with the same random draws, about 1.4× faster on one CPU thread (``benchmarks/mcem_speed.py``: the
  37 matrix products of a step, which neither path can avoid, are half of its time).
Evaluation: MCEM has no encoder and hence no lower bound; its curve records the estimated marginal
likelihood (App. D, ``marginal='hmc'``, or AIS) only.
"""
from __future__ import annotations

import math
from functools import partial

import torch

from aevb.config import TrainConfig
from aevb.estimators import log_joint
from aevb.hmc import adapt_step_size, hmc
from aevb.learners.aevb import Trainer
from aevb.learners.fused.log_joint import log_joint_and_grad_z, neg_log_joint_and_grads
from aevb.models import build_vae
from aevb.rng import seeded
from aevb.validation import ParameterError

N_LEAPFROG = 10  # App. E: leapfrog steps per HMC transition
TARGET_ACCEPT = 0.9  # App. E: step size tuned to 90% acceptance
M_STEPS = 5  # App. E: weight updates per minibatch on the acquired samples
INITIAL_STEP_SIZE = 0.1  # where the step size starts (adapted from the first minibatch on)
ADAPT_RATE = 1.0  # log ε moves by ADAPT_RATE · (mean acceptance − 0.9) per minibatch


class MCEMTrainer(Trainer):
    """App. E on one model: persistent HMC chains per datapoint (``chains``), a global step size
    (``step_size``), the last acceptance probability of each chain (``accept``), 5 M-steps per minibatch.
    Per datapoint and minibatch: the E-step's gradient at the chain's state plus one per leapfrog step
    (1 + 10), then one per M-step (5), so 16 gradient evaluations and 5 weight updates."""

    UPDATES_PER_STEP = M_STEPS
    GRADIENTS_PER_POINT = 1 + N_LEAPFROG + M_STEPS

    def __init__(self, config: TrainConfig, x_train: torch.Tensor, lr: float):
        super().__init__(config, x_train, lr)
        with seeded(config.seed + 3, self.device):  # chains start at prior draws, seeded apart from training
            self.chains = torch.randn(len(x_train), config.n_z, device=self.device)  # (N, Z)
        self.step_size = torch.tensor(INITIAL_STEP_SIZE, device=self.device)  # global ε
        self.accept = torch.full((len(x_train),), float("nan"), device=self.device)  # (N,) last acceptance

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        super().check_config(config)
        if config.diagnostics or config.start != "paper":
            raise ParameterError(
                f"parameters 'diagnostics' = {config.diagnostics!r} and 'start' = {config.start!r}: with "
                f"algorithm='mcem' only diagnostics=False and start='paper' are allowed (no encoder to diagnose or "
                f"to start at zero log-variance)")
        if config.marginal not in ("hmc", "ais"):
            raise ParameterError(
                f"parameter 'marginal' = {config.marginal!r} is not allowed with algorithm='mcem': Monte Carlo EM "
                f"has no recognition model, so it has no lower bound and IWAE cannot run; it is evaluated by its "
                f"marginal likelihood: use marginal='hmc' (App. D, as in Fig. 3) or 'ais'")

    @classmethod
    def fusable(cls, config: TrainConfig) -> bool:
        return False  # no encoder: its step is HMC and M-steps, one model at a time (see train_step)

    @classmethod
    def build_model(cls, config: TrainConfig) -> torch.nn.Module:
        return build_vae(config.dataset, config.n_z, config.hidden, config.seed, encoder=False)

    @classmethod
    def columns(cls, config: TrainConfig) -> list[str]:
        return []  # no encoder, no bound: only the marginal likelihood (config.marginal) is recorded

    def evaluate(self, x_eval: torch.Tensor, x_test: torch.Tensor) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "chains": self.chains, "step_size": self.step_size, "accept": self.accept}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.chains, self.step_size, self.accept = state["chains"], state["step_size"], state["accept"]

    def e_step(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One HMC transition of the chains of datapoints ``idx``: (M,) on p_θ(z|x), x: (M, D) -> z: (M, Z)."""
        target = lambda z: log_joint(self.model, x, z)  # noqa: E731  (M, Z) -> (M,), log p(z|x) + const
        written_out = partial(log_joint_and_grad_z, self.model, x) if self.config.fused else None  # the same, by hand
        res = hmc(target, self.chains[idx], 1, N_LEAPFROG, self.step_size, n_warmup=0, adapt=False,
                  value_and_grad=written_out)  # ∇z log p(z|x) by autograd on target, or written out
        z, accept = res.samples[0], res.accept_rate  # (M, Z), (M,): one transition, so its acceptance probability
        self.chains[idx], self.accept[idx] = z, accept
        self.step_size = adapt_step_size(self.step_size, accept.mean(), TARGET_ACCEPT, ADAPT_RATE)
        return z

    def train_step(self, x: torch.Tensor) -> float:
        """E-step then ``M_STEPS`` weight updates on x: (M, D); returns −(mean log p(x, z)) over the updates. The
        M-step's gradient by autograd (``fused=False``) or written out (``neg_log_joint_and_grads``)."""
        z = self.e_step(x, self.batch_index).detach()  # (M, Z)
        if self.config.fused:  # the same updates, the gradient written out
            losses = [self._update(*neg_log_joint_and_grads(self.model, x, z)) for _ in range(M_STEPS)]
        else:
            losses = [self._descend(-log_joint(self.model, x, z).mean()) for _ in range(M_STEPS)]
        return sum(losses) / M_STEPS

    def _update(self, loss: torch.Tensor, grads: dict) -> float:
        """``_descend`` with the gradient given, {parameter: ∂loss/∂parameter}: an optimiser step, unless the loss
        is not finite."""
        lv = loss.item()
        if not math.isfinite(lv):
            raise self.non_finite(f"training bound is {-lv}")
        for p in self.model.parameters():
            p.grad = grads[p]
        self.opt.step()
        return lv
