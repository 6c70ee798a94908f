"""Inpainting, denoising and super-resolution with a trained model as the prior over x (chapter 13).

§2.1: efficient approximate marginal inference of x "allows us to perform all kinds of inference tasks where a
prior over x is required. Common applications in computer vision include image denoising, inpainting and
super-resolution." Here one sampler serves all three through a per-pixel observation model (``Observation``):
each pixel i of y is seen through a binary symmetric channel that flips it with probability ``flip_i``:

- ``flip_i = 0``: seen exactly (an observed pixel);
- ``flip_i = 1/2``: the channel carries no information: a missing pixel (inpainting; super-resolution read, by
  us, as inpainting where only a regular sub-grid of pixels is seen);
- ``0 < flip_i < 1/2``: a noisy pixel (denoising): p(y_i | x_i) = 1 − ρ where y_i = x_i, ρ otherwise.

The hidden pixels (``flip_i > 0``) are sampled from p(x_hidden | y) ∝ ∫ p(z) p(x|z) p(y|x) dz by a Markov chain
on (z, x_hidden), the encoder q(z|x) as proposal:

- **Metropolis-within-Gibbs** (Mattei & Frellsen, 2018, "Leveraging the exact likelihood of deep latent variable
  models"): the z-step is an independent Metropolis-Hastings step with proposal z' ~ q(z | x), x the current
  completed image, accepted with probability min(1, w(z') / w(z)), w(z) = p(z) p(x|z) / q(z|x); the x-step draws
  the hidden pixels from p(x_i | z) p(y_i | x_i), pixel by pixel (they are independent given z). Both steps leave
  p(z, x_hidden | y) invariant, so the chain targets the exact conditional, however imperfect q is.
- **pseudo-Gibbs** (Rezende, Mohamed & Wierstra, 2014, §5): z ~ q(z | x), then the same x-step, with no
  correction; exact only where q(z|x) is the true posterior p(z|x).

The x-step is closed form for both decoders (``PixelModel``): for a Bernoulli decoder with logits l(z), the clean
pixel given z and its noisy observation is Bernoulli with logit l_i(z) + (2 y_i − 1) log((1 − ρ_i) / ρ_i) (zero
evidence for a missing pixel); for a Gaussian decoder p(x|z) = N(μ(z), diag σ²(z)) a missing pixel is drawn from
N(μ_i, σ_i²) (noisy pixels are binary, so a Gaussian decoder accepts observed and missing pixels only).

The output (``Imputation``): the predictive mean of every pixel, E[x_i | y] estimated by the average over the
chain after burn-in of E[x_i | z_t, y_i] (Rao-Blackwellized: the decoder's probability, not the 0/1 draw; the
seen value at an observed pixel), kept samples of the completed images, and the z-step's acceptance rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from aevb.linear_gaussian import LinearGaussian
from aevb.models import BernoulliDecoder, GaussianDecoder
from aevb.rng import seeded

METHODS = ("Metropolis-within-Gibbs", "pseudo-Gibbs")
MISSING = 0.5  # the flip probability of a pixel that is not seen at all


@dataclass(frozen=True)
class Observation:
    """What is seen of a batch of images: ``y`` (B, D), the seen values (noisy at noisy pixels; at a missing pixel
    the value the chain starts from), and ``flip`` (B, D), each pixel's flip probability in [0, 1/2]: 0 seen
    exactly, ``MISSING`` = 1/2 not seen, in between seen through noise."""
    y: torch.Tensor
    flip: torch.Tensor

    def __post_init__(self):
        if self.y.shape != self.flip.shape or self.y.dim() != 2:
            raise ValueError(f"Observation: y {tuple(self.y.shape)} and flip {tuple(self.flip.shape)} must be the "
                             "same (B, D) shape")
        if bool(((self.flip < 0) | (self.flip > MISSING)).any()):
            raise ValueError("Observation: every flip probability must lie in [0, 1/2]")

    @classmethod
    def missing(cls, x: torch.Tensor, observed: torch.Tensor) -> Observation:
        """x: (B, D) with the pixels where ``observed`` (B, D, bool) is False unseen (inpainting); the chain starts
        them at 0."""
        return cls(torch.where(observed, x, torch.zeros_like(x)), torch.where(observed, 0.0, MISSING).to(x.dtype))

    @classmethod
    def noisy(cls, y: torch.Tensor, rho: float) -> Observation:
        """y: (B, D) binary, every pixel flipped with probability ``rho`` (denoising)."""
        if not 0 < rho < MISSING:
            raise ValueError(f"Observation.noisy: rho={rho} must lie strictly between 0 and 1/2")
        return cls(y, torch.full_like(y, rho))

    @property
    def hidden(self) -> torch.Tensor:
        """(B, D) bool: the pixels the chain samples (not seen exactly)."""
        return self.flip > 0


class PixelModel:
    """A decoder's p(x|z) as the sampler needs it: ``params(z)`` (its outputs at z: (B, Z) -> a tuple of (B, D)),
    ``log_lik(x, params)`` -> (B,), and ``conditional(params, obs)`` -> (B, D), E[x_i | z, y_i] of every pixel,
    with ``draw(params, obs)`` -> (B, D), x_i ~ p(x_i | z, y_i) (the seen value at an observed pixel)."""

    def params(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def log_lik(self, x: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        raise NotImplementedError

    def conditional(self, params: tuple[torch.Tensor, ...], obs: Observation) -> torch.Tensor:
        raise NotImplementedError

    def draw(self, params: tuple[torch.Tensor, ...], obs: Observation) -> torch.Tensor:
        raise NotImplementedError


class BernoulliPixels(PixelModel):
    """p(x|z) = Π_i Bernoulli(x_i; sigmoid(l_i(z))), ``logits``: z (B, Z) -> l (B, D); noisy pixels allowed."""

    def __init__(self, logits):
        self.logits = logits

    def params(self, z):
        return (self.logits(z),)  # (B, D)

    def log_lik(self, x, params):
        return BernoulliDecoder.log_likelihood_of(x, params[0])  # (B,)

    def _posterior_logit(self, logits, obs):
        rho = obs.flip.clamp(min=1e-12)  # observed pixels are replaced by y below
        evidence = (2 * obs.y - 1) * (torch.log1p(-rho) - torch.log(rho))  # (B, D): 0 where missing
        return logits + evidence

    def conditional(self, params, obs):
        p = torch.sigmoid(self._posterior_logit(params[0], obs))  # (B, D)
        return torch.where(obs.hidden, p, obs.y)

    def draw(self, params, obs):
        return torch.where(obs.hidden, torch.bernoulli(self.conditional(params, obs)), obs.y)  # (B, D)


class GaussianPixels(PixelModel):
    """p(x|z) = N(x; μ(z), diag exp(log σ²(z))), ``mean_log_var``: z (B, Z) -> (μ, log σ²), each (B, D); observed
    and missing pixels only."""

    def __init__(self, mean_log_var):
        self.mean_log_var = mean_log_var

    def params(self, z):
        return self.mean_log_var(z)  # (μ, log σ²): (B, D) each

    def log_lik(self, x, params):
        return GaussianDecoder.log_density(x, *params)  # (B,)

    @staticmethod
    def _check(obs):
        if bool((obs.hidden & (obs.flip != MISSING)).any()):
            raise ValueError("GaussianPixels: noisy pixels are binary; a Gaussian decoder takes observed (flip 0) "
                             "and missing (flip 1/2) pixels only")

    def conditional(self, params, obs):
        self._check(obs)
        return torch.where(obs.hidden, params[0], obs.y)

    def draw(self, params, obs):
        self._check(obs)
        mu, log_var = params
        return torch.where(obs.hidden, mu + torch.exp(0.5 * log_var) * torch.randn_like(mu), obs.y)


def pixel_model(model) -> PixelModel:
    """The ``PixelModel`` of a model's decoder: an App. C Bernoulli or Gaussian MLP (``aevb.models``), or the
    linear-Gaussian model's N(W z + b, s² I) (``aevb.linear_gaussian``)."""
    if isinstance(model, LinearGaussian):
        return GaussianPixels(lambda z: (z @ model.W.T + model.b, model.log_s2.expand(len(z), model.W.shape[0])))
    dec = model.decoder
    if isinstance(dec, BernoulliDecoder):
        return BernoulliPixels(dec.logits)
    if isinstance(dec, GaussianDecoder):
        def mean_log_var(z):
            mu, log_var = dec.heads(z)  # (B, D) each: the mean is sigmoid(μ) (§5)
            return torch.sigmoid(mu), log_var

        return GaussianPixels(mean_log_var)
    raise TypeError(f"pixel_model: no sampler for a decoder of type {type(dec).__name__}")


@dataclass(frozen=True)
class Imputation:
    """A chain's result: ``mean`` (B, D), the predictive mean E[x_i | y] (the seen value at observed pixels);
    ``samples`` (K, B, D), the completed images at ``keep`` steps spread evenly over the chain after burn-in (the
    last step included); ``acceptance`` (B,), the share of z-steps accepted (1 for pseudo-Gibbs)."""
    mean: torch.Tensor
    samples: torch.Tensor
    acceptance: torch.Tensor


@torch.no_grad()
def impute(model, encoder, obs: Observation, steps: int, burn_in: int, method: str = METHODS[0], keep: int = 4,
           seed: int = 0, proposals: int = 1, warm: int = 0) -> Imputation:
    """Sample the hidden pixels of ``obs`` given the seen ones, one chain per image, batched: ``steps`` sweeps
    (z-step, x-step) of ``method`` (``METHODS``), the first ``burn_in`` of them discarded; the chain starts from y
    with z drawn from q(z | y). Metropolis-within-Gibbs makes ``proposals`` independent MH z-steps a sweep (each
    from the same q(z | x), each leaving p(z | x) invariant) and, where ``warm`` > 0, starts with ``warm`` sweeps
    of pseudo-Gibbs inside the burn-in (a start nearer the target; the chain after it is exact whatever its start).
    ``model``: the prior over x (its ``prior`` and decoder, ``pixel_model``); ``encoder``: q(z|x), a distribution
    with ``sample`` and ``log_prob`` of batch (B,). Seeded by ``seed``."""
    if method not in METHODS:
        raise ValueError(f"impute: method={method!r} is not one of {METHODS}")
    if not 0 <= warm <= burn_in < steps or keep < 1 or proposals < 1:
        raise ValueError(f"impute: need 0 <= warm <= burn_in < steps, keep >= 1 and proposals >= 1 (warm={warm}, "
                         f"burn_in={burn_in}, steps={steps}, keep={keep}, proposals={proposals})")
    pixels = pixel_model(model)
    prior = model.prior
    kept = {steps - 1 - round(k * (steps - 1 - burn_in) / max(keep - 1, 1)) for k in range(keep)}  # last first
    with seeded(seed, obs.y.device):
        x = obs.y.clone()  # (B, D): the completed image, hidden pixels at their starting values
        z = encoder(x).sample()  # (B, Z)
        params = pixels.params(z)
        accepted = torch.zeros(len(x), dtype=x.dtype, device=x.device)  # (B,)
        total = torch.zeros_like(x)  # (B, D): sum of E[x | z_t, y] after burn-in
        samples = []
        for t in range(steps):
            q = encoder(x)
            exact = method == METHODS[0] and t >= warm
            if exact:
                log_w = prior.log_prob(z) + pixels.log_lik(x, params) - q.log_prob(z)  # (B,)
            for _ in range(proposals if exact else 1):
                z_new = q.sample()  # (B, Z)
                params_new = pixels.params(z_new)
                if exact:  # independent MH: w(z) = p(z) p(x|z) / q(z|x)
                    log_w_new = prior.log_prob(z_new) + pixels.log_lik(x, params_new) - q.log_prob(z_new)  # (B,)
                    accept = torch.rand_like(log_w).log() < log_w_new - log_w  # (B,)
                    log_w = torch.where(accept, log_w_new, log_w)
                else:
                    accept = torch.ones(len(x), dtype=torch.bool, device=x.device)
                z = torch.where(accept[:, None], z_new, z)
                params = tuple(torch.where(accept[:, None], a, b) for a, b in zip(params_new, params))
                accepted += accept
            x = pixels.draw(params, obs)  # (B, D)
            if t >= burn_in:
                total += pixels.conditional(params, obs)
            if t in kept:
                samples.append(x)
    return Imputation(total / (steps - burn_in), torch.stack(samples),
                      accepted / (warm + (steps - warm) * (proposals if method == METHODS[0] else 1)))


def hidden_log_lik(prob: torch.Tensor, truth: torch.Tensor, hidden: torch.Tensor, floor: float) -> torch.Tensor:
    """The mean Bernoulli log-likelihood per hidden pixel of a predictive mean: prob, truth (binary), hidden: (B, D)
    -> (B,), Σ_hidden [t log p + (1 − t) log(1 − p)] / #hidden, p clipped to [floor, 1 − floor] (so that a 0/1
    guess that is wrong costs log(floor), not −∞)."""
    p = prob.double().clamp(floor, 1 - floor)
    t = truth.double()
    ll = t * torch.log(p) + (1 - t) * torch.log1p(-p)  # (B, D)
    return (ll * hidden).sum(-1) / hidden.sum(-1)


def hidden_error(prob: torch.Tensor, truth: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The share of hidden pixels where the rounded predictive mean (1 where p > 1/2) is wrong: (B, D) -> (B,)."""
    wrong = ((prob > 0.5).to(truth.dtype) != truth).double()
    return (wrong * hidden).sum(-1) / hidden.sum(-1)

