"""Measurements on the trained models of the store, kept as small CSVs in ``results/studies/`` for the scorecard
and the chapters (the store keeps no checkpoints, so each is measured where the runs were trained, from their
local ``checkpoint.pt``, and committed with the command that made it: ``python -m aevb measure NAME``).

- ``appd-repeats`` (§5, Fig. 3: how much App. D's estimates vary; the paper states no error for them): App. D on the
  first ``n_points`` test points of every Fig. 3 model, repeated with ``REPEAT_SEEDS``; per run, the standard
  deviation over seeds of the mean estimate (what Fig. 3 plots) and of single points; and, on the first
  ``AIS_POINTS`` of them, App. D's mean beside annealed importance sampling's (K = 8 chains, T = 500), the stronger
  estimator.
- ``burda`` (chapter 12, after the paper): the later literature's benchmark on the ``burda`` study's models, as
  Burda, Grosse & Salakhutdinov (2015) report it in their Table 1, and the inference gap of Cremer, Li & Duvenaud
  (2018), written to ``burda.csv`` and ``inference-gap.csv``. Per run:
  - the importance-weighted bound with k = ``IWAE_K`` = 5000 (``aevb.evaluation.iwae_bound``, any posterior
    family) on the first ``n_points`` test points: its mean and the standard error of that mean over the points
    (their spread / √n; the Monte Carlo error of a k = 5000 bound is far smaller);
  - AIS (``AIS_CHAINS`` chains, ``AIS_STEPS`` distributions) on the first ``ais_points``, a stochastic lower bound
    independent of the encoder, with the k = 5000 bound on the same points beside it (paired);
  - Burda et al.'s active units, dimensions j with Cov_x(E_q[z_j|x]) > 0.01 over the evaluated test points (E_q
    by the family's mean; for a flow by ``MEAN_SAMPLES`` draws, their noise subtracted: ``posterior_activity``);
  - the inference gap on the AIS points (``aevb.inference_gap``, AIS as log p(x)): the approximation gap (q
    optimised per point within the encoder's family, ``GAP_STEPS`` Adam steps) and the amortization gap.
  Every run is evaluated on the binarized test images, the grey-level row too (its model was trained on grey
  levels, the paper's data): that is the number of it that can stand beside the others'.
- ``fig3-ais`` (Fig. 3's orderings where App. D's error is larger than the margin): on every Fig. 3 model of
  every seed (``aevb.experiments.grids.SEEDS``), at the samples its checkpoint reached, App. D and AIS (8 chains,
  500 distributions) on the first ``n_points`` (``FIG3_AIS_POINTS``) training and test points; the scorecard
  takes App. D's error from them and lets AIS decide a margin inside it.
- ``fig2-variance`` (Fig. 2's caption: "The estimator variance was small (< 1) and omitted."): on every Fig. 2
  model of every seed (``SEEDS``) with a checkpoint here, at the samples it reached, the curve's bound (estimator
  B, L = 1, exactly as the curve computes it: ``aevb.learners.aevb.Trainer.evaluate`` on the first
  ``eval_train_points`` training points and the whole test set, one RNG stream per evaluation, train then test)
  evaluated ``FIG2_REPEATS`` times, the r-th under seed ``evaluation_seed(config) + r`` (the first repeat is the
  curve's own evaluation, computed again: ``replayed`` beside the curve's ``curve_bound``). Per split: the spread
  over repeats of the plotted average (its standard deviation and variance: the error bar the caption says was
  omitted) and the variance over repeats of every point's single-sample estimate, averaged over the points (the
  estimator's own variance per datapoint, a stricter reading), and its largest.
- ``appd-dimension`` (App. D: "unreliable beyond about 5 latent dimensions"): on the ``appd-dimension`` study's
  models (N_z = 2 … 20), App. D with the jittered sampler and with a fixed step size, beside AIS and the
  importance-weighted bound (k = 1000), on the first ``n_points`` test points.
- ``fig3-cost`` (§2.1 "Sampling-based solutions, e.g. Monte Carlo EM, would in general be too slow", Fig. 3's
  caption on MCEM and the full data set, chapter 9's seconds axis): the cost of training, per million training
  samples, of ONE Fig. 3 run (seed 0) of each algorithm and panel trained alone on one thread, exactly as the
  runs train (``aevb.learners.fused.group.FusedGroup`` of the trainer its config builds: the fused step where
  ``fused``). A run's recorded seconds depend on how it was trained (its seeds stacked in one pass, each
  recording the whole pass; beside other work or not); this does not. The six are timed interleaved, in
  ``COST_ROUNDS`` rounds of ``COST_STEPS`` minibatch steps each (the order reversed every round, so that the
  machine's drift hits all alike), by this process's CPU time (steady where other work shares the cores) and by
  wall time; the median over rounds, its quartiles and its range are kept. No checkpoint is needed (a step costs
  the same whatever the weights): the runs start from their random initial weights, on the real data. Evaluation
  is not timed, as it is not in the runs' seconds.
- ``fig2-cost`` (§4 "Wake-Sleep has the same computational complexity as AEVB per datapoint", Fig. 2's caption on
  the computation time): the same timing (``training_cost``) of Fig. 2's 18 runs (seed 0). Their recorded seconds
  are wall time, and a run paused or sharing its core while it trained records more than its cost.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import statistics
import time
from pathlib import Path

import torch

from aevb.data import evaluation_images, load_split
from aevb.distributions import DiagonalGaussian
from aevb.evaluation import ais, iwae_bound, log_marginal_hmc, per_point_bound
from aevb.experiments import inpainting, representation, streaming
from aevb.experiments.grids import (
    FIG3_BUDGET,
    SEEDS,
    figure_configs,
    run_name,
    select,
    study_configs,
)
from aevb.experiments.runs import (
    checkpoint_file,
    load_checkpointed,
    load_model,
    read_run_config,
)
from aevb.experiments.store import RESULTS_DIR, run_path
from aevb.files import atomic_write_csv, read_csv, read_text
from aevb.inference_gap import inference_gap
from aevb.latent_use import active_units
from aevb.learners import ALGORITHMS
from aevb.learners.families import family_of
from aevb.learners.fitting import evaluation_seed
from aevb.learners.fused.group import FusedGroup
from aevb.objectives import elbo
from aevb.posteriors import FullCovarianceGaussian
from aevb.protocols import BURDA_N_TRAIN, passes_done, stages_done
from aevb.rng import seeded

USES = {"streaming": streaming, "inpainting": inpainting, "representation": representation}  # chapter 13's
MEASUREMENTS = ("appd-repeats", "appd-dimension", "burda", "fig3-ais", "fig3-cost", "fig2-cost", "fig2-variance",
                *USES)
FIG3_AIS_POINTS = 500  # fig3-ais: training and test points estimated by App. D and AIS
REPEAT_SEEDS = (0, 1, 2, 3, 4)  # appd-repeats: App. D's seeds
FIG2_REPEATS = 10  # fig2-variance: evaluations of the curve's bound per model, each with fresh noise
AIS_POINTS = 100  # appd-repeats, burda: the first test points also estimated by AIS
COST_FIELDS = {"fig3-cost": ("n_train",), "fig2-cost": ("dataset", "n_z")}  # the config fields a cost row names
COLUMNS = {"appd-repeats": ["run", "n_points", "seeds", "mean", "sd_of_mean", "mean_point_sd", "max_point_sd",
                            "ais_points", "appd_subset", "ais_subset", "seconds"],
           "appd-dimension": ["run", "n_z", "n_points", "method", "mean", "se", "seconds"],
           "burda": ["run", "k", "posterior", "binarize", "samples", "passes", "stages", "train_seconds",
                     "test_elbo", "n_points", "iwae", "iwae_se", "active_units", "ais_points", "ais", "ais_se",
                     "iwae_on_ais", "seconds"],
           "inference-gap": ["run", "points", "quantity", "mean", "se_mc", "se_data"],
           "fig3-ais": ["run", "samples", "split", "n_points", "appd", "ais", "ais_se", "seconds"],
           "fig2-variance": ["run", "samples", "split", "n_points", "repeats", "curve_bound", "replayed", "mean",
                             "sd_of_mean", "var_of_mean", "mean_point_var", "max_point_var", "seconds"],
           **{name: ["run", "algorithm", *fields, "rounds", "steps", "threads"]
              + [f"{clock}_{stat}" for clock in ("cpu", "wall") for stat in ("median", "q1", "q3", "min", "max")]
              for name, fields in COST_FIELDS.items()},
           **{name: module.COLUMNS for name, module in USES.items()}}
TEXT_COLUMNS = ("run", "method", "posterior", "binarize", "quantity", "split", "algorithm", "dataset")
COST_ROUNDS, COST_STEPS = 10, 300  # fig3-cost, fig2-cost: rounds, and minibatch steps of every run per round
COST_WARMUP = 20  # fig3-cost, fig2-cost: minibatch steps of every run before the timing
COST = tuple(COST_FIELDS)  # the measurements of training cost (``training_cost``)
COST_BASIS, FIG2_COST_BASIS = (f"one run alone, one thread, CPU time, measured by python -m aevb measure {m}"
                               for m in COST)
DIMENSION_METHODS = ("App. D", "App. D, fixed step", "AIS", "IWAE k=1000")


def measurement_path(name: str, results_dir: str | Path = RESULTS_DIR) -> Path:
    """Where measurement ``name`` is kept: ``results_dir/studies/NAME.csv``."""
    return Path(results_dir) / "studies" / f"{name}.csv"


def read_measurement(name: str, results_dir: str | Path = RESULTS_DIR) -> list[dict] | None:
    """The rows of measurement ``name`` in the store (numbers as float, ``run``, ``method`` and the like as text), or
    None where it has not been measured; a torn or foreign file is a ``StoreError`` naming it."""
    path = measurement_path(name, results_dir)
    if not path.exists():
        return None
    text = TEXT_COLUMNS + (USES[name].TEXT_COLUMNS if name in USES else ())
    return read_csv(path, COLUMNS[name], f"measure it again: python -m aevb measure {name}", text)


def _stored_rows(name: str, results_dir: str | Path) -> list[dict]:
    """The rows of measurement ``name`` as the file holds them (text, so that rows kept by ``measure --only`` are
    written back as they were: "60000000" stays "60000000"), after ``read_measurement`` has checked the file."""
    if read_measurement(name, results_dir) is None:
        return []
    return list(csv.DictReader(io.StringIO(read_text(measurement_path(name, results_dir)), newline="")))


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def appd_repeats(run_dir: Path, n_points: int, seeds=REPEAT_SEEDS, ais_points: int = AIS_POINTS,
                 ais_steps: int = 500) -> dict:
    """App. D on the first ``n_points`` test points of the run in ``run_dir``, once per seed: the spread of the
    mean over seeds and of single points (nats); and the mean of App. D (its first seed) and of AIS on the first
    ``ais_points`` of them."""
    model = load_model(run_dir)
    config = _config(run_dir)
    x = load_split(config, "test", torch.device("cpu"))[:n_points]
    est, seconds = _timed(lambda: torch.stack([log_marginal_hmc(model, x, seed=s) for s in seeds]))  # (S, N)
    point_sd = est.std(0)  # (N,)
    a = ais(model, x[:ais_points], n_chains=8, n_steps=ais_steps)  # (ais_points,)
    return {"run": run_dir.name, "n_points": len(x), "seeds": len(seeds), "mean": est.mean().item(),
            "sd_of_mean": est.mean(1).std().item(), "mean_point_sd": point_sd.mean().item(),
            "max_point_sd": point_sd.max().item(), "ais_points": len(a),
            "appd_subset": est[0, :ais_points].mean().item(), "ais_subset": a.mean().item(),
            "seconds": round(seconds, 1)}


def fig3_ais(run_dir: Path, n_points: int, ais_steps: int = 500) -> list[dict]:
    """App. D and AIS (8 chains, ``ais_steps`` distributions) on the first ``n_points`` training and test points of
    ``run_dir``'s model, at the samples its checkpoint reached: one row per split (means; AIS's standard error
    over the points)."""
    model, ckpt, config = load_checkpointed(run_dir)
    rows = []
    for split in ("train", "test"):
        x = load_split(config, split, torch.device("cpu"))[:n_points]
        (appd, a), seconds = _timed(lambda: (log_marginal_hmc(model, x), ais(model, x, n_chains=8, n_steps=ais_steps)))
        rows.append({"run": run_dir.name, "samples": ckpt["trainer"]["samples"], "split": split, "n_points": len(x),
                     "appd": appd.mean().item(), "ais": a.mean().item(), "ais_se": (a.std() / len(a) ** 0.5).item(),
                     "seconds": round(seconds, 1)})
    return rows


def bound_repeats(model, config, xs: dict[str, torch.Tensor], repeats: int = FIG2_REPEATS) -> dict[str, torch.Tensor]:
    """The curve's bound of ``model`` (trained as ``config``) per point, ``repeats`` times: for each split of ``xs``
    (name -> the images the curve evaluates, (N, D), in the curve's order: train, then test), (R, N). Repeat r
    draws its noise from torch's RNG seeded ``evaluation_seed(config) + r`` (the splits in turn from one stream,
    as an evaluation of the curve does), so repeat 0 is the curve's own evaluation."""
    estimator = family_of(config).bound_estimator
    out: dict[str, list] = {split: [] for split in xs}
    for r in range(repeats):
        with seeded(evaluation_seed(config) + r, next(iter(xs.values())).device):
            for split, x in xs.items():
                out[split].append(per_point_bound(model, x, estimator=estimator))  # (N,)
    return {split: torch.stack(b) for split, b in out.items()}  # (R, N) each


def fig2_variance(run_dir: Path, repeats: int = FIG2_REPEATS) -> list[dict]:
    """The variance of the bound Fig. 2 plots, on ``run_dir``'s model at the samples its checkpoint reached: one
    row per split (``COLUMNS["fig2-variance"]``) from ``bound_repeats`` on the images the curve evaluates (the
    first ``eval_train_points`` training images, the whole test set): the plotted value (the mean over points) of
    every repeat, its mean, standard deviation and variance over repeats; the variance over repeats of each
    point's estimate, its mean and largest over the points; the curve's own value at the checkpoint beside the
    first repeat (nan where the curve's last row is not at the checkpoint)."""
    if repeats < 2:
        raise ValueError(f"repeats={repeats}: fig2-variance needs at least 2 repeats for a spread")
    model, ckpt, config = load_checkpointed(run_dir)
    model.requires_grad_(False)
    x_train = load_split(config, "train", torch.device("cpu"))
    xs = {"train": evaluation_images(config, x_train[: config.eval_train_points]),
          "test": load_split(config, "test", torch.device("cpu"))}
    bounds, seconds = _timed(lambda: bound_repeats(model, config, xs, repeats))
    samples, last = ckpt["trainer"]["samples"], ckpt["curve"][-1] if ckpt["curve"] else {}
    rows = []
    for split, b in bounds.items():  # b: (R, N)
        plotted = b.mean(1)  # (R,): the value the curve plots, once per repeat
        point_var = b.var(0)  # (N,)
        rows.append({"run": run_dir.name, "samples": samples, "split": split, "n_points": b.shape[1],
                     "repeats": repeats,
                     "curve_bound": last[f"{split}_bound"] if last.get("samples") == samples else math.nan,
                     "replayed": plotted[0].item(), "mean": plotted.mean().item(), "sd_of_mean": plotted.std().item(),
                     "var_of_mean": plotted.var().item(), "mean_point_var": point_var.mean().item(),
                     "max_point_var": point_var.max().item(), "seconds": round(seconds, 1)})
    return rows


def appd_dimension(run_dir: Path, n_points: int, ais_steps: int = 500, iwae_k: int = 1000) -> list[dict]:
    """The four estimators of ``DIMENSION_METHODS`` on the first ``n_points`` test points of ``run_dir``'s model
    (AIS with 8 chains and ``ais_steps`` distributions, IWAE with ``iwae_k`` samples: the names keep the defaults')."""
    model = load_model(run_dir)
    config = _config(run_dir)
    x = load_split(config, "test", torch.device("cpu"))[:n_points]
    methods = {"App. D": lambda: log_marginal_hmc(model, x),
               "App. D, fixed step": lambda: log_marginal_hmc(model, x, step_jitter=0.0),
               "AIS": lambda: ais(model, x, n_chains=8, n_steps=ais_steps),
               "IWAE k=1000": lambda: iwae_bound(model, model.encoder, x, iwae_k)}
    rows = []
    for method in DIMENSION_METHODS:
        est, seconds = _timed(methods[method])
        rows.append({"run": run_dir.name, "n_z": config.n_z, "n_points": len(x), "method": method,
                     "mean": est.mean().item(), "se": (est.std() / math.sqrt(len(est))).item(),
                     "seconds": round(seconds, 1)})
    return rows


def training_cost(configs: list, rounds: int = COST_ROUNDS, steps: int = COST_STEPS, log=print,
                  fields: tuple[str, ...] = COST_FIELDS["fig3-cost"]) -> list[dict]:
    """The ``fig3-cost`` / ``fig2-cost`` rows of the runs of ``configs``: each trained alone (a ``FusedGroup`` of
    its one trainer, built from its config, at the smallest of its step-size candidates where it has none: a
    step's cost does not depend on it) on one torch thread, timed interleaved in ``rounds`` rounds of ``steps``
    minibatch steps (the order reversed every round) after ``COST_WARMUP`` untimed steps; per run, seconds per
    million training samples by this process's CPU time and by wall time: the median over rounds, the quartiles
    (the spread), the least and the most; each row names the run's config ``fields``."""
    if rounds < 2:
        raise ValueError(f"rounds={rounds}: a cost measurement needs at least 2 rounds for a spread")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data: dict = {}
        groups = {}
        for c in configs:
            key = (c.dataset, c.n_train, c.frey_split, c.frey_scale, c.binarize)  # what its training split depends on
            if key not in data:
                data[key] = load_split(c, "train", torch.device("cpu"))  # (N, D)
            x = data[key]
            groups[run_name(c)] = FusedGroup([ALGORITHMS[c.algorithm](c, x, c.lr or min(c.lr_candidates))])
        cpu: dict = {k: [] for k in groups}
        wall: dict = {k: [] for k in groups}

        def advance(name: str, n: int) -> None:
            g = groups[name]
            g.advance(g.trainers[0].samples + n * g.trainers[0].config.batch_size)
            if g.errors[0] is not None:
                raise g.errors[0]

        for name in groups:
            advance(name, COST_WARMUP)
        for i in range(rounds):
            for name in list(groups) if i % 2 == 0 else list(groups)[::-1]:
                samples = steps * groups[name].trainers[0].config.batch_size
                w, c = time.perf_counter(), time.process_time()
                advance(name, steps)
                cpu[name].append((time.process_time() - c) / samples * 1e6)
                wall[name].append((time.perf_counter() - w) / samples * 1e6)
        rows = []
        for c in configs:
            name = run_name(c)
            rows.append({"run": name, "algorithm": c.algorithm, **{f: getattr(c, f) for f in fields}, "rounds": rounds,
                         "steps": steps, "threads": torch.get_num_threads(),
                         **{f"{clock}_{stat}": round(value, 3) for clock, times in (("cpu", cpu), ("wall", wall))
                            for stat, value in _spread(times[name]).items()}})
            r = rows[-1]
            log(f"  {name}: {r['cpu_median']:.1f} CPU seconds per million samples (quartiles {r['cpu_q1']:.1f}-"
                f"{r['cpu_q3']:.1f}, range {r['cpu_min']:.1f}-{r['cpu_max']:.1f}), wall {r['wall_median']:.1f}")
        return rows
    finally:
        torch.set_num_threads(threads)


def _spread(values: list[float]) -> dict[str, float]:
    """The median, the quartiles, the least and the most of ``values`` (at least two)."""
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": median, "q1": q1, "q3": q3, "min": min(values), "max": max(values)}


def cost_rates(results_dir: str | Path = RESULTS_DIR) -> dict[int, dict[str, float]] | None:
    """Fig. 3's measured training cost (``fig3-cost``): seconds of CPU time per training sample of one run alone
    on one thread (the median over rounds), by N_train and algorithm, for the panels where every algorithm of
    Fig. 3 is measured (one panel's seconds are never half measured, half recorded); None where it has not been
    measured."""
    rows = read_measurement("fig3-cost", results_dir)
    if rows is None:
        return None
    out: dict[int, dict[str, float]] = {}
    for r in rows:
        out.setdefault(int(r["n_train"]), {})[r["algorithm"]] = r["cpu_median"] / 1e6
    algorithms = {c.algorithm for c in _configs("fig3-cost")}
    return {n: rates for n, rates in out.items() if set(rates) >= algorithms}


def run_rates(name: str, results_dir: str | Path = RESULTS_DIR) -> dict[str, float] | None:
    """A cost measurement's (``COST``) seconds of CPU time per training sample of one run alone on one thread
    (the median over rounds), by run name; None where it has not been measured."""
    if name not in COST:
        raise ValueError(f"measurement {name!r} is not one of {COST}")
    rows = read_measurement(name, results_dir)
    return None if rows is None else {r["run"]: r["cpu_median"] / 1e6 for r in rows}


IWAE_K = 5000  # Burda et al.'s test log-likelihood: the k = 5000 bound
AIS_CHAINS, AIS_STEPS = 16, 500  # AIS on the subset: chains per point, intermediate distributions
GAP_STEPS = 500  # the inference gap: Adam steps of q* per point (aevb.inference_gap.optimized_q)
MEAN_SAMPLES = 1000  # draws per point for a flow's posterior mean (active units)
ELBO_SAMPLES = 10  # draws per point of the encoder's ELBO on the test points
# Burda et al. (2016, ICLR; arXiv:1509.00519v4), Table 1, MNIST, one stochastic layer: test NLL (nats, the k =
# 5000 bound) and active units, as (objective, k) -> (NLL, active units); transcribed from the paper
PUBLISHED = {("VAE", 1): (86.76, 19), ("VAE", 5): (86.47, 20), ("VAE", 50): (86.35, 20),
             ("IWAE", 1): (86.76, 19), ("IWAE", 5): (85.54, 22), ("IWAE", 50): (84.78, 25)}


def published_row(config) -> tuple[str, int] | None:
    """The row of Burda et al.'s Table 1 a run reproduces (objective, k), or None where they have none (a richer
    posterior, grey-level training)."""
    if config.posterior != "diagonal" or config.binarize is None:
        return None
    return ("VAE" if config.k == 1 else "IWAE", config.k)


@torch.no_grad()
def posterior_activity(encoder, x: torch.Tensor, batch_size: int = 500, seed: int = 0) -> torch.Tensor:
    """Burda et al.'s activity of each latent dimension, Cov_x(E_q[z_j|x]): x: (N, D) -> (Z,). E_q is a Gaussian
    q's mean; a flow's is estimated from ``MEAN_SAMPLES`` draws a point, and the Monte Carlo noise that adds to
    the variance over x (the mean over x of Var_q[z_j|x] / S) is subtracted: a dimension left at the prior,
    Var_q = 1, would otherwise gain 1/S, at S = 100 the threshold itself."""
    means, noise = [], []
    with seeded(seed, x.device):
        for xb in x.split(batch_size):
            q = encoder(xb)
            if isinstance(q, DiagonalGaussian):
                means.append(q.mu)
            elif isinstance(q, FullCovarianceGaussian):
                means.append(q.loc)
            else:
                z = q.rsample_and_log_prob((MEAN_SAMPLES,))[0]  # (S, b, Z)
                means.append(z.mean(0))
                noise.append(z.var(0) / MEAN_SAMPLES)  # (b, Z): the variance of that mean
    activity = torch.cat(means).var(0, unbiased=False)  # (Z,)
    return activity - torch.cat(noise).mean(0) if noise else activity


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    """The mean of per-point values and its standard error over the points."""
    return v.mean().item(), (v.std() / math.sqrt(len(v))).item() if len(v) > 1 else float("nan")


def burda_benchmark(run_dir: Path, n_points: int, ais_points: int, log=print) -> tuple[dict, list[dict]]:
    """The ``burda`` row of the run in ``run_dir`` and its ``inference-gap`` rows (``COLUMNS``)."""
    start = time.perf_counter()
    model, ckpt, config = load_checkpointed(run_dir)
    model.requires_grad_(False)
    binary = config if config.binarize is not None else dataclasses.replace(config, binarize="dynamic")
    x = load_split(binary, "test", torch.device("cpu"))[:n_points]  # (N, D), the fixed 0/1 test images
    iw = torch.cat([iwae_bound(model, model.encoder, xb, IWAE_K, seed=i) for i, xb in enumerate(x.split(100))])
    with seeded(1, x.device):  # the ELBO of the encoder (estimator A with the family's log q), 10 draws a point
        el = torch.cat([elbo(model, model.encoder, xb, ELBO_SAMPLES) for xb in x.split(500)])
    log(f"    k = {IWAE_K} bound on {len(x)} points: {iw.mean():.2f} ({time.perf_counter() - start:.0f} s)")
    xs = x[:ais_points]
    a = ais(model, xs, n_chains=AIS_CHAINS, n_steps=AIS_STEPS, seed=0)  # (P,)
    gap = inference_gap(model, model.encoder, xs, steps=GAP_STEPS, seed=0, log_px=a)
    curve, samples = ckpt["curve"], ckpt["trainer"]["samples"]
    passes = passes_done(samples, BURDA_N_TRAIN if config.n_train is None else config.n_train, config.batch_size)
    row = {"run": run_dir.name, "k": config.k, "posterior": config.posterior, "binarize": str(config.binarize),
           "samples": samples, "passes": passes, "stages": stages_done(passes),
           "train_seconds": curve[-1]["seconds"], "test_elbo": el.mean().item(), "n_points": len(x),
           **dict(zip(("iwae", "iwae_se"), _mean_se(iw))),
           "active_units": active_units(posterior_activity(model.encoder, x)),
           "ais_points": len(xs), **dict(zip(("ais", "ais_se"), _mean_se(a))),
           "iwae_on_ais": iw[: len(xs)].mean().item(), "seconds": round(time.perf_counter() - start, 1)}
    return row, [{"run": run_dir.name, "points": len(xs), **r} for r in gap["rows"]]


def _config(run_dir: Path):
    return read_run_config(run_dir)[0]


def _configs(name: str) -> list:
    """The runs measurement ``name`` concerns: Fig. 3's, or its study's."""
    if name == "fig3-ais":
        return [c for seed in SEEDS for c in figure_configs(3, 1, seed)]
    if name == "fig3-cost":
        return figure_configs(3, FIG3_BUDGET)
    if name == "fig2-cost":
        return figure_configs(2, 1)
    if name == "fig2-variance":
        return [c for seed in SEEDS for c in figure_configs(2, 1, seed)]
    return figure_configs(3, 1) if name == "appd-repeats" else study_configs(name, 1)


def _from_checkpoints(name: str, configs: list, results_dir: str | Path, n_points: int | None,
                      ais_points: int | None, log) -> dict[str, list]:
    """The rows of measurement ``name`` (and, for ``burda``, of ``inference-gap``), by file, of the runs of
    ``configs`` that have a checkpoint in ``results_dir``."""
    files = [name] + (["inference-gap"] if name == "burda" else [])
    n_points = n_points or {"appd-repeats": 1000, "appd-dimension": 100, "burda": 10_000,
                            "fig3-ais": FIG3_AIS_POINTS}.get(name)  # fig2-variance: the curve's points
    rows: dict[str, list] = {f: [] for f in files}
    for c in configs:
        run_dir = run_path(results_dir, run_name(c))
        if not checkpoint_file(run_dir).exists():
            log(f"  {run_dir.name}: no checkpoint here, not measured")
            continue
        if name == "burda":
            row, gap = burda_benchmark(run_dir, n_points, ais_points or AIS_POINTS, log)
            new = {"burda": [row], "inference-gap": gap}
            log(f"  {run_dir.name}: k = {IWAE_K} bound {row['iwae']:.2f}, AIS {row['ais']:.2f}")
        elif name == "fig2-variance":
            new = {name: fig2_variance(run_dir)}
            log(f"  {run_dir.name}: " + "; ".join(f"{r['split']}: sd of the plotted bound {r['sd_of_mean']:.4f}, "
                                                   f"per-point variance {r['mean_point_var']:.2f}" for r in new[name]))
        elif name == "fig3-ais":
            new = {name: fig3_ais(run_dir, n_points)}
            log(f"  {run_dir.name}: " + "; ".join(f"{r['split']}: App. D {r['appd']:.2f}, AIS {r['ais']:.2f}"
                                                   for r in new[name]))
        else:
            new = {name: [appd_repeats(run_dir, n_points)] if name == "appd-repeats" else
                   appd_dimension(run_dir, n_points)}
            log(f"  {run_dir.name}: " + "; ".join(f"{r.get('method', 'App. D')} {r['mean']:.2f}" for r in new[name]))
        for f in files:
            rows[f] += new[f]
    return rows


def measure(name: str, results_dir: str | Path = RESULTS_DIR, n_points: int | None = None, only: str | None = None,
            log=print, ais_points: int | None = None, rounds: int | None = None, steps: int | None = None) -> Path:
    """Run measurement ``name`` (``MEASUREMENTS``) on the stored runs it concerns that have a checkpoint here (those
    matching ``only``, comma-separated shell patterns, where given: the rows of the others already in the file are
    kept), and write the rows to ``measurement_path(name)`` atomically (``burda`` also ``inference-gap``); an error,
    and the files left as they were, where no run was measured. ``n_points``: the test points (defaults 1000, 100 and
    the whole test set; ``fig2-variance`` takes the points its curve evaluates); ``ais_points``: the first of them
    also estimated by AIS (``AIS_POINTS``). ``fig3-cost`` and ``fig2-cost`` need no checkpoint: they time the runs
    from their configs (``training_cost``), in ``rounds`` rounds of ``steps`` minibatch steps (``COST_ROUNDS``,
    ``COST_STEPS``)."""
    if name not in MEASUREMENTS:
        raise ValueError(f"measurement {name!r} is not one of {MEASUREMENTS}")
    if name in USES:  # chapter 13's: each module measures all its rows (its own runs, or Fig. 5's checkpoints)
        path = measurement_path(name, results_dir)
        atomic_write_csv(path, USES[name].measure(results_dir, log=log), COLUMNS[name])
        return path
    configs = select(_configs(name), only)
    names = {run_name(c) for c in configs}
    files = [name] + (["inference-gap"] if name == "burda" else [])
    kept = {f: [r for r in _stored_rows(f, results_dir) if r["run"] not in names] if only else [] for f in files}
    if name in COST:
        rows = {name: training_cost(configs, rounds or COST_ROUNDS, steps or COST_STEPS, log, COST_FIELDS[name])}
    else:
        rows = _from_checkpoints(name, configs, results_dir, n_points, ais_points, log)
    path = measurement_path(name, results_dir)
    if not rows[name]:
        train = "python -m aevb figure 2" if name == "fig2-variance" else "python -m aevb figure 3" \
            if name in ("appd-repeats", "fig3-ais") else f"python -m aevb study {name}"
        raise FileNotFoundError(f"no run of measurement {name!r} has a checkpoint in {results_dir}: train them "
                                f"first ({train}); {path} left as it was")
    order = [run_name(c) for c in _configs(name)]
    for f in files:
        atomic_write_csv(measurement_path(f, results_dir),
                         sorted(kept[f] + rows[f], key=lambda r: order.index(r["run"])), COLUMNS[f])
    return path
