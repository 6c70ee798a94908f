"""The VAE of §3 / App. C: the model protocol, the likelihoods against torch.distributions, and the
§5 initialisation."""
import math

import pytest
import torch

from aevb.distributions import DiagonalGaussian, StandardNormal
from aevb.models import INIT_STD, VAE, build_vae


@pytest.mark.parametrize("lik,d_x", [("bernoulli", 784), ("gaussian", 560)])
def test_protocol_shapes(lik, d_x):
    model = VAE(d_x, 5, (30, 20), lik)
    x = torch.rand(4, d_x)
    q = model.encoder(x)
    assert isinstance(q, DiagonalGaussian) and q.batch_shape == (4,) and q.event_shape == (5,)
    assert isinstance(model.prior, StandardNormal) and model.prior.event_shape == (5,)
    z = q.rsample((3,))
    assert z.shape == (3, 4, 5) and z.requires_grad  # reparameterized
    assert model.log_likelihood(x, z).shape == (3, 4)
    assert model.log_likelihood(x, z[0]).shape == (4,)
    assert model.decode(z).shape == (3, 4, d_x)
    assert model.sample(6).shape == (6, d_x)


def test_bernoulli_likelihood_matches_eq11():
    model = VAE(10, 3, (8,), "bernoulli")
    x, z = torch.rand(4, 10), torch.randn(2, 4, 3)
    y = model.decode(z)
    ref = (x * torch.log(y) + (1 - x) * torch.log1p(-y)).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), ref, rtol=1e-5, atol=1e-4)


def test_gaussian_likelihood_matches_torch_normal():
    model = VAE(10, 3, (8,), "gaussian")
    x, z = torch.rand(4, 10), torch.randn(2, 4, 3)
    mu, log_var = super(type(model.decoder), model.decoder).forward(z)  # the GaussianMLP heads
    ref = torch.distributions.Normal(torch.sigmoid(mu), torch.exp(0.5 * log_var)).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), ref, rtol=1e-5, atol=1e-4)
    assert ((model.decode(z) > 0) & (model.decode(z) < 1)).all()  # sigmoid-squashed mean (§5)


def test_paper_initialisation_and_sizes():
    model = build_vae("mnist", 20, (500,), seed=0)
    n = sum(p.numel() for p in model.parameters())
    # encoder 784*500+500 + 2*(500*20+20); decoder 20*500+500 + 500*784+784
    assert n == (784 * 500 + 500 + 2 * (500 * 20 + 20)) + (20 * 500 + 500 + 500 * 784 + 784)
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert abs(flat.std().item() - INIT_STD) < 0.02 * INIT_STD and abs(flat.mean().item()) < 1e-4
    same = build_vae("mnist", 20, (500,), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters()))
    other = build_vae("mnist", 20, (500,), seed=1)
    assert not torch.equal(next(model.parameters()), next(other.parameters()))


def test_frey_model_is_gaussian_and_deep_hidden_works():
    model = build_vae("frey", 2, (200, 100), seed=0)
    assert model.likelihood == "gaussian" and model.d_x == 560
    x = torch.rand(3, 560)
    assert torch.isfinite(model.log_likelihood(x, model.encoder(x).rsample())).all()


def test_unknown_likelihood_is_a_clear_error():
    with pytest.raises(ValueError, match="likelihood='poisson'"):
        VAE(10, 2, (5,), "poisson")


def test_log_likelihood_of_a_constant_decoder():
    """With all weights zero the Bernoulli decoder outputs y = ½: log p(x|z) = D log ½ for any x."""
    model = VAE(6, 2, (4,), "bernoulli")
    for p in model.decoder.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(3, 6)
    torch.testing.assert_close(model.log_likelihood(x, torch.randn(3, 2)), torch.full((3,), 6 * math.log(0.5)))


@pytest.mark.parametrize("lik", ["bernoulli", "gaussian"])
def test_sample_joint_draws_z_from_the_prior_then_x_from_the_decoder(lik):
    torch.manual_seed(0)  # the weights
    model = VAE(10, 2, (8,), lik)
    z, x = model.sample_joint(4000, torch.Generator().manual_seed(3))
    assert torch.equal(z, torch.randn(4000, 2, generator=torch.Generator().manual_seed(3)))  # z first
    assert x.shape == (4000, 10) and not torch.equal(x, model.decode(z))  # a draw, not the mean ...
    if lik == "bernoulli":
        assert set(x.unique().tolist()) <= {0.0, 1.0}  # ... binary for the Bernoulli decoder ...
    assert (x.mean(0) - model.decode(z).mean(0)).abs().max() < 0.05  # ... with the decoder's mean
    again = model.sample_joint(4000, torch.Generator().manual_seed(3))
    assert torch.equal(again[0], z) and torch.equal(again[1], x)  # drawn only from the generator given
