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

import math
import statistics
from pathlib import Path

import torch

from aevb.config import TrainConfig
from aevb.data import load_mnist
from aevb.experiments.store import RESULTS_DIR, run_config, run_path
from aevb.files import StoreError, read_csv
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
CHECK_SAMPLES = 5_500  # check: the first 55 steps of ``CHECK_RUN``, evaluated at its grid's positions up to there
# nats: the check's tolerance (float rounding: 0.004 between this machine's AVX kernels and ATEN_CPU_CAPABILITY=default)
CHECK_ATOL = 0.05

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


def _trainer(setting: str, passes: int, seed: int, lr: float, x, y, replay: int, larger_step: float) -> OnlineTrainer:
    """The trainer of one run: its stream (``seed`` + 3 orders it), replay (``seed`` + 4 draws it), step size."""
    config = TrainConfig(**MODEL, seed=seed, lr=lr, fused=False, progress=False)
    order = (shuffled_order(len(y), passes, seed + 3) if setting == "shuffled"
             else phase_order(y, PHASES, passes, seed + 3))  # (T,)
    return OnlineTrainer(config, x, lr * (larger_step if setting == "large-step" else 1.0), order,
                         replay=replay if setting == "replay" else 0, replay_seed=seed + 4)


def run_setting(setting: str, passes: int, seed: int, results_dir: str | Path = RESULTS_DIR, *,
                replay: int = REPLAY_CAPACITY, larger_step: float = LARGER_STEP, upto: int | None = None,
                data=None) -> list[dict]:
    """The rows of one run of ``setting`` (one of ``SETTINGS``), ``passes`` and ``seed``, evaluated at the grid's
    positions (up to ``upto`` samples), at the step size of ``results_dir``'s ``STEP_RUN``; ``replay`` and
    ``larger_step`` change the "replay" and "large-step" settings (the measurement's: ``REPLAY_CAPACITY``,
    ``LARGER_STEP``); ``data``: ``_data()``, loaded where None."""
    if setting not in SETTINGS:
        raise ValueError(f"setting={setting!r}: allowed values are {SETTINGS}")
    x, y, xt, masks = _data() if data is None else data
    trainer = _trainer(setting, passes, seed, step_size(results_dir), x, y, replay, larger_step)
    grid = evaluation_positions(phase_ends(y, PHASES, passes), PER_PHASE, trainer.config.batch_size)
    grid = [(p, k) for p, k in grid if upto is None or p <= upto]
    points = {**{k: int(m.sum()) for k, m in masks.items()}, "all": len(xt)}
    evals = evaluate_along(trainer, [p for p, _ in grid], lambda model: group_bounds(model, xt, masks, seed + 2))
    return [{"run": run_name(setting, passes, seed), "setting": setting, "passes": passes, "seed": seed,
             "lr": trainer.lr, "replay": trainer.reservoir.capacity if trainer.reservoir else 0,
             "samples": e["samples"], "stream_phase": k + 1, "phase": name, "points": points[name],
             "bound": e[name], "seconds": round(e["seconds"], 3)}
            for (_, k), e in zip(grid, evals) for name in points]


def measure(results_dir, log=print) -> list[dict]:
    """Every run of ``SETTINGS`` × ``PASSES`` × ``SEEDS`` (one thread: about 8 minutes of CPU time)."""
    data, rows = _data(), []
    for passes in PASSES:
        for seed in SEEDS:
            for setting in SETTINGS:
                rows += run_setting(setting, passes, seed, results_dir, data=data)
                last = rows[-1]
                log(f"{last['run']}: final test bound {last['bound']:.2f} after {last['samples']:,.0f} samples "
                    f"({last['seconds']:.0f} s)")
    return rows


# --- what the rows show ---------------------------------------------------------------------------------------

def _mean_sd(values: list[float]) -> tuple[float, float]:
    """(mean, standard deviation over seeds; 0 for one seed)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _bounds(rows: list[dict]) -> dict:
    """{(setting, passes, seed): {(samples, phase): bound}}."""
    out: dict = {}
    for r in rows:
        out.setdefault((r["setting"], int(r["passes"]), int(r["seed"])), {})[(int(r["samples"]), r["phase"])] = \
            r["bound"]
    return out


def phase_end_positions(rows: list[dict], passes: int) -> list[int]:
    """The evaluation position that ends each phase of the stream of ``passes`` (its grid's last in the phase)."""
    ends: dict[int, int] = {}
    for r in rows:
        if int(r["passes"]) == passes:
            k = int(r["stream_phase"]) - 1
            ends[k] = max(ends.get(k, 0), int(r["samples"]))
    return [ends[k] for k in sorted(ends)]


def summary(rows: list[dict]) -> dict:
    """What the rows show, per stream length (``streams``: passes -> setting -> numbers, each a (mean, standard
    deviation) over seeds): ``current``, the bound on each phase's test digits at the end of its phase (learning
    the current phase); ``current_gap``, that minus the shuffled model's at the same position (same seed);
    ``forgetting``, for each phase but the last, its bound at the end of its phase minus at the end of the stream
    (positive: forgotten); ``final`` and ``final_gap``, the whole test set's bound at the end and its difference
    from the shuffled model's. Also the step sizes, the replay capacity, the seeds, the phases' names and
    ``ends`` (passes -> the end positions)."""
    bounds = _bounds(rows)
    names = [phase_name(p) for p in PHASES]
    seeds = sorted({k[2] for k in bounds})
    streams: dict = {}
    for passes in sorted({k[1] for k in bounds}):
        ends = phase_end_positions(rows, passes)
        last = ends[-1]
        base = {s: bounds[("shuffled", passes, s)] for s in seeds}
        streams[passes] = {}
        for setting in [s for s in SETTINGS if any(k[:2] == (s, passes) for k in bounds)]:
            b = {s: bounds[(setting, passes, s)] for s in seeds}
            streams[passes][setting] = {
                "current": [_mean_sd([b[s][(e, n)] for s in seeds]) for e, n in zip(ends, names)],
                "current_gap": [_mean_sd([b[s][(e, n)] - base[s][(e, n)] for s in seeds])
                                for e, n in zip(ends, names)],
                "forgetting": [_mean_sd([b[s][(e, n)] - b[s][(last, n)] for s in seeds])
                               for e, n in zip(ends[:-1], names)],
                "final": _mean_sd([b[s][(last, "all")] for s in seeds]),
                "final_gap": _mean_sd([b[s][(last, "all")] - base[s][(last, "all")] for s in seeds])}
    lrs = {r["setting"]: r["lr"] for r in rows}
    return {"lr": lrs.get("stream", math.nan), "larger_lr": lrs.get("large-step", math.nan),
            "replay": max((int(r["replay"]) for r in rows), default=0), "seeds": len(seeds), "phases": names,
            "ends": {p: phase_end_positions(rows, p) for p in streams}, "streams": streams}


# --- the CI check ---------------------------------------------------------------------------------------------

CHECK_RUN = ("replay", 1, 0)  # (setting, passes, seed): the stream, the reservoir and the trainer all at work


def stored_rows(results_dir: str | Path) -> list[dict]:
    """The stored rows of ``results_dir/studies/streaming.csv`` (numbers as float, ``TEXT_COLUMNS`` as text)."""
    return read_csv(Path(results_dir) / "studies" / "streaming.csv", COLUMNS,
                    "measure it again: python -m aevb measure streaming", TEXT_COLUMNS)


def check(results_dir, log=print) -> dict:
    """Re-train the first ``CHECK_SAMPLES`` samples of ``CHECK_RUN`` (a few seconds on one thread) and compare
    every bound it evaluates there with the stored rows; raises ``StoreError`` where one differs by more than
    ``CHECK_ATOL`` nats. Returns the run, the samples, the values compared and the largest difference."""
    setting, passes, seed = CHECK_RUN
    name = run_name(setting, passes, seed)
    path = Path(results_dir) / "studies" / "streaming.csv"
    stored = {(int(r["samples"]), r["phase"]): r["bound"] for r in stored_rows(results_dir) if r["run"] == name}
    if not stored:
        raise StoreError(path, f"has no row of {name}", "measure it again: python -m aevb measure streaming")
    rerun = run_setting(setting, passes, seed, results_dir, upto=CHECK_SAMPLES)
    missing = [(r["samples"], r["phase"]) for r in rerun if (r["samples"], r["phase"]) not in stored]
    if missing or not rerun:
        raise StoreError(path, f"has no row of {name} at {missing[0] if missing else CHECK_SAMPLES} (samples, "
                               f"phase)", "measure it again: python -m aevb measure streaming")
    diffs = [(abs(r["bound"] - stored[(r["samples"], r["phase"])]), r) for r in rerun]
    worst, at = max(diffs, key=lambda d: d[0])
    if not worst <= CHECK_ATOL:
        raise StoreError(path, f"{name}'s bound on phase {at['phase']} at {at['samples']:,} samples is "
                               f"{at['bound']:.4f} re-trained here, {stored[(at['samples'], at['phase'])]:.4f} "
                               f"stored (tolerance {CHECK_ATOL} nats)",
                         "measure it again with this code: python -m aevb measure streaming")
    log(f"streaming: {name} re-trained to {CHECK_SAMPLES:,} samples, {len(diffs)} bounds within {worst:.1e} nats")
    return {"run": name, "samples": CHECK_SAMPLES, "compared": len(diffs), "largest_difference": worst,
            "atol": CHECK_ATOL}
