"""Measurements on stored models (aevb/experiments/measurements.py): on a small trained run, App. D repeated over
seeds spreads as little as the estimator promises and agrees with AIS on a 2-D latent; Fig. 2's bound evaluated
again reproduces the curve and spreads as its single-sample estimates do; with no checkpoint the command stops and
leaves the study file alone."""
import shutil

import pytest
import torch

from aevb.config import TrainConfig
from aevb.experiments.grids import FIG3_N_TRAIN, figure_configs, run_name, study_configs
from aevb.experiments.measurements import (COLUMNS, DIMENSION_METHODS, appd_dimension, appd_repeats, bound_repeats,
                                           cost_rates, fig2_variance, fig3_ais, measure, posterior_activity,
                                           read_measurement, measurement_path, run_rates)
from aevb.data import load_split
from aevb.estimators import sgvb_b
from aevb.experiments.runs import load_checkpointed, read_curve
from aevb.rng import seeded
from aevb.files import atomic_write_csv
from aevb.experiments.runs import run
from aevb.distributions import DiagonalGaussian
from aevb.inference_gap import QUANTITIES
from aevb.posteriors import IAFPosterior
from aevb.protocols import burda_config

SMALL = TrainConfig(dataset="mnist", n_z=2, hidden=(20,), budget=5000, n_train=1000, lr=0.1, eval_train_points=200,
                    progress=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run(SMALL, out)
    return out


def test_app_d_repeats_spread_and_dimension_rows(run_dir):
    r = appd_repeats(run_dir, n_points=30, seeds=(0, 1, 2), ais_points=10, ais_steps=200)
    assert r["n_points"] == 30 and r["seeds"] == 3 and r["ais_points"] == 10
    assert abs(r["appd_subset"] - r["ais_subset"]) < 0.5
    assert 0 < r["sd_of_mean"] < 0.2 and 0 < r["mean_point_sd"] < 1.0 <= 1.0 + r["max_point_sd"]
    rows = {x["method"]: x for x in appd_dimension(run_dir, n_points=20, ais_steps=200)}
    assert set(rows) == set(DIMENSION_METHODS)
    # N_z = 2: App. D agrees with AIS within 0.5 nats on the mean of 20 points; IWAE is a lower bound below both
    assert abs(rows["App. D"]["mean"] - rows["AIS"]["mean"]) < 0.5
    assert rows["IWAE k=1000"]["mean"] < max(rows["App. D"]["mean"], rows["AIS"]["mean"]) + 0.1


def test_fig3_ais_measures_both_splits_at_the_checkpoints_samples(run_dir):
    rows = fig3_ais(run_dir, n_points=4, ais_steps=100)
    assert [r["split"] for r in rows] == ["train", "test"] and all(r["n_points"] == 4 for r in rows)
    assert all(r["samples"] == SMALL.budget and abs(r["appd"] - r["ais"]) < 1.0 and r["ais_se"] > 0 for r in rows)


def test_measure_without_checkpoints_is_an_error_and_writes_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run of measurement 'appd-dimension' has a checkpoint"):
        measure("appd-dimension", tmp_path, log=lambda m: None)
    assert not measurement_path("appd-dimension", tmp_path).exists()
    with pytest.raises(ValueError, match="not one of"):
        measure("nope", tmp_path)


def test_measure_only_some_runs_keeps_the_rows_of_the_others(tmp_path, run_dir):
    """--only: the rows of runs not measured this time stay in the file; the measured run's row is replaced."""
    names = [run_name(c) for c in study_configs("appd-dimension", 1)]
    shutil.copytree(run_dir, tmp_path / "runs" / names[0])
    old = {"run": names[1], "n_z": 3, "n_points": 5, "method": "AIS", "mean": -1.0, "se": 0.1, "seconds": 1.0}
    atomic_write_csv(measurement_path("appd-dimension", tmp_path), [old], COLUMNS["appd-dimension"])
    measure("appd-dimension", tmp_path, n_points=5, only=names[0], log=lambda m: None)
    rows = read_measurement("appd-dimension", tmp_path)
    assert [r["run"] for r in rows] == [names[0]] * 4 + [names[1]] and rows[-1]["mean"] == -1.0
    kept = measurement_path("appd-dimension", tmp_path).read_text().splitlines()[-1]
    assert kept == f"{names[1]},3,5,AIS,-1.0,0.1,1.0"  # the kept row written back as it stood, "3" not "3.0"


BURDA_TINY = burda_config(n_z=2, hidden=(20,), budget=4000, n_train=1000, eval_train_points=200, progress=False)


def test_the_benchmark_of_a_burda_run(tmp_path):
    """``measure burda`` on a tiny run under Burda et al.'s protocol (copied in as one of the study's runs, another
    row kept from before): the k = 5000 bound lies above the encoder's ELBO and agrees with AIS on a 2-D latent,
    the budget is read from the checkpoint, and the inference gap's parts add up to its total."""
    names = [run_name(c) for c in study_configs("burda", 1)]
    run(BURDA_TINY, tmp_path / "runs" / names[0])
    old = {c: 0 for c in COLUMNS["burda"]} | {"run": names[2], "posterior": "diagonal", "binarize": "dynamic"}
    atomic_write_csv(measurement_path("burda", tmp_path), [old], COLUMNS["burda"])
    measure("burda", tmp_path, n_points=30, only=names[0], ais_points=10, log=lambda m: None)
    rows = read_measurement("burda", tmp_path)
    assert [r["run"] for r in rows] == [names[0], names[2]] and rows[1]["iwae"] == 0
    a = rows[0]
    assert (a["samples"], a["passes"], a["stages"], a["n_points"], a["ais_points"]) == (4000, 4, 2, 30, 10)
    assert a["iwae"] > a["test_elbo"] + 0.5 and abs(a["ais"] - a["iwae_on_ais"]) < 0.3  # measured 0.02
    assert 0 <= a["active_units"] <= 2 and a["iwae_se"] > 0 and a["train_seconds"] > 0
    gap = {r["quantity"]: r for r in read_measurement("inference-gap", tmp_path) if r["run"] == names[0]}
    assert set(gap) == set(QUANTITIES) and all(r["points"] == 10 for r in gap.values())
    assert gap["log_px"]["mean"] == pytest.approx(a["ais"], abs=1e-4)
    assert gap["approximation_gap"]["mean"] + gap["amortization_gap"]["mean"] == pytest.approx(
        gap["total_gap"]["mean"], abs=1e-4)
    assert gap["approximation_gap"]["mean"] > -0.3 and gap["amortization_gap"]["mean"] > -0.3


def test_a_flows_activity_is_not_inflated_by_its_monte_carlo_noise():
    """A dimension whose q(z_j|x) ignores x (the prior, variance 1) has activity 0, and one whose mean follows x
    its variance over x; for a flow the mean is estimated from draws, whose noise (1/S per point) is subtracted:
    it would otherwise sit at the 0.01 threshold with S = 100."""
    torch.manual_seed(0)
    x = torch.randn(400, 3)
    steps = torch.nn.ModuleList()  # no flow step: the base alone, q = N(μ(x), 1), μ = (2 x_1, 0)

    def encoder(xb):
        mu = torch.stack([2 * xb[:, 0], torch.zeros(len(xb))], 1)
        return IAFPosterior(mu, torch.zeros_like(mu), torch.zeros(len(xb), 1), steps)

    act = posterior_activity(encoder, x)
    assert act[0].item() == pytest.approx(4 * x[:, 0].var(unbiased=False).item(), rel=0.02)
    assert abs(act[1]) < 3e-4  # the noise alone would be 1 / MEAN_SAMPLES = 1e-3 here
    gauss = posterior_activity(lambda xb: DiagonalGaussian(encoder(xb).mu, torch.zeros(len(xb), 2)), x)
    assert gauss[1].item() == 0 and gauss[0].item() == pytest.approx(act[0].item(), rel=0.02)


def test_fig3_cost_times_each_run_alone_on_one_thread(tmp_path):
    """``measure fig3-cost`` on a few steps: one row per Fig. 3 run (seed 0), no checkpoint needed, one torch
    thread while timing (the caller's count restored after), the median within the range over rounds, and
    Monte Carlo EM (16 gradient evaluations per datapoint) dearer per sample than AEVB (1) in both panels;
    ``cost_rates`` reads the medians back as seconds per sample, by panel and algorithm."""
    torch.set_num_threads(2)
    try:
        measure("fig3-cost", tmp_path, rounds=2, steps=3, log=lambda m: None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    rows = read_measurement("fig3-cost", tmp_path)
    assert [r["run"] for r in rows] == [run_name(c) for c in figure_configs(3, 1)]
    assert all(r["rounds"] == 2 and r["steps"] == 3 and r["threads"] == 1 for r in rows)
    for clock in ("cpu", "wall"):
        assert all(0 < r[f"{clock}_min"] <= r[f"{clock}_median"] <= r[f"{clock}_max"] for r in rows)
    rates = cost_rates(tmp_path)
    assert set(rates) == set(FIG3_N_TRAIN)
    for n, by in rates.items():
        assert set(by) == {"aevb", "wake-sleep", "mcem"} and by["mcem"] > 2 * by["aevb"]
        row = next(r for r in rows if r["n_train"] == n and r["algorithm"] == "mcem")
        assert by["mcem"] == pytest.approx(row["cpu_median"] / 1e6)


def test_fig2_cost_times_runs_of_both_data_sets_each_on_its_own_data(tmp_path):
    """``measure fig2-cost`` on a few steps of an MNIST and a Frey Face panel (each run trained on its own data set:
    a Frey Face model given MNIST's images would fail); ``run_rates`` reads the medians back by run, as seconds
    per sample; another name is refused."""
    measure("fig2-cost", tmp_path, rounds=2, steps=3, only="mnist-*-z3-*,frey-*-z2-*", log=lambda m: None)
    rows = read_measurement("fig2-cost", tmp_path)
    names = [run_name(c) for c in figure_configs(2, 1) if c.dataset == "mnist" and c.n_z == 3
             or c.dataset == "frey" and c.n_z == 2]
    assert [r["run"] for r in rows] == names and len(names) == 4
    rates = run_rates("fig2-cost", tmp_path)
    assert rates == {r["run"]: pytest.approx(r["cpu_median"] / 1e6) for r in rows} and min(rates.values()) > 0
    assert run_rates("fig3-cost", tmp_path) is None
    with pytest.raises(ValueError, match="fig3-ais"):
        run_rates("fig3-ais", tmp_path)


def test_cost_rates_leave_out_a_panel_not_measured_whole(tmp_path):
    """A panel whose algorithms are not all measured (``--only``) has no rates: its seconds are never half
    measured, half recorded."""
    assert cost_rates(tmp_path) is None
    rows = [{c: 1.0 for c in COLUMNS["fig3-cost"]} | {"run": run_name(c), "algorithm": c.algorithm,
                                                      "n_train": c.n_train} for c in figure_configs(3, 1)]
    atomic_write_csv(measurement_path("fig3-cost", tmp_path), rows[:-1], COLUMNS["fig3-cost"])  # one MCEM missing
    assert set(cost_rates(tmp_path)) == {rows[0]["n_train"]}


def test_fig2_variance_replays_the_curve_and_measures_both_readings(run_dir):
    """One row per split at the checkpoint's samples, on the points the curve evaluates (the first
    eval_train_points training images, the whole test set); the first repeat, under the curve's own seed, is the
    curve's value exactly; the row's numbers are those of ``bound_repeats``' (R, N) estimates; their per-point
    variance (reading (b)), from 200 repeats, agrees with a brute-force one from 2,000 fresh single-sample
    estimates of each point (10 repeats spread by about 9% here: too few for a test that fails on a real defect)."""
    rows = {r["split"]: r for r in fig2_variance(run_dir, repeats=10)}
    last = read_curve(run_dir)[-1]
    assert set(rows) == {"train", "test"} and rows["train"]["n_points"] == SMALL.eval_train_points
    assert rows["test"]["n_points"] == 10_000 and all(r["samples"] == SMALL.budget == last["samples"]
                                                      for r in rows.values())
    for split, r in rows.items():
        assert r["replayed"] == r["curve_bound"] == pytest.approx(last[f"{split}_bound"], abs=1e-9)
        assert r["sd_of_mean"] ** 2 == pytest.approx(r["var_of_mean"], rel=1e-5) and r["var_of_mean"] > 0
        assert 0 < r["mean_point_var"] <= r["max_point_var"] and r["repeats"] == 10
    model, _, config = load_checkpointed(run_dir)
    x = load_split(config, "train", torch.device("cpu"))[: SMALL.eval_train_points]  # (N, D)
    b = bound_repeats(model, config, {"train": x}, repeats=200)["train"]  # (200, N)
    r = rows["train"]
    assert (r["mean"], r["sd_of_mean"], r["mean_point_var"], r["max_point_var"]) == pytest.approx(
        (b[:10].mean().item(), b[:10].mean(1).std().item(), b[:10].var(0).mean().item(), b[:10].var(0).max().item()),
        rel=1e-6)
    with torch.no_grad(), seeded(123):
        brute = torch.stack([sgvb_b(model, model.encoder, x) for _ in range(2000)]).var(0)  # (N,)
    # 200 repeats a point, 200 points: the mean of the points' variances within 10% (measured 4%)
    assert b.var(0).mean().item() == pytest.approx(brute.mean().item(), rel=0.1)


def test_the_plotted_bounds_variance_is_the_points_variance_over_their_number(run_dir):
    """Reading (a) against reading (b): the noise of different points is independent, so the variance of the
    average over N points is their mean variance / N (400 repeats on 5 points: within 25%, its noise about 10%);
    with the encoder's variance at zero (no noise) every repeat is the same, exactly."""
    model, _, config = load_checkpointed(run_dir)
    x = load_split(config, "test", torch.device("cpu"))[:5]  # (5, D)
    b = bound_repeats(model, config, {"test": x}, repeats=400)["test"]  # (R, 5)
    assert b.shape == (400, 5)
    assert b.mean(1).var().item() == pytest.approx(b.var(0).mean().item() / 5, rel=0.25)
    with torch.no_grad():
        model.encoder.log_var.weight.zero_()
        model.encoder.log_var.bias.fill_(-200.0)  # σ² = e^-200: z = μ in float32
    still = bound_repeats(model, config, {"train": x, "test": x}, repeats=3)
    assert all(torch.equal(v, v[:1].expand_as(v)) for v in still.values())
    assert torch.equal(still["train"], still["test"]) and torch.isfinite(still["test"]).all()


def test_measure_fig2_variance_on_the_runs_with_a_checkpoint(tmp_path, run_dir):
    """Only the Fig. 2 runs with a checkpoint are measured (here one, copied in as seed 1 of a Fig. 2 run);
    without any, an error naming the command that trains them, and no file."""
    with pytest.raises(FileNotFoundError, match="python -m aevb figure 2"):
        measure("fig2-variance", tmp_path, log=lambda m: None)
    assert not measurement_path("fig2-variance", tmp_path).exists()
    name = run_name(figure_configs(2, 1, seed=1)[2])
    shutil.copytree(run_dir, tmp_path / "runs" / name)
    said = []
    measure("fig2-variance", tmp_path, log=said.append)
    rows = read_measurement("fig2-variance", tmp_path)
    assert [(r["run"], r["split"]) for r in rows] == [(name, "train"), (name, "test")]
    assert sum("no checkpoint here" in m for m in said) == 3 * 18 - 1
