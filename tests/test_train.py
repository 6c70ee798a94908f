"""Algorithm 1 and the §5 protocol on small real subsets: it learns, it is deterministic, the budget
is counted in training samples, and a non-finite bound stops the run with the step named."""
import dataclasses

import pytest
import torch

from aevb.config import TrainConfig, eval_schedule
from aevb.data import load_split
from aevb.evaluation import average_bound
from aevb.learners import ALGORITHMS
from aevb.learners.aevb import NonFiniteError, Trainer
from aevb.learners.fitting import fit, select_lr
from aevb.learners.fused.group import FusedGroup
from aevb.learners.wake_sleep import WakeSleepTrainer
from aevb.models import build_vae

SMALL = TrainConfig(dataset="mnist", n_z=5, hidden=(50,), budget=20_000, n_train=1000, lr=0.1,
                    eval_train_points=500, progress=False)


def test_eval_schedule_is_a_budget_independent_log_grid():
    s = eval_schedule(1_000_000, 100, per_decade=4, start=1000)
    assert s[0] == 1000 and s[-1] == 1_000_000 and s == sorted(set(s))
    assert all(p % 100 == 0 for p in s) and len(s) == 13
    short = eval_schedule(100_000, 100, 4, 1000)
    assert s[: len(short)] == short  # a shorter run evaluates at a prefix of the same points
    assert eval_schedule(250, 100)[-1] == 300  # the budget is rounded up to whole minibatches


def test_eval_schedule_adds_a_budget_independent_linear_grid():
    """Fig. 3's runs are evaluated on its linear axis too: the multiples of ``every`` beside the log grid."""
    log = eval_schedule(20_000_000, 100)
    s = eval_schedule(20_000_000, 100, every=5_000_000)
    assert set(s) == set(log) | {5_000_000, 15_000_000} and s == sorted(s)  # 10^7 and the end already there
    short = eval_schedule(7_000_000, 100, every=5_000_000)
    assert s[: len(short) - 1] == short[:-1] and 5_000_000 in short  # a prefix of the same points
    assert eval_schedule(1_234_567, 100, every=500_050)[:-1] == sorted(
        set(eval_schedule(1_234_567, 100)[:-1]) | {500_100, 1_000_100})  # multiples rounded up to minibatches


def test_learns_and_counts_samples():
    r = fit(SMALL)
    first, last = r.curve[0], r.curve[-1]
    assert last["samples"] == 20_000 and first["samples"] == 1000
    x_test = load_split(SMALL, "test", torch.device("cpu"))
    untrained = average_bound(build_vae("mnist", 5, (50,), seed=0), x_test)  # about 784 log ½ = −543
    assert untrained < -500 and first["test_bound"] > untrained + 250
    assert last["train_bound"] > first["train_bound"] + 25 and last["test_bound"] > first["test_bound"] + 25
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(r.curve, r.curve[1:]))


def test_same_seed_same_curve_other_seed_other_curve():
    a = fit(dataclasses.replace(SMALL, budget=3000))
    b = fit(dataclasses.replace(SMALL, budget=3000))
    c = fit(dataclasses.replace(SMALL, budget=3000, seed=1))
    key = [(r["train_bound"], r["test_bound"]) for r in a.curve]
    assert key == [(r["train_bound"], r["test_bound"]) for r in b.curve]
    assert key != [(r["train_bound"], r["test_bound"]) for r in c.curve]


def test_short_run_is_a_prefix_of_a_long_run():
    short = fit(dataclasses.replace(SMALL, budget=3200))
    long = fit(dataclasses.replace(SMALL, budget=6000))
    for s, lo in zip(short.curve, long.curve):
        assert (s["samples"], s["train_bound"], s["test_bound"]) == (lo["samples"], lo["train_bound"], lo["test_bound"])


def test_frey_face_gaussian_decoder_trains():
    cfg = TrainConfig(dataset="frey", n_z=2, hidden=(50,), budget=10_000, lr=0.02, progress=False)
    r = fit(cfg)
    assert r.curve[-1]["train_bound"] > r.curve[0]["train_bound"]


def test_lr_search_picks_the_best_candidate():
    cfg = dataclasses.replace(SMALL, lr=None, lr_candidates=(0.001, 0.1), lr_search_samples=4000)
    lr, scores = select_lr(cfg, load_split(cfg, "train", torch.device("cpu")))
    assert set(scores) == {0.001, 0.1} and lr == max(scores, key=scores.get) == 0.1


def test_lr_search_survives_a_diverging_candidate():
    cfg = dataclasses.replace(SMALL, lr=None, lr_candidates=(1e6, 0.1), lr_search_samples=4000)
    lr, scores = select_lr(cfg, load_split(cfg, "train", torch.device("cpu")))
    assert lr == 0.1 and scores[1e6] == float("-inf")


def test_nan_stops_the_run_naming_the_step(nan_in_mnist, fused):
    """A training image with a NaN pixel (a damaged cache of the decoded images: the data files still verify)
    that the minibatch order first draws at step 4: that step's bound is NaN, and the run stops there, before
    its update, naming the step, on either step path."""
    config = dataclasses.replace(SMALL, budget=2000, fused=fused)
    nan_in_mnist(config, step=4)
    with pytest.raises(NonFiniteError, match="^training bound is nan at step 4 \\(after 400 training samples\\)$"):
        fit(config)


def test_sizes_that_do_not_fit_the_data_are_clear_errors():
    with pytest.raises(ValueError, match="'n_train' = 60000 is not allowed.*50000 points"):
        fit(dataclasses.replace(SMALL, n_train=60_000))
    with pytest.raises(ValueError, match="'batch_size' = 2000 is not allowed.*training points \\(1000\\)"):
        fit(dataclasses.replace(SMALL, batch_size=2000))


def test_fit_trains_the_algorithm_of_the_config():
    """fit(config) trains ``ALGORITHMS[config.algorithm]`` unless told otherwise: a wake-sleep config gives
    wake-sleep's curve, not AEVB's."""
    config = dataclasses.replace(SMALL, algorithm="wake-sleep", budget=1000)
    key = lambda r: [(row["samples"], row["train_bound"], row["test_bound"]) for row in r.curve]  # noqa: E731
    assert key(fit(config)) == key(fit(config, WakeSleepTrainer)) != key(fit(config, Trainer))


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="'device' = 'tpu'"):
        fit(dataclasses.replace(SMALL, device="tpu"))


@pytest.mark.parametrize("algorithm", ["aevb", "wake-sleep"])
def test_the_anglepy_start_moves_nothing_during_its_warm_up_then_trains_as_fused_as_autograd(algorithm):
    """start="anglepy" (aevb.config.START_WARMUP): the encoder's log-variance head starts at zero, the first 101
    steps only accumulate Adagrad's squared gradients (every weight where it started), and then training moves;
    the fused path and autograd take the same steps (up to float rounding, which Adagrad amplifies
    within tens of steps at step size 0.1: compared 2 steps after the warm-up)."""
    cfg = dataclasses.replace(SMALL, algorithm=algorithm, start="anglepy")
    x = load_split(cfg, "train", torch.device("cpu"))
    cls = ALGORITHMS[algorithm]
    auto, fused = cls(dataclasses.replace(cfg, fused=False), x, 0.1), cls(cfg, x, 0.1)
    assert all((p == 0).all() for p in auto.model.encoder.log_var.parameters())
    start = [p.clone() for p in auto.model.parameters()]
    lock = FusedGroup([auto, fused])  # auto alone (fused=False), fused in a group of one
    lock.advance(101 * cfg.batch_size)
    assert all(torch.equal(a, b) for a, b in zip(start, auto.model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(start, fused.model.parameters()))
    assert all(s["sum"].abs().sum() > 0 for s in auto.opt.state.values())  # ... while Adagrad's sums grew
    lock.advance(103 * cfg.batch_size)
    assert not all(torch.equal(a, b) for a, b in zip(start, auto.model.parameters()))
    for a, b in zip(auto.model.parameters(), fused.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


def test_diagnostics_record_active_units_and_kl_per_dimension():
    """diagnostics=True adds active_units and kl_z1 … kl_zZ to the curve; at the start (q near the prior, mean
    near 0 for every x) no unit is active, after training some are and their KL is well above 0."""
    r = fit(dataclasses.replace(SMALL, diagnostics=True, budget=10_000))
    first, last = r.curve[0], r.curve[-1]
    assert {"active_units", "kl_z1", "kl_z5"} <= set(last)
    assert 0 <= first["active_units"] <= 5 and last["active_units"] >= 1
    assert max(last[f"kl_z{j}"] for j in range(1, 6)) > 0.5
