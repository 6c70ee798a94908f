"""Full VB (aevb/learners/full_vb.py, App. F): decoder weights are draws θ = μ + σ ⊙ ζ from q_φ(θ) (moments
checked), the KL term equals the closed form of torch.distributions, with σ → 0 the estimator is AEVB's at θ = μ,
training improves the eq. 14 bound on real data, and a marginal likelihood is refused."""
import dataclasses

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from aevb.config import TrainConfig
from aevb.data import load_split
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
