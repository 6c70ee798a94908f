"""Algorithm 1 run online, on a stream (§2: "Note that our method can be applied to online, non-stationary settings,
e.g. streaming data, but here we assume a fixed dataset for simplicity."): the trainer of ``aevb.learners.aevb``
whose minibatches come from a stream (``aevb.streams``) instead of epochs over a fixed set, optionally each with
as many points replayed from a reservoir of what the stream has shown; evaluated at fixed stream positions.

- ``OnlineTrainer``: ``Trainer`` with ``next_batch`` reading the stream: the step (``train_step``: estimator B,
  L = 1, eq. 8), the step size (``sync_lr``), §5's Adagrad and its N(0, I) prior on the parameters (weight decay
  1/N with N the training set's size, as for the paper's runs) and ``advance`` are the trainer's own. With a
  replay buffer (``replay`` > 0 images, ``aevb.streams.Reservoir``) each step trains on the new minibatch (M, D)
  and up to M points drawn from the buffer before the new ones enter it, (2M, D): the mean bound over both, twice
  the gradient work of a step; ``samples`` counts stream samples (M a step), the x-axis.
- ``evaluate_along``: advance a trainer through a list of stream positions, evaluating the model at each.
- ``group_bounds``: the average test bound (estimator B, L = 1, as ``Trainer.evaluate``'s) on groups of the test
  set (e.g. each phase's digits) and on all of it, under its own seed, so that evaluating does not change the
  training trajectory.
"""
from __future__ import annotations

import torch

from aevb.config import TrainConfig
from aevb.evaluation import per_point_bound
from aevb.learners.aevb import Trainer
from aevb.rng import seeded
from aevb.streams import Reservoir


class OnlineTrainer(Trainer):
    """Algorithm 1 on a stream: ``order`` (T,) the training set's indices in stream order, M of them a step (a last
    partial minibatch is not shown); ``replay`` the reservoir's capacity in images (0: none), its draws seeded by
    ``replay_seed``. The model, its start, the noise (``config.seed``) and the update are ``Trainer``'s."""

    def __init__(self, config: TrainConfig, x_train: torch.Tensor, lr: float, order: torch.Tensor,
                 replay: int = 0, replay_seed: int = 0):
        super().__init__(config, x_train, lr)
        if order.ndim != 1 or len(order) < config.batch_size:
            raise ValueError(f"order: a stream of at least one minibatch ({config.batch_size}) of indices, "
                             f"got shape {tuple(order.shape)}")
        self.order = order.to(self.device)
        self.reservoir = Reservoir(replay, replay_seed) if replay > 0 else None

    def next_batch(self, generator: torch.Generator | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """The stream's next M points (M, D), with replay also up to M drawn from the buffer, (M + m, D); the new
        points then enter the buffer. Raises ``IndexError`` past the stream's end."""
        M = self.config.batch_size
        if self.pos + M > len(self.order):
            raise IndexError(f"the stream ends after {len(self.order) // M * M} samples")
        new = self.order[self.pos: self.pos + M]  # (M,)
        self.pos += M
        if self.reservoir is not None:
            old = self.reservoir.draw(M).to(self.device)  # (m,), m <= M
            self.reservoir.add(new.cpu())
            new = torch.cat([new, old])  # (M + m,)
        self.batch_index = new
        return self.x[new]  # (M + m, D)


def evaluate_along(trainer: Trainer, positions: list[int], evaluate) -> list[dict]:
    """Advance ``trainer`` to each of ``positions`` (samples, increasing) in turn and call ``evaluate(model)`` (a
    dict) there; returns one row per position: samples, seconds (training wall time so far) and what it gave."""
    rows = []
    for p in positions:
        trainer.advance(p)
        trainer.check_finite()
        rows.append({"samples": trainer.samples, "seconds": trainer.seconds, **evaluate(trainer.model)})
    return rows


def group_bounds(model, x_test: torch.Tensor, groups: dict[str, torch.Tensor], seed: int) -> dict[str, float]:
    """The average bound (estimator B, L = 1) of ``model`` on each group of x_test (N, D) (name -> a boolean mask
    (N,)) and on all of x_test ("all"); one draw per test point, under ``seed`` (the caller's RNG untouched)."""
    with seeded(seed, x_test.device):
        bound = per_point_bound(model, x_test)  # (N,)
    return {**{name: bound[mask].mean().item() for name, mask in groups.items()}, "all": bound.mean().item()}
