"""Algorithm 1 (AEVB): the training step and the trainer, with the settings of §5.

repeat
    X^M ← random minibatch of M datapoints;  ε ← L random samples from p(ε)
    g ← ∇_{θ,φ} L̃^M(θ, φ; X^M, ε)   (eq. 8, estimator B of eq. 10)
    θ, φ ← update with g (Adagrad)
until the budget of training samples evaluated is spent

§5 settings: M = 100, L = 1, Adagrad with a global step size (chosen by ``aevb.fit.select_lr``), all
parameters ~ N(0, 0.01) (std, see ``aevb.models``), and a N(0, I) prior on the parameters (approximate MAP).
The objective per minibatch is (1/N) [L̃^M + log p(θ, φ)]: the mean bound of the minibatch plus
−‖θ, φ‖² / (2N), i.e. Adagrad with weight decay 1/N. (Adagrad is invariant to the overall scale of the
objective up to its ε, so dividing eq. 8 by N changes nothing but the numbers printed.)

The budget is counted in *training samples evaluated* (the x-axis of the paper's figures): one minibatch step
costs M. Runs are deterministic given the seed; the protocol around the trainer (step-size search, evaluation
schedule, checkpoints) is ``aevb.fit``.

Two paths compute the step: ``Trainer.train_step`` through autograd (the readable reference, and the only
one for MCEM, full VB and estimator A), and, where ``fusable``, ``aevb.fused``'s hand-written gradient of the
same estimator with the same random draws (faster: ``benchmarks/train_speed.py``). Fused trainers of one shape
can share stacked weights and train in lockstep, one batched step for all (``advance_group``): a grid of seeds,
or the §5 step-size candidates, in one pass.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import torch

from aevb.data import load
from aevb.estimators import ESTIMATORS
from aevb.evaluation import average_bound
from aevb.fused import FusedVAE
from aevb.lockstep import advance_group, stack_trainers
from aevb.models import build_vae
from aevb.params import ParameterError, validate
from aevb.utils import forked_rng, get_rng_state, seeded, set_rng_state

LR_CANDIDATES = (0.01, 0.02, 0.1)  # the paper's grid of Adagrad global step sizes


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "mnist"  # "mnist" (Bernoulli decoder) or "frey" (Gaussian decoder)
    algorithm: str = "aevb"  # training algorithm (see aevb.runs.ALGORITHMS)
    n_z: int = 20  # latent dimensions N_z
    hidden: tuple[int, ...] = (500,)  # tanh hidden layer widths of encoder and decoder
    budget: int = 1_000_000  # training samples evaluated (minibatch steps x M)
    n_train: int | None = None  # use only the first n_train training points (None: all)
    batch_size: int = 100  # minibatch size M
    n_samples: int = 1  # samples L per datapoint
    estimator: str = "B"  # SGVB estimator for training: "A" (eq. 6) or "B" (eq. 7/10)
    lr: float | None = None  # Adagrad step size; None: pick from lr_candidates (§5)
    lr_candidates: tuple[float, ...] = LR_CANDIDATES  # grid searched when lr is None
    lr_search_samples: int = 50_000  # training samples per candidate in that search (not in budget)
    weight_decay: bool = True  # N(0, I) prior on parameters: Adagrad weight decay 1/N
    per_decade: int = 4  # evaluation points per decade of samples
    eval_start: int = 1_000  # first evaluation point (samples)
    eval_train_points: int = 10_000  # size of the fixed train subset evaluated
    marginal: str | None = None  # also record log p(x) at each evaluation: "hmc" (App. D), "iwae", "ais"
    marginal_points: int = 1000  # first points of train and test set used for it (Fig. 3: 1000)
    checkpoint_every: int = 100_000  # also checkpoint every this many samples (besides each evaluation)
    seed: int = 0  # seeds initialisation, minibatches, noise
    fused: bool = True  # AEVB and wake-sleep steps by aevb.fused (False: autograd, the reference; same draws)
    device: str = "cpu"  # "cpu" or "cuda"
    progress: bool = True  # show a tqdm progress bar

    def __post_init__(self):
        validate(dataclasses.asdict(self))  # one clear error for any bad value (aevb.params)

    @classmethod
    def from_dict(cls, d: dict, **overrides) -> "TrainConfig":
        """A config from its ``dataclasses.asdict`` form as stored in JSON or a checkpoint (lists back to tuples).
        A stored config without ``fused`` predates the fused step: its run was trained by autograd."""
        d = {"fused": False, **d, **overrides}
        return cls(**{**d, "hidden": tuple(d["hidden"]), "lr_candidates": tuple(d["lr_candidates"])})


@dataclass
class TrainResult:
    model: torch.nn.Module  # the trained model (on config.device)
    curve: list[dict]  # rows: samples, seconds, train_bound, test_bound (+ train/test_marginal)
    lr: float  # step size used
    lr_search: dict = field(default_factory=dict)  # candidate -> mean train bound in the search


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf."""


def eval_schedule(budget: int, batch_size: int, per_decade: int = 4, start: int = 1_000) -> list[int]:
    """Sample counts at which to evaluate: a budget-independent log grid, plus the final count."""
    final = math.ceil(budget / batch_size) * batch_size
    pts, k = set(), 0
    while (s := round(start * 10 ** (k / per_decade))) < final:
        pts.add(max(batch_size, math.ceil(s / batch_size) * batch_size))
        k += 1
    return sorted(p for p in pts if p < final) + [final]


def load_split(config: TrainConfig, split: str, device) -> torch.Tensor:
    """Training or test images for ``config`` as one contiguous float32 tensor on ``device``."""
    x = load(config.dataset, split)
    if split == "train" and config.n_train is not None:
        if not 0 < config.n_train <= len(x):
            raise ParameterError(f"parameter 'n_train' = {config.n_train} is not allowed: the {config.dataset} "
                                 f"training set has {len(x)} points, so it must be 1 to {len(x)} (or None for all)")
        x = x[: config.n_train]
    return torch.from_numpy(x).to(device).contiguous()


class Trainer:
    """Algorithm 1 on one model; ``advance(samples)`` trains up to a sample count.

    Baselines subclass it and override what differs: ``build_model`` (the model trained), ``param_groups``
    (which parameters get the §5 weight decay), ``train_step`` (one update on a minibatch) and ``evaluate``
    / ``columns`` (what the curve records besides samples and seconds). ``batch_index`` holds the
    positions in the training set of the current minibatch.
    """

    def __init__(self, config: TrainConfig, x_train: torch.Tensor, lr: float):
        if not 0 < config.batch_size <= len(x_train):
            raise ParameterError(f"parameter 'batch_size' = {config.batch_size} is not allowed: it must be 1 to the "
                                 f"number of training points ({len(x_train)})")
        self.config, self.x = config, x_train
        self.device = x_train.device
        self.model = self.build_model(config).to(self.device)
        wd = 1.0 / len(x_train) if config.weight_decay else 0.0
        self.opt = torch.optim.Adagrad(self.param_groups(wd), lr=lr, **self._adagrad_kind())
        self.estimator = ESTIMATORS[config.estimator]
        self.samples, self.seconds, self.step = 0, 0.0, 0
        with seeded(config.seed + 1, self.device):
            self.rng = get_rng_state(self.device)
        self.perm, self.pos, self.batch_index = None, 0, None
        self.stack, self.slot, self.failed = None, 0, None  # the FusedVAE this model is slice ``slot`` of
        if config.fused and self.fusable(config):
            stack_trainers([self])

    @classmethod
    def fusable(cls, config: TrainConfig) -> bool:
        """Whether ``fused_step`` computes this algorithm's step for ``config`` (else autograd: ``train_step``)."""
        return config.estimator == "B"

    @classmethod
    def fused_step(cls, stack: FusedVAE, x: torch.Tensor, gens: list, config: TrainConfig) -> torch.Tensor:
        """``train_step`` for the K models of ``stack`` at once: x: (K, M, D) -> minibatch mean bounds (K,), the
        gradients written into ``stack.grads``; ``gens[k]`` draws model k's noise."""
        return stack.aevb(x, gens, config.n_samples)

    @classmethod
    def build_model(cls, config: TrainConfig) -> torch.nn.Module:
        """The model this algorithm trains, initialised as in §5 (seeded by ``config.seed``)."""
        return build_vae(config.dataset, config.n_z, config.hidden, config.seed)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Adagrad parameter groups: every parameter with the N(0, I) prior, i.e. weight decay 1/N (§5)."""
        return [{"params": list(self.model.parameters()), "weight_decay": weight_decay}]

    @classmethod
    def columns(cls, config: TrainConfig) -> list[str]:
        """The curve columns ``evaluate`` fills."""
        return ["train_bound", "test_bound"]

    def evaluate(self, x_eval: torch.Tensor, x_test: torch.Tensor) -> dict:
        """The average lower bound (estimator B, L = 1) on the train subset and the test set (Fig. 2)."""
        return {"train_bound": average_bound(self.model, x_eval), "test_bound": average_bound(self.model, x_test)}

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this trainer stands."""
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "rng": self.rng,
                "perm": self.perm, "pos": self.pos, "samples": self.samples, "seconds": self.seconds,
                "step": self.step}

    def _adagrad_kind(self) -> dict:
        """fused: one kernel for the whole update instead of several per tensor (benchmarks/train_speed.py); torch
        has it on the CPU only, so on a GPU the update is torch's multi-tensor (foreach) one."""
        cpu = self.device.type == "cpu"
        return {"fused": cpu, "foreach": not cpu}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        for group in self.opt.param_groups:  # a run may resume on another device: update as this device does
            group.update(self._adagrad_kind())
        self.rng, self.perm, self.pos = state["rng"], state["perm"], state["pos"]
        self.samples, self.seconds, self.step = state["samples"], state["seconds"], state["step"]

    def _batch(self, generator: torch.Generator | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """The next minibatch (M, D), drawn with ``generator`` (default: torch's global one), into ``out``."""
        M, N = self.config.batch_size, len(self.x)
        if self.perm is None or self.pos + M > N:  # new epoch: fresh permutation, drop the remainder
            self.perm, self.pos = torch.randperm(N, device=self.device, generator=generator), 0
        self.batch_index = self.perm[self.pos: self.pos + M]  # (M,)
        self.pos += M
        return torch.index_select(self.x, 0, self.batch_index, out=out)  # (M, D)

    def advance(self, to_samples: int, bar=None) -> float:
        """Train until ``samples >= to_samples``; returns the mean minibatch bound of these steps."""
        if self.stack is not None:
            (mean,) = advance_group([self], to_samples, bar)
            if self.failed is not None:
                raise self.failed
            return mean
        cfg, total, n = self.config, 0.0, 0
        start = time.perf_counter()
        with forked_rng(self.device):
            set_rng_state(self.rng, self.device)
            while self.samples < to_samples:
                try:
                    lv = self.train_step(self._batch())
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
        """One step of Algorithm 1 on a minibatch x: (M, D); returns −(mean minibatch bound)."""
        bound = self.estimator(self.model, self.model.encoder, x, self.config.n_samples)  # (M,)
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
        loss.backward()
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
