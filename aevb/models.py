"""The variational auto-encoder of §3 with the MLPs of Appendix C.

Every model in the package speaks one small protocol:

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

What the fused back end (``aevb.fused``) builds on, exposed here rather than found by position: every MLP's
``hidden_layers`` (its tanh layers, in order) and ``head_layers`` (the linear layers whose outputs, concatenated,
make its *head output*: μ | log σ² for a Gaussian MLP, the logits for the Bernoulli decoder); and, beside each
decoder's ``log_likelihood``, the same likelihood as a function of the head output with its gradient written
out (``stacked_log_likelihood``) and the draw x ~ p(x|z) from the head layers' outputs (``draw``; ``split_head``
splits a concatenated head output) that both the model's ``sample_joint`` and the fused wake-sleep step use.

For one model at a time, outside autograd (App. E's Monte Carlo EM, ``aevb.learners.mcem``): every MLP's
``trunk_forward``, ``head_forward`` and ``backward`` (each layer's gradient written out), each decoder's
``log_likelihood_and_grad`` (per row, from the head output) and, on ``LatentVariableModel``, log p(x, z) with its
gradient w.r.t. z (``log_joint_and_grad_z``, HMC's) and −(1/B) Σ log p(x_i, z_i) with its gradient w.r.t. the
weights (``neg_log_joint_and_grads``, the M-step's); ``aevb.estimators.log_joint`` through autograd is their
reference (tests/test_mcem.py compares them in float64).
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

    def trunk_forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The trunk outside autograd, its activations kept for ``backward``: x: (B, D_in) -> [x, h_1, ..., h_n],
        h_i: (B, width_i)."""
        acts = [x]
        for lin in self.hidden_layers:
            acts.append(torch.addmm(lin.bias, acts[-1], lin.weight.T).tanh_())  # (B, width_i)
        return acts

    def head_forward(self, h: torch.Tensor) -> torch.Tensor:
        """The head output from the last activation, outside autograd: h: (B, H) -> (B, head width)."""
        outs = [torch.addmm(lin.bias, h, lin.weight.T) for lin in self.head_layers]  # each (B, D_out)
        return outs[0] if len(outs) == 1 else torch.cat(outs, -1)

    def backward(self, acts: list[torch.Tensor], d_head: torch.Tensor, weights: bool,
                 input_grad: bool = True) -> tuple[torch.Tensor | None, dict]:
        """Back through head and trunk, written out: from ∂J/∂(head output) d_head: (B, head width) and
        ``trunk_forward``'s acts -> (∂J/∂x: (B, D_in), or None unless ``input_grad``;
        {parameter: ∂J/∂parameter}, empty unless ``weights``)."""
        grads, start, dh = {}, 0, None
        for lin in self.head_layers:  # the head output is the concatenation of their outputs
            d = d_head[:, start: start + lin.out_features]  # (B, D_out)
            start += lin.out_features
            dh = d @ lin.weight if dh is None else dh.addmm_(d, lin.weight)  # (B, H)
            if weights:
                grads[lin.weight], grads[lin.bias] = d.T @ acts[-1], d.sum(0)  # (D_out, H), (D_out,)
        layers = self.hidden_layers
        for i in reversed(range(len(layers))):
            d_pre = torch.ops.aten.tanh_backward(dh, acts[i + 1])  # ∂J/∂(pre-activation) = dh ⊙ (1 − h²)
            if weights:
                grads[layers[i].weight], grads[layers[i].bias] = d_pre.T @ acts[i], d_pre.sum(0)  # (out, in), (out,)
            dh = d_pre @ layers[i].weight if i > 0 or input_grad else None  # (B, in)
        return dh, grads


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

    SCRATCH = 1  # (K, R, D) work tensors of stacked_log_likelihood

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
        logits = self.logits(z)  # (*S, B, D)
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    @staticmethod
    def stacked_log_likelihood(x: torch.Tensor, head: torch.Tensor, scale: float, grad: torch.Tensor,
                               scratch: list[torch.Tensor]) -> torch.Tensor:
        """``log_likelihood`` of K stacked models from the logits, with its gradient: x, head: (K, R, D) ->
        scale · Σ_rows log p(x|z) per model (K,); writes ∂J/∂head of J = −that into ``grad`` (K, R, D).
        Σ_i x_i log y_i + (1 − x_i) log(1 − y_i) = Σ_i x_i l_i − softplus(l_i), and ∂J/∂l = (y − x) · scale."""
        K, R, D = x.shape
        x_dot_l = torch.bmm(x.reshape(K, 1, R * D), head.reshape(K, R * D, 1)).view(K)  # Σ x·l, a batched dot
        log_lik = (x_dot_l - torch.ops.aten.softplus.out(head, 1, 20, out=scratch[0]).sum((1, 2))) * scale  # (K,)
        torch.sigmoid(head, out=grad).sub_(x).mul_(scale)
        return log_lik

    @staticmethod
    def log_likelihood_and_grad(x: torch.Tensor, head: torch.Tensor, value: bool = True):
        """``log_likelihood`` per row from the logits, with its gradient, outside autograd: x, head: (B, D) ->
        (log p(x_i|z_i): (B,), or None where not ``value``; ∂J/∂head (B, D) of J = −Σ_i log p(x_i|z_i)):
        ∂J/∂l = y − x."""
        log_lik = -F.binary_cross_entropy_with_logits(head, x, reduction="none").sum(-1) if value else None  # (B,)
        return log_lik, torch.sigmoid(head).sub_(x)

    @staticmethod
    def split_head(head: torch.Tensor) -> tuple[torch.Tensor]:
        """The head output (*, D) as the tuple ``heads`` returns: (logits,)."""
        return (head,)

    @staticmethod
    def draw(logits: torch.Tensor, generator: torch.Generator | None = None, out: torch.Tensor | None = None):
        """x ~ p(x|z) from the logits: (*, D) -> binary x (*, D), drawn with ``generator``, into ``out``."""
        return torch.bernoulli(torch.sigmoid(logits), generator=generator, out=out)


class GaussianDecoder(GaussianMLP):
    """p_θ(x|z) for real-valued x (Frey Face): N(x; sigmoid(μ), diag σ²); z: (*S, B, Z)."""

    SCRATCH = 3  # (K, R, D) work tensors of stacked_log_likelihood

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(super().forward(z)[0])

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x: (B, D), z: (*S, B, Z) -> (*S, B): Σ_i log N(x_i; sigmoid(μ_i), σ_i²)."""
        mu, log_var = super().forward(z)  # (*S, B, D) each
        sq = (x - torch.sigmoid(mu)) ** 2
        return -0.5 * (LOG_2PI + log_var + sq * torch.exp(-log_var)).sum(-1)

    @staticmethod
    def stacked_log_likelihood(x: torch.Tensor, head: torch.Tensor, scale: float, grad: torch.Tensor,
                               scratch: list[torch.Tensor]) -> torch.Tensor:
        """``log_likelihood`` of K stacked models from the head output, with its gradient: x: (K, R, D), head:
        (K, R, 2D) = μ | log σ² -> scale · Σ_rows log p(x|z) per model (K,); writes ∂J/∂head of J = −that into
        ``grad`` (K, R, 2D): ∂J/∂μ = −(x − m)/σ² · m(1 − m), ∂J/∂log σ² = ½(1 − (x − m)²/σ²), each times scale,
        with m = sigmoid(μ)."""
        K, R, D = x.shape
        mu, log_var = head[..., :D], head[..., D:]
        tmp, m, r = scratch
        torch.sigmoid(mu, out=m)
        torch.sub(x, m, out=r)
        r_over_var = torch.exp(torch.neg(log_var, out=tmp), out=tmp).mul_(r)  # (x − m)/σ²
        r2e = r.mul_(r_over_var)  # (x − m)²/σ² (r is not needed any more)
        log_lik = -0.5 * (LOG_2PI * R * D + log_var.sum((1, 2)) + r2e.sum((1, 2))) * scale  # (K,)
        torch.mul(r_over_var.mul_(m), m.sub_(1), out=grad[..., :D]).mul_(scale)
        torch.mul(r2e, -0.5 * scale, out=grad[..., D:]).add_(0.5 * scale)
        return log_lik

    @staticmethod
    def log_likelihood_and_grad(x: torch.Tensor, head: torch.Tensor, value: bool = True):
        """``log_likelihood`` per row from the head output, with its gradient, outside autograd: x: (B, D), head:
        (B, 2D) = μ | log σ² -> (log p(x_i|z_i): (B,), or None where not ``value``; ∂J/∂head (B, 2D) of
        J = −Σ_i log p(x_i|z_i), as in ``stacked_log_likelihood``)."""
        D = x.shape[-1]
        mu, log_var = head[..., :D], head[..., D:]
        m = torch.sigmoid(mu)  # (B, D)
        r = x - m
        r_over_var = torch.exp(-log_var).mul_(r)  # (x − m)/σ²
        r2e = r.mul_(r_over_var)  # (x − m)²/σ²
        log_lik = -0.5 * (LOG_2PI * D + log_var.sum(-1) + r2e.sum(-1)) if value else None  # (B,)
        grad = torch.empty_like(head)  # (B, 2D)
        torch.mul(r_over_var.mul_(m), m.sub_(1), out=grad[..., :D])  # −(x − m)/σ² · m(1 − m)
        torch.mul(r2e, -0.5, out=grad[..., D:]).add_(0.5)  # ½(1 − (x − m)²/σ²)
        return log_lik, grad

    @staticmethod
    def split_head(head: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head output (*, 2D) = μ | log σ² as the tuple ``heads`` returns: (μ, log σ²), each (*, D)."""
        D = head.shape[-1] // 2
        return head[..., :D], head[..., D:]

    @staticmethod
    def draw(mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None,
             out: torch.Tensor | None = None):
        """x ~ p(x|z) = N(sigmoid(μ), diag σ²): mu, log_var: (*, D) -> x = sigmoid(μ) + σ ⊙ noise (*, D), the
        noise drawn with ``generator``, into ``out``."""
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return torch.add(torch.sigmoid(mu), torch.exp(0.5 * log_var).mul_(noise), out=out)


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

    @torch.no_grad()
    def log_joint_and_grad_z(self, x: torch.Tensor, z: torch.Tensor,
                             value: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """log p(x, z) = log p(z) + log p(x|z), p(z) = N(0, I), and its gradient w.r.t. z, written out (App. E's
        HMC target; the reference is ``aevb.estimators.log_joint`` through autograd): x: (B, D), z: (B, Z) ->
        (log p(x, z): (B,), or None where not ``value``; ∇z log p(x, z): (B, Z)), ∇z = −z − ∂J/∂z with
        J = −Σ_i log p(x_i|z_i)."""
        acts = self.decoder.trunk_forward(z)  # [z, h_1, ..., h_n]
        log_lik, d_head = self.decoder.log_likelihood_and_grad(x, self.decoder.head_forward(acts[-1]), value)
        dz, _ = self.decoder.backward(acts, d_head, weights=False)  # ∂J/∂z (B, Z)
        log_prior = -0.5 * (z * z).sum(-1) - 0.5 * LOG_2PI * self.n_z if value else None  # (B,) log N(z; 0, I)
        return log_prior + log_lik if value else None, dz.add_(z).neg_()

    @torch.no_grad()
    def neg_log_joint_and_grads(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """J = −(1/B) Σ_i log p(x_i, z_i) and its gradient w.r.t. every parameter, written out (App. E's M-step;
        the reference is ``−log_joint(model, x, z).mean()`` through autograd): x: (B, D), z: (B, Z) ->
        (J: (), {parameter: ∂J/∂parameter})."""
        B = len(z)
        acts = self.decoder.trunk_forward(z)  # [z, h_1, ..., h_n]
        log_lik, d_head = self.decoder.log_likelihood_and_grad(x, self.decoder.head_forward(acts[-1]))  # (B,), (B, ·)
        _, grads = self.decoder.backward(acts, d_head.mul_(1.0 / B), weights=True, input_grad=False)
        mean_log_prior = -0.5 * (z * z).sum() / B - 0.5 * LOG_2PI * self.n_z  # (1/B) Σ_i log N(z_i; 0, I)
        return -(mean_log_prior + log_lik.mean()), grads


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


@torch.no_grad()
def init_glorot_(module: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Burda et al.'s (2015) initialisation, in place (yburda/iwae ``nnet.py`` ``Linear.random`` at ae2ed90): every
    linear layer's weight ~ U(−a, a), a = √(6 / (fan_in + fan_out)) (Glorot & Bengio 2010, for tanh), its bias
    zero, in the order of ``module.modules()``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            a = math.sqrt(6 / (m.in_features + m.out_features))
            u = torch.rand(m.weight.shape, generator=generator, dtype=m.weight.dtype).to(m.weight.device)
            m.weight.copy_((2 * u - 1) * a)
            m.bias.zero_()
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
