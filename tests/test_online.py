"""aevb.learners.online: the online trainer takes exactly Trainer's steps on the stream's minibatches (checked against
``Trainer.train_step`` called by hand on the same minibatches, parameters equal to the bit), replays only points the
stream has already shown, as many as are new once the buffer allows, counts stream samples; evaluating along the
way changes nothing of the training; ``group_bounds`` is the per-point bound averaged by group, under its own seed."""
import pytest
import torch

from aevb.config import TrainConfig
from aevb.evaluation import per_point_bound
from aevb.learners.aevb import Trainer
from aevb.learners.online import OnlineTrainer, evaluate_along, group_bounds
from aevb.rng import forked_rng, seeded, set_rng_state
from aevb.streams import shuffled_order

M, N = 10, 120


def config(seed: int) -> TrainConfig:
    return TrainConfig(n_z=2, hidden=(8,), batch_size=M, seed=seed, lr=0.05, fused=False, progress=False)


def data(seed: int) -> torch.Tensor:
    with seeded(100 + seed):
        return (torch.rand(N, 784) < 0.3).float()  # (N, D) binary images


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_online_steps_are_trainers_steps_on_the_streams_minibatches(seed):
    x, order = data(seed), shuffled_order(N, 2, seed + 7)[: 17 * M]  # (17 M,): 17 steps
    online = OnlineTrainer(config(seed), x, 0.05, order)
    online.advance(17 * M)
    ref = Trainer(config(seed), x, 0.05)  # the same start and noise, its steps called by hand
    with forked_rng():
        set_rng_state(ref.rng, torch.device("cpu"))
        for i in range(17):
            ref.sync_lr()
            ref.train_step(x[order[i * M: (i + 1) * M]])
    assert online.samples == 17 * M and online.step == 17
    for a, b in zip(params(online.model), params(ref.model)):
        assert torch.equal(a, b)
    with pytest.raises(IndexError, match="the stream ends after 170 samples"):
        online.advance(18 * M)


@pytest.mark.parametrize("seed", [0, 1])
def test_replay_draws_only_what_the_stream_has_shown(seed):
    x, order = data(seed), shuffled_order(N, 1, seed)  # (N,)
    online = OnlineTrainer(config(seed), x, 0.05, order, replay=25, replay_seed=seed)
    shown: list[int] = []
    for step in range(N // M):
        batch = online.next_batch()
        new, old = online.batch_index[:M], online.batch_index[M:]
        assert torch.equal(new, order[step * M: (step + 1) * M])
        assert len(old) == min(M, len(shown), 25) and set(old.tolist()) <= set(shown)  # none of this step's
        assert len(set(old.tolist())) == len(old)  # drawn without replacement
        assert torch.equal(batch, x[online.batch_index])  # (M + m, D)
        shown += new.tolist()
    assert len(online.reservoir) == 25 and online.reservoir.seen == N


def test_a_replay_step_is_one_step_on_both_minibatches_counting_stream_samples():
    x, order = data(0), shuffled_order(N, 1, 0)
    online = OnlineTrainer(config(0), x, 0.05, order, replay=50, replay_seed=3)
    online.advance(3 * M)
    assert online.samples == 3 * M and online.step == 3 and len(online.batch_index) == 2 * M


@pytest.mark.parametrize("replay", [0, 30])
def test_evaluating_along_the_stream_changes_no_training(replay):
    x, xt = data(0), data(1)[:40]
    order = shuffled_order(N, 2, 5)
    groups = {"first": torch.arange(40) < 15}
    a = OnlineTrainer(config(0), x, 0.05, order, replay=replay, replay_seed=1)
    rows = evaluate_along(a, [3 * M, 7 * M, 2 * N], lambda model: group_bounds(model, xt, groups, seed=2))
    b = OnlineTrainer(config(0), x, 0.05, order, replay=replay, replay_seed=1)
    b.advance(2 * N)
    for p, q in zip(params(a.model), params(b.model)):
        assert torch.equal(p, q)
    assert [r["samples"] for r in rows] == [3 * M, 7 * M, 2 * N] and rows[0]["first"] != rows[-1]["first"]


@pytest.mark.parametrize("seed", [0, 1])
def test_group_bounds_average_the_per_point_bound_by_group(seed):
    model = Trainer(config(seed), data(seed), 0.05).model
    xt = data(seed + 5)[:60]
    groups = {"a": torch.arange(60) % 3 == 0, "b": torch.arange(60) >= 50}
    before = torch.get_rng_state()
    out = group_bounds(model, xt, groups, seed=11)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's RNG untouched
    with seeded(11):
        want = per_point_bound(model, xt)  # (60,)
    for name, mask in groups.items():
        assert out[name] == pytest.approx(want[mask].mean().item(), abs=1e-5)
    assert out["all"] == pytest.approx(want.mean().item(), abs=1e-5)
    assert out == group_bounds(model, xt, groups, seed=11) and out != group_bounds(model, xt, groups, seed=12)


def test_a_stream_shorter_than_a_minibatch_is_refused():
    with pytest.raises(ValueError, match="at least one minibatch"):
        OnlineTrainer(config(0), data(0), 0.05, torch.arange(5))
