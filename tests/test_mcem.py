"""Monte Carlo EM (aevb/learners/mcem.py, App. E): its E-step samples the exact posterior of a
linear-Gaussian model, its step size reaches the 90% acceptance App. E asks for, each minibatch makes 5
weight updates on the acquired samples, it improves its marginal likelihood on real data, and it resumes exactly; its
gradients written out (``TrainConfig.fused``) equal autograd's, and so does a training step taken with them."""
import dataclasses
from functools import partial

import pytest
import torch

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.estimators import log_joint
from aevb.experiments.runs import run
from aevb.hmc import log_prob_and_grad
from aevb.learners.fused.log_joint import log_joint_and_grad_z, neg_log_joint_and_grads
from aevb.learners.mcem import M_STEPS, TARGET_ACCEPT, MCEMTrainer
from aevb.linear_gaussian import LinearGaussian
from aevb.models import build_vae
from aevb.validation import ParameterError

SMALL = TrainConfig(algorithm="mcem", n_z=3, hidden=(50,), budget=20_000, n_train=500, lr=0.05,
                    marginal="hmc", marginal_points=50, per_decade=1, progress=False)


def _trainer(config=SMALL, x=None):
    x = load_split(config, "train", torch.device("cpu")) if x is None else x
    return MCEMTrainer(config, x, config.lr)


def test_has_no_encoder_and_starts_from_the_vaes_decoder():
    t = _trainer()
    assert not hasattr(t.model, "encoder")
    ref = build_vae("mnist", SMALL.n_z, SMALL.hidden, seed=SMALL.seed)
    for a, b in zip(t.model.decoder.parameters(), ref.decoder.parameters()):
        assert torch.equal(a, b)


def test_e_step_samples_the_exact_posterior_of_a_linear_gaussian_model():
    torch.manual_seed(0)
    lg = LinearGaussian.random(d_x=6, n_z=3, s=1.0, seed=1, dtype=torch.float32)
    _, x = lg.sample_joint(50)  # (50, 6)
    cfg = dataclasses.replace(SMALL, n_train=None, batch_size=50, fused=False)  # autograd: lg has no gradient by hand
    t = _trainer(cfg, x)
    t.model = lg  # the E-step only needs the model protocol: prior and log_likelihood
    idx = torch.arange(50)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(1)
        draws = []
        for i in range(1000):
            z = t.e_step(x, idx)
            if i >= 200:
                draws.append(z)
    draws = torch.stack(draws)  # (800, 50, 3)
    post = lg.posterior(x)
    sd = post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()  # (50, 3)
    # the draws are autocorrelated: judge the mean by its Monte Carlo standard error from 16 batch means
    means = draws.view(16, 50, 50, 3).mean(1)  # (16, 50, 3)
    se = means.std(0) / 16**0.5  # (50, 3)
    assert (se < 0.15 * sd).all()  # the check has power: errors of 0.15 posterior sd would be seen
    t_stat = (draws.mean(0) - post.mean) / se
    assert t_stat.abs().max() < 5 and t_stat.abs().mean() < 1.2, t_stat
    ratio = draws.std(0) / sd
    assert (ratio.mean() - 1).abs() < 0.05 and ((ratio - 1).abs() < 0.25).all()


@pytest.mark.parametrize("start", [2.0, 1e-3])
def test_step_size_reaches_the_target_acceptance_on_real_data(start):
    t = _trainer()
    t.step_size = torch.tensor(start)
    x, idx = t.x[:100], torch.arange(100)
    rates = []
    for i in range(250):
        t.e_step(x, idx)
        if i >= 150:
            rates.append(t.accept[idx].mean().item())
    mean_rate = sum(rates) / len(rates)
    assert abs(mean_rate - TARGET_ACCEPT) < 0.03, mean_rate


def test_each_minibatch_makes_m_steps_weight_updates_on_the_acquired_samples():
    """Watched through the optimizer's public step hook: before every update, the objective the update descends,
    −(1/M) Σ log p(x_i, z_i) at the chains' new states (the E-step comes first); after the last, once more."""
    t = _trainer()
    before = t.chains.clone()
    x = t.next_batch()
    idx = t.batch_index
    seen = []

    @torch.no_grad()
    def objective(*_):
        seen.append(-log_joint(t.model, x, t.chains[idx]).mean().item())

    hook = t.opt.register_step_pre_hook(objective)
    loss = t.train_step(x)
    hook.remove()
    updates = list(seen)
    objective()
    after = seen[-1]
    assert len(updates) == M_STEPS  # App. E: 5 updates per minibatch ...
    assert all(t.opt.state[p]["step"] == M_STEPS for p in t.model.parameters())  # ... of every weight
    assert loss == pytest.approx(sum(updates) / M_STEPS, abs=1e-4)  # what train_step reports: their mean
    assert after < updates[-1] < updates[0]  # on the same samples the objective improves update by update
    assert not torch.equal(t.chains[idx], before[idx])  # the chains of this minibatch moved ...
    rest = torch.ones(len(t.x), dtype=torch.bool)
    rest[idx] = False
    assert torch.equal(t.chains[rest], before[rest])  # ... and only those


def test_improves_its_marginal_likelihood_on_real_data():
    curve = run(SMALL).curve
    assert list(curve[0]) == ["samples", "seconds", "train_marginal", "test_marginal"]
    assert curve[-1]["train_marginal"] > curve[0]["train_marginal"] + 20
    assert curve[-1]["test_marginal"] > curve[0]["test_marginal"] + 15


def test_resumes_exactly(fused):
    config = dataclasses.replace(SMALL, fused=fused)
    x = load_split(config, "train", torch.device("cpu"))
    a = _trainer(config, x)
    a.advance(3000)
    b = _trainer(config, x)
    b.advance(1500)
    c = _trainer(config, x)
    c.load_state_dict(b.state_dict())
    c.advance(3000)
    assert torch.equal(a.chains, c.chains) and torch.equal(a.step_size, c.step_size)
    for p, q in zip(a.model.parameters(), c.model.parameters()):
        assert torch.equal(p, q)


def test_needs_a_marginal_likelihood_estimator(tmp_path):
    """A rule of the learner (``MCEMTrainer.check_config``), checked when its trainer is made and before a run
    writes anything."""
    for marginal in (None, "iwae"):
        config = dataclasses.replace(SMALL, marginal=marginal)  # each value valid on its own
        with pytest.raises(ParameterError, match=f"'marginal' = {marginal!r} is not allowed with "
                                                 "algorithm='mcem': Monte Carlo EM has no recognition model"):
            MCEMTrainer.check_config(config)
        with pytest.raises(ParameterError, match="no recognition model"):
            _trainer(config)
        with pytest.raises(ParameterError, match="no recognition model"):
            run(config, tmp_path / "run")
        assert not (tmp_path / "run").exists()
    for marginal in ("hmc", "ais"):
        MCEMTrainer.check_config(dataclasses.replace(SMALL, marginal=marginal))


@pytest.fixture
def float64():
    """torch's default dtype float64 for the test (models, chains and step size are made in it)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.mark.parametrize("dataset", ["mnist", "frey"])  # the Bernoulli and the Gaussian decoder
@pytest.mark.parametrize("hidden", [(100,), (20, 30), ()])
def test_written_out_gradients_equal_autograds(dataset, hidden, float64):
    """The fused path's ``log_joint_and_grad_z`` (HMC's target and ∇z) and ``neg_log_joint_and_grads`` (the
    M-step's objective and ∇θ) against autograd on ``log_joint``, in float64 on random instances: weights
    ~ N(0, 1/fan-in) and biases ~ N(0, 0.5²) (tanh units far from linear, logits and log-variances of order 1),
    x uniform on [0, 1], z ~ N(0, I). The values are hundreds to thousands of nats and the gradients of order 1 to
    hundreds, so the worst element's error below 1e-10 (it is ~1e-13) is float64 rounding, and any wrong term, sign,
    factor or head would miss by far more."""
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        model = build_vae(dataset, 3, hidden, seed, encoder=False)
        with torch.no_grad():
            for p in model.parameters():  # weights (out, in), biases (out,)
                p.copy_(torch.randn(p.shape, generator=g) * (p.shape[-1] ** -0.5 if p.dim() == 2 else 0.5))
        x = torch.rand(7, model.d_x, generator=g)  # (B, D)
        z = torch.randn(7, 3, generator=g)  # (B, Z)
        lp, grad = log_joint_and_grad_z(model, x, z)
        no_value, grad_alone = log_joint_and_grad_z(model, x, z, value=False)
        ref_lp, ref_grad = log_prob_and_grad(partial(log_joint, model, x), z)
        loss, grads = neg_log_joint_and_grads(model, x, z)
        ref_loss = -log_joint(model, x, z).mean()
        params = list(model.parameters())
        ref_grads = torch.autograd.grad(ref_loss, params)
        assert no_value is None and set(grads) == set(params)
        pairs = [(lp, ref_lp), (grad, ref_grad), (grad_alone, ref_grad), (loss, ref_loss.detach())]
        pairs += [(grads[p], r) for p, r in zip(params, ref_grads)]
        for a, b in pairs:
            assert a.shape == b.shape and a.dtype == torch.float64
        worst = max((a - b).abs().max().item() for a, b in pairs)
        assert worst < 1e-10, (seed, worst)
        assert ref_lp.abs().min() > 100 and ref_grad.abs().max() > 1  # the comparison is not between zeros


def test_a_written_out_training_step_equals_autograds(float64):
    """Three minibatch steps (each an E-step of one HMC transition and 5 Adagrad M-steps) with the gradients written
    out (``fused=True``) and through autograd (``fused=False``), in float64 from the same seed: the same random
    draws, so the same chains, acceptances, step size, weights and reported objective up to rounding (~1e-15).
    A different draw or a wrong gradient moves them by orders of magnitude more than 1e-10 (Adagrad is blind to
    the gradient's scale: that is ``test_written_out_gradients_equal_autograds``' to catch)."""
    x = load_split(SMALL, "train", torch.device("cpu")).double()
    ref, got = (_trainer(dataclasses.replace(SMALL, fused=fused), x) for fused in (False, True))
    ref_loss, got_loss = ref.advance(300), got.advance(300)
    assert abs(got_loss - ref_loss) < 1e-10 * abs(ref_loss)
    visited = ~torch.isnan(ref.accept)
    assert visited.sum() == 300 and torch.equal(visited, ~torch.isnan(got.accept))
    assert 0.2 < ref.accept[visited].mean() < 1  # the chains moved
    for a, b in [(got.chains, ref.chains), (got.accept[visited], ref.accept[visited]), (got.step_size, ref.step_size),
                 *zip(got.model.parameters(), ref.model.parameters())]:
        assert a.dtype == torch.float64
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
