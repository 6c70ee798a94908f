"""Chapter 12's steps (aevb/book/burda.py): the grey-level identity the chapter states, the tables and the
computed findings on the committed store, and a store whose benchmark is not measured yet."""
import itertools
import math
import shutil

import pytest
import torch

from aevb.book.burda import (benchmark_facts, benchmark_findings, benchmark_rows, benchmark_runs,
                                 benchmark_table, gap_rows, gap_table, label)
from aevb.experiments.grids import BURDA_SHORT_STAGES, study_configs
from aevb.experiments.measurements import PUBLISHED, read_measurement
from aevb.experiments.store import RESULTS_DIR
from aevb.models import BernoulliDecoder
from aevb.protocols import stage_budget


def test_a_grey_level_bernoulli_likelihood_is_the_expected_binary_one():
    """For grey levels y and decoder means p the Bernoulli cross-entropy equals E_{x ~ Bernoulli(y)} log p(x)
    exactly (enumerating every binary x of 6 pixels), and over p it is largest at p = y, where it is −Σ H(y_i)."""
    g = torch.Generator().manual_seed(0)
    dec = BernoulliDecoder(2, 6, (5,)).double()
    y = torch.rand(3, 6, generator=g, dtype=torch.float64)  # (B, D) grey levels
    z = torch.randn(3, 2, generator=g, dtype=torch.float64)
    grey = dec.log_likelihood(y, z)  # (B,): the paper's "log-likelihood" of grey images
    xs = torch.tensor(list(itertools.product((0.0, 1.0), repeat=6)), dtype=torch.float64)  # (64, D)
    prob = torch.stack([(xs * yi + (1 - xs) * (1 - yi)).prod(1) for yi in y])  # (B, 64): P(x | y)
    ll = torch.stack([dec.log_likelihood(xs, zi.expand(64, 2)) for zi in z])  # (B, 64)
    torch.testing.assert_close(grey, (prob * ll).sum(1), rtol=0, atol=1e-12)
    entropy = -(y * y.log() + (1 - y) * (1 - y).log()).sum(1)
    ceiling = (y * y.log() + (1 - y) * (1 - y).log()).sum(1)  # the cross-entropy at p = y
    torch.testing.assert_close(ceiling, -entropy)
    assert (grey < ceiling).all()  # any other p scores lower


@pytest.fixture(scope="module")
def store():
    runs = benchmark_runs()
    return runs, benchmark_rows(runs), gap_rows(runs)


def test_the_committed_benchmark_reads_and_tabulates(store):
    runs, rows, gaps = store
    assert [r.name for r in runs] == [r.name for r in benchmark_runs(RESULTS_DIR)]
    measured = read_measurement("burda", RESULTS_DIR)
    assert measured is not None and len(measured) == len(rows) == len(study_configs("burda", 1)) == 6
    assert [r["model"] for r in rows] == [label(r.config) for r in runs]
    by = {r["model"]: r for r in rows}
    assert (by["VAE"]["published_nll"], by["IWAE, k = 50"]["published_au"]) == (PUBLISHED[("VAE", 1)][0],
                                                                                 PUBLISHED[("IWAE", 50)][1])
    assert by["VAE, grey levels"]["published_nll"] is None and by["VAE, full-covariance q"]["published_nll"] is None
    for r in rows:  # every row measured, its NLL a positive number of nats with a standard error
        assert r["nll"] > 0 and 0 < r["nll_se"] < 5 and r["samples"] == stage_budget(BURDA_SHORT_STAGES) == 780_000
        assert r["passes"] == 13
        assert r["nll"] < r["elbo_nll"]  # the k = 5000 bound is above the ELBO
    shown = benchmark_table(rows)
    assert len(shown.frame) == len(shown.detail[1].frame) == len(rows) and "86.76" in shown._repr_html_()
    assert shown._repr_html_().count("<tr") == 2 * (len(rows) + 1) and "<details>" in shown._repr_html_()
    assert len(gaps) == 6 and gap_table(gaps)._repr_html_().count("<tr") == 7
    for g in gaps:
        assert g["total_gap"] == pytest.approx(g["approximation_gap"] + g["amortization_gap"], abs=1e-3)


def test_the_findings_say_what_the_numbers_show(store):
    runs, rows, gaps = store
    table1, gap_text = benchmark_findings(runs, rows, gaps)
    by = {r["model"]: r for r in rows}
    holds = by["VAE"]["nll"] > by["IWAE, k = 5"]["nll"] > by["IWAE, k = 50"]["nll"]
    assert ("holds already" in table1) == holds and ("does not hold yet" in table1) == (not holds)
    assert f"{by['VAE']['nll']:.2f}" in table1 and "13 of Burda et al.'s 3,280 passes" in table1
    assert gap_text.count("\n") == len(gaps) - 1
    for g in gaps:
        larger = "amortization" if g["amortization_gap"] > g["approximation_gap"] else "approximation"
        assert f"{g['model']}: approximation gap {g['approximation_gap']:.2f}" in gap_text
        assert f"the {larger} gap is the larger" in gap_text.splitlines()[gaps.index(g)]
    facts = benchmark_facts(runs, rows, gaps)
    assert facts["passes"] == 13 and math.isfinite(facts["grey_entropy"]) and facts["grey_entropy"] > 0
    assert facts["vae_diff"] == pytest.approx(by["VAE"]["nll"] - PUBLISHED[("VAE", 1)][0])


def test_a_store_not_measured_yet(tmp_path):
    shutil.copytree(RESULTS_DIR / "runs", tmp_path / "runs")
    runs = benchmark_runs(tmp_path)
    rows = benchmark_rows(runs, tmp_path)
    assert all(r["nll"] is None for r in rows) and gap_rows(runs, tmp_path) == []
    table1, gap_text = benchmark_findings(runs, rows, [])
    assert "Not measured yet" in table1 and gap_text == ""
    assert "<tr" in benchmark_table(rows)._repr_html_()
