"""Linear probes of a representation: how much of the class of an image a linear read-out of its features finds.

The paper, §1: "The learned approximate posterior inference model can also be used for a host of tasks such as
recognition, denoising, representation and visualization purposes." Our reading (chapter 13): a representation
is good for recognition where a *linear* classifier on it, trained on few labels, classifies well; the
encoder's means μ(x) are compared with raw pixels and with PCA of as many components, by the same probe.

- ``fit_pca``: PCA with n components, fitted on the (unlabelled) training images: the eigenvectors of their
  centred covariance with the n largest eigenvalues (``torch.linalg.eigh``, float64), each signed so that its
  largest entry in absolute value is positive (a deterministic choice of the sign eigh leaves open);
  ``PCA(x)`` projects onto them.
- ``standardizer``: per-feature mean and standard deviation of the unlabelled training features (a constant
  feature, e.g. a border pixel, keeps scale 1), so that one L2 penalty means the same on every feature kind.
- ``fit_logistic``: multinomial logistic regression, p(y = k | f) = softmax(W f + b)_k, minimising the mean
  cross-entropy plus (λ/2)‖W‖² (the bias is not penalised) by full-batch L-BFGS with a strong-Wolfe line search
  (``torch.optim.LBFGS``), from zero: deterministic. The objective is strictly convex in W; b is fixed up to
  a common shift, and starting from zero keeps Σ_k b_k = 0 (every gradient sums to zero over the classes).
- ``balanced_subset``: a seeded class-balanced subset of the labelled training set (n / 10 images per class);
  ``stratified_folds``: a seeded split of it into k disjoint folds with the classes spread evenly.
- ``choose_l2``: λ from a small fixed grid by k-fold cross-validation on the labelled subset only (the held-out
  mean cross-entropy; each fold's fits warm-started along the grid from the strongest penalty down);
  ``probe``: that, then the fit on the whole labelled subset and its accuracy on the test features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

N_CLASSES = 10


@dataclass(frozen=True)
class ProbeSettings:
    """How a probe is fitted and its penalty chosen."""
    l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # λ candidates (mean loss + λ/2 ‖W‖²)
    folds: int = 3  # k of the k-fold cross-validation that chooses λ
    max_iter: int = 100  # L-BFGS iterations per fit, at most (scikit-learn's default; the raw-pixel fits with
    # 1,000 and more labels can reach it: the measurement's rows record each fit's iterations and final gradient)
    tolerance: float = 1e-5  # L-BFGS stops where the gradient's largest entry is below this
    history: int = 20  # L-BFGS's memory (pairs of steps and gradient changes)
    stall: float = 1e-12  # ... or where an iteration changes the objective by less (float32 rounding: a stall)


PROBE = ProbeSettings()


@dataclass(frozen=True)
class PCA:
    """Principal components fitted on training images: ``mean`` (D,), ``components`` (n, D) orthonormal rows
    in order of ``variance`` (n,), the variance of the training images along each."""
    mean: torch.Tensor
    components: torch.Tensor
    variance: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, D) -> its coordinates (N, n) along the components, in x's dtype."""
        centred = x.double() - self.mean  # (N, D)
        return (centred @ self.components.T).to(x.dtype)  # (N, n)


def fit_pca(x: torch.Tensor, n: int, batch_size: int = 10_000) -> PCA:
    """PCA with ``n`` components of x: (N, D), from the eigen-decomposition of its centred covariance (1/N, float64,
    accumulated over batches of rows)."""
    if not 1 <= n <= x.shape[1]:
        raise ValueError(f"fit_pca: n = {n} components, but x has {x.shape[1]} columns")
    mean = x.double().mean(0)  # (D,)
    cov = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64)  # (D, D)
    for xb in x.split(batch_size):
        c = xb.double() - mean  # (b, D)
        cov += c.T @ c
    values, vectors = torch.linalg.eigh(cov / len(x))  # ascending: (D,), (D, D) columns
    values, vectors = values.flip(0)[:n], vectors.flip(1)[:, :n].T  # (n,), (n, D)
    top = vectors.abs().argmax(1)  # (n,)
    signs = torch.sign(vectors[torch.arange(n), top])  # (n,)
    return PCA(mean, vectors * signs[:, None], values)


@dataclass(frozen=True)
class Standardizer:
    """Features centred and scaled by statistics of the unlabelled training features: ``mean``, ``scale`` (D,)."""
    mean: torch.Tensor
    scale: torch.Tensor

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.mean.to(f.dtype)) / self.scale.to(f.dtype)  # (N, D)


def standardizer(f: torch.Tensor) -> Standardizer:
    """Per-column mean and standard deviation of f: (N, D) (float64); a constant column keeps scale 1."""
    mean, sd = f.double().mean(0), f.double().std(0, correction=0)  # (D,), (D,)
    return Standardizer(mean, torch.where(sd > 0, sd, torch.ones_like(sd)))


@dataclass(frozen=True)
class Softmax:
    """A fitted multinomial logistic regression: ``weight`` (K, D), ``bias`` (K,), its penalty ``l2``, the L-BFGS
    ``iterations`` it took and ``gradient``, the largest entry of the objective's gradient at the end."""
    weight: torch.Tensor
    bias: torch.Tensor
    l2: float
    iterations: int
    gradient: float

    def logits(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.weight.T + self.bias  # (N, K)

    def loss(self, f: torch.Tensor, y: torch.Tensor) -> float:
        """Mean cross-entropy (nats) on features f: (N, D) with labels y: (N,): the held-out score of a fold."""
        return F.cross_entropy(self.logits(f), y).item()

    def accuracy(self, f: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of f: (N, D) whose most probable class is its label y: (N,)."""
        return (self.logits(f).argmax(1) == y).double().mean().item()


def objective(weight: torch.Tensor, bias: torch.Tensor, f: torch.Tensor, y: torch.Tensor, l2: float) -> torch.Tensor:
    """Mean cross-entropy of softmax(f Wᵀ + b) against y plus (λ/2)‖W‖²: weight (K, D), bias (K,), f (N, D), y (N,)."""
    return F.cross_entropy(f @ weight.T + bias, y) + 0.5 * l2 * (weight * weight).sum()


def fit_logistic(f: torch.Tensor, y: torch.Tensor, l2: float, settings: ProbeSettings = PROBE,
                 init: Softmax | None = None, n_classes: int = N_CLASSES) -> Softmax:
    """Multinomial logistic regression on f: (N, D) (its dtype) with labels y: (N,) in 0..K-1 and penalty ``l2``,
    by full-batch L-BFGS from zero (or from ``init``, a fit of the same shape: a warm start)."""
    k, d = n_classes, f.shape[1]
    theta = torch.zeros(k * (d + 1), dtype=f.dtype) if init is None else \
        torch.cat([init.weight.reshape(-1), init.bias]).to(f.dtype)  # (K·D + K,)
    theta.requires_grad_(True)
    optimizer = torch.optim.LBFGS([theta], lr=1.0, max_iter=settings.max_iter, history_size=settings.history,
                                  tolerance_grad=settings.tolerance, tolerance_change=settings.stall,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = objective(theta[:k * d].view(k, d), theta[k * d:], f, y, l2)
        loss.backward()
        return loss

    optimizer.step(closure)
    iterations = optimizer.state[theta].get("n_iter", 0)
    theta = theta.detach()
    weight, bias = theta[:k * d].view(k, d).clone(), theta[k * d:].clone()  # (K, D), (K,)
    w, b = weight.requires_grad_(True), bias.requires_grad_(True)
    grads = torch.autograd.grad(objective(w, b, f, y, l2), (w, b))
    gradient = max(g.abs().max().item() for g in grads)
    return Softmax(weight.detach(), bias.detach(), l2, iterations, gradient)


def balanced_subset(labels: torch.Tensor, n: int, seed: int, n_classes: int = N_CLASSES) -> torch.Tensor:
    """Indices (n,) into labels: (N,): n / K of each class, drawn without replacement by a generator seeded with
    ``seed``, in increasing order."""
    if n % n_classes:
        raise ValueError(f"balanced_subset: n = {n} labels cannot be split evenly over {n_classes} classes")
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(n_classes):
        mine = torch.nonzero(labels == c).flatten()  # (N_c,)
        if len(mine) < n // n_classes:
            raise ValueError(f"balanced_subset: class {c} has {len(mine)} images, fewer than {n // n_classes}")
        picks.append(mine[torch.randperm(len(mine), generator=generator)[:n // n_classes]])
    return torch.cat(picks).sort().values


def stratified_folds(labels: torch.Tensor, k: int, seed: int, n_classes: int = N_CLASSES) -> list[torch.Tensor]:
    """k disjoint folds covering every index of labels: (N,), each class dealt round-robin over the folds in a
    seeded random order (the deal continues across classes, so fold sizes differ by at most one)."""
    generator = torch.Generator().manual_seed(seed)
    fold_of = torch.empty(len(labels), dtype=torch.int64)  # (N,)
    start = 0
    for c in range(n_classes):
        mine = torch.nonzero(labels == c).flatten()  # (N_c,)
        order = mine[torch.randperm(len(mine), generator=generator)]
        fold_of[order] = (start + torch.arange(len(order))) % k
        start += len(order)
    return [torch.nonzero(fold_of == i).flatten() for i in range(k)]


def choose_l2(f: torch.Tensor, y: torch.Tensor, settings: ProbeSettings = PROBE, seed: int = 0) -> dict:
    """λ of ``settings.l2_grid`` with the lowest mean held-out cross-entropy over ``settings.folds`` stratified
    folds of the labelled f: (N, D), y: (N,) (ties: the larger λ): {"l2", "cv_loss" (its score), "scores"}."""
    folds = stratified_folds(y, settings.folds, seed)
    grid = sorted(settings.l2_grid, reverse=True)
    losses = {l2: [] for l2 in grid}
    for held in folds:
        train = torch.ones(len(y), dtype=torch.bool)  # (N,)
        train[held] = False
        fit = None
        for l2 in grid:
            fit = fit_logistic(f[train], y[train], l2, settings, init=fit)
            losses[l2].append(fit.loss(f[held], y[held]))
    scores = {l2: math.fsum(v) / len(v) for l2, v in losses.items()}
    best = min(grid, key=lambda l2: (scores[l2], -l2))
    return {"l2": best, "cv_loss": scores[best], "scores": scores}


def probe(f_train: torch.Tensor, y_train: torch.Tensor, f_test: torch.Tensor, y_test: torch.Tensor,
          settings: ProbeSettings = PROBE, seed: int = 0) -> dict:
    """The probe on labelled features f_train: (n, D), y_train: (n,) (already standardized): λ by
    cross-validation (folds drawn with ``seed``), the fit on all n, and its test accuracy on f_test: (M, D),
    y_test: (M,): {"accuracy", "l2", "cv_loss", "iterations", "gradient"}."""
    chosen = choose_l2(f_train, y_train, settings, seed)
    fit = fit_logistic(f_train, y_train, chosen["l2"], settings)
    return {"accuracy": fit.accuracy(f_test, y_test), "l2": chosen["l2"], "cv_loss": chosen["cv_loss"],
            "iterations": fit.iterations, "gradient": fit.gradient}
