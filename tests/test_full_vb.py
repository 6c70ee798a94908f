"""Full VB (aevb/learners/full_vb.py, App. F): decoder weights are draws θ = μ + σ ⊙ ζ from q_φ(θ) (moments
checked), the KL term equals the closed form of torch.distributions, with σ → 0 the estimator is AEVB's at θ = μ,
a training step's loss is −(eq. 24)/N written out from the paper with one θ per minibatch, training improves the
eq. 14 bound on real data, and a marginal likelihood is refused."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.distributions import DiagonalGaussian
from aevb.estimators import sgvb_b
from aevb.experiments.runs import load_model, run
from aevb.learners.full_vb import (FullVBTrainer, GaussianPosterior, kl_theta, make_bayesian, posterior_mean,
                                   posteriors)
from aevb.models import build_vae
from aevb.validation import ParameterError

SMALL = TrainConfig(algorithm="full-vb", n_z=3, hidden=(50,), budget=20_000, n_train=1000, lr=0.05,
                    eval_train_points=500, per_decade=1, progress=False)


def test_every_read_of_a_weight_is_a_draw_from_q_theta():
    model = build_vae("mnist", 3, (20,), seed=0)
    mu0 = model.decoder.out.weight.detach().clone()
    make_bayesian(model.decoder, log_var=2 * torch.log(torch.tensor(0.05)).item())
    pairs = posteriors(model.decoder)
    assert len(pairs) == 4  # weight and bias of both decoder layers
    q = model.decoder.out.parametrizations.weight[0]
    assert isinstance(q, GaussianPosterior)
    assert torch.equal(model.decoder.out.parametrizations.weight.original, mu0)  # μ starts at the §5 init
    with torch.no_grad():
        draws = torch.stack([model.decoder.out.weight for _ in range(2000)])  # (2000, 784, 20)
    z = (draws.mean(0) - mu0) / (0.05 / 2000**0.5)  # standardised error of the mean, ~N(0, 1) each
    assert z.abs().mean() < 0.85 and z.abs().max() < 6  # E|N(0,1)| = 0.80
    assert (draws.std(0).mean() / 0.05 - 1).abs() < 0.01
    with posterior_mean(model.decoder):
        assert torch.equal(model.decoder.out.weight, mu0)
    assert not torch.equal(model.decoder.out.weight, mu0)  # drawing again after the block


def test_kl_theta_is_the_closed_form():
    model = make_bayesian(build_vae("mnist", 3, (20,), seed=0).decoder)
    with torch.no_grad():
        for _, q in posteriors(model):
            q.log_var.uniform_(-8, 1)
    expected = sum(kl_divergence(Normal(mu, torch.exp(0.5 * q.log_var)), Normal(0.0, 1.0)).sum()
                   for mu, q in posteriors(model))
    assert torch.allclose(kl_theta(model), expected, rtol=1e-5)


def test_with_vanishing_sigma_the_estimator_is_aevbs_at_the_mean():
    vae = build_vae("mnist", 3, (20,), seed=0)
    bayes = make_bayesian(build_vae("mnist", 3, (20,), seed=0).decoder, log_var=-80.0)  # σ = e^-40
    x = torch.rand(30, 784)
    torch.manual_seed(5)
    a = sgvb_b(vae, vae.encoder, x)
    vae.decoder = bayes
    torch.manual_seed(5)
    with posterior_mean(bayes):  # same ε for z, and θ = μ exactly
        b = sgvb_b(vae, vae.encoder, x)
    torch.manual_seed(5)
    c = sgvb_b(vae, vae.encoder, x)  # θ drawn (after ε) with σ = e^-40: the same bound up to float error
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-4)


def test_a_training_step_ascends_eq24_over_n(monkeypatch):
    """train_step's loss is −(eq. 24)/N written out from the paper (App. B's KL for z and for θ, App. C's decoder at
    the θ drawn), with L = M: the M datapoints of the minibatch share one draw of θ, and θ's KL counts once."""
    config = dataclasses.replace(SMALL, hidden=(20,))
    x_train = load_split(config, "train", torch.device("cpu"))
    n, m = len(x_train), config.batch_size
    drawn, noise = {}, []  # GaussianPosterior -> the θ it drew in the step; the z drawn in the step
    draw, sample = GaussianPosterior.forward, DiagonalGaussian.rsample

    def recording_draw(q, mu):
        drawn.setdefault(q, []).append(draw(q, mu))
        return drawn[q][-1]

    def recording_sample(q, shape=()):
        noise.append(sample(q, shape))
        return noise[-1]

    monkeypatch.setattr(GaussianPosterior, "forward", recording_draw)
    monkeypatch.setattr(DiagonalGaussian, "rsample", recording_sample)
    errors = []
    for seed in range(4):
        t = FullVBTrainer(dataclasses.replace(config, seed=seed), x_train, 0.05)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # σ_θ spread over the range training visits; the values before the step moves them
            for _, q in posteriors(t.model.decoder):
                q.log_var.copy_(torch.empty_like(q.log_var).uniform_(-6, 0, generator=gen))
            x = x_train[torch.randperm(n, generator=gen)[:m]]  # (M, D)
            q_z = t.model.encoder(x)
            mu_z, log_var_z = q_z.mu.clone(), q_z.log_var.clone()  # (M, Z) each
            neg_kl_theta = sum(0.5 * (1 + q.log_var - mu**2 - q.log_var.exp()).sum()
                               for mu, q in posteriors(t.model.decoder)).item()
        drawn.clear(), noise.clear()
        loss = t.train_step(x)
        layers = [t.model.decoder.trunk[0], t.model.decoder.out]
        draws = [drawn[layer.parametrizations[name][0]] for layer in layers for name in ("weight", "bias")]
        assert [len(d) for d in draws] == [1] * 4 and len(noise) == 1  # one θ and one ε per step
        (w1, b1, w2, b2), z = [d[0] for d in draws], noise[0][0]  # z: (M, Z)
        with torch.no_grad():
            logits = torch.tanh(z @ w1.T + b1) @ w2.T + b2  # (M, D): eq. 11 at the drawn θ
            log_p = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(-1)  # (M,)
            neg_kl_z = 0.5 * (1 + log_var_z - mu_z**2 - log_var_z.exp()).sum(-1)  # (M,)
            eq24 = (n * (neg_kl_z + log_p)).mean() + neg_kl_theta  # θ's sum is the same for every l
        errors.append(abs(loss + eq24.item() / n) / abs(loss))
    assert max(errors) < 1e-5, errors

def test_improves_the_eq14_bound_and_loads_back(tmp_path):
    r = run(SMALL, tmp_path / "run")
    first, last = r.curve[0], r.curve[-1]
    assert list(first) == ["samples", "seconds", "train_bound", "test_bound", "kl_theta"]
    vb = lambda row: row["train_bound"] - row["kl_theta"]  # noqa: E731  L(φ; X) / N
    assert vb(last) > vb(first) + 20 and last["test_bound"] > first["test_bound"] + 20
    assert last["kl_theta"] < first["kl_theta"]  # σ_θ grows towards the prior where the data allow
    model = load_model(tmp_path / "run")
    assert len(posteriors(model.decoder)) == 4


def test_q_theta_has_no_weight_decay_the_encoder_keeps_it():
    t = FullVBTrainer(SMALL, load_split(SMALL, "train", torch.device("cpu")), 0.05)
    enc, dec = t.opt.param_groups
    assert enc["weight_decay"] == 1 / 1000 and dec["weight_decay"] == 0.0
    assert {id(p) for p in dec["params"]} == {id(p) for p in t.model.decoder.parameters()}


def test_marginal_likelihood_is_refused(tmp_path):
    """A rule of the learner (``FullVBTrainer.check_config``), checked when its trainer is made and before a run
    writes anything."""
    x = load_split(SMALL, "train", torch.device("cpu"))
    for marginal in ("hmc", "iwae", "ais"):
        config = dataclasses.replace(SMALL, marginal=marginal)  # each value valid on its own
        with pytest.raises(ParameterError, match=f"'marginal' = {marginal!r} is not allowed with "
                                                 "algorithm='full-vb'.*use marginal=None"):
            FullVBTrainer.check_config(config)
        with pytest.raises(ParameterError, match="full-vb"):
            FullVBTrainer(config, x, 0.05)
        with pytest.raises(ParameterError, match="full-vb"):
            run(config, tmp_path / "run")
        assert not (tmp_path / "run").exists()
    FullVBTrainer.check_config(SMALL)
