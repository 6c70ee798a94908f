"""Algorithm 1 (AEVB) with the training protocol of §5.

repeat
    X^M ← random minibatch of M datapoints;  ε ← L random samples from p(ε)
    g ← ∇_{θ,φ} L̃^M(θ, φ; X^M, ε)   (eq. 8, estimator B of eq. 10)
    θ, φ ← update with g (Adagrad)
until the budget of training samples evaluated is spent

§5 settings: M = 100, L = 1, Adagrad with a global step size chosen from {0.01, 0.02, 0.1} by the
training bound over the first iterations, all parameters ~ N(0, 0.01) (std, see ``aevb.models``),
and a N(0, I) prior on the parameters (approximate MAP). The objective per minibatch is
(1/N) [L̃^M + log p(θ, φ)]: the mean bound of the minibatch plus −‖θ, φ‖² / (2N), i.e. Adagrad with
weight decay 1/N. (Adagrad is invariant to the overall scale of the objective up to its ε, so
dividing eq. 8 by N changes nothing but the numbers printed.)

The budget is counted in *training samples evaluated* (the x-axis of the paper's figures): one
minibatch step costs M. The average train bound (first 10,000 training points) and test bound
(whole test set) are evaluated on a fixed grid of sample counts, ``per_decade`` points per decade
(independent of the budget, so a short run is an exact prefix of a long one) and at the end.
Evaluation uses its own RNG stream and does not change the training trajectory; ``seconds`` is
training wall time only. Runs are deterministic given the seed.

Two paths compute the step: ``Trainer.train_step`` through autograd (the readable reference, and the only
one for MCEM, full VB and estimator A), and, where ``fusable``, ``aevb.fused``'s hand-written gradient of the
same estimator with the same random draws, about twice as fast (``benchmarks/train_speed.py``). Fused trainers
of one shape can share stacked weights and train in lockstep, one batched step for all (``advance_group``):
a grid of seeds, or the §5 step-size candidates, in one pass.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import torch
from torch.optim.adagrad import adagrad

from aevb.data import load
from aevb.estimators import ESTIMATORS
from aevb.evaluation import average_bound, log_marginal
from aevb.fused import FusedVAE
from aevb.models import build_vae
from aevb.params import ParameterError, validate
from aevb.utils import forked_rng, get_rng_state, resolve_device, seeded, set_rng_state

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


def stack_trainers(trainers: list[Trainer]) -> FusedVAE:
    """Make fused ``trainers`` (one algorithm, one model shape, one minibatch size) share one ``FusedVAE``: their
    weights become slices of stacked tensors, and ``advance_group`` steps them with batched matmuls."""
    kinds = {(type(t), t.config.batch_size, t.config.n_samples, t.device) for t in trainers}
    if len(kinds) != 1:
        raise ValueError(f"trainers stacked together need one algorithm, batch size, L and device; got {kinds}")
    stack = FusedVAE([t.model for t in trainers])
    for k, t in enumerate(trainers):
        t.stack, t.slot = stack, k
    return stack


def _adagrad_update(t: Trainer):
    """The optimizer step of fused trainer ``t``: Adagrad (the functional form, with the optimizer's own settings
    and state, so checkpoints do not change) on its parameters with their gradients from its stack."""
    calls = [([p for p in g["params"]], [t.stack.grads[p] for p in g["params"]],
              [t.opt.state[p]["sum"] for p in g["params"]], [t.opt.state[p]["step"] for p in g["params"]],
              {k: g[k] for k in ("lr", "weight_decay", "lr_decay", "eps", "maximize", "fused", "foreach")})
             for g in t.opt.param_groups]

    def update():
        for params, grads, sums, steps, hyper in calls:
            adagrad(params, grads, sums, steps, **hyper)
    return update


@torch.no_grad()
def advance_group(trainers: list[Trainer], to_samples: int, bar=None) -> list[float]:
    """Train fused ``trainers`` of one stack until each has ``samples >= to_samples``: per minibatch, one batched
    ``fused_step`` for the whole stack, then each trainer's own Adagrad update. Every trainer draws its
    minibatches and noise from its own generator (its ``rng``), so it follows the trajectory it would follow
    alone. Returns each trainer's mean minibatch bound over these steps; one whose bound goes NaN or inf stops
    there, its update not applied, with ``failed`` set to the ``NonFiniteError`` (its mean is −inf)."""
    stack, cfg = trainers[0].stack, trainers[0].config
    if any(t.stack is not stack for t in trainers):
        raise ValueError("advance_group steps trainers of one stack (stack_trainers)")
    x = stack.buffer("x", stack.k, cfg.batch_size, trainers[0].x.shape[1])  # (K, M, D)
    gens = [torch.Generator(trainers[0].device)] * stack.k  # slots not advancing draw from a spare generator
    for t in trainers:
        gens[t.slot] = torch.Generator(t.device)
        gens[t.slot].set_state(t.rng[t.device.type])
    updates = {t.slot: _adagrad_update(t) for t in trainers}
    totals = {t.slot: [0.0, 0] for t in trainers}
    active = [t for t in trainers if t.failed is None and t.samples < to_samples]
    start = time.perf_counter()
    while active:
        for t in active:
            t._batch(gens[t.slot], out=x[t.slot])
        bounds = type(trainers[0]).fused_step(stack, x, gens, cfg).tolist()  # (K,)
        for t in active:
            b = bounds[t.slot]
            if not math.isfinite(b):
                t.failed = t.non_finite(f"training bound is {b}")
                continue
            updates[t.slot]()
            t.step, t.samples = t.step + 1, t.samples + cfg.batch_size
            totals[t.slot][0] += b
            totals[t.slot][1] += 1
            if bar is not None:
                bar.update(cfg.batch_size)
        still = [t for t in active if t.failed is None and t.samples < to_samples]
        for t in set(active) - set(still):
            t.seconds += time.perf_counter() - start
        active = still
    for t in trainers:
        t.rng = {**t.rng, t.device.type: gens[t.slot].get_state()}
    return [-math.inf if t.failed else totals[t.slot][0] / max(totals[t.slot][1], 1) for t in trainers]


def advance_all(trainers: list[Trainer], to_samples: int, bar=None) -> list[float]:
    """``advance`` every trainer to ``to_samples`` (a stacked group in lockstep), keeping going past one that
    fails: its ``failed`` holds the ``NonFiniteError`` and its mean bound is −inf."""
    if len(trainers) > 1 and all(t.stack is trainers[0].stack is not None for t in trainers):
        return advance_group(trainers, to_samples, bar)
    means = []
    for t in trainers:
        try:
            means.append(t.advance(to_samples, bar) if t.failed is None else -math.inf)
        except NonFiniteError as e:
            t.failed = e
            means.append(-math.inf)
    return means


def select_lr(config: TrainConfig, x_train: torch.Tensor, trainer_cls=Trainer) -> tuple[float, dict]:
    """§5: run each candidate step size from the same initialisation for ``lr_search_samples`` and
    keep the one with the best mean training bound over the second half of its steps. A candidate that
    diverges to NaN/inf scores −inf; if every candidate does, the error says so."""
    (out,) = select_lrs([config], [x_train], trainer_cls)
    if isinstance(out, BaseException):
        raise out
    return out


def select_lrs(configs: list[TrainConfig], xs: list[torch.Tensor], trainer_cls=Trainer) -> list:
    """``select_lr`` for several runs of one shape, every candidate of every run trained in lockstep (stacked
    where fused). Returns (step size, scores) per run, or the ``NonFiniteError`` of a run whose every candidate
    diverged."""
    if not configs:
        return []
    cands = [(i, lr) for i, c in enumerate(configs) for lr in c.lr_candidates]
    trainers = [trainer_cls(configs[i], xs[i], lr) for i, lr in cands]
    if len(trainers) > 1 and all(t.stack is not None for t in trainers):
        stack_trainers(trainers)
    advance_all(trainers, configs[0].lr_search_samples // 2)
    means = advance_all(trainers, configs[0].lr_search_samples)
    out = []
    for i, c in enumerate(configs):
        scores = {lr: m for (j, lr), m in zip(cands, means) if j == i}
        best = max(scores, key=scores.get)
        out.append((best, scores) if math.isfinite(scores[best]) else
                   NonFiniteError(f"every step size in {c.lr_candidates} diverged in the step-size search"))
    return out


def checkpoint_schedule(config: TrainConfig) -> list[int]:
    """Where training pauses: every evaluation point and every ``checkpoint_every`` samples."""
    evals = eval_schedule(config.budget, config.batch_size, config.per_decade, config.eval_start)
    every = math.ceil(config.checkpoint_every / config.batch_size) * config.batch_size
    return sorted(set(evals) | set(range(every, evals[-1], every)))


def train_aevb(config: TrainConfig, on_checkpoint=None, resume: dict | None = None) -> TrainResult:
    """Run Algorithm 1 (AEVB) for ``config``; see ``fit``."""
    return fit(config, Trainer, on_checkpoint, resume)


def fit(config: TrainConfig, trainer_cls=Trainer, on_checkpoint=None, resume: dict | None = None) -> TrainResult:
    """Train with ``trainer_cls`` (Algorithm 1, or a baseline's step) under the §5 protocol.

    ``on_checkpoint(state)`` is called at every evaluation and every ``checkpoint_every`` samples with a
    dict that ``resume`` accepts to continue the run exactly (same minibatches, same noise, same curve).
    """
    (out,) = fit_group([config], trainer_cls, [on_checkpoint], [resume])
    if isinstance(out, BaseException):
        raise out
    return out


def fit_group(configs: list[TrainConfig], trainer_cls=Trainer, on_checkpoints=None, resumes=None) -> list:
    """``fit`` for runs that differ only in their seed (and given step size), trained in lockstep: where the
    algorithm is fused, their models are stacked and every minibatch step is one batched step for all
    (``advance_group``), the §5 step-size searches included. Returns a ``TrainResult`` per run, or the
    ``NonFiniteError`` that stopped it (the others go on)."""
    from tqdm import tqdm

    same = {dataclasses.replace(c, seed=0, lr=None) for c in configs}
    if len(same) != 1:
        raise ValueError("fit_group trains runs that differ only in seed and step size")
    K, cfg = len(configs), configs[0]
    on_checkpoints, resumes = on_checkpoints or [None] * K, resumes or [None] * K
    device = resolve_device(cfg.device)
    x_train, x_test = load_split(cfg, "train", device), load_split(cfg, "test", device)
    x_eval = x_train[: cfg.eval_train_points]
    lrs: list = [(r["lr"], {float(k): v for k, v in r["lr_search"].items()}) if r is not None else
                 (c.lr, {}) if c.lr is not None else None for c, r in zip(configs, resumes)]
    search = [i for i, v in enumerate(lrs) if v is None]
    for i, out in zip(search, select_lrs([configs[i] for i in search], [x_train] * len(search), trainer_cls)):
        lrs[i] = out
    trainers, results = {}, [v if isinstance(v, BaseException) else None for v in lrs]
    for i, (c, r) in enumerate(zip(configs, resumes)):
        if results[i] is None:
            trainers[i] = trainer_cls(c, x_train, lrs[i][0])
            if r is not None:
                trainers[i].load_state_dict(r["trainer"])
    if len(trainers) > 1 and all(t.stack is not None for t in trainers.values()):
        stack_trainers(list(trainers.values()))
    curves = {i: list(resumes[i]["curve"]) if resumes[i] is not None else [] for i in trainers}
    evals = set(eval_schedule(cfg.budget, cfg.batch_size, cfg.per_decade, cfg.eval_start))
    start = min((t.samples for t in trainers.values()), default=max(evals))
    desc = f"{cfg.algorithm} {cfg.dataset} N_z={cfg.n_z}" + (f" x{len(trainers)} seeds" if len(trainers) > 1 else "")
    with tqdm(total=max(evals) * len(trainers), initial=sum(t.samples for t in trainers.values()),
              disable=not cfg.progress, unit="sample", unit_scale=True, desc=desc) as bar:
        for point in [p for p in checkpoint_schedule(cfg) if p > start]:
            live = {i: t for i, t in trainers.items() if t.failed is None and t.samples < point}
            advance_all(list(live.values()), point, bar)
            for i, t in live.items():
                try:
                    _checkpoint(t, point, point in evals, curves[i], x_eval, x_test, x_train, device, bar)
                except NonFiniteError as e:
                    t.failed = e
                    continue
                if on_checkpoints[i] is not None:
                    on_checkpoints[i]({"trainer": t.state_dict(), "curve": curves[i], "lr": lrs[i][0],
                                       "lr_search": {str(k): v for k, v in lrs[i][1].items()}})
    for i, t in trainers.items():
        results[i] = t.failed or TrainResult(t.model, curves[i], lrs[i][0], lrs[i][1])
    return results


def _checkpoint(t: Trainer, point: int, evaluate: bool, curve: list, x_eval, x_test, x_train, device, bar) -> None:
    """At a pause of trainer ``t``: raise if it failed or its parameters are not finite; at an evaluation point,
    append the curve's row (bounds, and log p(x) where the config asks), every value checked finite."""
    if t.failed is not None:
        raise t.failed
    t.check_finite()  # before anything is evaluated or saved
    if not evaluate:
        return
    cfg = t.config
    with seeded(cfg.seed + 2, device):
        row = {"samples": t.samples, "seconds": round(t.seconds, 3), **t.evaluate(x_eval, x_test)}
        if cfg.marginal:
            n = cfg.marginal_points
            row["train_marginal"] = log_marginal(t.model, x_train[:n], cfg.marginal).mean().item()
            row["test_marginal"] = log_marginal(t.model, x_test[:n], cfg.marginal).mean().item()
    for k, v in row.items():  # every evaluated value: bounds, log p(x), full VB's KL term
        if not math.isfinite(v):
            raise NonFiniteError(f"{k} is {v} after {t.samples} samples")
    curve.append(row)
    bar.set_postfix({k: f"{v:.2f}" for k, v in row.items() if k.startswith(("train_", "test_"))})
