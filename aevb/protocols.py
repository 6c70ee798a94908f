"""Training protocols: the paper's (§5, Adagrad) and the later literature's standard one as a named preset, each an
object (``Protocol``) that the trainers call: its check of the settings it joins (``check``), its start
(``initialise_``), its optimiser (``optimizer``), its step size at a step (``step_size``) and its loss scaling
(``scale_loss``). ``TrainConfig.protocol`` names one (``PROTOCOLS``, ``protocol_of``); the other settings of a run
stay its own. This module is the one home of each protocol's rules, Burda et al.'s included:

- ``"paper"`` (§5): Adagrad with one global step size (searched from {0.01, 0.02, 0.1} when ``lr`` is None):
  ``Paper``.
- ``"annealed"``: App. E's second reading of "the Adagrad stepsizes (with accompanying annealing schedule)": §5's
  Adagrad whose global step size is also lowered by an explicit schedule, lr · 10^(−n / ``ANNEAL_TENFOLD``) after n
  training samples, lowered in steps every ``ANNEAL_EVERY`` samples (``annealed_step_size``): a tenth of it after
  10^7 samples, a hundredth after 2·10^7. The schedule counts samples, not the budget, so a short run is an exact
  prefix of a long one, and it starts after §5's step-size search (50,000 samples, below ``ANNEAL_EVERY``), which
  therefore picks the same step size as under ``"paper"``. The first reading, Adagrad's own decay (its steps
  shrink as the squared gradients add up), is ``"paper"``: the authors' code (dpkingma/anglepy, ``wzoptim.py``
  at 02681a5) changes no global step size. The schedule's shape is ours: the paper gives none
  (``aevb.experiments.grids``: study ``appe-anneal``): ``Annealed``.
- ``"burda"``: Burda, Grosse & Salakhutdinov (2015), "Importance Weighted Autoencoders", §5 and App. C: Adam with
  β1 = 0.9, β2 = 0.999, ε = 1e-4, and the step size decayed in stages: 3^i passes over the training set at
  0.001 · 10^(−i/7) for i = 0 … 7, 3,280 passes in all (``stage``, ``step_size``). Where the paper is silent we
  follow their released code (yburda/iwae: ``nnet.py``, ``iwae.py``, ``optimizers.py`` at ae2ed90, ``experiments.py``
  at 8e601aa): the network starts from Glorot & Bengio's uniform weights with zero biases and the decoder's output
  bias at the log-odds of the mean training pixel (not §5's N(0, 0.01²)), and the gradient is that of the
  minibatch's *sum* of bounds (Adam is invariant to the gradient's scale except through ε): ``Burda``.
  ``burda_config`` is their whole one-stochastic-layer setting:
  784–200–200–50 with tanh, dynamically binarized MNIST on all 60,000 training images, minibatches of 20, no
  prior on the parameters, the step size 0.001.

Where their code differs from their paper's text, we follow the text:

- their ``Adam`` defaults to β1 = 0.99 and ``experiments.py`` does not pass another, where the paper says 0.9;
- it starts the second moments at ones, not zeros, and counts its bias correction from a timestep of 1;
- the stage's step size is rounded, ``1e-4 * round(10 ** (1 - i/7), 1)`` (e.g. 7.2e-4 for 7.197e-4);
- their active units use the variance of the encoder's means over one minibatch of 500 training images
  (``iwae.get_units_variances``); ours, ``aevb.latent_use``, the evaluated test images (same 0.01 threshold).

What the two choices from their code are worth early in training: ``benchmarks/burda_start.py``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from aevb.config import TrainConfig
from aevb.validation import PROTOCOL_NAMES, ParameterError

ANNEAL_TENFOLD = 10_000_000  # "annealed": training samples over which the global step size falls tenfold
ANNEAL_EVERY = 100_000  # "annealed": the step size is lowered every this many training samples
BURDA_STAGES = 8  # stages i = 0 … 7
BURDA_STAGE_PASSES = tuple(3**i for i in range(BURDA_STAGES))  # passes over the training set in stage i
BURDA_PASSES = sum(BURDA_STAGE_PASSES)  # 3,280
BURDA_ADAM = {"betas": (0.9, 0.999), "eps": 1e-4}  # their Adam's settings (the paper's, see above)
BURDA_N_TRAIN = 60_000  # MNIST's training images, all of them
BURDA_BUDGET = BURDA_PASSES * BURDA_N_TRAIN  # 196,800,000 training samples: the full schedule
# the preset: their one-stochastic-layer model and data (784-200-200-50, tanh; dynamic binarization; M = 20)
BURDA_SETTINGS = {"dataset": "mnist", "algorithm": "aevb", "n_z": 50, "hidden": (200, 200), "batch_size": 20,
                  "binarize": "dynamic", "lr": 1e-3, "weight_decay": False, "protocol": "burda"}


def annealed_step_size(lr: float, samples: int) -> float:
    """``"annealed"``'s global step size after ``samples`` training samples: lr · 10^(−n / ``ANNEAL_TENFOLD``) with
    n = ``samples`` rounded down to a multiple of ``ANNEAL_EVERY`` (``lr`` itself before the first step down)."""
    n = samples // ANNEAL_EVERY * ANNEAL_EVERY
    return lr * 10 ** (-n / ANNEAL_TENFOLD)


def stage(passes: int) -> int:
    """The stage i of the schedule that a run is in after ``passes`` whole passes (from 0): stage i covers
    passes (3^i − 1)/2 … (3^(i+1) − 1)/2 − 1; past the 3,280th it stays in the last stage."""
    done, i = 0, 0
    while i < BURDA_STAGES - 1 and passes >= done + BURDA_STAGE_PASSES[i]:
        done, i = done + BURDA_STAGE_PASSES[i], i + 1
    return i


def step_size(lr: float, passes: int) -> float:
    """The step size after ``passes`` whole passes: ``lr`` · 10^(−i/7), i = ``stage(passes)``."""
    return lr * 10 ** (-stage(passes) / 7)


def passes_done(samples: int, n_train: int, batch_size: int) -> int:
    """Whole passes over ``n_train`` points after ``samples`` training samples in minibatches of ``batch_size``
    (a pass: the epoch's whole minibatches, the remainder dropped, as the trainer draws them)."""
    return samples // ((n_train // batch_size) * batch_size)


def stages_done(passes: int) -> int:
    """How many stages of the schedule ``passes`` whole passes complete (0 … 8)."""
    return sum(passes >= sum(BURDA_STAGE_PASSES[: i + 1]) for i in range(BURDA_STAGES))


def stage_budget(stages: int, n_train: int = BURDA_N_TRAIN) -> int:
    """Training samples of the first ``stages`` stages of the schedule (all 8: ``BURDA_BUDGET``)."""
    if not 1 <= stages <= BURDA_STAGES:
        raise ValueError(f"stages={stages}: the schedule has stages 1 to {BURDA_STAGES}")
    return sum(BURDA_STAGE_PASSES[:stages]) * n_train


def burda_config(**overrides) -> TrainConfig:
    """Burda et al.'s one-stochastic-layer setting (``BURDA_SETTINGS``) trained on the full schedule
    (``BURDA_BUDGET``), with ``overrides`` (e.g. ``k=5``, ``posterior="iaf"``, a shorter ``budget``)."""
    return dataclasses.replace(TrainConfig(**{**BURDA_SETTINGS, "budget": BURDA_BUDGET}), **overrides)


def check_burda(config: TrainConfig) -> None:
    """The rules of ``protocol="burda"``: Algorithm 1 only, a step size given (the schedule decays it), §5's
    optimiser start."""
    for param, given, allowed, why in (
            ("algorithm", config.algorithm, "aevb", "the preset is Algorithm 1's (Burda et al.'s VAE and IWAE)"),
            ("lr", config.lr, 1e-3, "the schedule decays the step size it is given (Burda et al.: 0.001); "
                                    "§5's search is Adagrad's"),
            ("start", config.start, "paper", "its warm-up accumulates Adagrad's squared gradients")):
        if given is None or (param != "lr" and given != allowed):
            raise ParameterError(f"parameter {param!r} = {given!r} is not allowed with protocol='burda': "
                                 f"{why}; give {param}={allowed!r}")


@torch.no_grad()
def init_glorot_(module: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Burda et al.'s (2015) initialisation, in place (yburda/iwae ``nnet.py`` ``Linear.random`` at ae2ed90): every
    linear layer's weight ~ U(−a, a), a = √(6 / (fan_in + fan_out)) (Glorot & Bengio 2010, for tanh), its bias
    zero, in the order of ``module.modules()``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            a = math.sqrt(6 / (m.in_features + m.out_features))
            u = torch.rand(m.weight.shape, generator=generator, dtype=m.weight.dtype).to(m.weight.device)
            m.weight.copy_((2 * u - 1) * a)
            m.bias.zero_()
    return module


@torch.no_grad()
def init_burda_(model: nn.Module, x_train: torch.Tensor, seed: int) -> nn.Module:
    """Burda et al.'s start in place of §5's (their code: ``iwae.random_iwae``, ``nnet.Linear.random``): Glorot
    uniform weights and zero biases (``init_glorot_``, seeded by ``seed``), and the Bernoulli decoder's output bias
    at the log-odds of the training images' mean pixel x_train: (N, D), clipped to [0.001, 0.999]."""
    init_glorot_(model, torch.Generator().manual_seed(seed))
    p = x_train.mean(0).clamp(1e-3, 1 - 1e-3)  # (D,)
    model.decoder.out.bias.copy_(torch.log(p) - torch.log1p(-p))
    return model


@dataclass(frozen=True)
class Protocol:
    """How a trainer updates the parameters: by default as §5 does (``Paper``), Adagrad with one global step size,
    unless a subclass says otherwise. ``fusable``: whether the fused path's update (Adagrad in its functional form,
    ``aevb.learners.fused.group``) is this protocol's."""

    name: str = "paper"
    fusable: bool = True

    def check(self, config: TrainConfig) -> None:
        """Raise ``ParameterError`` where settings that are each valid do not go together under this protocol."""

    def initialise_(self, model: nn.Module, x_train: torch.Tensor, seed: int) -> None:
        """The start: the model comes initialised as §5 says (``aevb.models.build_vae``); nothing more."""

    def optimizer(self, groups: list[dict], lr: float, device: torch.device) -> torch.optim.Optimizer:
        """Adagrad with the global step size ``lr`` (``adagrad_kind``: how it runs on ``device``)."""
        return torch.optim.Adagrad(groups, lr=lr, **self.adagrad_kind(device))

    def to_device(self, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
        """After a resume, possibly on another device: update as this device does."""
        for group in optimizer.param_groups:
            group.update(self.adagrad_kind(device))

    @staticmethod
    def adagrad_kind(device: torch.device) -> dict:
        """fused: one kernel for the whole update instead of several per tensor (benchmarks/train_speed.py); torch
        has Adagrad's on the CPU only, so on a GPU the update is torch's multi-tensor (foreach) one."""
        cpu = device.type == "cpu"
        return {"fused": cpu, "foreach": not cpu}

    def step_size(self, lr: float, step: int, warmup: int, n_train: int, batch_size: int) -> float:
        """The global step size of minibatch step ``step`` (from 0): 0 during the optimiser start's ``warmup``
        steps (Adagrad only accumulates squared gradients: ``aevb.config.START_WARMUP``), ``lr`` after."""
        return 0.0 if step < warmup else lr

    def scale_loss(self, loss: torch.Tensor, batch_size: int) -> torch.Tensor:
        """The loss whose gradient the optimiser takes, from the minibatch's mean negative bound: itself (§5)."""
        return loss


@dataclass(frozen=True)
class Paper(Protocol):
    """``"paper"``: §5's Adagrad with one global step size, the start of ``aevb.models.build_vae``."""

    name: str = "paper"


@dataclass(frozen=True)
class Annealed(Protocol):
    """``"annealed"``: §5's Adagrad, its global step size lowered by App. E's schedule (``annealed_step_size``)."""

    name: str = "annealed"

    def step_size(self, lr: float, step: int, warmup: int, n_train: int, batch_size: int) -> float:
        return 0.0 if step < warmup else annealed_step_size(lr, step * batch_size)


@dataclass(frozen=True)
class Burda(Protocol):
    """``"burda"``: Burda et al.'s (2015) Adam with their staged step size, their start, and the gradient of the
    minibatch's sum."""

    name: str = "burda"
    fusable: bool = False  # Adam: the fused path's update is Adagrad's

    def check(self, config: TrainConfig) -> None:
        check_burda(config)

    def initialise_(self, model: nn.Module, x_train: torch.Tensor, seed: int) -> None:
        init_burda_(model, x_train, seed)

    def optimizer(self, groups: list[dict], lr: float, device: torch.device) -> torch.optim.Optimizer:
        """Adam with their β and ε (``BURDA_ADAM``), multi-tensor on every device."""
        return torch.optim.Adam(groups, lr=lr, **BURDA_ADAM, foreach=True)

    def to_device(self, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
        """Multi-tensor on every device: nothing to update."""

    def step_size(self, lr: float, step: int, warmup: int, n_train: int, batch_size: int) -> float:
        """The step size of the schedule's stage (``step_size``) at the passes done (a pass: the whole minibatches
        of one epoch)."""
        return step_size(lr, passes_done(step * batch_size, n_train, batch_size))

    def scale_loss(self, loss: torch.Tensor, batch_size: int) -> torch.Tensor:
        """The gradient of the minibatch's sum, as Burda et al.'s code takes it (yburda/iwae iwae.py
        gradIminibatch_srng: T.sum(log_ws) / k), so that Adam's ε = 1e-4 acts on the same scale."""
        return loss * batch_size


PROTOCOLS = {p.name: p for p in (Paper(), Annealed(), Burda())}  # TrainConfig.protocol's values -> protocol
assert tuple(PROTOCOLS) == PROTOCOL_NAMES, "aevb.validation.PROTOCOL_NAMES lists the protocols of PROTOCOLS"


def protocol_of(config: TrainConfig) -> Protocol:
    """The protocol ``config.protocol`` names."""
    return PROTOCOLS[config.protocol]
