"""Latent use (aevb/latent_use.py) against closed forms: the activity of a linear encoder is a quadratic form of
the data's covariance, the KL per dimension is App. B's, and the z-free model is exactly the bound of a VAE whose
decoder ignores z and whose q(z|x) is the prior (the fixed point chapter 8 finds wake-sleep in)."""
import math
from pathlib import Path

import pytest
import torch

from aevb.book.frey_latent_use import curves, final_rows, findings, kl_total, step_size_search
from aevb.config import TrainConfig
from aevb.evaluation import average_bound
from aevb.experiments.store import StoredRun
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


def _run(algorithm, start, seed, kl, lr=0.01):
    config = TrainConfig(dataset="frey", algorithm=algorithm, n_z=2, hidden=(200,), start=start, seed=seed,
                         diagnostics=True)
    curve = [{"samples": s, "seconds": 1.0, "train_bound": b, "test_bound": b - 5, "active_units": a,
              "kl_z1": k, "kl_z2": k / 2} for s, b, a, k in ((1000, 500.0, 0, 0.001), (10_000, 700.0, 2, kl))]
    return StoredRun(f"{algorithm}-{start}-s{seed}", config, curve,
                     {"lr_used": lr, "lr_search": {"0.01": 550.0, "0.1": -math.inf}}, Path("unused"))


def test_the_study_tables_and_curves():
    runs = [_run("aevb", "paper", 0, 4.0), _run("wake-sleep", "anglepy", 1, 0.002, lr=0.1)]
    rows = final_rows(runs)
    assert rows[0]["active units"] == 2 and rows[0]["KL total"] == pytest.approx(6.0)
    assert rows[1]["start"] == "anglepy" and rows[1]["step size"] == 0.1
    assert len(curves(runs)) == 4 and kl_total(runs[0].curve[0], 2) == pytest.approx(0.0015)
    search = step_size_search(runs)
    assert search[0]["lr=0.01"] == 550.0 and search[0]["lr=0.1"] == -math.inf and search[1]["kept"] == 0.1


def test_findings_name_the_fixed_point_only_where_every_seed_collapsed():
    ws = [_run("wake-sleep", s, i, 0.002, lr=0.1 if s == "anglepy" else 0.01) for s in ("paper", "anglepy")
          for i in range(2)]
    for r in ws:
        r.curve[-1]["active_units"] = 0
    aevb = [_run("aevb", "paper", 0, 4.0)]
    f = findings(final_rows(ws + aevb), {"train": 690.0, "test": 680.0})
    assert f["ws_paper_active_max"] == 0 and f["ws_anglepy_seeds"] == 2 and f["aevb_paper_active_min"] == 2
    assert f["ws_paper_above_zfree"] == pytest.approx(10.0) and f["ws_anglepy_lrs"] == "0.1"
    assert "fixed point of wake-sleep" in f["verdict"] and f["ws_paper_train_sd"] == pytest.approx(0.0)
    ws[3].curve[-1]["active_units"] = 1  # one seed under the authors' start escapes
    assert "depends on how the optimiser starts" in findings(final_rows(ws + aevb), {"train": 0, "test": 0})["verdict"]
