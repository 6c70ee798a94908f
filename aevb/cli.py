"""Command line: ``python -m aevb train ...``, the face of the same code the chapters call.

Example (Alg. 1 on MNIST at the paper's settings, 10^6 training samples):

    python -m aevb train --dataset mnist --n-z 20 --hidden 500 --budget 1e6
"""
from __future__ import annotations

import argparse
import sys

from aevb.runs import ALGORITHMS, run
from aevb.train import TrainConfig

DEFAULT_HIDDEN = {"mnist": (500,), "frey": (200,)}  # §5


def _count(s: str) -> int:
    """'1e6', '1000000', '1_000_000' -> 1000000; counts must be positive whole numbers."""
    try:
        v = float(s.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if v <= 0 or v != int(v):
        raise argparse.ArgumentTypeError(f"{s!r} must be a positive whole number")
    return int(v)


def _hidden(s: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(h) for h in s.split(",") if h.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: give widths like 500 or 500,500") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"{s!r}: give one or more positive widths, like 500 or 500,500")
    return sizes


def _lr(s: str) -> float | None:
    if s == "auto":
        return None
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: give a positive number or 'auto'") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{s!r}: the step size must be positive")
    return v


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aevb", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model (Alg. 1 and baselines) and write its curve")
    t.add_argument("--dataset", choices=("mnist", "frey"), default="mnist")
    t.add_argument("--algorithm", choices=tuple(ALGORITHMS), default="aevb")
    t.add_argument("--n-z", type=_count, default=20, help="latent dimensions N_z")
    t.add_argument("--hidden", type=_hidden, default=None,
                   help="hidden widths, e.g. 500 or 500,500 (default: 500 for MNIST, 200 for Frey Face)")
    t.add_argument("--budget", type=_count, default=1_000_000, help="training samples evaluated, e.g. 1e6")
    t.add_argument("--n-train", type=_count, default=None, help="use the first N training points only")
    t.add_argument("--lr", type=_lr, default=None,
                   help="Adagrad step size, or 'auto' (default): pick from {0.01, 0.02, 0.1} as in §5")
    t.add_argument("--batch-size", type=_count, default=100, help="minibatch size M")
    t.add_argument("--n-samples", type=_count, default=1, help="samples L per datapoint")
    t.add_argument("--estimator", choices=("A", "B"), default="B", help="SGVB estimator (eq. 6 or 7)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--out", default=None,
                   help="run directory for config.json, curve.csv, checkpoint.pt "
                        "(default: runs/DATASET-ALGORITHM-zN_Z-hHIDDEN-sSEED)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = TrainConfig(
        dataset=args.dataset, algorithm=args.algorithm, n_z=args.n_z,
        hidden=args.hidden or DEFAULT_HIDDEN[args.dataset], budget=args.budget, n_train=args.n_train,
        batch_size=args.batch_size, n_samples=args.n_samples, estimator=args.estimator, lr=args.lr,
        seed=args.seed, device=args.device, progress=not args.no_progress)
    out = args.out or (f"runs/{config.dataset}-{config.algorithm}-z{config.n_z}-"
                       f"h{'x'.join(map(str, config.hidden))}-s{config.seed}")
    try:
        result = run(config, out)
    except (ValueError, RuntimeError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    last = result.curve[-1]
    print(f"{last['samples']} samples in {last['seconds']:.1f} s training time "
          f"({last['samples'] / max(last['seconds'], 1e-9):,.0f} samples/s), lr={result.lr}: "
          f"train bound {last['train_bound']:.2f}, test bound {last['test_bound']:.2f} -> {out}")
    return 0
