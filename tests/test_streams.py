"""aevb.streams: the phase stream shows each phase's points ``passes`` times, each pass a fresh permutation, phase after
phase; the shuffled stream is passes of permutations of everything; the evaluation grid; and the reservoir keeps
every item offered with probability exactly R/n (checked over many seeds against the binomial's spread, worst item
as well as the mean, and on pairs), whatever the chunks the items come in."""
import math

import pytest
import torch

from aevb.streams import (
    Reservoir,
    evaluation_positions,
    phase_ends,
    phase_order,
    shuffled_order,
)

PHASES = ((0, 1), (2, 3), (4,))
Z_MAX = 4.5  # standard errors: the worst of a few hundred binomial counts stays within this


def labels(seed: int, n: int = 200) -> torch.Tensor:
    return torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(seed))  # (n,)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("passes", [1, 3])
def test_phase_order_shows_each_phase_passes_times_in_fresh_orders(seed, passes):
    y = labels(seed)
    order = phase_order(y, PHASES, passes, seed=seed)
    ends = phase_ends(y, PHASES, passes)
    assert len(order) == ends[-1] == passes * len(y)  # every point is in one phase
    start = 0
    for phase, end in zip(PHASES, ends):
        block = order[start:end]
        members = torch.nonzero(torch.isin(y, torch.tensor(phase)), as_tuple=True)[0]
        assert torch.isin(y[block], torch.tensor(phase)).all()  # only this phase's points, while it is current
        passes_of = block.reshape(passes, len(members))
        for p in passes_of:  # each pass: every member exactly once
            assert torch.equal(p.sort().values, members)
        if passes > 1:
            assert not torch.equal(passes_of[0], passes_of[1])  # a fresh order each pass
        start = end
    assert torch.equal(order, phase_order(y, PHASES, passes, seed=seed))  # seeded
    assert not torch.equal(order, phase_order(y, PHASES, passes, seed=seed + 10))


def test_phase_order_refuses_an_empty_phase_and_no_pass():
    y = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="phase \\(7,\\)"):
        phase_order(y, ((0, 1), (7,)), 1, seed=0)
    with pytest.raises(ValueError, match="passes=0"):
        phase_order(y, ((0, 1),), 0, seed=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_shuffled_order_is_passes_of_permutations(seed):
    order = shuffled_order(50, 4, seed)
    passes = order.reshape(4, 50)
    assert all(torch.equal(p.sort().values, torch.arange(50)) for p in passes)
    assert len({tuple(p.tolist()) for p in passes}) == 4


def test_evaluation_positions():
    ends = [1_070, 2_130, 3_000]
    grid = evaluation_positions(ends, 4, batch_size=100)
    assert [k for _, k in grid] == [0] * 4 + [1] * 4 + [2] * 4
    positions = [p for p, _ in grid]
    assert all(p % 100 == 0 for p in positions) and positions == sorted(positions)
    # equal shares of each phase, rounded up to whole minibatches: 267.5 -> 300, ..., 1070 -> 1100
    assert positions[:4] == [300, 600, 900, 1100]
    assert positions[4:8] == [1400, 1600, 1900, 2200]  # 1070 + 265, 530 (a whole minibatch), 795, 1060
    assert positions[-1] == 3_000
    assert evaluation_positions([1_050], 1, batch_size=100) == [(1_000, 0)]  # not past the last whole minibatch


def test_reservoir_holds_everything_until_it_is_full():
    r = Reservoir(5, seed=0)
    r.add(torch.tensor([3, 1, 4]))
    assert sorted(r.items) == [1, 3, 4] and r.seen == 3
    assert sorted(r.draw(10).tolist()) == [1, 3, 4]  # all of them, each once
    r.add(torch.tensor([5, 9]))
    assert sorted(r.items) == [1, 3, 4, 5, 9]
    r.add(torch.arange(100, 200))
    assert len(r) == 5 and r.seen == 105
    assert len(set(r.draw(3).tolist())) == 3 and set(r.draw(3).tolist()) <= set(r.items)
    with pytest.raises(ValueError, match="capacity=0"):
        Reservoir(0, seed=0)


def _z(count: float, trials: int, p: float) -> float:
    return (count - trials * p) / math.sqrt(trials * p * (1 - p))


@pytest.mark.parametrize("capacity,chunks", [(6, (4, 1, 10, 15)), (3, (30,)), (10, (2, 2, 2, 40, 1))])
def test_reservoir_keeps_every_item_with_probability_capacity_over_n(capacity, chunks):
    """Over S seeds, item i is kept ~ Binomial(S, R/n) for every i (and a pair ~ Binomial(S, R(R-1)/(n(n-1))):
    the kept set is a uniform subset, not only uniform in its marginals). Worst of all items within Z_MAX."""
    n, S = sum(chunks), 3000
    counts, pair = torch.zeros(n, dtype=torch.int64), 0
    for seed in range(S):
        r, start = Reservoir(capacity, seed=seed), 0
        for c in chunks:
            r.add(torch.arange(start, start + c))
            start += c
        assert len(r) == capacity and len(set(r.items)) == capacity
        counts[r.items] += 1
        pair += 0 in r.items and n - 1 in r.items
    p = capacity / n
    worst = max(abs(_z(c, S, p)) for c in counts.tolist())
    assert worst < Z_MAX, f"worst item {worst:.1f} standard errors from R/n"
    assert counts.sum().item() == S * capacity  # exactly R items each time
    assert abs(_z(pair, S, capacity * (capacity - 1) / (n * (n - 1)))) < Z_MAX  # the first and the last together


def test_the_uniformity_test_catches_a_reservoir_that_favours_late_items(monkeypatch):
    """A defect the test above must see: replacing with probability R/(t - 1) instead of R/t (an off-by-one)."""
    def biased_add(self, items):
        for item in items.tolist():
            self.seen += 1
            if len(self.items) < self.capacity:
                self.items.append(item)
            else:
                slot = int(torch.rand(1, generator=self.gen).item() * (self.seen - 1))
                if slot < self.capacity:
                    self.items[slot] = item

    monkeypatch.setattr(Reservoir, "add", biased_add)
    with pytest.raises(AssertionError, match="standard errors from R/n"):
        test_reservoir_keeps_every_item_with_probability_capacity_over_n(6, (4, 1, 10, 15))


def test_reservoir_draws_each_item_alike():
    r = Reservoir(8, seed=3)
    r.add(torch.arange(8))
    counts = torch.zeros(8)
    for _ in range(4000):
        counts[r.draw(3)] += 1
    worst = max(abs(_z(c, 4000, 3 / 8)) for c in counts.tolist())
    assert worst < Z_MAX
