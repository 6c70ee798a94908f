"""Training with a richer posterior (``TrainConfig.posterior``: full covariance, IAF) and the IWAE objective
(``TrainConfig.k``, Burda et al. 2015) through the same trainer: the runs learn, repeat and resume exactly, a
richer family is evaluated by its ELBO (estimator A with its exact log q), the default stays the paper's path bit
for bit, and settings that do not go together are refused naming the parameter."""
import dataclasses
import json

import pytest
import torch

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.estimators import ESTIMATORS
from aevb.evaluation import log_marginal
from aevb.experiments.grids import run_name
from aevb.experiments.runs import run as run_config
from aevb.experiments.runs import train_command
from aevb.learners import ALGORITHMS
from aevb.learners.aevb import Trainer
from aevb.learners.families import FAMILIES, family_elbo, family_of
from aevb.learners.fused.group import fused_key
from aevb.models import VAE, GaussianEncoder, init_paper_
from aevb.objectives import elbo
from aevb.posteriors import FullCovarianceEncoder, IAFEncoder
from aevb.rng import seeded
from aevb.validation import MARGINAL_METHODS, POSTERIOR_FAMILIES, ParameterError

CPU = torch.device("cpu")
TINY = TrainConfig(n_z=2, hidden=(20,), budget=2000, n_train=200, lr=0.02, eval_train_points=200,
                   fused=False, progress=False)
RICHER = [("full", 1), ("full", 5), ("iaf", 1), ("iaf", 5)]
ENCODERS = {"diagonal": GaussianEncoder, "full": FullCovarianceEncoder, "iaf": IAFEncoder}


def _key(curve):
    return [(r["samples"], r["train_bound"], r["test_bound"]) for r in curve]


@pytest.fixture(scope="module")
def data():
    return load_split(TINY, "train", CPU), load_split(TINY, "test", CPU)


@pytest.mark.parametrize("posterior, k", RICHER)
def test_a_richer_run_learns_and_repeats(posterior, k, data):
    """A tiny run's train and test bounds improve on the untrained model's by a margin far above their Monte Carlo
    noise; the same seed gives the same curve exactly; the model trained has the family's encoder."""
    config = dataclasses.replace(TINY, posterior=posterior, k=k)
    x_train, x_test = data
    with seeded(config.seed + 2, CPU):  # as aevb.learners.fitting seeds an evaluation
        before = Trainer(config, x_train, lr=config.lr).evaluate(x_train[:200], x_test)
    result = run_config(config)
    assert type(result.model.encoder) is ENCODERS[posterior]
    after = result.curve[-1]
    assert after["samples"] == 2000
    for split in ("train_bound", "test_bound"):  # untrained ≈ 784 log ½ ≈ −543; 20 steps gained 208 to 316 nats
        assert after[split] > before[split] + 150, (split, before[split], after[split])
    assert _key(run_config(config).curve) == _key(result.curve)


@pytest.mark.parametrize("posterior, k", [("full", 5), ("iaf", 1)])
def test_a_longer_budget_extends_a_richer_run_exactly(posterior, k, tmp_path):
    config = dataclasses.replace(TINY, posterior=posterior, k=k, n_flows=3 if posterior == "iaf" else 2)
    run_config(dataclasses.replace(config, budget=1500), tmp_path / "a")
    extended = run_config(config, tmp_path / "a").curve
    straight = run_config(config, tmp_path / "b").curve
    assert [r for r in _key(extended) if r[0] != 1500] == _key(straight)  # 1500: the first run's final evaluation
    assert [r[0] for r in _key(straight)] == [1000, 1800, 2000]


@pytest.mark.parametrize("posterior", ["full", "iaf"])
def test_a_richer_model_is_evaluated_by_every_estimator_of_log_p(posterior, data):
    """App. D (chains started at the family's mean, a flow's center), the importance-weighted bound (the family's
    log q at its draws) and AIS all take a model with a richer encoder, and agree on its test points to within
    the estimators' errors on a tiny model (measured: within 0.6 nats of AIS on average)."""
    result = run_config(dataclasses.replace(TINY, posterior=posterior))
    x = data[1][:20]
    est = {m: log_marginal(result.model, x, m, k=500, n_chains=8, n_steps=200) for m in MARGINAL_METHODS}
    assert all(torch.isfinite(v).all() for v in est.values())
    for m in ("hmc", "iwae"):
        assert abs((est[m] - est["ais"]).mean()) < 1.5, (m, est[m].mean(), est["ais"].mean())
    with seeded(0, CPU):
        assert est["iwae"].mean() > family_elbo(result.model, result.model.encoder, x, 100).mean()  # k = 500 > 1


def test_k_greater_than_one_with_the_diagonal_posterior_learns(data):
    config = dataclasses.replace(TINY, k=5)
    x_train, x_test = data
    with seeded(config.seed + 2, CPU):
        before = Trainer(config, x_train, lr=config.lr).evaluate(x_train[:200], x_test)
    curve = run_config(config).curve
    assert curve[-1]["test_bound"] > before["test_bound"] + 150  # it gained 254 nats


@pytest.mark.parametrize("posterior, k", [("full", 1), ("iaf", 5)])
def test_a_richer_family_is_evaluated_by_its_elbo(posterior, k, data):
    """The curve's bound of a richer family is estimator A with the family's exact log q, L = 1, whatever k the
    training objective has: the same numbers as aevb.objectives.elbo from the same draws, and within Monte Carlo
    error of that ELBO averaged over many draws."""
    config = dataclasses.replace(TINY, posterior=posterior, k=k)
    x_train, x_test = data
    t = Trainer(config, x_train, lr=config.lr)
    t.advance(1000)
    with seeded(7, CPU):
        got = t.evaluate(x_train[:200], x_test)
    with seeded(7, CPU), torch.no_grad():
        want = [torch.cat([elbo(t.model, t.model.encoder, xb, 1) for xb in x.split(2000)]).mean().item()
                for x in (x_train[:200], x_test)]  # the train subset's draws come first
    assert [got["train_bound"], got["test_bound"]] == pytest.approx(want, rel=1e-6, abs=1e-6)
    with seeded(8, CPU), torch.no_grad():
        draws = torch.stack([family_elbo(t.model, t.model.encoder, x_test, 1) for _ in range(20)])  # (20, N)
    many, per_point = draws.mean().item(), draws.mean(0)  # per_point: (N,)
    se = (draws.std(0).pow(2).mean() / (len(x_test) * 20)).sqrt().item()  # the many-draw mean's noise
    se_got = (draws.std(0).pow(2).mean() / len(x_test)).sqrt().item()  # got's own: one draw per point
    assert abs(got["test_bound"] - many) < 5 * (se + se_got), (got["test_bound"], many, se, se_got)
    assert per_point.isfinite().all()


def test_the_default_is_the_papers_path_bit_for_bit(data):
    """The new fields at their defaults leave everything as before: the model built is §5's VAE drawn as before
    (the diagonal encoder first), the step is fusable, the curve equals that of the config written out in full,
    and the autograd step is estimator B's (one step equals a hand-written one from the same random state)."""
    x_train = data[0]
    spelled = dataclasses.replace(TINY, posterior="diagonal", n_flows=2, k=1)
    assert spelled == TINY and run_name(spelled) == run_name(TINY) and "-q" not in run_name(TINY)
    model = Trainer.build_model(TINY)
    before = init_paper_(VAE(784, 2, (20,)), generator=torch.Generator().manual_seed(TINY.seed))
    assert type(model.encoder) is GaussianEncoder
    for (n, a), (m, b) in zip(model.state_dict().items(), before.state_dict().items(), strict=True):
        assert n == m and torch.equal(a, b)
    fused = dataclasses.replace(TINY, fused=True)
    assert Trainer.fusable(fused) and fused_key(Trainer, fused) is not None
    assert _key(run_config(spelled).curve) == _key(run_config(TINY).curve)
    t = Trainer(TINY, x_train, lr=TINY.lr)
    ref = init_paper_(VAE(784, 2, (20,)), generator=torch.Generator().manual_seed(TINY.seed))
    x = x_train[:100]
    with seeded(3, CPU):
        loss = t.train_step(x)
    with seeded(3, CPU):
        want = -ESTIMATORS["B"](ref, ref.encoder, x, 1).mean().item()
    assert loss == want


def test_each_posterior_family_is_an_object_the_trainer_asks(data):
    """``TrainConfig.posterior`` names an object (one per name) that gives the trainer its encoder, its training
    bound and the bound its curve records; a trainer holds it and its model's encoder is the family's."""
    assert tuple(FAMILIES) == POSTERIOR_FAMILIES and all(f.name == n for n, f in FAMILIES.items())
    for name, cls in ENCODERS.items():
        config = dataclasses.replace(TINY, posterior=name)
        family = family_of(config)
        t = Trainer(config, data[0], 0.01)
        assert t.family is family and type(t.model.encoder) is cls
        assert family.fusable == (name == "diagonal")
        assert family.bound_estimator == ("B" if name == "diagonal" else family_elbo)
        x = data[0][:5]
        with seeded(3, CPU):
            got = family.objective(t.model, x, config)  # (5,)
        with seeded(3, CPU):
            ref = (ESTIMATORS["B"](t.model, t.model.encoder, x, 1) if name == "diagonal" else
                   elbo(t.model, t.model.encoder, x, 1))  # k = 1: estimator A with the family's exact log q
        assert got.shape == (5,)
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-4)  # other draws or estimators: nats apart


def test_richer_steps_are_not_fused():
    for posterior, k in [("full", 1), ("iaf", 1), ("diagonal", 5)]:
        config = dataclasses.replace(TINY, posterior=posterior, k=k, fused=True)
        assert not Trainer.fusable(config) and fused_key(Trainer, config) is None


@pytest.mark.parametrize("algorithm", ["wake-sleep", "mcem", "full-vb"])
def test_other_algorithms_refuse_a_richer_posterior_and_k(algorithm):
    base = dataclasses.replace(TINY, algorithm=algorithm, marginal="hmc" if algorithm == "mcem" else None)
    with pytest.raises(ParameterError, match=f"parameter 'posterior' = 'full' is not allowed with algorithm="
                                             f"'{algorithm}'"):
        ALGORITHMS[algorithm].check_config(dataclasses.replace(base, posterior="full"))
    with pytest.raises(ParameterError, match=f"parameter 'k' = 5 is not allowed with algorithm='{algorithm}'"):
        ALGORITHMS[algorithm].check_config(dataclasses.replace(base, k=5))
    ALGORITHMS[algorithm].check_config(base)  # the defaults stay allowed


@pytest.mark.parametrize("change, message", [
    ({"posterior": "flow"}, "parameter 'posterior' = 'flow' is not allowed: it must be one of"),
    ({"k": 0}, "parameter 'k' = 0 is not allowed: it must be a positive whole number"),
    ({"k": 2.5}, "parameter 'k' = 2.5 is not allowed"),
    ({"posterior": "iaf", "n_flows": 0}, "parameter 'n_flows' = 0 is not allowed"),
    ({"n_flows": 3}, "parameter 'n_flows' = 3 is not allowed with posterior='diagonal'"),
    ({"posterior": "full", "n_flows": 3}, "parameter 'n_flows' = 3 is not allowed with posterior='full'"),
])
def test_bad_values_are_refused_naming_the_parameter(change, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        dataclasses.replace(TINY, **change)


@pytest.mark.parametrize("change, message", [
    ({"k": 5, "n_samples": 2}, "parameter 'n_samples' = 2 is not allowed with k=5"),
    ({"posterior": "iaf", "n_samples": 2}, "parameter 'n_samples' = 2 is not allowed with posterior='iaf'"),
    ({"posterior": "full", "start": "anglepy"}, "parameter 'start' = 'anglepy' is not allowed with posterior"),
    ({"posterior": "iaf", "diagnostics": True}, "parameter 'diagnostics' = True is not allowed with posterior"),
    ({"posterior": "full", "marginal": "iwae"}, "parameter 'marginal' = 'iwae' is not allowed with posterior"),
])
def test_combinations_are_refused_naming_the_parameter(change, message, data):
    config = dataclasses.replace(TINY, **change)
    with pytest.raises(ParameterError, match=message):
        Trainer.check_config(config)
    with pytest.raises(ParameterError, match=message):
        Trainer(config, data[0], lr=0.02)


def test_names_commands_and_old_configs():
    assert run_name(dataclasses.replace(TINY, posterior="full")).endswith("-qfull-s0")
    assert run_name(dataclasses.replace(TINY, posterior="iaf", n_flows=4, k=5)).endswith("-qiaf4-k5-s0")
    assert run_name(dataclasses.replace(TINY, k=5)).endswith("-n200-k5-s0")
    cmd = train_command(dataclasses.replace(TINY, posterior="iaf", n_flows=3, k=5), "out")
    assert "--posterior iaf" in cmd and "--n-flows 3" in cmd and "--k 5" in cmd
    assert "--posterior" not in train_command(TINY, "out") and "--k" not in train_command(TINY, "out")
    old = {k: v for k, v in dataclasses.asdict(TINY).items() if k not in ("posterior", "n_flows", "k")}
    loaded = TrainConfig.from_dict(json.loads(json.dumps(old)))
    assert (loaded.posterior, loaded.n_flows, loaded.k) == ("diagonal", 2, 1) and loaded == TINY


def test_cli_flags(tmp_path, cli):
    args = ["train", "--n-z", "2", "--hidden", "20", "--budget", "1000", "--n-train", "200", "--lr", "0.02",
            "--no-progress"]
    ok = cli(*args, "--posterior", "iaf", "--n-flows", "1", "--k", "3", "--out", str(tmp_path / "q"))
    assert ok.returncode == 0, ok.stderr
    saved = json.loads((tmp_path / "q" / "config.json").read_text())["config"]
    assert (saved["posterior"], saved["n_flows"], saved["k"]) == ("iaf", 1, 3)
    bad = cli(*args, "--posterior", "flow", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--posterior = 'flow' is not allowed" in bad.stderr
    ws = cli(*args, "--algorithm", "wake-sleep", "--k", "5", "--out", str(tmp_path / "ws"))
    assert ws.returncode == 2 and "--k = 5 is not allowed with algorithm='wake-sleep'" in ws.stderr
