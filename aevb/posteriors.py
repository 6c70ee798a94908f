"""Richer posteriors q(z|x) than the diagonal Gaussian of eq. 9, reparameterized as §2.4 asks.

Two families beside ``aevb.models.GaussianEncoder``'s N(μ, diag σ²):

- a full-covariance Gaussian N(μ, L Lᵀ), L lower triangular with a positive diagonal (its log taken from the
  encoder): z = μ + L ε, log q(z|x) = log N(L⁻¹(z − μ); 0, I) − Σ_i log L_ii;
- an inverse autoregressive flow (IAF; Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling 2016, "Improved
  variational inference with inverse autoregressive flow"): a diagonal-Gaussian base z₀ = μ + σ ⊙ ε and a context
  h from the encoder, then T steps, each a MADE (Germain et al. 2015, masked autoregressive network, h an extra
  input) giving (m, s) with m_i, s_i functions of z_{<i} and h only, and the numerically stable update
  σ_t = sigmoid(s), z ← σ_t ⊙ z + (1 − σ_t) ⊙ m. Each step's Jacobian is lower triangular with diagonal σ_t, so
  log q(z_T|x) = log N(ε; 0, I) − Σ_i log σ_i − Σ_t Σ_i log σ_t,i. The variable order is reversed between steps.

Why IAF rather than planar or Sylvester flows: one IAF step can change every latent dimension as a function of all
the preceding ones at the cost of one network pass, so it scales to many latent dimensions where a planar step is
a rank-one change (it needs O(Z) steps for the same effect); its log-determinant is a plain sum of log σ, with no
determinant lemma or orthogonality constraint to maintain; and it is the flow of the VAE literature's benchmarks
(Kingma et al. 2016 report it on MNIST and CIFAR-10), so its results can be compared.

The common interface: ``sample_and_log_q(q, x, n_samples, generator) -> (z: (S, B, Z), log_q: (S, B))`` for an
encoder of any of the three families or its output (``torch.distributions.MultivariateNormal`` too), the draws
reparameterized (gradients reach the encoder's parameters) and ``log_q`` their exact log density. Every draw takes
a ``torch.Generator`` (on the tensors' device; ``None``: torch's global generator).
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, MultivariateNormal, constraints

from aevb.distributions import DiagonalGaussian
from aevb.models import mlp

LOG_2PI = math.log(2 * math.pi)


def _randn(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device and dtype, drawn with ``generator``."""
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


class FullCovarianceGaussian(Distribution):
    """N(μ, L Lᵀ): loc (*B, Z), scale_tril (*B, Z, Z) lower triangular with a positive diagonal; batch (*B,),
    event (Z,). ``rsample`` is z = μ + L ε; ``log_prob`` is exact (a triangular solve)."""

    arg_constraints: ClassVar[dict] = {"loc": constraints.real_vector, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale_tril: torch.Tensor, validate_args: bool | None = False):
        self.loc, self.scale_tril = loc, scale_tril
        batch = torch.broadcast_shapes(loc.shape[:-1], scale_tril.shape[:-2])
        super().__init__(batch, loc.shape[-1:], validate_args=validate_args)

    @classmethod
    def from_mvn(cls, mvn: MultivariateNormal) -> FullCovarianceGaussian:
        """The same Gaussian as a ``torch.distributions.MultivariateNormal`` (its Cholesky factor)."""
        return cls(mvn.loc, mvn.scale_tril)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc.expand(self.batch_shape + self.event_shape)

    @property
    def covariance_matrix(self) -> torch.Tensor:
        """L Lᵀ: (*B, Z, Z)."""
        return self.scale_tril @ self.scale_tril.mT

    def rsample(self, sample_shape: tuple[int, ...] = (), generator: torch.Generator | None = None) -> torch.Tensor:
        """-> z = μ + L ε: (*S, *B, Z), ε ~ N(0, I) drawn with ``generator``."""
        eps = _randn(self._extended_shape(torch.Size(sample_shape)), self.loc, generator)  # (*S, *B, Z)
        return self.loc + (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """z: (*S, *B, Z) -> (*S, *B): −½‖L⁻¹(z − μ)‖² − Σ_i log L_ii − Z/2 log 2π."""
        diff = z - self.loc  # (*S, *B, Z)
        L = self.scale_tril.expand(diff.shape[:-1] + self.scale_tril.shape[-2:])  # (*S, *B, Z, Z)
        y = torch.linalg.solve_triangular(L, diff.unsqueeze(-1), upper=False).squeeze(-1)  # (*S, *B, Z)
        half_log_det = torch.diagonal(self.scale_tril, dim1=-2, dim2=-1).log().sum(-1)  # (*B,)
        return -0.5 * (y**2).sum(-1) - half_log_det - 0.5 * z.shape[-1] * LOG_2PI

    def entropy(self) -> torch.Tensor:
        """-> (*B,): Z/2 (1 + log 2π) + Σ_i log L_ii."""
        Z = self.loc.shape[-1]
        half_log_det = torch.diagonal(self.scale_tril, dim1=-2, dim2=-1).log().sum(-1)
        return (0.5 * Z * (1 + LOG_2PI) + half_log_det).expand(self.batch_shape)


class FullCovarianceEncoder(nn.Module):
    """q_φ(z|x) = N(μ, L Lᵀ): an App. C tanh trunk and three linear heads, μ (Z), log diag L (Z) and the strictly
    lower entries of L (Z(Z−1)/2, row by row); x: (B, D) -> FullCovarianceGaussian, batch (B,), event (Z,)."""

    def __init__(self, d_x: int, n_z: int, hidden: tuple[int, ...]):
        super().__init__()
        self.n_z = n_z
        self.trunk = mlp(d_x, tuple(hidden))
        d_h = hidden[-1] if hidden else d_x
        self.mu = nn.Linear(d_h, n_z)
        self.log_diag = nn.Linear(d_h, n_z)
        self.lower = nn.Linear(d_h, n_z * (n_z - 1) // 2)
        self.register_buffer("_rows_cols", torch.tril_indices(n_z, n_z, -1), persistent=False)  # (2, Z(Z-1)/2)

    def forward(self, x: torch.Tensor) -> FullCovarianceGaussian:
        h = self.trunk(x)  # (B, H)
        mu, off = self.mu(h), self.lower(h)  # (B, Z), (B, Z(Z-1)/2)
        L = torch.diag_embed(torch.exp(self.log_diag(h)))  # (B, Z, Z)
        rows, cols = self._rows_cols
        L = L.index_put((torch.arange(L.shape[0], device=L.device)[:, None], rows, cols), off)
        return FullCovarianceGaussian(mu, L)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` (d_out, d_in): (*, d_in) -> (*, d_out)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """A masked autoregressive network (Germain et al. 2015) with a context input: (z: (*S, B, Z), h: (B, C)) ->
    (m, s): (*S, B, Z) each, m_i and s_i functions of z_1..z_{i−1} and h only.

    Input i has degree i; hidden unit k of width W has degree 1 + k mod max(Z − 1, 1) (deterministic, no random
    state); a hidden unit sees the units of lower or equal degree, an output of degree i those of degree < i. h
    enters the first tanh layer and the output through unmasked linear maps (so m_1, s_1 depend on h)."""

    def __init__(self, n_z: int, d_context: int, hidden: tuple[int, ...]):
        super().__init__()
        self.n_z = n_z
        deg = torch.arange(1, n_z + 1)
        layers = []
        for width in hidden:
            deg_h = torch.arange(width) % max(n_z - 1, 1) + 1
            layers.append(MaskedLinear(deg_h[:, None] >= deg[None, :]))
            deg = deg_h
        self.layers = nn.ModuleList(layers)
        deg_out = torch.arange(1, n_z + 1).repeat(2)  # m | s
        self.out = MaskedLinear(deg_out[:, None] > deg[None, :])
        self.context_in = nn.Linear(d_context, hidden[0]) if hidden else None
        self.context_out = nn.Linear(d_context, 2 * n_z)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = z
        for i, layer in enumerate(self.layers):
            a = layer(a)  # (*S, B, W)
            if i == 0:
                a = a + self.context_in(h)
            a = torch.tanh(a)
        out = self.out(a) + self.context_out(h)  # (*S, B, 2Z)
        return out[..., : self.n_z], out[..., self.n_z :]


class IAFStep(nn.Module):
    """One IAF step: (z, h) -> (σ ⊙ z + (1 − σ) ⊙ m, log σ), all (*S, B, Z), (m, s) = MADE(z, h),
    σ = sigmoid(s + s_offset). ``s_offset`` (a constant, kept by ``init_paper_``) starts σ near 1, the step near
    the identity, as Kingma et al. 2016 advise. Its Jacobian ∂z'/∂z is lower triangular with diagonal σ."""

    def __init__(self, n_z: int, d_context: int, hidden: tuple[int, ...], s_offset: float = 1.0):
        super().__init__()
        self.made = MADE(n_z, d_context, tuple(hidden))
        self.s_offset = s_offset

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, s = self.made(z, h)  # (*S, B, Z) each
        s = s + self.s_offset
        sigma = torch.sigmoid(s)
        return sigma * z + torch.sigmoid(-s) * m, F.logsigmoid(s)  # 1 − sigmoid(s) = sigmoid(−s)


class IAFPosterior:
    """q(z|x) of an IAF for a batch: base N(μ, diag σ²) with μ, log σ²: (B, Z), context h: (B, C), and the steps.
    Not a ``torch.distributions.Distribution``: the density is known at its own draws (``rsample_and_log_prob``),
    not at an arbitrary z (that needs the flow's inverse, Z sequential passes per step)."""

    def __init__(self, mu: torch.Tensor, log_var: torch.Tensor, h: torch.Tensor, steps: nn.ModuleList):
        self.mu, self.log_var, self.h, self.steps = mu, log_var, h, steps

    def flow(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """eps: (*S, B, Z) -> (z_T, log q(z_T|x)): (*S, B, Z), (*S, B); a deterministic map of the noise."""
        z = self.mu + torch.exp(0.5 * self.log_var) * eps  # (*S, B, Z): z_0
        log_q = -0.5 * (eps**2 + LOG_2PI + self.log_var).sum(-1)  # (*S, B): log q_0(z_0)
        for t, step in enumerate(self.steps):
            if t:
                z = z.flip(-1)  # reverse the variable order between steps (|det| = 1)
            z, log_sigma = step(z, self.h)
            log_q = log_q - log_sigma.sum(-1)
        return z, log_q

    def center(self) -> torch.Tensor:
        """The flow of the base's mean (ε = 0): (B, Z), a point in the bulk of q (its mean has no closed form),
        where ``aevb.evaluation``'s posterior chains start."""
        return self.flow(torch.zeros_like(self.mu))[0]

    def rsample_and_log_prob(self, sample_shape: tuple[int, ...] = (), generator: torch.Generator | None = None):
        """-> (z: (*S, B, Z), log q(z|x): (*S, B)) from ε ~ N(0, I) drawn with ``generator``."""
        eps = _randn(torch.Size(sample_shape) + self.mu.shape, self.mu, generator)
        return self.flow(eps)


class IAFEncoder(nn.Module):
    """q_φ(z|x) by inverse autoregressive flow: an App. C tanh trunk with heads μ, log σ² (Z each) and the context
    h (``d_context``, default Z), then ``n_flows`` IAF steps with MADEs of tanh widths ``flow_hidden``;
    x: (B, D) -> IAFPosterior."""

    def __init__(self, d_x: int, n_z: int, hidden: tuple[int, ...], n_flows: int, flow_hidden: tuple[int, ...],
                 *, d_context: int | None = None, s_offset: float = 1.0):
        super().__init__()
        d_context = n_z if d_context is None else d_context
        self.trunk = mlp(d_x, tuple(hidden))
        d_h = hidden[-1] if hidden else d_x
        self.mu, self.log_var, self.context = nn.Linear(d_h, n_z), nn.Linear(d_h, n_z), nn.Linear(d_h, d_context)
        self.steps = nn.ModuleList(IAFStep(n_z, d_context, flow_hidden, s_offset) for _ in range(n_flows))

    def forward(self, x: torch.Tensor) -> IAFPosterior:
        a = self.trunk(x)  # (B, H)
        return IAFPosterior(self.mu(a), self.log_var(a), self.context(a), self.steps)


def sample_and_log_q(q, x: torch.Tensor | None, n_samples: int, generator: torch.Generator | None = None):
    """Reparameterized draws from q(z|x) and their exact log density: -> (z: (S, B, Z), log_q: (S, B)).

    ``q`` is an encoder (an ``nn.Module`` called on x: (B, D)) or what one returns: a ``DiagonalGaussian``
    (``aevb.models.GaussianEncoder``), a ``FullCovarianceGaussian``, a ``MultivariateNormal`` or an
    ``IAFPosterior``; x is not read in the second case. The noise is drawn with ``generator``."""
    if n_samples < 1:
        raise ValueError(f"n_samples={n_samples}: must be >= 1")
    if isinstance(q, nn.Module):
        q = q(x)
    if isinstance(q, MultivariateNormal):
        q = FullCovarianceGaussian.from_mvn(q)
    if isinstance(q, DiagonalGaussian):
        eps = _randn((n_samples,) + q.mu.shape, q.mu, generator)  # (S, B, Z)
        z = q.mu + torch.exp(0.5 * q.log_var) * eps
        return z, q.log_prob(z)
    if isinstance(q, FullCovarianceGaussian):
        z = q.rsample((n_samples,), generator)  # (S, B, Z)
        return z, q.log_prob(z)
    if isinstance(q, IAFPosterior):
        return q.rsample_and_log_prob((n_samples,), generator)
    raise TypeError(f"sample_and_log_q: unsupported posterior {type(q).__name__}")
