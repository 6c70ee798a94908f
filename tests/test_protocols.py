"""The training protocols (``aevb.protocols``, ``TrainConfig.protocol``). Burda et al.'s (2015) preset: the staged
step-size schedule against its definition, Adam with their settings in the trainer, a run under it that repeats and
resumes exactly, the preset's study rows and commands, and settings that do not go together refused naming the
parameter. App. E's annealed reading: its schedule against its definition, every Fig. 3 algorithm under it, and the
study that trains Fig. 3 under it."""
import dataclasses
import json

import pytest
import torch

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.experiments.grids import APPE_BUDGET, BURDA_ROWS, figure_configs, memberships, run_name, study_configs
from aevb.experiments.runs import run as run_config
from aevb.experiments.runs import train_command
from aevb.learners import ALGORITHMS
from aevb.learners.aevb import Trainer
from aevb.learners.fused.group import FusedGroup, fused_key
from aevb.protocols import (ANNEAL_EVERY, ANNEAL_TENFOLD, BURDA_BUDGET, BURDA_PASSES, BURDA_SETTINGS, PROTOCOLS,
                            annealed_step_size, burda_config, passes_done, stage, stage_budget, stages_done, step_size)
from aevb.validation import PROTOCOL_NAMES, ParameterError

CPU = torch.device("cpu")
# Burda et al.'s optimiser on a tiny model: 40 training points in minibatches of 20, so 2 steps a pass
TINY = burda_config(n_z=2, hidden=(20,), budget=400, n_train=40, eval_train_points=40, eval_start=200,
                    progress=False)


def test_the_schedule_against_its_definition():
    """Stage i lasts 3^i passes at 0.001 · 10^(−i/7): the first pass at 1e-3, the next three at 10^(−1/7) of it,
    …, 3,280 passes in all; past them the last stage goes on."""
    expected = [i for i in range(8) for _ in range(3**i)]  # the stage of every pass, written out
    assert len(expected) == BURDA_PASSES == 3280
    assert [stage(p) for p in range(3280)] == expected
    assert stage(3280) == stage(10**6) == 7
    for p in (0, 1, 3, 4, 12, 13, 39, 40, 1092, 1093, 3279):
        assert step_size(1e-3, p) == pytest.approx(1e-3 * 10 ** (-expected[p] / 7), rel=1e-12)
    assert step_size(1e-3, 3279) == pytest.approx(1e-4, rel=1e-12)  # the last stage: a tenth of the first
    assert [stages_done(p) for p in (0, 1, 3, 4, 12, 13, 3279, 3280)] == [0, 1, 1, 2, 2, 3, 7, 8]
    assert stage_budget(3) == 13 * 60_000 and stage_budget(8) == BURDA_BUDGET == 196_800_000
    assert passes_done(780_000, 60_000, 20) == 13 and passes_done(799, 40, 20) == 19
    assert passes_done(100, 50, 20) == 2  # an epoch of 50 points in minibatches of 20 is two steps (40 samples)
    with pytest.raises(ValueError, match="stages 1 to 8"):
        stage_budget(9)


def test_each_protocol_is_an_object_the_trainer_asks():
    """``TrainConfig.protocol`` names an object (one per name) that gives the trainer its step size at a step, its loss
    scaling, its optimiser and whether the fused path's Adagrad update is its own; the trainer holds it and takes
    each from it (the values against their definitions, at steps inside and past a warm-up of 3 steps)."""
    assert tuple(PROTOCOLS) == PROTOCOL_NAMES and all(p.name == n for n, p in PROTOCOLS.items())
    paper, annealed, burda = PROTOCOLS["paper"], PROTOCOLS["annealed"], PROTOCOLS["burda"]
    for step in (0, 2, 3, 1500, 2500):  # n_train 40, M 20: 2 steps a pass; 1500 samples (M 20) are 30,000
        expected = 0.0 if step < 3 else 0.1
        assert paper.step_size(0.1, step, 3, 40, 20) == expected
        assert annealed.step_size(0.1, step, 3, 40, 20) == (0.0 if step < 3 else annealed_step_size(0.1, step * 20))
        assert burda.step_size(0.1, step, 3, 40, 20) == step_size(0.1, step // 2)  # no warm-up: §5's start only
    assert annealed.step_size(0.1, 5000, 3, 40, 20) == pytest.approx(0.1 * 10 ** (-0.01), rel=1e-12)  # 100,000
    loss = torch.tensor(2.5)
    assert paper.scale_loss(loss, 20) is loss and annealed.scale_loss(loss, 20) is loss
    assert burda.scale_loss(loss, 20).item() == 50.0  # the minibatch's sum
    assert (paper.fusable, annealed.fusable, burda.fusable) == (True, True, False)
    x = load_split(TINY, "train", CPU)
    t = Trainer(TINY, x, TINY.lr)
    assert t.protocol is burda and type(t.opt) is torch.optim.Adam
    assert type(paper.optimizer([{"params": [torch.zeros(2, requires_grad=True)]}], 0.1, CPU)) is torch.optim.Adagrad


def test_the_preset_is_their_setting():
    c = burda_config()
    assert (c.dataset, c.n_z, c.hidden, c.batch_size, c.binarize, c.lr, c.weight_decay, c.protocol) == (
        "mnist", 50, (200, 200), 20, "dynamic", 1e-3, False, "burda")
    assert c.budget == BURDA_BUDGET and c.n_train is None and c.k == 1 and c.posterior == "diagonal"
    assert burda_config(k=50).k == 50 and TrainConfig().protocol == "paper"


def test_the_trainer_takes_adam_and_the_stage_step_size():
    x = load_split(TINY, "train", CPU)
    t = Trainer(TINY, x, TINY.lr)
    assert type(t.opt) is torch.optim.Adam
    g = t.opt.param_groups[0]
    assert g["betas"] == (0.9, 0.999) and g["eps"] == 1e-4 and g["weight_decay"] == 0.0
    seen = []
    for to in range(20, 20 * 2 * 14 + 1, 20):  # one step at a time, through pass 13 (stage 3)
        t.advance(to)
        seen.append(t.opt.param_groups[0]["lr"])  # the step size of the step just taken
    passes = [s // 2 for s in range(len(seen))]  # two steps a pass
    assert seen == [pytest.approx(1e-3 * 10 ** (-stage(p) / 7), rel=1e-12) for p in passes]
    assert len(set(seen)) == 4  # stages 0, 1, 2 and 3 were reached
    assert not Trainer.fusable(TINY) and fused_key(Trainer, TINY) is None  # Adagrad's fused step does not apply


def _key(curve):
    return [(r["samples"], r["train_bound"], r["test_bound"]) for r in curve]


def test_their_initialisation():
    """Glorot & Bengio's uniform weights (every value inside ±√(6 / (fan_in + fan_out)), and spread over it: the
    variance of U(−a, a) is a²/3), zero biases, and the decoder's output bias at the mean pixel's log-odds."""
    x = load_split(TINY, "train", CPU)
    model = Trainer(TINY, x, TINY.lr).model
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            a = (6 / (m.in_features + m.out_features)) ** 0.5
            assert m.weight.abs().max() <= a and abs(m.weight.var().item() / (a * a / 3) - 1) < 0.2, name
            if name != "decoder.out":
                assert torch.equal(m.bias, torch.zeros_like(m.bias)), name
    p = x.mean(0).clamp(1e-3, 1 - 1e-3)
    torch.testing.assert_close(torch.sigmoid(model.decoder.out.bias), p, rtol=1e-5, atol=1e-6)
    again = Trainer(TINY, x, TINY.lr).model
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))  # seeded


def test_a_run_under_the_protocol_learns_repeats_and_resumes(tmp_path):
    """The run starts near the mean-pixel model (their output bias; §5's start scores 784 log ½ ≈ −543) and 100
    steps (50 passes, into stage 3) gain on it; the same seed gives the same curve; a run stopped mid-pass and
    mid-stage and extended gives the uninterrupted run's curve exactly (Adam's moments and the schedule's position
    are in the checkpoint)."""
    config = dataclasses.replace(TINY, budget=2000)
    full = run_config(config, tmp_path / "a")
    assert full.curve[-1]["samples"] == 2000
    assert full.curve[0]["train_bound"] > -200
    assert full.curve[-1]["train_bound"] > full.curve[0]["train_bound"] + 2  # it gained 3.3 nats
    assert _key(run_config(config).curve) == _key(full.curve)
    run_config(dataclasses.replace(config, budget=1020), tmp_path / "b")  # pass 25 (of stage 3), its second step
    extended = run_config(config, tmp_path / "b").curve
    assert [r for r in _key(extended) if r[0] != 1020] == _key(full.curve)


@pytest.mark.parametrize("change, message", [
    ({"lr": None}, "'lr' = None is not allowed with protocol='burda'"),
    ({"start": "anglepy"}, "'start' = 'anglepy' is not allowed with protocol='burda'"),
    ({"protocol": "adam"}, "'protocol' = 'adam' is not allowed"),
])
def test_bad_combinations_are_refused_naming_the_parameter(change, message):
    with pytest.raises(ParameterError, match=message):
        Trainer.check_config(dataclasses.replace(TINY, **change))


def test_other_algorithms_refuse_the_protocol():
    for algorithm in ("wake-sleep", "mcem", "full-vb"):
        config = dataclasses.replace(TINY, algorithm=algorithm, binarize="static",
                                     marginal="hmc" if algorithm == "mcem" else None)
        with pytest.raises(ParameterError, match=f"'algorithm' = '{algorithm}' is not allowed with protocol"):
            ALGORITHMS[algorithm].check_config(config)


def test_the_study_rows_share_one_schedule():
    configs = study_configs("burda", stage_budget(3))
    assert len(configs) == len(BURDA_ROWS) == 6
    names = [run_name(c) for c in configs]
    assert len(set(names)) == 6 and all("-burda" in n for n in names)
    assert names[0] == "mnist-aevb-z50-h200x200-nall-burda-bindynamic-s0"
    for c in configs:  # every row is the preset with one change, and one budget
        diff = {f: getattr(c, f) for f in BURDA_SETTINGS if getattr(c, f) != BURDA_SETTINGS[f]}
        assert diff in ({}, {"binarize": None}) and c.budget == 780_000
    assert {(c.k, c.posterior, c.binarize) for c in configs} == {
        (1, "diagonal", "dynamic"), (5, "diagonal", "dynamic"), (50, "diagonal", "dynamic"),
        (1, "full", "dynamic"), (1, "iaf", "dynamic"), (1, "diagonal", None)}


def test_commands_round_trip(tmp_path, cli):
    """``train_command`` of a preset run names ``--protocol burda`` and only what differs from the preset (the
    grey-level row: ``--binarize none``); run from the command line, it trains that config."""
    config = dataclasses.replace(TINY, binarize=None, k=3)
    cmd = train_command(config, tmp_path / "q")
    assert cmd.startswith("python -m aevb train --protocol burda ") and "--binarize none" in cmd and "--k 3" in cmd
    assert "--n-z 2" in cmd and "--batch-size" not in cmd and "--lr" not in cmd
    assert "--protocol" not in train_command(TrainConfig(), "out")
    out = cli(*cmd.split()[3:], "--no-progress")  # python -m aevb ...
    assert out.returncode == 0, out.stderr
    saved = TrainConfig.from_dict(json.loads((tmp_path / "q" / "config.json").read_text())["config"])
    assert saved == dataclasses.replace(config, eval_train_points=saved.eval_train_points,
                                        eval_start=saved.eval_start)


# --- App. E's annealed reading: Adagrad with an explicit schedule on its global step size -----------------------

# a tiny Fig. 3 model whose minibatches are big enough that the schedule's first steps down come within seconds
ANNEALED = TrainConfig(dataset="mnist", n_z=3, hidden=(20,), n_train=500, batch_size=500, lr=0.05, budget=1,
                       protocol="annealed", eval_train_points=100, progress=False)


def test_the_annealing_schedule_against_its_definition():
    """lr · 10^(−n/10^7) with n the samples rounded down to a multiple of 100,000: unchanged through §5's step-size
    search and the first 100,000 samples, a tenth after 10^7, a hundredth after 2·10^7; a function of the samples
    only (so a short run is a prefix of a long one)."""
    assert (ANNEAL_TENFOLD, ANNEAL_EVERY) == (10_000_000, 100_000)
    for lr in (0.01, 0.02, 0.1):
        assert annealed_step_size(lr, 0) == annealed_step_size(lr, 99_999) == lr
        assert annealed_step_size(lr, 50_000) == lr  # §5's search trains 50,000 samples: it sees no annealing
        for n in (100_000, 150_000, 5_000_000, 10_000_000, 10_099_999, 20_000_000, 60_000_000):
            stepped = n // 100_000 * 100_000
            assert annealed_step_size(lr, n) == pytest.approx(lr * 10 ** (-stepped / 1e7), rel=1e-12)
        assert annealed_step_size(lr, 10_000_000) == pytest.approx(lr / 10, rel=1e-12)
        assert annealed_step_size(lr, 20_000_000) == pytest.approx(lr / 100, rel=1e-12)
        steps = [annealed_step_size(lr, n) for n in range(0, 30_000_000, 100_000)]
        assert all(b < a for a, b in zip(steps, steps[1:]))  # lowered at every step of the schedule


@pytest.mark.parametrize("algorithm", ["aevb", "wake-sleep", "mcem"])
def test_an_annealed_run_is_the_paper_run_until_the_first_step_down(algorithm):
    """Under protocol="annealed" every algorithm of Fig. 3 takes Adagrad's steps at the schedule's step size: the
    same weights as under "paper" for the first 100,000 samples (the same draws, the same steps), then the step
    size lowered by 10^(−0.01) and the weights apart. AEVB and wake-sleep through the fused step, MCEM
    through its own."""
    config = dataclasses.replace(ANNEALED, algorithm=algorithm, marginal="hmc" if algorithm == "mcem" else None)
    trainer_cls = ALGORITHMS[algorithm]
    x = load_split(config, "train", CPU)
    paper, annealed = (trainer_cls(dataclasses.replace(config, protocol=p), x, config.lr)
                       for p in ("paper", "annealed"))
    assert trainer_cls.fusable(config) == (algorithm != "mcem") and type(annealed.opt) is torch.optim.Adagrad
    group = FusedGroup([paper, annealed])
    group.advance(ANNEAL_EVERY)
    assert annealed.opt.param_groups[0]["lr"] == paper.opt.param_groups[0]["lr"] == config.lr
    same = [torch.equal(a, b) for a, b in zip(paper.model.parameters(), annealed.model.parameters())]
    assert all(same)
    group.advance(ANNEAL_EVERY + 3 * config.batch_size)
    assert annealed.opt.param_groups[0]["lr"] == config.lr * 10 ** (-ANNEAL_EVERY / ANNEAL_TENFOLD)
    assert paper.opt.param_groups[0]["lr"] == config.lr
    assert not all(torch.equal(a, b) for a, b in zip(paper.model.parameters(), annealed.model.parameters()))


def test_the_annealing_study_is_fig3_under_the_schedule():
    """Study appe-anneal: Fig. 3's six runs, each under protocol="annealed" and nothing else changed, named apart
    from Fig. 3's runs and not counted as Fig. 3's."""
    configs, fig3 = study_configs("appe-anneal", APPE_BUDGET), figure_configs(3, APPE_BUDGET)
    assert APPE_BUDGET == ANNEAL_TENFOLD and len(configs) == len(fig3) == 6
    assert [dataclasses.replace(c, protocol="paper") for c in configs] == fig3
    names = [run_name(c) for c in configs]
    assert names[0] == "mnist-aevb-z3-h100-n1000-hmc-annealed-s0" and all(n.endswith("-annealed-s0") for n in names)
    assert all(memberships(c) == ["appe-anneal"] for c in configs)
    assert train_command(configs[0], "out").startswith("python -m aevb train --protocol annealed ")
