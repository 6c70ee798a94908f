"""The §5 protocol around Algorithm 1: the step-size search, the evaluation schedule, checkpoints, and ``fit``,
which trains one run, or several runs that differ only in their seed in one pass.

§5: Adagrad's global step size is chosen from {0.01, 0.02, 0.1} by the training bound over the first
iterations (``select_lr``). The average train bound (first 10,000 training points) and test bound (whole test
set) are evaluated on a fixed grid of sample counts, ``per_decade`` points per decade (independent of the budget,
so a short run is an exact prefix of a long one; ``aevb.train.eval_schedule``) and at the end. Evaluation uses
its own RNG stream and does not change the training trajectory; ``seconds`` is training wall time only.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from aevb.evaluation import log_marginal
from aevb.lockstep import advance_group, stack_trainers
from aevb.train import NonFiniteError, TrainConfig, Trainer, TrainResult, eval_schedule, load_split
from aevb.utils import resolve_device, seeded


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
