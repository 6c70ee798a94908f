"""The exact answers themselves: checked against identities that hold for any z and against
brute-force numerical integration, so that every other test can rely on them."""
import torch

from aevb.distributions import DiagonalGaussian
from aevb.estimators import log_joint
from aevb.evaluation import log_joint_grid
from aevb.linear_gaussian import LinearEncoder, LinearGaussian

D = torch.float64


def _setup(d_x=4, n_z=2, b=5):
    model = LinearGaussian.random(d_x, n_z, s=0.7, seed=1)
    x = model.sample(b, torch.Generator().manual_seed(2))
    return model, LinearEncoder(d_x, n_z, seed=3), x


def test_bayes_rule_holds_for_every_z():
    """log p(x) = log p(x, z) − log p(z|x) for any z: ties marginal, posterior and joint together."""
    model, _, x = _setup()
    z = torch.randn(7, x.shape[0], model.n_z, generator=torch.Generator().manual_seed(4), dtype=D)
    lhs = log_joint(model, x, z) - model.posterior(x).log_prob(z)  # (7, B)
    torch.testing.assert_close(lhs, model.log_marginal(x).expand_as(lhs), rtol=0, atol=1e-10)


def test_eq1_log_marginal_is_bound_plus_kl():
    """Eq. 1: log p(x) = L(q) + KL(q ‖ p(z|x)) for an arbitrary diagonal q."""
    model, enc, x = _setup()
    q = enc(x)
    torch.testing.assert_close(model.elbo(x, q) + model.kl_to_posterior(x, q), model.log_marginal(x),
                               rtol=0, atol=1e-10)
    assert (model.kl_to_posterior(x, q) > 0).all()


def test_log_marginal_against_quadrature():
    """log p(x) = log ∫ p(x|z) p(z) dz by a Riemann sum on a fine 2-D grid (aevb.evaluation's
    log_joint_grid); for this smooth Gaussian integrand the error is far below 1e-6."""
    model, _, x = _setup(d_x=3, n_z=2, b=2)
    axes, lj, log_px = log_joint_grid(model, x, lim=8.0, n=801)
    assert axes.shape == (801, 2, 2) and lj.shape == (801, 801, 2)
    torch.testing.assert_close(log_px, model.log_marginal(x), rtol=0, atol=1e-6)
    post = model.posterior(x)  # a grid centred on the posterior, scaled per point, gives the same
    axes, _, log_px = log_joint_grid(model, x, lim=torch.tensor([6.0, 7.0], dtype=D), n=601, center=post.mean)
    torch.testing.assert_close(axes[300], post.mean)
    torch.testing.assert_close(log_px, model.log_marginal(x), rtol=0, atol=1e-6)


def test_elbo_maximised_by_posterior_when_diagonal():
    """With orthogonal columns of W the posterior is diagonal, so q = p(z|x) attains L = log p(x)."""
    W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=D)
    model = LinearGaussian(W, torch.zeros(3, dtype=D), 0.25)
    x = torch.tensor([[0.3, -1.0, 0.5]], dtype=D)
    post = model.posterior(x)
    q = DiagonalGaussian(post.mean, torch.log(torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1)))
    torch.testing.assert_close(model.elbo(x, q), model.log_marginal(x), rtol=0, atol=1e-12)
