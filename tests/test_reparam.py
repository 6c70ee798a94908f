"""§2.4: pathwise gradients of E[z²] for every family against the exact gradient.

20 independent batches of 20,000 draws give a mean and its standard error; the test allows
5 standard errors (see test_estimators). A wrong transform (e.g. a missing Jacobian or a wrong
inverse CDF) shifts the gradient by far more than that.
"""
import pytest
import torch

from aevb.reparam import FAMILIES, exact_gradient, family, pathwise_gradient, sample


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
def test_pathwise_gradient_matches_exact(fam):
    draws = [pathwise_gradient(fam, 20_000, seed=s) for s in range(20)]
    exact = exact_gradient(fam)
    for k, v in exact.items():
        g = torch.tensor([d[k] for d in draws], dtype=torch.float64)
        se = g.std() / len(g) ** 0.5
        assert abs(g.mean() - v) < 5 * se, f"{fam.name} d/d{k}: {g.mean():.4f} vs exact {v:.4f} (se {se:.4f})"


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
def test_samples_have_the_exact_second_moment(fam):
    z = sample(fam, 400_000, seed=7).detach()
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in fam.params.items()}
    se = (z**2).std() / len(z) ** 0.5
    assert abs((z**2).mean() - fam.second_moment(p)) < 5 * se


def test_families_cover_the_three_kinds_and_lookup_fails_clearly():
    assert {f.kind for f in FAMILIES} == {"inverse CDF", "location-scale", "composition"}
    with pytest.raises(ValueError, match="family='Zeta'"):
        family("Zeta")
