"""Algorithm 1 (AEVB) on one model: the trainer, its training step through autograd (the reference) and the same
step fused (``aevb.fused``'s stacked blocks, hand-written gradient, the same random draws) beside it.

repeat
    X^M ← random minibatch of M datapoints;  ε ← L random samples from p(ε)
    g ← ∇_{θ,φ} L̃^M(θ, φ; X^M, ε)   (eq. 8, estimator B of eq. 10)
    θ, φ ← update with g (Adagrad)
until the budget of training samples evaluated is spent

§5 settings: M = 100, L = 1, Adagrad with a global step size (chosen by ``aevb.learners.protocol.select_lr``),
all parameters ~ N(0, 0.01) (std, see ``aevb.models``), and a N(0, I) prior on the parameters (approximate MAP).
The objective per minibatch is (1/N) [L̃^M + log p(θ, φ)]: the mean bound of the minibatch plus
−‖θ, φ‖² / (2N), i.e. Adagrad with weight decay 1/N. (Adagrad is invariant to the overall scale of the
objective up to its ε, so dividing eq. 8 by N changes nothing but the numbers printed.)

The budget is counted in *training samples evaluated* (the x-axis of the paper's figures): one minibatch step
costs M. ``Trainer.advance`` trains through autograd (``train_step``); the protocol (``aevb.learners.protocol``)
trains every run through an ``aevb.learners.lockstep.Lockstep``, which takes the fused step (``fused_step``) where
``TrainConfig.fused`` asks and the algorithm has one, for K models of one shape at once.

Beyond the paper (``TrainConfig.posterior``, ``k``): the encoder may be a full-covariance Gaussian or an inverse
autoregressive flow (``aevb.posteriors``), and the objective the importance-weighted bound of Burda et al. 2015
with k samples per datapoint (``aevb.objectives.iwae_objective``; k = 1: estimator A with the family's exact
log q); those steps are autograd's (``fusable`` is False), and a richer family's curve records its ELBO by
estimator A (``family_elbo``), since an IAF has no analytic KL for estimator B. Under ``TrainConfig.protocol``
"annealed" (App. E's other reading, ``aevb.protocols``) Adagrad's global step size follows an explicit schedule
(``sync_lr``); under "burda" (Burda et al. 2015) the update is Adam with their staged step size (``sync_lr``), the
start theirs (``aevb.learners.burda.init_burda_``) and the gradient that of the minibatch's sum.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from aevb.config import START_WARMUP, TrainConfig
from aevb.data import evaluation_images
from aevb.estimators import ESTIMATORS, neg_kl_std_normal
from aevb.evaluation import average_bound
from aevb.fused import StackedVAE
from aevb.latent_use import active_units, latent_use
from aevb.models import build_vae
from aevb.learners.burda import burda_adam, check_burda, init_burda_
from aevb.learners.richer import check_richer, family_elbo, make_encoder
from aevb.objectives import iwae_objective
from aevb.protocols import ADAGRAD_PROTOCOLS, annealed_step_size, passes_done, step_size
from aevb.rng import forked_rng, get_rng_state, seeded, set_rng_state
from aevb.validation import ParameterError


@dataclass
class TrainResult:
    model: torch.nn.Module  # the trained model (on config.device)
    curve: list[dict]  # rows: samples, seconds, train_bound, test_bound (+ train/test_marginal)
    lr: float  # step size used
    lr_search: dict = field(default_factory=dict)  # candidate -> mean train bound in the search


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf."""


@dataclass
class AEVBWorkspace:
    """The fused AEVB step's own buffer, kept between steps (the stacked MLPs keep theirs)."""

    eps: torch.Tensor  # ε ~ N(0, I): (K, L, M, Z)

    @classmethod
    def allocate(cls, stack: StackedVAE, K: int, L: int, M: int, Z: int) -> "AEVBWorkspace":
        return cls(eps=stack.empty(K, L, M, Z))


class Trainer:
    """Algorithm 1 on one model; ``advance(samples)`` trains up to a sample count.

    Baselines subclass it and override what differs: ``check_config`` (the rules that join their settings),
    ``build_model`` (the model trained), ``param_groups`` (which parameters get the §5 weight decay),
    ``train_step`` (one update on a minibatch), ``fusable`` / ``fused_step`` (the same update for K stacked
    models, where there is one) and ``evaluate`` / ``columns`` (what the curve records besides samples and
    seconds). ``batch_index`` holds the positions in the training set of the current minibatch.

    What a minibatch step costs per datapoint, for the x-axes other than training samples
    (``aevb.experiments.accounting``): ``UPDATES_PER_STEP`` weight updates, ``GRADIENTS_PER_POINT`` evaluations of
    a gradient through the model per datapoint (Algorithm 1: one backward pass through encoder and decoder).
    """

    UPDATES_PER_STEP = 1
    GRADIENTS_PER_POINT = 1

    def __init__(self, config: TrainConfig, x_train: torch.Tensor, lr: float):
        self.check_config(config)
        if not 0 < config.batch_size <= len(x_train):
            raise ParameterError(f"parameter 'batch_size' = {config.batch_size} is not allowed: it must be 1 to the "
                                 f"number of training points ({len(x_train)})")
        self.config, self.x = config, x_train
        self.device = x_train.device
        self.model = self.build_model(config).to(self.device)
        if config.protocol == "burda":
            init_burda_(self.model, x_train, config.seed)
        wd = 1.0 / len(x_train) if config.weight_decay else 0.0
        self.lr, self.warmup = lr, START_WARMUP[config.start]
        self.opt = self._optimizer(self.param_groups(wd), lr)
        self.estimator = ESTIMATORS[config.estimator]
        self.samples, self.seconds, self.step = 0, 0.0, 0
        with seeded(config.seed + 1, self.device):
            self.rng = get_rng_state(self.device)
        self.perm, self.pos, self.batch_index = None, 0, None
        self._evaluated = None  # (train subset given, the images evaluated for it): see evaluate

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        """Raise ``ParameterError`` where settings that are each valid do not go together for this algorithm."""
        if config.binarize == "dynamic" and config.marginal is not None:
            raise ParameterError(  # until aevb.learners.protocol takes the train points' log p(x) on them too
                f"parameter 'binarize' = 'dynamic' is not allowed with marginal={config.marginal!r} in training: "
                f"the train points' log p(x) would be taken on grey levels, not on the fixed binarization the "
                f"bounds are evaluated on (aevb.data.evaluation_images); use binarize='static' or marginal=None")
        if config.posterior != "diagonal" or config.k > 1:
            check_richer(config)
        if config.protocol == "burda":
            check_burda(config)

    @classmethod
    def fusable(cls, config: TrainConfig) -> bool:
        """Whether ``fused_step`` computes this algorithm's step for ``config`` (else autograd: ``train_step``):
        estimator B with eq. 9's diagonal q and k = 1 (a richer posterior or the IWAE objective: autograd)."""
        return (config.estimator == "B" and config.posterior == "diagonal" and config.k == 1
                and config.protocol in ADAGRAD_PROTOCOLS)

    @classmethod
    def build_model(cls, config: TrainConfig) -> torch.nn.Module:
        """The model this algorithm trains, initialised as in §5 (seeded by ``config.seed``); its encoder the
        family ``config.posterior`` asks (``make_encoder``)."""
        return build_vae(config.dataset, config.n_z, config.hidden, config.seed,
                         zero_log_var=config.start == "anglepy", make_encoder=make_encoder(config))

    def sync_lr(self) -> bool:
        """Set the optimizer's step size for the coming step: 0 during the ``start``'s warm-up (Adagrad only
        accumulates squared gradients: ``aevb.config.START_WARMUP``), the run's step size after; under
        ``protocol="annealed"`` that step size lowered by App. E's schedule at the samples done
        (``aevb.protocols.annealed_step_size``); under ``protocol="burda"`` the step size of the schedule's stage
        (``aevb.protocols.step_size``) at the passes done (a pass: the whole minibatches of one epoch); whether it
        changed."""
        M = self.config.batch_size
        if self.config.protocol == "burda":
            lr = step_size(self.lr, passes_done(self.step * M, len(self.x), M))
        elif self.step < self.warmup:
            lr = 0.0
        elif self.config.protocol == "annealed":
            lr = annealed_step_size(self.lr, self.step * M)
        else:
            lr = self.lr
        changed = any(g["lr"] != lr for g in self.opt.param_groups)
        for g in self.opt.param_groups:
            g["lr"] = lr
        return changed

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Adagrad parameter groups: every parameter with the N(0, I) prior, i.e. weight decay 1/N (§5)."""
        return [{"params": list(self.model.parameters()), "weight_decay": weight_decay}]

    @classmethod
    def columns(cls, config: TrainConfig) -> list[str]:
        """The curve columns ``evaluate`` fills (with ``diagnostics``, the latent use of ``aevb.latent_use`` too)."""
        diag = ["active_units"] + [f"kl_z{j + 1}" for j in range(config.n_z)] if config.diagnostics else []
        return ["train_bound", "test_bound"] + diag

    def evaluate(self, x_eval: torch.Tensor, x_test: torch.Tensor) -> dict:
        """The average lower bound (estimator B, L = 1) on the train subset and the test set (Fig. 2), for a
        posterior family other than the diagonal its ELBO by estimator A with its exact log q (``family_elbo``:
        no analytic KL exists for an IAF), whatever ``k`` the training objective has; with
        ``diagnostics``, the active units and KL(q(z_j|x) ‖ p(z_j)) per dimension on the train subset. Under
        ``binarize="dynamic"`` the train subset x_eval (the first training images) is evaluated on its fixed
        binarization (``aevb.data.evaluation_images``; the test set comes binarized by ``load_split``)."""
        if self._evaluated is None or self._evaluated[0] is not x_eval:
            self._evaluated = (x_eval, evaluation_images(self.config, x_eval))
        x_eval = self._evaluated[1]  # (N, D)
        kw = {} if self.config.posterior == "diagonal" else {"estimator": family_elbo}
        out = {"train_bound": average_bound(self.model, x_eval, **kw),
               "test_bound": average_bound(self.model, x_test, **kw)}
        if self.config.diagnostics:
            use = latent_use(self.model.encoder, x_eval)
            out["active_units"] = active_units(use["activity"])
            out.update({f"kl_z{j + 1}": v for j, v in enumerate(use["kl"].tolist())})
        return out

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this trainer stands."""
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "rng": self.rng,
                "perm": self.perm, "pos": self.pos, "samples": self.samples, "seconds": self.seconds,
                "step": self.step}

    def _adagrad_kind(self) -> dict:
        """fused: one kernel for the whole update instead of several per tensor (benchmarks/train_speed.py); torch
        has Adagrad's on the CPU only, so on a GPU the update is torch's multi-tensor (foreach) one."""
        cpu = self.device.type == "cpu"
        return {"fused": cpu, "foreach": not cpu}

    def _optimizer(self, groups: list[dict], lr: float) -> torch.optim.Optimizer:
        """The protocol's optimizer (``aevb.protocols``): §5's Adagrad, or Burda et al.'s Adam."""
        if self.config.protocol == "burda":
            return burda_adam(groups, lr)
        return torch.optim.Adagrad(groups, lr=lr, **self._adagrad_kind())

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.config.protocol in ADAGRAD_PROTOCOLS:
            for group in self.opt.param_groups:  # a run may resume on another device: update as this device does
                group.update(self._adagrad_kind())
        self.rng, self.perm, self.pos = state["rng"], state["perm"], state["pos"]
        self.samples, self.seconds, self.step = state["samples"], state["seconds"], state["step"]

    def next_batch(self, generator: torch.Generator | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """The next minibatch (M, D), drawn with ``generator`` (default: torch's global one), into ``out``. Under
        ``binarize="dynamic"`` every pixel is then drawn afresh, x ~ Bernoulli(grey level), from the same
        generator (after the epoch's permutation, before the step's noise), so a run stays one seeded stream and
        resumes exactly; the later literature's dynamically binarized MNIST."""
        M, N = self.config.batch_size, len(self.x)
        if self.perm is None or self.pos + M > N:  # new epoch: fresh permutation, drop the remainder
            self.perm, self.pos = torch.randperm(N, device=self.device, generator=generator), 0
        self.batch_index = self.perm[self.pos: self.pos + M]  # (M,)
        self.pos += M
        x = torch.index_select(self.x, 0, self.batch_index, out=out)  # (M, D) grey levels
        if self.config.binarize == "dynamic":
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)  # (M, D) ~ U[0, 1)
            x.copy_(u < x)  # (M, D) 0/1, P(1) = grey level
        return x

    def advance(self, to_samples: int, bar=None) -> float:
        """Train through autograd (``train_step``) until ``samples >= to_samples``; returns the mean minibatch
        bound of these steps."""
        cfg, total, n = self.config, 0.0, 0
        start = time.perf_counter()
        with forked_rng(self.device):
            set_rng_state(self.rng, self.device)
            while self.samples < to_samples:
                self.sync_lr()
                try:
                    lv = self.train_step(self.next_batch())
                except RuntimeError:  # e.g. sampling q(z|x) with a NaN scale: name the corrupted parameters
                    self.check_finite()
                    raise
                self.step += 1
                self.samples += cfg.batch_size
                total, n = total - lv, n + 1
                if bar is not None:
                    bar.update(cfg.batch_size)
            self.rng = get_rng_state(self.device)
        self.seconds += time.perf_counter() - start
        return total / max(n, 1)

    def train_step(self, x: torch.Tensor) -> float:
        """One step of Algorithm 1 on a minibatch x: (M, D); returns −(mean minibatch bound). The bound is
        ``config.estimator``'s with L = ``n_samples`` for eq. 9's diagonal q and k = 1; otherwise the IWAE bound
        with k = ``config.k`` samples (k = 1: estimator A with the family's exact log q), ``aevb.objectives``."""
        cfg = self.config
        if cfg.posterior == "diagonal" and cfg.k == 1:
            bound = self.estimator(self.model, self.model.encoder, x, cfg.n_samples)  # (M,)
        else:
            bound = iwae_objective(self.model, self.model.encoder, x, cfg.k)  # (M,)
        return self._descend(-bound.mean())

    @classmethod
    @torch.no_grad()
    def fused_step(cls, stack: StackedVAE, x: torch.Tensor, gens: list[torch.Generator],
                   config: TrainConfig) -> torch.Tensor:
        """``train_step`` for the K models of ``stack`` at once, estimator B (eq. 10) with L = ``n_samples``:
        x: (K, M, D) -> the minibatch mean of L̃^B per model (K,); writes ∂J/∂(θ, φ) of J = −(that mean) into
        ``stack.grads``. ε ~ N(0, I) is drawn from ``gens[k]`` as ``q.rsample((L,))`` draws it for model k."""
        K, M, D = x.shape
        L, Z = config.n_samples, stack.n_z
        eps = stack.workspace(AEVBWorkspace, K, L, M, Z).eps
        for k, g in enumerate(gens):
            torch.randn(L, M, Z, generator=g, out=eps[k])
        q = stack.encoder.forward(x)  # (K, M, 2Z) = μ | log σ²
        mu, log_var = q[..., :Z], q[..., Z:]
        std = log_var.mul(0.5).exp_()  # (K, M, Z)
        z = torch.addcmul(mu.unsqueeze(1), std.unsqueeze(1), eps).view(K, L * M, Z)  # z = g(ε, x), §2.4
        xl = x if L == 1 else x.repeat(1, L, 1)  # (K, L·M, D), rows in the order of z's
        dec = stack.decoder.workspace(L * M)
        log_lik = stack.likelihood.stacked_log_likelihood(xl, stack.decoder.forward(z), 1.0 / (M * L),
                                                          dec.d_out, dec.scratch)  # (K,)
        bound = neg_kl_std_normal(mu, log_var).mean(1).add_(log_lik)  # (K,): App. B + reconstruction
        dz = stack.decoder.backward(z, input_grad=True).view(K, L, M, Z)
        # through z = μ + σ ε, plus ∂KL/∂μ = μ and ∂KL/∂log σ² = (σ² − 1)/2 (App. B), each over M
        dq = stack.encoder.workspace(M).d_out  # (K, M, 2Z)
        d_mu, d_log_var = dq[..., :Z], dq[..., Z:]
        torch.add(dz.sum(1) if L > 1 else dz[:, 0], mu, alpha=1.0 / M, out=d_mu)  # (K, M, Z)
        torch.mul(dz, eps, out=dz)  # ∂J/∂z ⊙ ε (dz is a buffer of ours)
        torch.mul(dz.sum(1) if L > 1 else dz[:, 0], std, out=d_log_var).add_(std * std, alpha=1.0 / M)
        d_log_var.sub_(1.0 / M).mul_(0.5)
        stack.encoder.backward(x)
        return bound

    def _descend(self, loss: torch.Tensor) -> float:
        """Backpropagate ``loss`` and take an optimiser step, unless the loss is not finite.

        Only the loss is checked at every step (a sum over all gradients cost up to a fifth of a step): a
        gradient that is NaN or inf while the loss is finite corrupts the parameters, which makes the next
        step's loss non-finite, and ``check_finite`` guards every checkpoint, so nothing corrupted is saved."""
        self.opt.zero_grad(set_to_none=True)
        lv = loss.item()
        if not math.isfinite(lv):
            raise self.non_finite(f"training bound is {-lv}")
        # protocol="burda": the gradient of the minibatch's sum, as Burda et al.'s code takes it (yburda/iwae
        # iwae.py gradIminibatch_srng: T.sum(log_ws) / k), so that Adam's ε = 1e-4 acts on the same scale
        (loss * self.config.batch_size if self.config.protocol == "burda" else loss).backward()
        self.opt.step()
        return lv

    def check_finite(self) -> None:
        """Raise ``NonFiniteError`` naming the parameters that hold NaN or inf, if any."""
        if any(not torch.isfinite(p).all() for p in self.model.parameters()):
            raise self.non_finite()

    def non_finite(self, what: str | None = None) -> NonFiniteError:
        """The error for ``what`` went non-finite at this step, naming the parameters that hold NaN or inf."""
        names = [n for n, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        said = ([what] if what else []) + ([f"parameters {', '.join(names)} are not finite"] if names else [])
        return NonFiniteError(f"{'; '.join(said)} at step {self.step} (after {self.samples} training samples)")

