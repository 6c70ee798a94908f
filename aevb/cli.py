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

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.datasets import DATASETS
from aevb.devices import resolve_device
from aevb.evaluation import log_marginal
from aevb.experiments.grids import FIGURES, STUDIES, data_model_marks, grid, run_name, select
from aevb.experiments.measurements import MEASUREMENTS, measure
from aevb.experiments.runner import run_figure, run_grid
from aevb.experiments.runs import load_config, load_model, run_seeds
from aevb.experiments.store import RESULTS_DIR, run_path, samples_reached
from aevb.files import atomic_write_csv
from aevb.protocols import BURDA_BUDGET, BURDA_SETTINGS, PROTOCOLS
from aevb.learners import ALGORITHMS
from aevb.threads import claimed
from aevb.validation import ALGORITHM_NAMES, MARGINAL_METHODS, ParameterError


def _count(s: str) -> int:
    """'1e6', '1000000', '1_000_000' -> 1000000 (ranges are checked by aevb.validation.validate)."""
    try:
        v = float(s.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if v != int(v):
        raise argparse.ArgumentTypeError(f"{s!r} must be a whole number")
    return int(v)


def _hidden(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(h) for h in s.split(",") if h.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: give widths like 500 or 500,500") from None


def _seeds(s: str) -> list[int]:
    """'0' -> [0]; '0,1,5' -> [0, 1, 5]; '0-3' -> [0, 1, 2, 3]."""
    out = []
    for part in s.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None:
            raise argparse.ArgumentTypeError(f"{s!r}: give seeds like 0, 0,1,2 or 0-3")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise argparse.ArgumentTypeError(f"{s!r}: a range of seeds goes up, like 0-3")
        out += range(lo, hi + 1)
    if not out or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"{s!r}: give each seed once")
    return out


def _threads(s: str) -> int | None:
    if s == "auto":
        return None
    n = _count(s)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{s!r}: give a positive number of threads or 'auto'")
    return n


def _lr(s: str) -> float | None:
    if s == "auto":
        return None
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: give a positive number or 'auto'") from None


def _binarize(s: str) -> str | None:
    """'none' -> None; other values pass on to aevb.validation.validate (which names what is allowed)."""
    return None if s.lower() == "none" else s


# `train`'s values of the flags a protocol presets, where they are not given: §5's (App. E's annealed reading
# too), or Burda et al.'s
PAPER_DEFAULTS = {"n_z": 20, "hidden": None, "budget": 1_000_000, "lr": None, "batch_size": 100, "binarize": None,
                  "weight_decay": True}
TRAIN_DEFAULTS = {"paper": PAPER_DEFAULTS, "annealed": PAPER_DEFAULTS,
                  "burda": {**{k: BURDA_SETTINGS[k] for k in ("n_z", "hidden", "lr", "batch_size", "binarize",
                                                              "weight_decay")}, "budget": BURDA_BUDGET}}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aevb", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model (Alg. 1, the baselines, App. F) and write its curve")
    # values are checked by aevb.validation.validate, the one check shared with the chapters
    t.add_argument("--dataset", default="mnist", help="mnist or frey")
    t.add_argument("--algorithm", default="aevb", help=f"one of {', '.join(ALGORITHM_NAMES)}")
    t.add_argument("--protocol", choices=PROTOCOLS, default="paper",
                   help="paper (§5: Adagrad, default), annealed (App. E's other reading: the same, the "
                        "global step size lowered tenfold every 10^7 samples) or burda: Burda et al. 2015's preset (aevb.protocols: Adam, the "
                        "staged step size, 784-200-200-50, dynamic binarization, M = 20, 3,280 passes), whose "
                        "settings the flags given here change")
    # the flags a protocol presets: absent unless given (TRAIN_DEFAULTS fills them)
    t.add_argument("--n-z", type=_count, default=argparse.SUPPRESS, help="latent dimensions N_z (default 20)")
    t.add_argument("--hidden", type=_hidden, default=argparse.SUPPRESS,
                   help="hidden widths, e.g. 500 or 500,500 (default: 500 for MNIST, 200 for Frey Face)")
    t.add_argument("--budget", type=_count, default=argparse.SUPPRESS,
                   help="training samples evaluated, e.g. 1e6 (default 1e6)")
    t.add_argument("--n-train", type=_count, default=None, help="use the first N training points only")
    t.add_argument("--lr", type=_lr, default=argparse.SUPPRESS,
                   help="Adagrad step size, or 'auto' (default): pick from {0.01, 0.02, 0.1} as in §5")
    t.add_argument("--batch-size", type=_count, default=argparse.SUPPRESS, help="minibatch size M (default 100)")
    t.add_argument("--n-samples", type=_count, default=1, help="samples L per datapoint")
    t.add_argument("--estimator", choices=("A", "B"), default="B", help="SGVB estimator (eq. 6 or 7)")
    t.add_argument("--marginal", choices=MARGINAL_METHODS, default=None,
                   help="also record log p(x) of the first --marginal-points train and test points at each "
                        "evaluation (Fig. 3 uses hmc, the App. D estimator; the default for mcem)")
    t.add_argument("--marginal-points", type=_count, default=1000)
    t.add_argument("--binarize", type=_binarize, default=argparse.SUPPRESS,
                   help="MNIST pixels: none (default: grey levels as Bernoulli means, §5), dynamic (a fresh 0/1 "
                        "draw per use in a minibatch, evaluated on one fixed draw) or static (one fixed seeded draw)")
    t.add_argument("--posterior", default="diagonal",
                   help="q(z|x): diagonal (eq. 9, default), full (full covariance) or iaf (inverse autoregressive "
                        "flow); a richer family trains and is evaluated by estimator A with its exact log q")
    t.add_argument("--n-flows", type=_count, default=2, help="IAF steps (with --posterior iaf)")
    t.add_argument("--k", type=_count, default=1,
                   help="importance samples per datapoint of the training objective: 1 the bound of eq. 3 "
                        "(default), k > 1 the IWAE bound (Burda et al. 2015)")
    t.add_argument("--checkpoint-every", type=_count, default=100_000,
                   help="samples between checkpoints (the same command resumes an interrupted run)")
    t.add_argument("--seed", type=_seeds, default=[0],
                   help="seed, or several (0,1,2 or 0-3): aevb and wake-sleep train them in one stacked pass")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
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
    e.add_argument("--n-points", type=_count, default=1000, help="the first N points of the split")
    e.add_argument("--k", type=_count, default=5000, help="IWAE: importance samples per point")
    e.add_argument("--n-chains", type=_count, default=8, help="AIS: chains per point")
    e.add_argument("--n-steps", type=_count, default=500, help="AIS: intermediate distributions")
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
    m.add_argument("--n-points", type=_count, default=None,
                   help="test points (default: 1000 for appd-repeats, 100 for appd-dimension, all for burda)")
    m.add_argument("--ais-points", type=_count, default=None,
                   help="burda: the first test points also estimated by AIS, with the inference gap (default 100)")
    m.add_argument("--only", default=None, help="measure only the runs matching these comma-separated patterns "
                                                "(the other rows of the file are kept)")
    m.add_argument("--results", default=str(RESULTS_DIR), help="the results store (default: results/ of the repository)")
    m.add_argument("--threads", type=_threads, default=None,
                   help="torch threads (default: auto, this process's share of the free cores; aevb.threads)")
    return p


def _grid_options(f) -> None:
    """The options ``figure`` and ``study`` share."""
    f.add_argument("--budget", type=_count, default=10_000_000, help="training samples per run, e.g. 1e7")
    f.add_argument("--only", default=None,
                   help="train only the runs whose names match these comma-separated patterns, e.g. 'mnist-*'")
    f.add_argument("--list", action="store_true", help="list the runs and how far each got; train nothing")
    f.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine; ray: a Ray cluster (pip install -r "
                        "requirements-ray.txt)")
    f.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    f.add_argument("--workers", type=_count, default=2, help="runs trained at once")
    f.add_argument("--threads", type=_count, default=1, help="torch threads per run")
    f.add_argument("--seed", type=_seeds, default=[0], help="seed, or several (0,1,2 or 0-3)")
    f.add_argument("--autograd", action="store_true",
                   help="train through autograd (TrainConfig.fused=False), as the store's runs from before the fused "
                        "step were: the same draws, other float rounding, so another trajectory")
    f.add_argument("--no-stack", action="store_true",
                   help="train every seed of a run as its own task (default: one stacked pass per run)")
    f.add_argument("--device", default="cpu", help="cpu or cuda")
    f.add_argument("--results", default=str(RESULTS_DIR), help="the results store (default: results/ of the repository)")


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
                   ais_points=args.ais_points)
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
            msg = re.sub(r"parameter '(\w+)'", lambda m: "--" + m.group(1).replace("_", "-"), msg)
        print(f"error: {msg}", file=sys.stderr)
        return 2


def train(args) -> int:
    """``python -m aevb train``."""
    if args.algorithm == "mcem" and args.marginal is None:
        args.marginal = "hmc"  # MCEM has no bound: Fig. 3 evaluates it by App. D
        print("--algorithm mcem has no lower bound: recording log p(x) by App. D (--marginal hmc)", flush=True)
    for name, value in TRAIN_DEFAULTS[args.protocol].items():
        if not hasattr(args, name):
            setattr(args, name, value)
    configs = [TrainConfig(
        protocol=args.protocol, weight_decay=args.weight_decay,
        dataset=args.dataset, algorithm=args.algorithm, n_z=args.n_z,
        hidden=(DATASETS[args.dataset].hidden if args.dataset in DATASETS else (500,)) if args.hidden is None
        else args.hidden,
        budget=args.budget, n_train=args.n_train,
        batch_size=args.batch_size, n_samples=args.n_samples, estimator=args.estimator, lr=args.lr,
        marginal=args.marginal, marginal_points=args.marginal_points, checkpoint_every=args.checkpoint_every,
        binarize=args.binarize, posterior=args.posterior, n_flows=args.n_flows, k=args.k, seed=seed,
        device=args.device,
        progress=not args.no_progress) for seed in args.seed]
    c = configs[0]
    binary = (f"-{c.protocol}" if c.protocol != "paper" else "") + data_model_marks(c)
    default = f"runs/{c.dataset}-{c.algorithm}-z{c.n_z}-h{'x'.join(map(str, c.hidden))}{binary}-s"
    outs = [(default + str(c.seed)) if args.out is None else args.out if len(configs) == 1 else
            f"{args.out}/s{c.seed}" for c in configs]
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
