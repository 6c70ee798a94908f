"""K trainers advanced together, the fused path's one place of grouping: a ``FusedGroup`` owns K trainers, decides
by one key (``fused_key``) which of them share one ``FusedVAE`` (their weights stacked), advances them all to a
sample count, and isolates a member that fails (its error is kept, the others go on).

Trainers with one key take each minibatch step together: one fused step (``aevb.learners.fused.steps``) for all of
them, then each its own Adagrad update. Every trainer keeps its own minibatches, noise (a ``torch.Generator`` from
its RNG state), step size and optimizer state, so it follows the trajectory it would follow alone, to float
rounding; what is shared is the arithmetic. A trainer without a key (its algorithm has no fused step for its
settings, or ``TrainConfig.fused`` is off) advances alone through autograd (``Trainer.advance``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch.optim.adagrad import adagrad

from aevb.config import TrainConfig, seedless
from aevb.learners.aevb import NonFiniteError
from aevb.learners.fused.blocks import FusedVAE
from aevb.learners.fused.steps import fused_step_of


def fused_key(trainer_cls: type, config: TrainConfig) -> tuple | None:
    """The one key of the fused path: trainers of ``trainer_cls`` whose configs have one key share one ``FusedVAE``
    (the same algorithm and settings up to seed and step size, so the same model shape, minibatch size, L and
    device); None where the step is autograd's (the algorithm has no fused step for ``config``, or ``fused`` is
    off)."""
    return (trainer_cls, seedless(config)) if config.fused and trainer_cls.fusable(config) else None


@dataclass
class MinibatchWorkspace:
    """The minibatches of a ``FusedVAE``'s models, drawn into one buffer at every step."""

    x: torch.Tensor  # (K, M, D)

    @classmethod
    def allocate(cls, vae: FusedVAE, K: int, M: int, D: int) -> "MinibatchWorkspace":
        return cls(x=vae.empty(K, M, D))


HYPER = ("lr", "weight_decay", "lr_decay", "eps", "maximize", "fused", "foreach")  # an Adagrad group's settings


def _adagrad_update(trainers: list, vae: FusedVAE):
    """The optimizer steps of ``trainers`` of ``vae``: Adagrad in its functional form on their parameters, with
    their gradients from ``vae.grads`` and each optimizer's own state (so checkpoints do not change); one call per
    set of settings (the models of one step size share one multi-tensor update, a few kernels on a GPU)."""
    calls: dict[tuple, tuple] = {}
    for t in trainers:
        for g in t.opt.param_groups:
            params, grads, sums, steps = calls.setdefault(tuple(g[k] for k in HYPER), ([], [], [], []))
            for p in g["params"]:
                params.append(p)
                grads.append(vae.grads[p])
                sums.append(t.opt.state[p]["sum"])
                steps.append(t.opt.state[p]["step"])

    def update():
        for hyper, lists in calls.items():
            adagrad(*lists, **dict(zip(HYPER, hyper)))
    return update


class FusedGroup:
    """K trainers advanced together: ``advance(to_samples)`` trains every member that has not failed up to
    ``to_samples``; ``errors[i]`` is the ``NonFiniteError`` that stopped member i (None while it trains), set
    by a step or by ``fail`` (e.g. an evaluation that went non-finite)."""

    def __init__(self, trainers: list):
        self.trainers = list(trainers)
        self.errors: list[NonFiniteError | None] = [None] * len(self.trainers)
        groups: dict = {}
        for i, t in enumerate(self.trainers):
            key = fused_key(type(t), t.config)
            groups.setdefault(("alone", i) if key is None else key, []).append(i)
        self.fused: list[tuple[FusedVAE, list[int]]] = []  # (a FusedVAE, its members): the fused members
        self.alone: list[int] = []  # members trained through autograd
        for key, members in groups.items():
            if key[0] == "alone":
                self.alone += members
            else:
                self.fused.append((FusedVAE([self.trainers[i].model for i in members]), members))

    def fail(self, i: int, error: NonFiniteError) -> None:
        """Stop member i with ``error``."""
        self.errors[i] = error

    def advance(self, to_samples: int, bar=None) -> list[float]:
        """Train every member until ``samples >= to_samples``; returns each one's mean minibatch bound over these
        steps (−inf for a member that failed, now or before)."""
        means = [-math.inf] * len(self.trainers)
        for i in self.alone:
            if self.errors[i] is None:
                try:
                    means[i] = self.trainers[i].advance(to_samples, bar)
                except NonFiniteError as e:
                    self.errors[i] = e
        for vae, members in self.fused:
            for i, m in zip(members, self._advance_fused(vae, members, to_samples, bar)):
                means[i] = m
        return means

    @torch.no_grad()
    def _advance_fused(self, vae: FusedVAE, members: list[int], to_samples: int, bar) -> list[float]:
        """Per minibatch, one fused step (``fused_step_of`` their trainer class) for all members of ``vae``, then
        their Adagrad updates; a member whose bound goes NaN or inf stops there, its update not applied."""
        trainers = [self.trainers[i] for i in members]
        t0, cfg = trainers[0], trainers[0].config
        step = fused_step_of(type(t0))
        x = vae.workspace(MinibatchWorkspace, vae.k, cfg.batch_size, t0.x.shape[1]).x  # (K, M, D)
        active = [k for k, i in enumerate(members) if self.errors[i] is None and trainers[k].samples < to_samples]
        gens = [torch.Generator(t0.device) for _ in trainers]  # a member not advancing draws from a spare one
        for k in active:
            gens[k].set_state(trainers[k].rng[t0.device.type])

        def leave(k):  # member k stops advancing: keep its generator's state, give its slot a spare one
            trainers[k].rng = {**trainers[k].rng, t0.device.type: gens[k].get_state()}
            gens[k] = torch.Generator(t0.device)

        totals = [[0.0, 0] for _ in trainers]
        update = _adagrad_update([trainers[k] for k in active], vae)
        start = time.perf_counter()
        while active:
            if any([trainers[k].sync_lr() for k in active]):  # a warm-up began or ended: the step sizes changed
                update = _adagrad_update([trainers[k] for k in active], vae)
            for k in active:
                trainers[k].next_batch(gens[k], out=x[k])
            bounds = step(vae, x, gens, cfg).tolist()  # (K,)
            stepped = []
            for k in active:
                if math.isfinite(bounds[k]):
                    stepped.append(k)
                else:
                    self.errors[members[k]] = trainers[k].non_finite(f"training bound is {bounds[k]}")
                    trainers[k].seconds += time.perf_counter() - start
                    leave(k)
            if len(stepped) < len(active):
                update = _adagrad_update([trainers[k] for k in stepped], vae)
            update()
            for k in stepped:
                t = trainers[k]
                t.step, t.samples = t.step + 1, t.samples + cfg.batch_size
                totals[k][0] += bounds[k]
                totals[k][1] += 1
                if bar is not None:
                    bar.update(cfg.batch_size)
            still = [k for k in stepped if trainers[k].samples < to_samples]
            for k in set(stepped) - set(still):
                trainers[k].seconds += time.perf_counter() - start
                leave(k)
            if len(still) < len(stepped):
                update = _adagrad_update([trainers[k] for k in still], vae)
            active = still
        return [-math.inf if self.errors[i] else totals[k][0] / max(totals[k][1], 1) for k, i in enumerate(members)]
