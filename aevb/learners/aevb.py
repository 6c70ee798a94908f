"""Algorithm 1 (AEVB) on one model: the trainer and its training step through autograd, the reference of the fused
step (``aevb.learners.fused.steps.aevb_step``: the gradient written out, the same random draws).

repeat
    X^M ← random minibatch of M datapoints;  ε ← L random samples from p(ε)
    g ← ∇_{θ,φ} L̃^M(θ, φ; X^M, ε)   (eq. 8, estimator B of eq. 10)
    θ, φ ← update with g (Adagrad)
until the budget of training samples evaluated is spent

§5 settings: M = 100, L = 1, Adagrad with a global step size (chosen by ``aevb.learners.fitting.select_lr``),
all parameters ~ N(0, 0.01) (std, see ``aevb.models``), and a N(0, I) prior on the parameters (approximate MAP).
The objective per minibatch is (1/N) [L̃^M + log p(θ, φ)]: the mean bound of the minibatch plus
−‖θ, φ‖² / (2N), i.e. Adagrad with weight decay 1/N. (Adagrad is invariant to the overall scale of the
objective up to its ε, so dividing eq. 8 by N changes nothing but the numbers printed.)

The budget is counted in *training samples evaluated* (the x-axis of the paper's figures): one minibatch step
costs M. ``Trainer.advance`` trains through autograd (``train_step``); the fit loop (``aevb.learners.fitting``)
trains every run through an ``aevb.learners.fused.group.FusedGroup``, which takes the fused step where
``TrainConfig.fused`` asks and the algorithm has one (``fusable``), for K models of one shape at once.

The trainer asks two objects rather than branching on settings. The protocol (``TrainConfig.protocol``,
``aevb.protocols``: §5's, App. E's annealed reading, Burda et al. 2015's) gives the start, the optimiser, the
step size at a step (``sync_lr``) and the loss scaling. The posterior family (``TrainConfig.posterior``,
``aevb.learners.families``: eq. 9's diagonal Gaussian, or after the paper a full-covariance Gaussian or an inverse
autoregressive flow) gives the encoder, the training bound (with ``k`` > 1 the importance-weighted bound of Burda
et al. 2015) and the bound the curve records.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from aevb.config import START_WARMUP, TrainConfig
from aevb.data import evaluation_images
from aevb.estimators import ESTIMATORS
from aevb.evaluation import average_bound
from aevb.latent_use import active_units, latent_use
from aevb.learners.families import family_of
from aevb.models import build_vae
from aevb.protocols import protocol_of
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


class Trainer:
    """Algorithm 1 on one model; ``advance(samples)`` trains up to a sample count.

    Baselines subclass it and override what differs: ``check_config`` (the rules that join their settings),
    ``build_model`` (the model trained), ``param_groups`` (which parameters get the §5 weight decay),
    ``train_step`` (one update on a minibatch), ``fusable`` (whether the fused step of its algorithm,
    ``aevb.learners.fused.steps.FUSED_STEPS``, computes the same update for a config) and ``evaluate`` /
    ``columns`` (what the curve records besides samples and seconds). ``batch_index`` holds the positions in the
    training set of the current minibatch.

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
        self.protocol, self.family = protocol_of(config), family_of(config)
        self.device = x_train.device
        self.model = self.build_model(config).to(self.device)
        self.protocol.initialise_(self.model, x_train, config.seed)
        wd = 1.0 / len(x_train) if config.weight_decay else 0.0
        self.lr, self.warmup = lr, START_WARMUP[config.start]
        self.opt = self.protocol.optimizer(self.param_groups(wd), lr, self.device)
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
            raise ParameterError(  # until aevb.learners.fitting takes the train points' log p(x) on them too
                f"parameter 'binarize' = 'dynamic' is not allowed with marginal={config.marginal!r} in training: "
                f"the train points' log p(x) would be taken on grey levels, not on the fixed binarization the "
                f"bounds are evaluated on (aevb.data.evaluation_images); use binarize='static' or marginal=None")
        family_of(config).check(config)
        protocol_of(config).check(config)

    @classmethod
    def fusable(cls, config: TrainConfig) -> bool:
        """Whether the fused step (``aevb.learners.fused.steps.aevb_step``) computes this algorithm's step for
        ``config`` (else autograd: ``train_step``): estimator B with k = 1, a family that has its analytic KL (eq. 9's
        diagonal q: a richer posterior or the IWAE objective is autograd's) and a protocol that updates by Adagrad."""
        return (config.estimator == "B" and config.k == 1 and family_of(config).fusable
                and protocol_of(config).fusable)

    @classmethod
    def build_model(cls, config: TrainConfig) -> torch.nn.Module:
        """The model this algorithm trains, initialised as in §5 (seeded by ``config.seed``); its encoder the
        family ``config.posterior`` asks (``aevb.learners.families``)."""
        return build_vae(config.dataset, config.n_z, config.hidden, config.seed,
                         zero_log_var=config.start == "anglepy", make_encoder=family_of(config).make_encoder(config))

    def sync_lr(self) -> bool:
        """Set the optimizer's step size for the coming step, the protocol's at this step
        (``aevb.protocols.Protocol.step_size``: 0 during the ``start``'s warm-up, ``aevb.config.START_WARMUP``);
        whether it changed."""
        lr = self.protocol.step_size(self.lr, self.step, self.warmup, len(self.x), self.config.batch_size)
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
        est = self.family.bound_estimator
        out = {"train_bound": average_bound(self.model, x_eval, estimator=est),
               "test_bound": average_bound(self.model, x_test, estimator=est)}
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

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.protocol.to_device(self.opt, self.device)  # a run may resume on another device
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
        """One step of Algorithm 1 on a minibatch x: (M, D); returns −(mean minibatch bound). The bound is the
        posterior family's (``aevb.learners.families.Family.objective``: ``config.estimator``'s with L = ``n_samples``
        for eq. 9's diagonal q and k = 1; otherwise the IWAE bound with k = ``config.k`` samples)."""
        bound = self.family.objective(self.model, x, self.config)  # (M,)
        return self._descend(-bound.mean())

    def _descend(self, loss: torch.Tensor) -> float:
        """Backpropagate ``loss`` and take an optimiser step, unless the loss is not finite.

        Only the loss is checked at every step (a sum over all gradients cost up to a fifth of a step): a
        gradient that is NaN or inf while the loss is finite corrupts the parameters, which makes the next
        step's loss non-finite, and ``check_finite`` guards every checkpoint, so nothing corrupted is saved."""
        self.opt.zero_grad(set_to_none=True)
        lv = loss.item()
        if not math.isfinite(lv):
            raise self.non_finite(f"training bound is {-lv}")
        self.protocol.scale_loss(loss, self.config.batch_size).backward()  # Burda et al.'s: the minibatch's sum
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

