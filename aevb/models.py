"""The variational auto-encoder of §3 with the MLPs of Appendix C.

Every model in the package has one small interface:

- ``model.prior``: a ``torch.distributions.Distribution`` over z, event shape (Z,);
- ``model.log_likelihood(x, z)``: log p(x|z) summed over data dims, x: (B, D), z: (*S, B, Z) -> (*S, B);
- ``encoder(x)``: a reparameterizable distribution q(z|x), batch shape (B,), event shape (Z,).

App. C:
- Gaussian MLP (encoder): h = tanh(W3 x + b3); μ = W4 h + b4; log σ² = W5 h + b5.
- Bernoulli MLP (MNIST decoder): log p(x|z) = Σ_i x_i log y_i + (1 − x_i) log(1 − y_i),
  y = sigmoid(W2 tanh(W1 z + b1) + b2).
- Gaussian MLP decoder (Frey Face): the same Gaussian MLP with μ squashed into (0, 1) by a sigmoid (§5).
``hidden`` is a tuple of tanh layer widths; ``(500,)`` is the paper's one hidden layer.

Initialisation (§5): every weight and bias ~ N(0, 0.01), read here as standard deviation 0.01
(the paper does not say; Kingma's released code draws ``normal(0, 0.01)``, i.e. std 0.01).

What the fused training path (``aevb.learners.fused``, ``TrainConfig.fused``) builds on, exposed here rather than
found by position: every MLP's ``hidden_layers`` (its tanh layers, in order) and ``head_layers`` (the linear layers
whose outputs, concatenated, make its *head output*: μ | log σ² for a Gaussian MLP, the logits for the Bernoulli
decoder). Everything written out by hand (gradients, buffers) lives there, tested against the code here.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aevb.datasets import DATASETS
from aevb.distributions import DiagonalGaussian, StandardNormal

INIT_STD = 0.01  # "N(0, 0.01)" of §5, read as a standard deviation


LOG_2PI = math.log(2 * math.pi)


def mlp(d_in: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """The tanh trunk of App. C: d_in -> hidden[0] -> ... -> hidden[-1]."""
    layers, d = [], d_in
    for h in hidden:
        layers += [nn.Linear(d, h), nn.Tanh()]
        d = h
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """An App. C MLP: a tanh ``trunk`` and linear heads (``head_layers``, set by the subclass)."""

    trunk: nn.Sequential

    @property
    def hidden_layers(self) -> list[nn.Linear]:
        """The trunk's linear layers, input first (each followed by tanh)."""
        return [m for m in self.trunk if isinstance(m, nn.Linear)]

    @property
    def head_layers(self) -> list[nn.Linear]:
        """The linear layers on the last hidden layer; their outputs, concatenated, are the head output."""
        raise NotImplementedError

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (*, D_in) -> the outputs of ``head_layers``, each (*, D_out), from one pass through the trunk."""
        h = self.trunk(x)
        return tuple(lin(h) for lin in self.head_layers)

class GaussianMLP(MLP):
    """App. C Gaussian MLP: x: (*, D_in) -> (μ, log σ²): (*, D_out), one shared tanh trunk, two linear heads."""

    def __init__(self, d_in: int, d_out: int, hidden: tuple[int, ...]):
        super().__init__()
        self.trunk = mlp(d_in, hidden)
        d_h = hidden[-1] if hidden else d_in
        self.mu = nn.Linear(d_h, d_out)
        self.log_var = nn.Linear(d_h, d_out)

    @property
    def head_layers(self) -> list[nn.Linear]:
        return [self.mu, self.log_var]  # head output: μ | log σ², (*, 2 D_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(x)  # (μ, log σ²)


class GaussianEncoder(GaussianMLP):
    """q_φ(z|x) (eq. 9): x: (B, D) -> DiagonalGaussian with batch (B,), event (Z,)."""

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(*super().forward(x))


class BernoulliDecoder(MLP):
    """p_θ(x|z), App. C Bernoulli MLP: z: (*S, B, Z) -> logits (*S, B, D)."""

    def __init__(self, n_z: int, d_x: int, hidden: tuple[int, ...]):
        super().__init__()
        self.trunk = mlp(n_z, hidden)
        self.out = nn.Linear(hidden[-1] if hidden else n_z, d_x)

    @property
    def head_layers(self) -> list[nn.Linear]:
        return [self.out]  # head output: the logits l, (*, D)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(z))

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x: (B, D) in [0, 1], z: (*S, B, Z) -> (*S, B): Σ_i x_i log y_i + (1 − x_i) log(1 − y_i)."""
        return self.log_likelihood_of(x, self.logits(z))

    @staticmethod
    def log_likelihood_of(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``log_likelihood`` from the logits already computed: x: (B, D), logits: (*S, B, D) -> (*S, B)."""
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    @staticmethod
    def draw(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|z) from the logits: (*, D) -> binary x (*, D), drawn with ``generator``."""
        return torch.bernoulli(torch.sigmoid(logits), generator=generator)


class GaussianDecoder(GaussianMLP):
    """p_θ(x|z) for real-valued x (Frey Face): N(x; sigmoid(μ), diag σ²); z: (*S, B, Z)."""

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(super().forward(z)[0])

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x: (B, D), z: (*S, B, Z) -> (*S, B): Σ_i log N(x_i; sigmoid(μ_i), σ_i²)."""
        mu, log_var = super().forward(z)  # (*S, B, D) each
        return self.log_density(x, torch.sigmoid(mu), log_var)

    @staticmethod
    def log_density(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """Σ_i log N(x_i; mean_i, exp(log_var_i)): x: (B, D), mean, log_var: (*S, B, D) -> (*S, B)."""
        sq = (x - mean) ** 2
        return -0.5 * (LOG_2PI + log_var + sq * torch.exp(-log_var)).sum(-1)

    @staticmethod
    def draw(mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|z) = N(sigmoid(μ), diag σ²): mu, log_var: (*, D) -> x = sigmoid(μ) + σ ⊙ noise (*, D), the
        noise drawn with ``generator``."""
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return torch.add(torch.sigmoid(mu), torch.exp(0.5 * log_var).mul_(noise))


class LatentVariableModel(nn.Module):
    """The generative model alone, p(z) p_θ(x|z) with prior N(0, I) and an App. C decoder: what Monte Carlo
    EM (App. E) learns, having no recognition model. ``VAE`` adds the encoder q_φ(z|x)."""

    def __init__(self, d_x: int, n_z: int, hidden: tuple[int, ...] = (500,), likelihood: str = "bernoulli"):
        super().__init__()
        self._init_generative(d_x, n_z, hidden, likelihood)

    def _init_generative(self, d_x, n_z, hidden, likelihood):
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood={likelihood!r}: allowed values are ('bernoulli', 'gaussian')")
        self.d_x, self.n_z, self.hidden, self.likelihood = d_x, n_z, tuple(hidden), likelihood
        dec = BernoulliDecoder if likelihood == "bernoulli" else GaussianDecoder
        self.decoder = dec(n_z, d_x, self.hidden)
        self.register_buffer("_prior_loc", torch.zeros(n_z), persistent=False)
        self.register_buffer("_prior_scale", torch.ones(n_z), persistent=False)

    @property
    def prior(self) -> StandardNormal:
        return StandardNormal(self._prior_loc, self._prior_scale)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x: (B, D), z: (*S, B, Z) -> (*S, B)."""
        return self.decoder.log_likelihood(x, z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z): z: (*, Z) -> (*, D); what Fig. 4 and 5 show."""
        return self.decoder.mean(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Means of p(x|z) at n draws z ~ p(z): -> (n, D) (Fig. 5)."""
        z = torch.randn(n, self.n_z, generator=generator, device=self._prior_loc.device)
        return self.decode(z)

    @torch.no_grad()
    def sample_joint(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Simulated data: (z, x) ~ p(z) p(x|z) -> ((n, Z), (n, D)), x binary for the Bernoulli decoder.
        Each z is an exact posterior sample for its x (what bidirectional Monte Carlo needs)."""
        dev, dtype = self._prior_loc.device, self._prior_loc.dtype
        z = torch.randn(n, self.n_z, generator=generator, device=dev, dtype=dtype)  # (n, Z)
        return z, self.decoder.draw(*self.decoder.heads(z), generator=generator)

class VAE(LatentVariableModel):
    """§3: prior N(0, I), Gaussian MLP encoder, Bernoulli or Gaussian MLP decoder."""

    def __init__(self, d_x: int, n_z: int, hidden: tuple[int, ...] = (500,), likelihood: str = "bernoulli"):
        nn.Module.__init__(self)
        self.encoder = GaussianEncoder(d_x, n_z, tuple(hidden))  # registered first: the order §5's init draws in
        self._init_generative(d_x, n_z, hidden, likelihood)


@torch.no_grad()
def init_paper_(module: nn.Module, std: float = INIT_STD, generator: torch.Generator | None = None) -> nn.Module:
    """§5: every parameter ~ N(0, std²), in place, in the order of ``module.parameters()``."""
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) * std)
    return module


def build_vae(dataset: str, n_z: int, hidden: tuple[int, ...], seed: int = 0, encoder: bool = True,
              zero_log_var: bool = False, make_encoder=None):
    """The paper's model for ``dataset`` (``aevb.datasets``: MNIST 784-d Bernoulli, Frey Face 560-d Gaussian),
    initialised.

    ``encoder=False`` gives the ``LatentVariableModel`` alone, with the very decoder weights the VAE of the
    same seed starts from (so baselines without an encoder start where AEVB starts). ``zero_log_var`` then sets
    the encoder's log-variance head to zero (weights and bias: q(z|x) starts with unit variances), as the authors'
    code does (``aevb.config.START_WARMUP``); every other weight is drawn as without it.

    ``make_encoder(d_x, n_z, hidden) -> nn.Module``, where given, builds a richer q(z|x) (``aevb.posteriors``'
    families) in place of eq. 9's ``GaussianEncoder``: it takes the encoder's place, first in the order of §5's
    initialisation, and every parameter is drawn by ``init_paper_`` from the same seeded generator."""
    d_x, lik = DATASETS[dataset].d_x, DATASETS[dataset].likelihood
    vae = VAE(d_x, n_z, hidden, lik)
    if make_encoder is not None:
        if zero_log_var:
            raise ValueError("build_vae: zero_log_var applies to the diagonal GaussianEncoder only")
        vae.encoder = make_encoder(d_x, n_z, tuple(hidden))  # replaces the registered encoder, in its place
    vae = init_paper_(vae, generator=torch.Generator().manual_seed(seed))
    if zero_log_var:
        with torch.no_grad():
            for p in vae.encoder.log_var.parameters():
                p.zero_()
    if encoder:
        return vae
    model = LatentVariableModel(d_x, n_z, hidden, lik)
    model.decoder.load_state_dict(vae.decoder.state_dict())
    return model
