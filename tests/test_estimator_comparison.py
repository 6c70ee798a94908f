"""Chapter 5's App. D density comparison (aevb/estimator_comparison.py): its rows, its summaries, and that it
measures what tests/test_evaluation.py measures (the same models, points and chains give the same errors)."""
import math

import torch

from aevb.estimator_comparison import (SAMPLERS, by_density, density_summary, linear_gaussian_problems,
                                   sampler_summary)
from tests.test_evaluation import _app_d_errors


def test_by_density_rows_summaries_and_the_jittered_gaussian():
    problems = linear_gaussian_problems(n_models=2, n_points=16)
    rows = by_density(problems)
    assert len(rows) == 2 * 2 * 2 * 16  # problems × samplers × densities × points
    assert set(rows[0]) == {"problem", "sampler", "density", "point", "error", "lag1", "ess_sq", "kept",
                            "bandwidth"}
    assert {(r["sampler"], r["density"]) for r in rows} == {(s, d) for s in SAMPLERS for d in ("gaussian", "kde")}
    summary = {(r["sampler"], r["density"]): r for r in density_summary(rows)}
    assert len(summary) == 4 and all(r["problems"] == 2 and r["points"] == 32 for r in summary.values())
    for r in summary.values():
        assert r["worst"] >= r["mean_abs"] >= abs(r["mean"]) and r["worst"] >= r["worst_problem_mean"]
        assert math.isnan(r["bandwidth"]) == (r["density"] == "gaussian")
    # the KDE's factor is one of hmc_est.py's candidates, multiples e^((i − 5)/2) of Scott's
    assert all(abs(2 * math.log(r["bandwidth"]) + 5 - round(2 * math.log(r["bandwidth"]) + 5)) < 1e-9
               for r in rows if r["density"] == "kde")

    jit = torch.tensor([r["error"] for r in rows if (r["sampler"], r["density"]) == ("jittered step", "gaussian")],
                       dtype=torch.float64)
    torch.testing.assert_close(jit.view(2, 16), _app_d_errors(n_models=2), rtol=0, atol=0)  # the test's chains
    best = summary[("jittered step", "gaussian")]
    assert best["worst"] < 1.0 and best["worst_problem_mean"] < 0.1  # test_evaluation's tolerances

    chains = {r["sampler"]: r for r in sampler_summary(rows)}
    assert all(r["chains"] == 32 and r["kept"] == 100 for r in chains.values())
    fixed, jittered = chains["fixed step"], chains["jittered step"]
    assert fixed["lag1"] < -0.3 < jittered["lag1"] and fixed["resonating"] > 0.3 > jittered["resonating"]
    assert fixed["ess_sq_min"] < jittered["ess_sq_min"]
