"""Chapter 13's streaming measurement (§2: "Note that our method can be applied to online, non-stationary settings,
e.g. streaming data, but here we assume a fixed dataset for simplicity."): Algorithm 1 run online on MNIST digits
arriving in phases, against the same model trained by the same steps on the shuffled whole
(``python -m aevb measure streaming`` -> ``results/studies/streaming.csv``).

The stream (``aevb.streams.phase_order``): the 50,000 training images (grey levels as Bernoulli means, §5's data
and Fig. 5's, whose step size is used) in ``PHASES`` of two digit classes each, each phase's images in a seeded
random order, shown ``passes`` times (a fresh order each time) before the stream moves on: passes = 1 is the
strict stream (every image, and every minibatch, seen exactly once: 50,000 samples), passes = 10 a longer stream
that revisits each phase's images. The learner (``aevb.learners.online.OnlineTrainer``): ``MODEL``, M = 100,
L = 1, §5's Adagrad at a fixed step size, Fig. 5's N_z = 20 run's §5-selected one (``STEP_RUN``'s ``lr_used``: a
search on the stream's first phase would see only two digits, and a search on the whole set would not be
online). ``SETTINGS``, each with seeds ``SEEDS`` (a seed fixes the initial weights, the noise, the order and the
replay draws; a setting and the shuffled model of one seed share the weights and the noise):

- ``shuffled``: the paper's setting, passes over the whole training set in fresh orders, as many steps;
- ``stream``: the stream;
- ``replay``: the stream, each step with as many images again (M) drawn from a reservoir (uniform over all the
  stream has shown, ``aevb.streams.Reservoir``) of ``REPLAY_CAPACITY`` images: twice the gradient work per step
  (the x-axis counts stream samples);
- ``large-step``: the stream at ``LARGER_STEP`` times the step size.

Each is evaluated at ``PER_PHASE`` fixed stream positions per phase (``aevb.streams.evaluation_positions``), the
shuffled model at the same ones: the test bound (estimator B, L = 1, one draw per test image under the seed's
evaluation seed, so evaluating changes no training) on each phase's test digits and on the whole test set. Rows:
one per run, position and phase (or "all"). ``summary`` gives what the scorecard's rule
(``aevb.book.verdicts.ONLINE``) and the page need; ``check`` re-trains a prefix of one run.
"""
from __future__ import annotations

from pathlib import Path

import torch

from aevb.config import TrainConfig
from aevb.data import load_mnist
from aevb.experiments.store import run_config, run_path
from aevb.files import StoreError
from aevb.learners.online import OnlineTrainer, evaluate_along, group_bounds
from aevb.streams import evaluation_positions, phase_ends, phase_order, shuffled_order

PHASES = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))  # the digit classes of each phase, in stream order
MODEL = {"n_z": 20, "hidden": (200,)}  # 784-200-20: Fig. 5's N_z = 20 with 200 hidden units (the budget)
PASSES = (1, 10)  # times each phase's images are shown: the strict stream, and a longer one
SEEDS = (0, 1, 2)
PER_PHASE = 10  # evaluations per phase
REPLAY_CAPACITY = 1_000  # images the reservoir holds (2% of the training set)
LARGER_STEP = 5.0  # "large-step": this many times the step size (0.1 from 0.02: the largest of §5's grid)
STEP_RUN = "mnist-aevb-z20-h500-nall-s0"  # Fig. 5's N_z = 20 run, whose §5-selected step size is used
SETTINGS = ("shuffled", "stream", "replay", "large-step")
CHECK_SAMPLES = 3_000  # check: the first 30 steps of one run, evaluated at its grid's positions up to there
CHECK_ATOL = 0.01  # nats: the check's tolerance (float rounding across CPUs moves these bounds by ~1e-4)

COLUMNS = ["run", "setting", "passes", "seed", "lr", "replay", "samples", "stream_phase", "phase", "points", "bound",
           "seconds"]
TEXT_COLUMNS: tuple[str, ...] = ("run", "setting", "phase")


def phase_name(phase: tuple[int, ...]) -> str:
    """A phase's name in the rows: its digits, "0-1"."""
    return "-".join(map(str, phase))


def run_name(setting: str, passes: int, seed: int) -> str:
    return f"{setting}-p{passes}-s{seed}"


def step_size(results_dir: str | Path) -> float:
    """The step size of every run: ``STEP_RUN``'s ``lr_used`` in the store (§5's search for Fig. 5's N_z = 20)."""
    run_dir = run_path(results_dir, STEP_RUN)
    meta = run_config(run_dir)[1]
    if "lr_used" not in meta:
        raise StoreError(run_dir / "config.json", "has no lr_used (the step size §5's search chose)",
                         f"train Fig. 5 again: python -m aevb figure 5 (its run {STEP_RUN})")
    return float(meta["lr_used"])


def _data(device="cpu"):
    """(train images (N, D), train labels (N,), test images (N', D), {phase name: test mask (N',)})."""
    x, y = load_mnist("train")
    xt, yt = load_mnist("test")
    yt = torch.from_numpy(yt)
    masks = {phase_name(p): torch.isin(yt, torch.tensor(p)).to(device) for p in PHASES}
    return (torch.from_numpy(x).to(device), torch.from_numpy(y), torch.from_numpy(xt).to(device), masks)


def _trainer(setting: str, passes: int, seed: int, lr: float, x, y) -> OnlineTrainer:
    """The trainer of one run: its stream (``seed`` + 3 orders it), replay (``seed`` + 4 draws it), step size."""
    config = TrainConfig(**MODEL, seed=seed, lr=lr, fused=False, progress=False)
    order = (shuffled_order(len(y), passes, seed + 3) if setting == "shuffled"
             else phase_order(y, PHASES, passes, seed + 3))  # (T,)
    return OnlineTrainer(config, x, lr * (LARGER_STEP if setting == "large-step" else 1.0), order,
                         replay=REPLAY_CAPACITY if setting == "replay" else 0, replay_seed=seed + 4)


def _run(setting: str, passes: int, seed: int, lr: float, data, upto: int | None = None) -> list[dict]:
    """The rows of one run, evaluated at the grid's positions (up to ``upto`` samples)."""
    x, y, xt, masks = data
    trainer = _trainer(setting, passes, seed, lr, x, y)
    grid = evaluation_positions(phase_ends(y, PHASES, passes), PER_PHASE, trainer.config.batch_size)
    grid = [(p, k) for p, k in grid if upto is None or p <= upto]
    points = {**{k: int(m.sum()) for k, m in masks.items()}, "all": len(xt)}
    evals = evaluate_along(trainer, [p for p, _ in grid], lambda model: group_bounds(model, xt, masks, seed + 2))
    return [{"run": run_name(setting, passes, seed), "setting": setting, "passes": passes, "seed": seed,
             "lr": trainer.lr, "replay": REPLAY_CAPACITY if trainer.reservoir else 0, "samples": e["samples"],
             "stream_phase": k + 1, "phase": name, "points": points[name], "bound": e[name],
             "seconds": round(e["seconds"], 3)}
            for (_, k), e in zip(grid, evals) for name in points]


def measure(results_dir, log=print) -> list[dict]:
    """Every run of ``SETTINGS`` × ``PASSES`` × ``SEEDS`` (one thread: about 8 minutes of CPU time)."""
    lr, data, rows = step_size(results_dir), _data(), []
    for passes in PASSES:
        for seed in SEEDS:
            for setting in SETTINGS:
                rows += _run(setting, passes, seed, lr, data)
                last = rows[-1]
                log(f"{last['run']}: final test bound {last['bound']:.2f} after {last['samples']:,.0f} samples "
                    f"({last['seconds']:.0f} s)")
    return rows
