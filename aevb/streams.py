"""Streams of training data for Algorithm 1 run online (§2: "Note that our method can be applied to online,
non-stationary settings, e.g. streaming data, but here we assume a fixed dataset for simplicity."), and the
replay buffer that keeps a uniform sample of what a stream has shown.

- ``phase_order``: a non-stationary stream: the training points in phases (e.g. two MNIST digit classes each),
  each phase's points in a fresh seeded random order on each of its ``passes``, phase after phase;
  ``passes = 1`` is the strict stream, every point shown exactly once.
- ``shuffled_order``: the paper's stationary setting as a stream of the same length: passes over the whole
  training set, each in a fresh seeded random order (what ``aevb.learners.aevb.Trainer.next_batch`` draws).
- ``phase_ends`` and ``evaluation_positions``: where each phase ends in the stream, and a fixed grid of stream
  positions (samples, multiples of the minibatch size), a given number in each phase.
- ``Reservoir``: reservoir sampling (Vitter 1985, Algorithm R): after n items offered, each of them is in the
  buffer of capacity R with probability exactly min(1, R/n), whatever the order they came in.

Streams are index tensors into the training set, so that they cost no copy of the images; every random path
takes a seed (a ``torch.Generator`` of its own, so nothing else's randomness moves).
"""
from __future__ import annotations

import torch


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def phase_order(labels: torch.Tensor, phases: tuple[tuple[int, ...], ...], passes: int, seed: int) -> torch.Tensor:
    """The non-stationary stream: for each phase (a tuple of labels), ``passes`` passes over the points whose
    label is in it, each pass in a fresh random order (seeded by ``seed``), phase after phase. labels: (N,) ->
    (passes · points in the phases,) indices into the training set."""
    if passes < 1:
        raise ValueError(f"passes={passes}: a phase is shown at least once")
    gen, out = _generator(seed), []
    for phase in phases:
        members = torch.nonzero(torch.isin(labels, torch.tensor(phase)), as_tuple=True)[0]  # (n_k,)
        if len(members) == 0:
            raise ValueError(f"phase {phase}: no training point has one of these labels")
        out += [members[torch.randperm(len(members), generator=gen)] for _ in range(passes)]  # (n_k,) each
    return torch.cat(out)  # (T,)


def shuffled_order(n: int, passes: int, seed: int) -> torch.Tensor:
    """The stationary stream of the paper's setting: ``passes`` passes over all n points, each a fresh random
    order (seeded by ``seed``). -> (passes · n,) indices."""
    gen = _generator(seed)
    return torch.cat([torch.randperm(n, generator=gen) for _ in range(passes)])  # (passes · n,)


def phase_ends(labels: torch.Tensor, phases: tuple[tuple[int, ...], ...], passes: int) -> list[int]:
    """Where each phase of ``phase_order`` ends: the stream positions (samples shown) after its last point."""
    sizes = [passes * int(torch.isin(labels, torch.tensor(p)).sum()) for p in phases]
    return [sum(sizes[: k + 1]) for k in range(len(sizes))]


def evaluation_positions(ends: list[int], per_phase: int, batch_size: int) -> list[tuple[int, int]]:
    """A fixed grid of stream positions, as (position in samples, its phase: 0, 1, …): in each phase (from the
    previous end to its own, ``ends``), ``per_phase`` positions at equal shares of it, j / per_phase for
    j = 1 … per_phase, each rounded up to a whole number of minibatches of ``batch_size`` (so a phase's last
    position is its end, or the step whose minibatch holds its last points and the first of the next phase) and
    at most the stream's whole minibatches."""
    last = ends[-1] // batch_size * batch_size
    out, start = [], 0
    for k, end in enumerate(ends):
        for j in range(1, per_phase + 1):
            at = start + (end - start) * j // per_phase
            out.append((min(last, -(-at // batch_size) * batch_size), k))
        start = end
    return out


class Reservoir:
    """A uniform sample of capacity ``capacity`` over everything offered so far (Algorithm R, Vitter 1985): the
    first ``capacity`` items fill it; the t-th item after them (t > capacity, counted from 1) replaces a uniform
    slot with probability capacity / t, else is dropped. ``draw(m)``: m of its items, uniformly without
    replacement (all of them where it holds fewer). Items are integers (indices into a training set)."""

    def __init__(self, capacity: int, seed: int):
        if capacity < 1:
            raise ValueError(f"capacity={capacity}: a reservoir holds at least one item")
        self.capacity, self.seen, self.items = capacity, 0, []
        self.gen = _generator(seed)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, items: torch.Tensor) -> None:
        """Offer ``items`` (k,) in order."""
        t = self.seen + 1 + torch.arange(len(items), dtype=torch.float64)  # (k,) each item's count from 1
        slots = (torch.rand(len(items), generator=self.gen, dtype=torch.float64) * t).floor().long()  # (k,) U{0..t-1}
        for item, slot in zip(items.tolist(), slots.tolist()):
            if len(self.items) < self.capacity:
                self.items.append(item)
            elif slot < self.capacity:
                self.items[slot] = item
        self.seen += len(items)

    def draw(self, m: int) -> torch.Tensor:
        """min(m, len(self)) of the buffer's items, uniformly without replacement. -> (min(m, len),)"""
        pick = torch.randperm(len(self.items), generator=self.gen)[:m]  # (min(m, len),)
        return torch.tensor(self.items, dtype=torch.long)[pick]
