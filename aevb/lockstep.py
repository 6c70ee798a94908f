"""Trainers in lockstep: K fused trainers of one shape share stacked weights (``aevb.fused.FusedVAE``) and take
each minibatch step together, one batched step for all, then each its own Adagrad update.

Every trainer keeps its own minibatches, noise (a ``torch.Generator`` from its RNG state), step size and
optimizer state, so it follows the trajectory it would follow alone, to float rounding; what is shared is the
arithmetic. ``aevb.train.Trainer.advance`` of a fused trainer is ``advance_group`` of one.
"""
from __future__ import annotations

import math
import time

import torch
from torch.optim.adagrad import adagrad

from aevb.fused import FusedVAE


def stack_trainers(trainers: list) -> FusedVAE:
    """Make fused ``trainers`` (one algorithm, one model shape, one minibatch size) share one ``FusedVAE``: their
    weights become slices of stacked tensors, and ``advance_group`` steps them with batched matmuls."""
    kinds = {(type(t), t.config.batch_size, t.config.n_samples, t.device) for t in trainers}
    if len(kinds) != 1:
        raise ValueError(f"trainers stacked together need one algorithm, batch size, L and device; got {kinds}")
    stack = FusedVAE([t.model for t in trainers])
    for k, t in enumerate(trainers):
        t.stack, t.slot = stack, k
    return stack


HYPER = ("lr", "weight_decay", "lr_decay", "eps", "maximize", "fused", "foreach")  # an Adagrad group's settings


def _adagrad_update(trainers: list):
    """The optimizer steps of fused ``trainers``: Adagrad in its functional form on their parameters, with their
    gradients from the stack and each optimizer's own state (so checkpoints do not change); one call per set of
    settings (the stacked models of one step size share one multi-tensor update, a few kernels on a GPU)."""
    calls: dict[tuple, tuple] = {}
    for t in trainers:
        for g in t.opt.param_groups:
            params, grads, sums, steps = calls.setdefault(tuple(g[k] for k in HYPER), ([], [], [], []))
            for p in g["params"]:
                params.append(p)
                grads.append(t.stack.grads[p])
                sums.append(t.opt.state[p]["sum"])
                steps.append(t.opt.state[p]["step"])

    def update():
        for hyper, lists in calls.items():
            adagrad(*lists, **dict(zip(HYPER, hyper)))
    return update


@torch.no_grad()
def advance_group(trainers: list, to_samples: int, bar=None) -> list[float]:
    """Train fused ``trainers`` of one stack until each has ``samples >= to_samples``: per minibatch, one batched
    ``fused_step`` for the whole stack, then the trainers' Adagrad updates. Every trainer draws its minibatches
    and noise from its own generator (its ``rng``), so it follows the trajectory it would follow alone. Returns
    each trainer's mean minibatch bound over these steps; one whose bound goes NaN or inf stops there, its update
    not applied, with ``failed`` set to the ``NonFiniteError`` (its mean is −inf)."""
    stack, cfg = trainers[0].stack, trainers[0].config
    if any(t.stack is not stack for t in trainers):
        raise ValueError("advance_group steps trainers of one stack (stack_trainers)")
    x = stack.buffer("x", stack.k, cfg.batch_size, trainers[0].x.shape[1])  # (K, M, D)
    gens = [torch.Generator(trainers[0].device)] * stack.k  # slots not advancing draw from a spare generator
    for t in trainers:
        gens[t.slot] = torch.Generator(t.device)
        gens[t.slot].set_state(t.rng[t.device.type])
    totals = {t.slot: [0.0, 0] for t in trainers}
    active = [t for t in trainers if t.failed is None and t.samples < to_samples]
    update = _adagrad_update(active)
    start = time.perf_counter()
    while active:
        for t in active:
            t._batch(gens[t.slot], out=x[t.slot])
        bounds = type(trainers[0]).fused_step(stack, x, gens, cfg).tolist()  # (K,)
        for t in active:
            if not math.isfinite(bounds[t.slot]):
                t.failed = t.non_finite(f"training bound is {bounds[t.slot]}")
        stepped = [t for t in active if t.failed is None]
        if len(stepped) < len(active):
            update = _adagrad_update(stepped)
        update()
        for t in stepped:
            t.step, t.samples = t.step + 1, t.samples + cfg.batch_size
            totals[t.slot][0] += bounds[t.slot]
            totals[t.slot][1] += 1
            if bar is not None:
                bar.update(cfg.batch_size)
        still = [t for t in stepped if t.samples < to_samples]
        for t in set(active) - set(still):
            t.seconds += time.perf_counter() - start
        if len(still) < len(stepped):
            update = _adagrad_update(still)
        active = still
    for t in trainers:
        t.rng = {**t.rng, t.device.type: gens[t.slot].get_state()}
    return [-math.inf if t.failed else totals[t.slot][0] / max(totals[t.slot][1], 1) for t in trainers]
