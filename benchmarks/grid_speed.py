"""Training a grid of models on this machine (the speed issue; not part of the tests).

    python benchmarks/grid_speed.py [--models mnist-z20,frey-z20,fig3] [--k 4] [--steps 100] [--repeats 3]
    python benchmarks/grid_speed.py --fig2 [--budget 1e7] [--steps 300]     # the Fig. 2 grid's wall time

Fusing: for K independent models of one of the paper's shapes (K seeds of one run), the total training samples
per second of
(a) ``sequential``: the project's training path (``aevb.learners.fused.group.FusedGroup`` of one ``Trainer``,
    fused step), one model after another, each with all of torch's threads (what K separate ``python -m aevb train``
    commands do);
(b) ``fused``: the same K trainers in one ``FusedGroup``, their weights stacked in one ``FusedVAE``, one batched
    step for all per minibatch (what ``--seed 0-3`` does), all threads;
(c) ``pool``: the experiment runner's default executor, processes of one thread each (``--workers N
    --threads 1``), each training its share of the K models one after another;
(d) ``pool+fused``: the same processes, each training its share fused.
Medians over the repeats; every variant does the same number of minibatch steps of the same models.

``--fig2``: the 18 runs of Fig. 2, each timed for ``--steps`` minibatch steps by the runner's workers (2 processes of
1 thread here, side by side, as ``python -m aevb figure 2`` trains them), then the wall time of the whole grid at
``--budget`` samples per run on those workers (longest run first, each to the free worker), training only (the
§5 step-size search and the evaluations come on top; their share is printed from one run's evaluation).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

import torch

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.experiments.grids import figure_configs, run_name
from aevb.learners import ALGORITHMS
from aevb.learners.fused.group import FusedGroup

MODELS = {"mnist-z20": ("mnist", 20, 500), "frey-z20": ("frey", 20, 200), "fig3": ("mnist", 3, 100)}
M = 100  # minibatch size


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _trainers(configs, threads, fused) -> list[FusedGroup]:
    """K trainers of ``configs``: one FusedGroup of all (fused) or one FusedGroup each (sequential)."""
    torch.set_num_threads(threads)
    x = load_split(configs[0], "train", torch.device(configs[0].device))
    trainers = [ALGORITHMS[c.algorithm](c, x, 0.01) for c in configs]
    return [FusedGroup(trainers)] if fused else [FusedGroup([t]) for t in trainers]


def _train(groups: list[FusedGroup], steps, fused=None) -> float:
    device = groups[0].trainers[0].device
    _sync(device)
    t = time.perf_counter()
    for group in groups:
        group.advance(group.trainers[0].samples + steps * M)
    _sync(device)
    return time.perf_counter() - t


def _configs(dataset, n_z, h, seeds, device, algorithm="aevb"):
    return [TrainConfig(dataset=dataset, algorithm=algorithm, n_z=n_z, hidden=(h,), lr=0.01, seed=s, device=device,
                        progress=False) for s in seeds]


def _pool_worker(args) -> list[float]:
    dataset, n_z, h, seeds, steps, repeats, fused, algorithm = args
    trainers = _trainers(_configs(dataset, n_z, h, seeds, "cpu", algorithm), 1, fused)
    _train(trainers, 10, fused)  # warm-up
    return [_train(trainers, steps, fused) for _ in range(repeats)]


def _pool(jobs, processes) -> list[list[float]]:
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return pool.map(_pool_worker, jobs)


def fusing(args):
    device = args.device
    print(f"{os.cpu_count()} CPUs; torch {torch.__version__}, {torch.get_num_threads()} threads; device {device}; "
          f"{args.steps} steps of M = {M} per model per timing, medians of {args.repeats}")
    for name in args.models.split(","):
        dataset, n_z, h = MODELS[name]
        for k in map(int, str(args.k).split(",")):
            total = k * args.steps * M
            row = {}
            for fused in (False, True):
                trainers = _trainers(_configs(dataset, n_z, h, range(k), device), torch.get_num_threads(), fused)
                _train(trainers, 10, fused)
                row["fused" if fused else "sequential"] = statistics.median(
                    _train(trainers, args.steps, fused) for _ in range(args.repeats))
            if device == "cpu":
                shares = [list(range(k))[i::args.processes] for i in range(args.processes)]
                for fused in (False, True):
                    jobs = [(dataset, n_z, h, s, args.steps, args.repeats, fused, "aevb") for s in shares if s]
                    times = _pool(jobs, args.processes)
                    row["pool+fused" if fused else "pool"] = statistics.median(max(ts) for ts in zip(*times))
            seq = row["sequential"]
            print(f"{name:10s} K = {k:3d}  " + "  ".join(
                f"{v}: {total / t:10,.0f} samples/s ({seq / t:.2f}x)" for v, t in row.items()), flush=True)


def fig2(args):
    """Time every Fig. 2 run on the runner's workers and schedule the grid at the budget."""

    configs = figure_configs(2, int(args.budget))
    jobs = [(c.dataset, c.n_z, c.hidden[0], [0], args.steps, args.repeats, False, c.algorithm) for c in configs]
    times = _pool(jobs, args.processes)  # each job's repeats run side by side with another job's, as in the runner
    rates = {run_name(c): args.steps * M / statistics.median(ts) for c, ts in zip(configs, times)}
    hours = {n: args.budget / r / 3600 for n, r in rates.items()}
    workers = [0.0] * args.processes
    for n in sorted(hours, key=hours.get, reverse=True):  # longest first, each to the worker free soonest
        workers[workers.index(min(workers))] += hours[n]
    for n, r in rates.items():
        print(f"{n:36s} {r:9,.0f} samples/s (1 thread)  {hours[n]:5.2f} h at {args.budget:.0e}")
    total = sum(hours.values())
    print(f"Fig. 2 grid, {len(configs)} runs to {args.budget:.0e} samples: {total:.2f} h of single-thread training, "
          f"{max(workers):.2f} h of wall time on {args.processes} workers x 1 thread (training only)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--k", default="4", help="models in the grid (or several: 1,4,16)")
    p.add_argument("--steps", type=int, default=100, help="minibatch steps per model per timing")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--processes", type=int, default=os.cpu_count(), help="pool: processes of one thread each")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fig2", action="store_true", help="time the Fig. 2 grid instead")
    p.add_argument("--budget", type=float, default=1e7, help="--fig2: training samples per run")
    args = p.parse_args(argv)
    fig2(args) if args.fig2 else fusing(args)


if __name__ == "__main__":
    main()
