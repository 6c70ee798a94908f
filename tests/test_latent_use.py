"""Latent use (aevb/latent_use.py) against closed forms: the activity of a linear encoder is a quadratic form of
the data's covariance, the KL per dimension is App. B's, and the z-free model is exactly the bound of a VAE whose
decoder ignores z and whose q(z|x) is the prior (the fixed point chapter 8 finds wake-sleep in)."""
import pytest
import torch

from aevb.evaluation import average_bound
from aevb.latent_use import ACTIVE_THRESHOLD, active_units, independent_gaussian, latent_use
from aevb.linear_gaussian import LinearEncoder
from aevb.models import build_vae

D = torch.float64


def test_activity_and_kl_of_a_linear_encoder():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 6, generator=g, dtype=D) @ torch.randn(6, 6, generator=g, dtype=D)
    enc = LinearEncoder(6, 3, seed=1)
    use = latent_use(enc, x, batch_size=1000)
    mu = x @ enc.A.detach().T + enc.c.detach()  # (N, 3)
    xc = x - x.mean(0)
    want = torch.einsum("zd,de,ze->z", enc.A.detach(), xc.T @ xc / len(x), enc.A.detach())  # a_j' Cov(x) a_j
    torch.testing.assert_close(use["activity"], want, rtol=1e-10, atol=0)
    var = enc.v.detach().exp()
    kl = 0.5 * (mu**2 + var - 1 - enc.v.detach()).mean(0)
    torch.testing.assert_close(use["kl"], kl, rtol=1e-10, atol=0)
    assert active_units(torch.tensor([0.5, ACTIVE_THRESHOLD, 0.011])) == 2


def test_independent_gaussian_is_the_per_pixel_normal_fit():
    g = torch.Generator().manual_seed(0)
    x_train, x_test = torch.rand(500, 10, generator=g), torch.rand(50, 10, generator=g)
    got = independent_gaussian(x_train, x_test)
    m, s = x_train.double().mean(0), x_train.double().std(0, unbiased=False)
    normal = torch.distributions.Normal(m, s)
    assert got["train"] == pytest.approx(normal.log_prob(x_train.double()).sum(1).mean().item(), abs=1e-9)
    assert got["test"] == pytest.approx(normal.log_prob(x_test.double()).sum(1).mean().item(), abs=1e-9)
    with pytest.raises(ValueError, match="constant"):
        independent_gaussian(torch.zeros(5, 3), torch.zeros(2, 3))


def test_a_vae_that_ignores_z_with_q_at_the_prior_scores_the_z_free_model():
    """Decoder weights 0, output biases logit(pixel mean) and log(pixel variance); encoder heads 0 (q = N(0, I)):
    the bound (estimator B: KL = 0, and log p(x|z) independent of z) equals the z-free log-likelihood exactly."""
    g = torch.Generator().manual_seed(0)
    x = (0.1 + 0.8 * torch.rand(300, 560, generator=g)).double()
    model = build_vae("frey", 2, (20,), seed=0).double()
    with torch.no_grad():
        for p in [*model.decoder.parameters(), *model.encoder.mu.parameters(), *model.encoder.log_var.parameters()]:
            p.zero_()
        m, v = x.mean(0), x.var(0, unbiased=False)
        model.decoder.mu.bias.copy_(torch.log(m / (1 - m)))
        model.decoder.log_var.bias.copy_(v.log())
    assert average_bound(model, x) == pytest.approx(independent_gaussian(x, x)["train"], abs=1e-8)
