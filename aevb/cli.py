"""Command line: ``python -m aevb train ...``, the face of the same code the chapters call.

Examples (Alg. 1 on MNIST at the paper's settings, 10^6 training samples; then App. D on its test set):

    python -m aevb train --dataset mnist --n-z 20 --hidden 500 --budget 1e6
    python -m aevb evaluate runs/mnist-aevb-z20-h500-s0 --method hmc --split test --n-points 1000
    python -m aevb figure 2 --budget 1e7      # the paper's Fig. 2 grid into results/ (aevb.experiments.runner)
    python -m aevb study frey-latent-use --budget 1e6 --seed 0-3   # an investigation's grid, the same way
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

from aevb.config import FLAGS, HELP, TrainConfig, option
from aevb.data import load_split
from aevb.devices import resolve_device
from aevb.evaluation import log_marginal
from aevb.experiments.grids import FIGURES, STUDIES, grid, run_name, select
from aevb.experiments.measurements import MEASUREMENTS, measure
from aevb.experiments.runner import run_figure, run_grid
from aevb.experiments.runs import load_config, load_model, run_seeds, train_defaults
from aevb.experiments.store import RESULTS_DIR, run_path, samples_reached
from aevb.files import atomic_write_csv
from aevb.learners import ALGORITHMS
from aevb.threads import claimed
from aevb.validation import MARGINAL_METHODS, ParameterError, parse_count


def _threads(s: str) -> int | None:
    if s == "auto":
        return None
    n = parse_count(s)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{s!r}: give a positive number of threads or 'auto'")
    return n


def _setting_flag(p: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """The flag of the setting ``name`` (``aevb.config.FLAGS``: ``--NAME``, its text read by its ``Flag``, its help
    the setting's), with ``kwargs`` for ``add_argument`` (by default: absent unless given)."""
    flag = FLAGS[name]
    p.add_argument(option(name), type=flag.read, choices=flag.choices,
                   **{"default": argparse.SUPPRESS, "help": HELP[name], **kwargs})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aevb", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model (Alg. 1, the baselines, App. F) and write its curve")
    # a flag for every setting that has one, the protocol's first (it picks the preset the others change): absent
    # unless given (train_configs fills them); values are checked by aevb.validation, the check the chapters share
    for name in sorted(FLAGS, key=lambda name: name != "protocol"):
        _setting_flag(t, name)
    t.add_argument("--threads", type=_threads, default=None,
                   help="torch threads (default: auto, this process's share of the free cores; aevb.threads)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--out", default=None,
                   help="run directory for config.json, curve.csv, checkpoint.pt "
                        "(default: runs/DATASET-ALGORITHM-zN_Z-hHIDDEN-sSEED; with several seeds, OUT/sSEED)")
    e = sub.add_parser("evaluate", help="estimate log p(x) for a trained run (App. D, IWAE or AIS)")
    e.add_argument("run_dir", help="a run directory written by 'train'")
    e.add_argument("--method", choices=MARGINAL_METHODS, default="hmc")
    e.add_argument("--split", choices=("train", "test"), default="test")
    e.add_argument("--n-points", type=parse_count, default=1000, help="the first N points of the split")
    e.add_argument("--k", type=parse_count, default=5000, help="IWAE: importance samples per point")
    e.add_argument("--n-chains", type=parse_count, default=8, help="AIS: chains per point")
    e.add_argument("--n-steps", type=parse_count, default=500, help="AIS: intermediate distributions")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=_threads, default=None,
                   help="torch threads (default: auto, this process's share of the free cores; aevb.threads)")
    f = sub.add_parser("figure", help="train the runs of one of the paper's figures into the results store")
    f.add_argument("figure", type=int, choices=FIGURES, nargs="+",
                   help="the paper's figure(s): 2, 3 (§5), 4, 5 (App. A); several share one pool of workers")
    _grid_options(f)
    s = sub.add_parser("study", help="train the runs of one of the investigations (aevb.experiments.grids.STUDIES)")
    s.add_argument("figure", metavar="study", choices=STUDIES, nargs="+", help=f"one or more of {', '.join(STUDIES)}")
    _grid_options(s)
    m = sub.add_parser("measure", help="measure the stored runs' models into results/studies/NAME.csv "
                                       "(aevb.experiments.measurements; needs their local checkpoints)")
    m.add_argument("name", choices=MEASUREMENTS)
    m.add_argument("--n-points", type=parse_count, default=None,
                   help="test points (default: 1000 for appd-repeats, 100 for appd-dimension, all for burda)")
    m.add_argument("--ais-points", type=parse_count, default=None,
                   help="burda: the first test points also estimated by AIS, with the inference gap (default 100)")
    m.add_argument("--only", default=None, help="measure only the runs matching these comma-separated patterns "
                                                "(the other rows of the file are kept)")
    m.add_argument("--rounds", type=int, default=None, help="fig3-cost, fig2-cost: timed rounds (default 10)")
    m.add_argument("--steps", type=int, default=None,
                   help="fig3-cost, fig2-cost: minibatch steps of each run per round (default 300)")
    m.add_argument("--results", default=str(RESULTS_DIR),
                   help="the results store (default: results/ of the repository)")
    m.add_argument("--threads", type=_threads, default=None,
                   help="torch threads (default: auto, this process's share of the free cores; aevb.threads)")
    return p


def _grid_options(f) -> None:
    """The options ``figure`` and ``study`` share."""
    _setting_flag(f, "budget", default=10_000_000, help="training samples per run, e.g. 1e7")
    f.add_argument("--only", default=None,
                   help="train only the runs whose names match these comma-separated patterns, e.g. 'mnist-*'")
    f.add_argument("--list", action="store_true", help="list the runs and how far each got; train nothing")
    f.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine; ray: a Ray cluster (pip install -r "
                        "requirements-ray.txt)")
    f.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    f.add_argument("--workers", type=parse_count, default=2, help="runs trained at once")
    f.add_argument("--threads", type=parse_count, default=1, help="torch threads per run")
    _setting_flag(f, "seed", default=[0], help="seed, or several (0,1,2 or 0-3)")
    f.add_argument("--autograd", action="store_true",
                   help="train through autograd (TrainConfig.fused=False), as the store's runs from before the fused "
                        "step were: the same draws, other float rounding, so another trajectory")
    f.add_argument("--no-stack", action="store_true",
                   help="train every seed of a run as its own task (default: one stacked pass per run)")
    _setting_flag(f, "device", default="cpu")
    f.add_argument("--results", default=str(RESULTS_DIR),
                   help="the results store (default: results/ of the repository)")


def figure(args) -> int:
    """``python -m aevb figure``: train (or list) a figure's grid in the results store."""
    results = Path(args.results)  # the settings are checked by the TrainConfigs of the grid
    if args.list:  # every run read (and checked) before anything is printed
        reached = {run_name(c): samples_reached(run_path(results, run_name(c)))
                   for c in select(grid(args.figure, args.budget, args.seed, args.device), args.only)}
        for name, samples in reached.items():
            print(f"{name:45s} {samples:>12,} samples")
        return 0
    if args.autograd:
        configs = [dataclasses.replace(c, fused=False)
                   for c in select(grid(args.figure, args.budget, args.seed, args.device), args.only)]
        run_grid(configs, results, args.executor, args.workers, args.threads, args.address, not args.no_stack,
                 label=f"{args.command} {' '.join(map(str, args.figure))}, through autograd")
        return 0
    run_figure(args.figure, args.budget, only=args.only, executor=args.executor, workers=args.workers,
               threads=args.threads, address=args.address, seed=args.seed, device=args.device, results_dir=results,
               stack=not args.no_stack)
    return 0


def measure_command(args) -> int:
    """``python -m aevb measure``: a measurement of ``aevb.experiments.measurements`` into the store's studies."""
    path = measure(args.name, args.results, args.n_points, args.only, log=lambda m: print(m, flush=True),
                   ais_points=args.ais_points, rounds=args.rounds, steps=args.steps)
    print(f"-> {path}")
    return 0


def evaluate(args) -> int:
    """``python -m aevb evaluate``: per-point estimates to RUN_DIR/marginal-METHOD-SPLIT.csv."""
    config = load_config(args.run_dir, args.device)
    evaluated = dataclasses.replace(config, marginal=args.method)  # App. D's limit on N_z checked here
    ALGORITHMS[config.algorithm].check_config(evaluated)  # and what the learner allows (MCEM: no IWAE)
    x = load_split(config, args.split, resolve_device(args.device))[: args.n_points]
    model = load_model(args.run_dir, args.device)
    start = time.perf_counter()
    est = log_marginal(model, x, args.method, seed=args.seed, k=args.k, n_chains=args.n_chains,
                       n_steps=args.n_steps).cpu()
    seconds = time.perf_counter() - start
    path = Path(args.run_dir) / f"marginal-{args.method}-{args.split}.csv"
    atomic_write_csv(path, [{"index": i, "log_px": v} for i, v in enumerate(est.tolist())], ["index", "log_px"])
    se = est.std().item() / len(est) ** 0.5
    print(f"{args.method} log p(x), {args.split}, first {len(est)} points: {est.mean():.2f} ± {se:.2f} (s.e.) "
          f"in {seconds:.1f} s -> {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command in ("figure", "study"):  # its workers claim their threads (aevb.experiments.runner)
            return figure(args)
        with claimed(args.threads):  # torch threads that do not oversubscribe the cores, for the command's life
            return {"evaluate": evaluate, "train": train, "measure": measure_command}[args.command](args)
    except (ValueError, RuntimeError, FloatingPointError, OSError) as e:
        msg = str(e)
        if isinstance(e, ParameterError):  # name the flag the user typed: parameter 'n_z' -> --n-z
            msg = re.sub(r"parameter '(\w+)'", lambda m: option(m.group(1)), msg)
        print(f"error: {msg}", file=sys.stderr)
        return 2


def train_configs(args) -> list[TrainConfig]:
    """The runs ``python -m aevb train`` trains, one per seed: the flags given, the others as ``train_defaults`` of
    the protocol and data set (under ``--algorithm mcem`` without ``--marginal``, App. D's estimator, as Fig. 3)."""
    given = {name: getattr(args, name) for name in FLAGS if hasattr(args, name)}
    if given.get("algorithm") == "mcem" and "marginal" not in given:
        given["marginal"] = "hmc"  # MCEM has no bound: Fig. 3 evaluates it by App. D
        print("--algorithm mcem has no lower bound: recording log p(x) by App. D (--marginal hmc)", flush=True)
    seeds = given.pop("seed", [0])
    defaults = train_defaults(given.get("protocol", "paper"), given.get("dataset", "mnist"))
    return [dataclasses.replace(defaults, **given, seed=seed, progress=not args.no_progress) for seed in seeds]


def train(args) -> int:
    """``python -m aevb train``: each seed's run into its directory (by default ``runs/`` and the run's name without
    its training-set size and marginal marks), several seeds in one pass; a run that fails is reported, the others
    go on."""
    configs = train_configs(args)
    outs = [f"runs/{run_name(c, omit=('n_train', 'marginal'))}" if args.out is None else
            args.out if len(configs) == 1 else f"{args.out}/s{c.seed}" for c in configs]
    results = run_seeds(configs, outs, log=lambda message: print(message, flush=True))
    for config, out, result in zip(configs, outs, results):
        if isinstance(result, BaseException):
            print(f"seed {config.seed}: {type(result).__name__}: {result}", file=sys.stderr)
            continue
        last = result.curve[-1]
        values = ", ".join(f"{k.replace('_', ' ').replace('marginal', 'log p(x)')} {v:.2f}"
                           for k, v in last.items() if k not in ("samples", "seconds"))
        print(f"{last['samples']} samples in {last['seconds']:.1f} s training time "
              f"({last['samples'] / max(last['seconds'], 1e-9):,.0f} samples/s), lr={result.lr}: {values} -> {out}")
    failed = [r for r in results if isinstance(r, BaseException)]
    if len(failed) == len(results):
        raise failed[0]
    return 2 if failed else 0
