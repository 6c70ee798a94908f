"""aevb.linear_probe against exact answers: logistic regression's optimum (stationarity; a float64 Newton solve on
random instances; a symmetric 1-D case solved by root finding), PCA against numpy's eigen-decomposition, and the
seeded class-balanced subsets and stratified folds."""
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.special import expit

from aevb.linear_probe import (
    ProbeSettings,
    balanced_subset,
    choose_l2,
    fit_logistic,
    fit_pca,
    objective,
    probe,
    standardizer,
    stratified_folds,
)

TIGHT = ProbeSettings(max_iter=2000, tolerance=1e-10, stall=0.0)  # converged to float64's precision


def instance(seed, n=60, d=4, k=3):
    """Random overlapping classes: features (n, d) float64 around class means, labels (n,) covering all k."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k  # (n,)
    f = torch.randn(k, d, generator=g, dtype=torch.float64)[y] + 1.5 * torch.randn(n, d, generator=g,
                                                                                   dtype=torch.float64)
    return f, y


def newton(f, y, l2, k, steps=50):
    """The penalised optimum by Newton's method in float64 numpy: (W (k, d), b (k,)), b summing to zero (the
    objective is flat along a common shift of b; the minimum-norm step keeps that shift at zero)."""
    f, y = f.numpy(), y.numpy()
    n, d = f.shape
    a = np.hstack([f, np.ones((n, 1))])  # (n, d + 1)
    t = np.eye(k)[y]  # (n, k)
    theta = np.zeros((k, d + 1))
    pen = np.diag(np.r_[np.full(d, l2), 0.0])  # (d + 1, d + 1): W penalised, b not
    for _ in range(steps):
        z = a @ theta.T
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)  # (n, k)
        grad = (p - t).T @ a / n + theta @ pen  # (k, d + 1)
        s = p[:, :, None] * np.eye(k) - p[:, :, None] * p[:, None, :]  # (n, k, k): diag(p) − p pᵀ
        h = np.einsum("iab,ic,ie->acbe", s, a, a) / n + np.einsum("ab,ce->acbe", np.eye(k), pen)
        step = np.linalg.lstsq(h.reshape(k * (d + 1), -1), grad.reshape(-1), rcond=None)[0]
        theta -= step.reshape(k, d + 1)
    return theta[:, :d], theta[:, d]


@pytest.mark.parametrize("l2", [1e-3, 0.1, 1.0])
def test_logistic_regression_matches_a_float64_newton_solve(l2):
    worst = 0.0
    for seed in range(4):
        f, y = instance(seed)
        fit = fit_logistic(f, y, l2, TIGHT, n_classes=3)
        w, b = newton(f, y, l2, 3)
        worst = max(worst, np.abs(fit.weight.numpy() - w).max(), np.abs(fit.bias.numpy() - b).max())
        assert fit.gradient < 1e-7  # stationary: the penalised objective's gradient vanishes
        assert abs(fit.bias.sum().item()) < 1e-10  # from zero, the biases keep summing to zero
    assert worst < 1e-6


def test_the_fit_is_a_minimum_not_just_stationary():
    """Any perturbation of the fitted weights raises the objective (strict convexity, checked directly)."""
    f, y = instance(7)
    fit = fit_logistic(f, y, 0.05, TIGHT, n_classes=3)
    best = objective(fit.weight, fit.bias, f, y, 0.05).item()
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        dw = 1e-3 * torch.randn(fit.weight.shape, generator=g, dtype=torch.float64)
        assert objective(fit.weight + dw, fit.bias, f, y, 0.05).item() > best


@pytest.mark.parametrize("a,l2", [(1.0, 0.1), (2.0, 0.01), (0.5, 1.0)])
def test_symmetric_one_dimensional_case_has_its_closed_form(a, l2):
    """Two points x = ±a of classes 1 and 0: by symmetry b = 0 and W = (−v, v) with the stationarity condition
    2λv = 2a·σ(−2va)·(1/1) (mean over the two points): λv = a·σ(−2va), a single root in v > 0."""
    f = torch.tensor([[a], [-a]], dtype=torch.float64)
    y = torch.tensor([1, 0])
    fit = fit_logistic(f, y, l2, TIGHT, n_classes=2)
    v = brentq(lambda v: l2 * v - a * expit(-2 * v * a), 0.0, 10 * a / l2 + 10, xtol=1e-14)
    assert fit.weight.flatten().numpy() == pytest.approx([-v, v], abs=1e-7)
    assert fit.bias.numpy() == pytest.approx([0.0, 0.0], abs=1e-9)


def test_a_stronger_penalty_shrinks_the_weights_and_the_fit_is_deterministic():
    f, y = instance(3)
    norms = [fit_logistic(f, y, l2, TIGHT, n_classes=3).weight.norm().item() for l2 in (1e-3, 1e-2, 1e-1, 1.0)]
    assert all(a > b for a, b in itertools.pairwise(norms))
    one, two = fit_logistic(f, y, 0.1, n_classes=3), fit_logistic(f, y, 0.1, n_classes=3)
    assert torch.equal(one.weight, two.weight) and torch.equal(one.bias, two.bias)


def test_a_warm_start_reaches_the_same_optimum():
    f, y = instance(5)
    cold = fit_logistic(f, y, 0.01, TIGHT, n_classes=3)
    warm = fit_logistic(f, y, 0.01, TIGHT, init=fit_logistic(f, y, 1.0, n_classes=3), n_classes=3)
    assert (warm.weight - cold.weight).abs().max().item() < 1e-6


def test_pca_matches_numpys_eigendecomposition():
    rng = np.random.default_rng(0)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) + rng.normal(size=12)  # (500, 12), correlated
        pca = fit_pca(torch.from_numpy(x), 4)
        values, vectors = np.linalg.eigh(np.cov(x.T, bias=True))
        order = np.argsort(values)[::-1][:4]
        assert pca.variance.numpy() == pytest.approx(values[order], rel=1e-10)
        for got, want in zip(pca.components.numpy(), vectors[:, order].T):
            assert min(np.abs(got - want).max(), np.abs(got + want).max()) < 1e-8  # up to sign
            assert got[np.abs(got).argmax()] > 0  # our sign: the largest entry positive
        z = pca(torch.from_numpy(x)).numpy()  # (500, 4)
        assert z.mean(0) == pytest.approx(np.zeros(4), abs=1e-9)
        assert z.var(0) == pytest.approx(values[order], rel=1e-9)  # the variance along each component
        assert np.abs(np.cov(z.T, bias=True) - np.diag(values[order])).max() < 1e-9  # uncorrelated coordinates


def test_pca_refuses_more_components_than_columns():
    with pytest.raises(ValueError, match="5 components, but x has 4 columns"):
        fit_pca(torch.zeros(10, 4), 5)


def test_standardizer_uses_the_given_statistics_and_keeps_constant_columns():
    x = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 2.0], [5.0, 0.0, 8.0]], dtype=torch.float64)
    s = standardizer(x)
    z = s(x)
    assert z.mean(0).numpy() == pytest.approx([0, 0, 0], abs=1e-12)
    assert z.std(0, correction=0).numpy() == pytest.approx([1, 0, 1], abs=1e-12)
    assert s(torch.tensor([[7.0, 1.0, 2.0]], dtype=torch.float64))[0].numpy() == pytest.approx(
        [(7 - 3) / np.sqrt(8 / 3), 1.0, (2 - 4) / np.sqrt(8)])  # new data: the training statistics


def test_balanced_subset_is_balanced_seeded_and_within_classes():
    labels = torch.arange(1000) % 10
    labels = labels[torch.randperm(1000, generator=torch.Generator().manual_seed(1))]
    a, b, c = balanced_subset(labels, 100, 0), balanced_subset(labels, 100, 0), balanced_subset(labels, 100, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(a.unique()) == 100 and torch.bincount(labels[a], minlength=10).tolist() == [10] * 10
    with pytest.raises(ValueError, match="cannot be split evenly"):
        balanced_subset(labels, 105, 0)
    with pytest.raises(ValueError, match="class 3 has"):
        balanced_subset(labels[labels != 3], 100, 0)


def test_stratified_folds_are_disjoint_cover_and_spread_the_classes():
    g = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 10, (537,), generator=g)
    folds = stratified_folds(labels, 5, seed=0)
    every = torch.cat(folds)
    assert len(every) == 537 and torch.equal(every.sort().values, torch.arange(537))  # disjoint and covering
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    counts = torch.stack([torch.bincount(labels[f], minlength=10) for f in folds])  # (5, 10)
    assert (counts.max(0).values - counts.min(0).values).max().item() <= 1  # each class spread evenly
    again, other = stratified_folds(labels, 5, seed=0), stratified_folds(labels, 5, seed=1)
    assert all(torch.equal(x, z) for x, z in zip(folds, again))
    assert not all(torch.equal(x, z) for x, z in zip(folds, other))


def test_cross_validation_picks_the_penalty_with_the_lowest_held_out_loss():
    """Few, noisy points (30 per class in 12 dimensions): the weakest penalty overfits and the held-out loss says
    so; the chosen λ is the argmin of the scores it reports, which are the mean over folds of refits done here."""
    g = torch.Generator().manual_seed(4)
    y = torch.arange(300) % 10
    f = 0.7 * torch.nn.functional.one_hot(y, 12).double() + torch.randn(300, 12, generator=g, dtype=torch.float64)
    settings = ProbeSettings(l2_grid=(1e-3, 0.1, 10.0), folds=3, max_iter=2000, tolerance=1e-9, stall=0.0)
    chosen = choose_l2(f, y, settings, seed=0)
    assert chosen["l2"] == min(chosen["scores"], key=chosen["scores"].get) == 0.1  # neither end of the grid
    folds = stratified_folds(y, 3, seed=0)
    losses = []
    for held in folds:
        keep = torch.ones(300, dtype=torch.bool)
        keep[held] = False
        fit = fit_logistic(f[keep], y[keep], 1e-3, settings)
        losses.append(fit.loss(f[held], y[held]))
    assert chosen["scores"][1e-3] == pytest.approx(np.mean(losses), rel=1e-6)  # cold start, same optimum


def test_probe_separates_separable_classes_and_reports_its_fit():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 10
    f = 3.0 * torch.nn.functional.one_hot(y, 10).double() + 0.3 * torch.randn(200, 10, generator=g,
                                                                              dtype=torch.float64)
    out = probe(f[:100], y[:100], f[100:], y[100:], ProbeSettings(folds=2), seed=0)
    assert out["accuracy"] == 1.0 and out["l2"] in ProbeSettings().l2_grid and out["gradient"] < 1e-5
