"""The fit loop of §5 around a learner: the step-size search, the evaluation schedule, checkpoints, and ``fit``,
which trains one run (its result, or it raises), or ``fit_seeds``, several runs that differ only in their seed, in
one pass (a result or an error per run).

§5: Adagrad's global step size is chosen from {0.01, 0.02, 0.1} by the training bound over the first
iterations (``select_lr``). The average train bound (first 10,000 training points) and test bound (whole test
set) are evaluated on a fixed grid of sample counts, ``per_decade`` points per decade (independent of the budget,
so a short run is an exact prefix of a long one; ``aevb.config.eval_schedule``) and at the end. Evaluation uses
its own RNG stream and does not change the training trajectory; ``seconds`` is training wall time only.

Every run trains through an ``aevb.learners.fused.group.FusedGroup``: the seeds of ``fit_seeds`` and the step-size
candidates of the search, their weights stacked where their step is fused.
"""
from __future__ import annotations

import math

import torch
from tqdm import tqdm

from aevb.config import TrainConfig, evaluations, seedless
from aevb.data import load_split
from aevb.devices import resolve_device
from aevb.evaluation import log_marginal
from aevb.learners import ALGORITHMS
from aevb.learners.aevb import NonFiniteError, Trainer, TrainResult
from aevb.learners.fused.group import FusedGroup
from aevb.rng import seeded
from aevb.threads import rebalance


def select_lr(config: TrainConfig, x_train: torch.Tensor, trainer_cls=None) -> tuple[float, dict]:
    """§5: run each candidate step size from the same initialisation for ``lr_search_samples`` and
    keep the one with the best mean training bound over the second half of its steps. A candidate that
    diverges to NaN/inf scores −inf; if every candidate does, ``NonFiniteError`` says so. ``trainer_cls``: the
    algorithm's trainer (default ``ALGORITHMS[config.algorithm]``). Returns (step size, scores)."""
    return _best_lr(config, _search([config], [x_train], trainer_cls)[0])


def select_lrs(configs: list[TrainConfig], xs: list[torch.Tensor], trainer_cls=None) -> list:
    """``select_lr`` for several runs of one shape, every candidate of every run trained together in one
    ``FusedGroup`` (their weights stacked where fused). Returns (step size, scores) per run, or the
    ``NonFiniteError`` of a run whose every candidate diverged."""
    out = []
    for c, scores in zip(configs, _search(configs, xs, trainer_cls)):
        try:
            out.append(_best_lr(c, scores))
        except NonFiniteError as e:
            out.append(e)
    return out


def _search(configs: list[TrainConfig], xs: list[torch.Tensor], trainer_cls) -> list[dict]:
    """§5's search for several runs of one shape in one ``FusedGroup``: per run, {candidate: its mean training bound
    over the second half of its steps} (−inf where it diverged)."""
    if not configs:
        return []
    trainer_cls = trainer_cls or ALGORITHMS[configs[0].algorithm]
    cands = [(i, lr) for i, c in enumerate(configs) for lr in c.lr_candidates]
    group = FusedGroup([trainer_cls(configs[i], xs[i], lr) for i, lr in cands])
    rebalance()
    group.advance(configs[0].lr_search_samples // 2)
    rebalance()
    means = group.advance(configs[0].lr_search_samples)
    return [{lr: m for (j, lr), m in zip(cands, means) if j == i} for i in range(len(configs))]


def _best_lr(config: TrainConfig, scores: dict) -> tuple[float, dict]:
    """The candidate of the best score and the scores; ``NonFiniteError`` where every candidate diverged."""
    best = max(scores, key=scores.get)
    if not math.isfinite(scores[best]):
        raise NonFiniteError(f"every step size in {config.lr_candidates} diverged in the step-size search")
    return best, scores


def checkpoint_schedule(config: TrainConfig) -> list[int]:
    """Where training pauses: every evaluation point and every ``checkpoint_every`` samples."""
    evals = evaluations(config)
    every = math.ceil(config.checkpoint_every / config.batch_size) * config.batch_size
    return sorted(set(evals) | set(range(every, evals[-1], every)))


def fit(config: TrainConfig, trainer_cls=None, on_checkpoint=None, resume: dict | None = None) -> TrainResult:
    """Train with ``trainer_cls`` (default: the algorithm of ``config``, ``ALGORITHMS[config.algorithm]``) in the
    §5 fit loop: the step-size search where ``lr`` is None, evaluations and checkpoints.

    ``on_checkpoint(state)`` is called at every evaluation and every ``checkpoint_every`` samples with a
    dict that ``resume`` accepts to continue the run exactly (same minibatches, same noise, same curve).
    Returns the run's ``TrainResult``, or raises the ``NonFiniteError`` that stopped it.
    """
    (result,), (error,) = _fit([config], trainer_cls, [on_checkpoint], [resume])
    if error is not None:
        raise error
    return result


def fit_seeds(configs: list[TrainConfig], trainer_cls=None, on_checkpoints=None, resumes=None) -> list:
    """``fit`` for runs that differ only in their seed (and a given step size, and whether their step is fused:
    one ``seedless`` config), trained in one pass: one ``FusedGroup`` of their trainers, the §5 step-size
    searches included. Returns a ``TrainResult`` per run, or the ``NonFiniteError`` that stopped it (the others
    go on)."""
    results, errors = _fit(configs, trainer_cls, on_checkpoints, resumes)
    return [e or r for r, e in zip(results, errors)]


def _fit(configs: list[TrainConfig], trainer_cls, on_checkpoints, resumes) -> tuple[list, list]:
    """The runs of ``fit_seeds`` trained in one ``FusedGroup``: (their ``TrainResult``s, None for a run that
    failed; the ``NonFiniteError`` that stopped each, None for a run that trained)."""
    if len({seedless(c) for c in configs}) != 1:
        raise ValueError("fit_seeds trains runs that differ only in seed and step size")
    K, cfg = len(configs), configs[0]
    trainer_cls = trainer_cls or ALGORITHMS[cfg.algorithm]
    on_checkpoints, resumes = on_checkpoints or [None] * K, resumes or [None] * K
    device = resolve_device(cfg.device)
    x_train, x_test = load_split(cfg, "train", device), load_split(cfg, "test", device)
    x_eval = x_train[: cfg.eval_train_points]
    lrs: list = [(r["lr"], {float(k): v for k, v in r["lr_search"].items()}) if r is not None else
                 (c.lr, {}) if c.lr is not None else None for c, r in zip(configs, resumes)]
    errors: list[NonFiniteError | None] = [None] * K
    search = [i for i, v in enumerate(lrs) if v is None]
    for i, scores in zip(search, _search([configs[i] for i in search], [x_train] * len(search), trainer_cls)):
        try:
            lrs[i] = _best_lr(configs[i], scores)
        except NonFiniteError as e:
            errors[i] = e
    runs = [i for i in range(K) if errors[i] is None]  # the runs that train
    trainers = [trainer_cls(configs[i], x_train, lrs[i][0]) for i in runs]
    for i, t in zip(runs, trainers):
        if resumes[i] is not None:
            t.load_state_dict(resumes[i]["trainer"])
    group = FusedGroup(trainers)
    curves = [list(resumes[i]["curve"]) if resumes[i] is not None else [] for i in runs]
    evals = set(evaluations(cfg))
    start = min((t.samples for t in trainers), default=max(evals))
    desc = f"{cfg.algorithm} {cfg.dataset} N_z={cfg.n_z}" + (f" x{len(trainers)} seeds" if len(trainers) > 1 else "")
    with tqdm(total=max(evals) * len(trainers), initial=sum(t.samples for t in trainers),
              disable=not cfg.progress, unit="sample", unit_scale=True, desc=desc) as bar:
        for point in [p for p in checkpoint_schedule(cfg) if p > start]:
            rebalance()  # this process's share of the cores, where it claimed an automatic one (aevb.threads)
            live = [j for j, t in enumerate(trainers) if group.errors[j] is None and t.samples < point]
            group.advance(point, bar)
            for j in live:
                if group.errors[j] is not None:
                    continue
                i, t = runs[j], trainers[j]
                try:
                    _checkpoint(t, point, point in evals, curves[j], x_eval, x_test, x_train, device, bar)
                except NonFiniteError as e:
                    group.fail(j, e)
                    continue
                if on_checkpoints[i] is not None:
                    on_checkpoints[i]({"trainer": t.state_dict(), "curve": curves[j], "lr": lrs[i][0],
                                       "lr_search": {str(k): v for k, v in lrs[i][1].items()}})
    results: list[TrainResult | None] = [None] * K
    for j, (i, t) in enumerate(zip(runs, trainers)):
        errors[i] = group.errors[j]
        if errors[i] is None:
            results[i] = TrainResult(t.model, curves[j], lrs[i][0], lrs[i][1])
    return results, errors


def evaluation_seed(config: TrainConfig) -> int:
    """The seed of a run's evaluations: each curve row is computed from torch's RNG seeded so (its train bound's
    draws first, then its test bound's), so a row can be computed again exactly from the checkpoint."""
    return config.seed + 2


def _checkpoint(t: Trainer, point: int, evaluate: bool, curve: list, x_eval, x_test, x_train, device, bar) -> None:
    """At a pause of trainer ``t``: raise if its parameters are not finite; at an evaluation point, append the
    curve's row (bounds, and log p(x) where the config asks), every value checked finite."""
    t.check_finite()  # before anything is evaluated or saved
    if not evaluate:
        return
    cfg = t.config
    with seeded(evaluation_seed(cfg), device):
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
