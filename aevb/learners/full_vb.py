"""Full variational Bayes (App. F): a variational posterior over the generative parameters θ as well.

With a prior p_α(θ) and an approximate posterior q_φ(θ), the marginal likelihood of the whole data set is
bounded like a single datapoint's (eq. 13-14), and the per-datapoint bound of eq. 15-16 sits inside:

    L(φ; X) = E_{q_φ(θ)}[ Σ_i L(θ, φ; x_i) ] − KL(q_φ(θ) ‖ p_α(θ)).

θ is reparameterized (eq. 19-20) as z is (eq. 17-18): θ = h_φ(ζ), ζ ~ p(ζ); one draw (x, ε, ζ) gives the
unbiased estimate f_φ of L(φ; X) (eq. 21-22). With the Gaussians of App. F.1, the prior p_α(θ) = N(0, I) and
q_φ(θ) = N(μ_θ, σ_θ² I) (eq. 23), drawn as θ = μ_θ + σ_θ ⊙ ζ, ζ ~ N(0, I), the KL terms are analytic (App. B):
the paper's lower-variance estimator, eq. 24. The trainer computes eq. 24 divided by N, with each minibatch of M
datapoints sharing one draw of θ (still unbiased; the KL of θ does not depend on the draw):

    L(φ; X) / N ≈ (1/M) Σ_i L̃(θ̃, φ; x_i) − KL(q_φ(θ) ‖ p(θ)) / N,     θ̃ = μ_θ + σ_θ ⊙ ζ,

with L̃ the SGVB estimator of ``config.estimator``: B (the default) is eq. 24's per-datapoint terms; with A the
z terms are sampled as in eq. 21-22 and only θ's KL is analytic. φ = (encoder weights, μ_θ, log σ_θ²).

Implementation: every decoder weight and bias becomes a ``torch.nn.utils.parametrize`` parametrization
``GaussianPosterior``: the stored tensor is μ_θ (starting at the §5 initial weights), the module holds
log σ_θ², and every read of the weight draws a fresh θ, so the decoder code of App. C runs unchanged
and every decoder call is a draw from q_φ(θ); ``posterior_mean(model)`` uses μ_θ instead.

Choices the paper leaves open: log σ_θ² starts at 2 log 0.001 (σ_θ = 0.001, small next to the weights'
scale, so training starts close to AEVB); the encoder keeps §5's weight decay 1/N (a MAP point estimate,
as in AEVB), while μ_θ and σ_θ get none: the KL term is their prior.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from aevb.config import TrainConfig
from aevb.estimators import neg_kl_std_normal
from aevb.learners.aevb import Trainer
from aevb.models import build_vae
from aevb.validation import ParameterError

INITIAL_LOG_VAR = 2 * math.log(1e-3)  # log σ_θ² at the start (σ_θ = 0.001)


class GaussianPosterior(nn.Module):
    """q_φ(θ) for one parameter tensor: θ = μ + exp(½ log σ²) ⊙ ζ, ζ ~ N(0, I) (eq. 19, 23).
    As a parametrization its input is μ; ``draw = False`` returns μ itself."""

    def __init__(self, shape: torch.Size, log_var: float = INITIAL_LOG_VAR):
        super().__init__()
        self.log_var = nn.Parameter(torch.full(shape, log_var))
        self.draw = True

    def forward(self, mu: torch.Tensor) -> torch.Tensor:
        if not self.draw:
            return mu
        return mu + torch.exp(0.5 * self.log_var) * torch.randn_like(mu)


def make_bayesian(module: nn.Module, log_var: float = INITIAL_LOG_VAR) -> nn.Module:
    """Put a ``GaussianPosterior`` on every parameter of ``module`` (in place); its current values become μ_θ."""
    for m in list(module.modules()):
        for name, p in list(m.named_parameters(recurse=False)):
            q = GaussianPosterior(p.shape, log_var)
            q.draw = False  # registering evaluates it once: draw nothing then (leaves the global RNG alone)
            parametrize.register_parametrization(m, name, q)
            q.draw = True
    return module


def posteriors(module: nn.Module) -> list[tuple[torch.Tensor, GaussianPosterior]]:
    """(μ_θ, q) for every parameter tensor of ``module`` with a ``GaussianPosterior``."""
    out = []
    for m in module.modules():
        if parametrize.is_parametrized(m):
            for plist in m.parametrizations.values():
                out += [(plist.original, q) for q in plist if isinstance(q, GaussianPosterior)]
    return out


def kl_theta(module: nn.Module) -> torch.Tensor:
    """KL(q_φ(θ) ‖ N(0, I)) summed over all of ``module``'s parameters (App. B; minus the last sum of eq. 24)."""
    return -sum(neg_kl_std_normal(mu.reshape(1, -1), q.log_var.reshape(1, -1))[0] for mu, q in posteriors(module))


@contextlib.contextmanager
def posterior_mean(module: nn.Module):
    """Within this block ``module`` uses θ = μ_θ instead of drawing from q_φ(θ)."""
    qs = [q for _, q in posteriors(module)]
    for q in qs:
        q.draw = False
    try:
        yield module
    finally:
        for q in qs:
            q.draw = True


class FullVBTrainer(Trainer):
    """Algorithm 2 (App. F) with the §5 protocol: minibatches, Adagrad, the same budget accounting."""

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        super().check_config(config)
        if config.marginal is not None:
            raise ParameterError(
                f"parameter 'marginal' = {config.marginal!r} is not allowed with algorithm='full-vb': its decoder "
                f"draws fresh parameters θ at every call, so log p(x|θ) is not a fixed target; use marginal=None")

    @classmethod
    def fusable(cls, config: TrainConfig) -> bool:
        return False  # θ is drawn from q(θ) through parametrizations: autograd

    @classmethod
    def build_model(cls, config: TrainConfig) -> torch.nn.Module:
        model = build_vae(config.dataset, config.n_z, config.hidden, config.seed)
        make_bayesian(model.decoder)
        return model

    def param_groups(self, weight_decay: float) -> list[dict]:
        return [{"params": list(self.model.encoder.parameters()), "weight_decay": weight_decay},
                {"params": list(self.model.decoder.parameters()), "weight_decay": 0.0}]

    @classmethod
    def columns(cls, config: TrainConfig) -> list[str]:
        return super().columns(config) + ["kl_theta"]

    def kl_per_datapoint(self) -> torch.Tensor:
        return kl_theta(self.model.decoder) / len(self.x)

    def evaluate(self, x_eval: torch.Tensor, x_test: torch.Tensor) -> dict:
        """E_q(θ) of the per-datapoint bound (one θ per chunk of 2000 points) on train subset and test set, and
        KL(q(θ) ‖ p(θ)) / N: the eq. 14 bound per training datapoint is train_bound − kl_theta."""
        return {**super().evaluate(x_eval, x_test), "kl_theta": self.kl_per_datapoint().item()}

    def train_step(self, x: torch.Tensor) -> float:
        """One step of Algorithm 2 on x: (M, D) with one θ ~ q_φ(θ); returns −(estimate of L(φ; X) / N)."""
        bound = self.estimator(self.model, self.model.encoder, x, self.config.n_samples)  # (M,)
        return self._descend(-(bound.mean() - self.kl_per_datapoint()))
