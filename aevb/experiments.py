"""§5 and App. A: the paper's experiments (Fig. 2, 3, 4, 5) as grids of runs, trained into the results store.

- Fig. 2: MNIST (500 hidden) N_z ∈ {3, 5, 10, 20, 200} and Frey Face (200 hidden) N_z ∈ {2, 5, 10, 20}, AEVB and
  wake-sleep, average train and test lower bound vs training samples evaluated.
- Fig. 3: MNIST, 100 hidden, N_z = 3, N_train ∈ {1000, 50000}, AEVB, wake-sleep and Monte Carlo EM, log p(x)
  by the App. D estimator on the first 1000 train and test points.
- Fig. 4: 2-D latent manifolds (MNIST, Frey Face): decoder means on a grid of the unit square mapped through
  the inverse Gaussian CDF. Fig. 5: decoder means at random z ~ p(z), MNIST, N_z ∈ {2, 5, 10, 20}.

Every run is a ``TrainConfig`` of the paper's §5 protocol (``aevb.train``) trained by ``aevb.runs.run`` into
``results/runs/NAME/`` (``config.json``, ``curve.csv``, for Fig. 4/5 a small ``images.npz``; the checkpoint
stays out of git). A run shared by two figures (Fig. 2's Frey Face N_z = 2 AEVB is Fig. 4's) is trained once.
Asking for a larger budget extends a run exactly (``aevb.runs``); an interrupted grid resumes where it stopped.

    python -m aevb figure 2 --budget 1e7            # the 18 runs of Fig. 2, two at a time on this machine
    python -m aevb figure 3 --only 'mnist-mcem-*'   # a part of a grid (shell-style patterns on run names)
    python -m aevb figure 2 --seed 0-3              # four seeds; each run's seeds train in one stacked pass
    python -m aevb figure 2 --executor ray --address ray://HEAD:10001   # the same grid on a Ray cluster
"""
from __future__ import annotations

import dataclasses
import fnmatch
import io
from pathlib import Path

import numpy as np
import torch

from aevb.io import atomic_write, read_csv
from aevb.params import ParameterError
from aevb.train import TrainConfig, eval_schedule

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"  # the committed store (repository root)
FIGURES = (2, 3, 4, 5)
HIDDEN = {"mnist": (500,), "frey": (200,)}  # §5: hidden units per data set (Fig. 2, 4, 5)
FIG2_NZ = {"mnist": (3, 5, 10, 20, 200), "frey": (2, 5, 10, 20)}  # Fig. 2's panels
FIG3_N_TRAIN = (1000, 50_000)  # Fig. 3's two columns
FIG5_NZ = (2, 5, 10, 20)  # Fig. 5's panels
GRID_N = 20  # Fig. 4: points per axis of the unit-square grid
N_SAMPLES_FIG5 = 100  # Fig. 5: random samples per model


def figure_configs(figure: int, budget: int, seed: int = 0, device: str = "cpu") -> list[TrainConfig]:
    """The runs of one of the paper's figures, each a §5 ``TrainConfig`` trained to ``budget`` samples."""
    common = dict(budget=budget, seed=seed, device=device, progress=False)
    if figure == 2:
        return [TrainConfig(dataset=d, algorithm=a, n_z=z, hidden=HIDDEN[d], **common)
                for d, zs in FIG2_NZ.items() for z in zs for a in ("aevb", "wake-sleep")]
    if figure == 3:
        return [TrainConfig(dataset="mnist", algorithm=a, n_z=3, hidden=(100,), n_train=n, marginal="hmc",
                            marginal_points=1000, **common)
                for n in FIG3_N_TRAIN for a in ("aevb", "wake-sleep", "mcem")]
    if figure == 4:
        return [TrainConfig(dataset=d, algorithm="aevb", n_z=2, hidden=HIDDEN[d], **common) for d in HIDDEN]
    if figure == 5:
        return [TrainConfig(dataset="mnist", algorithm="aevb", n_z=z, hidden=HIDDEN["mnist"], **common)
                for z in FIG5_NZ]
    raise ParameterError(f"figure {figure!r} is not one of the paper's experiments {FIGURES}")


def grid(figures: list[int], budget: int, seeds: int | list[int] = 0, device: str = "cpu") -> list[TrainConfig]:
    """The runs of several figures for one seed or several, each run once (in the order the figures list them)."""
    out = {}
    for seed in [seeds] if isinstance(seeds, int) else seeds:
        for f in figures:
            out.update({run_name(c): c for c in figure_configs(f, budget, seed, device) if run_name(c) not in out})
    return list(out.values())


def stack_groups(configs: list[TrainConfig], stack: bool = True) -> list[list[TrainConfig]]:
    """The runs as tasks: with ``stack``, the runs that differ only in their seed form one task, trained in one
    pass with stacked weights (``aevb.runs.run_group``) where their algorithm is fused; every other run alone."""
    from aevb.runs import ALGORITHMS

    groups: dict = {}
    for c in configs:
        stackable = stack and c.fused and ALGORITHMS[c.algorithm].fusable(c)
        groups.setdefault(dataclasses.replace(c, seed=0) if stackable else run_name(c), []).append(c)
    return list(groups.values())


def run_name(config: TrainConfig) -> str:
    """A run's directory name: every setting that differs between the figures' runs."""
    n = "all" if config.n_train is None else config.n_train
    mark = f"-{config.marginal}" if config.marginal else ""
    return (f"{config.dataset}-{config.algorithm}-z{config.n_z}-h{'x'.join(map(str, config.hidden))}"
            f"-n{n}{mark}-s{config.seed}")


def run_path(results_dir: str | Path, name: str) -> Path:
    """The directory of the run called ``name`` (``run_name``) in the store ``results_dir``."""
    return Path(results_dir) / "runs" / name


def figures_of(config: TrainConfig) -> list[int]:
    """The figures a run belongs to (budget, device, progress, fused or not and a step size fixed instead of
    searched aside)."""
    key = lambda c: dataclasses.replace(c, budget=1, device="cpu", progress=False, lr=None, fused=True)  # noqa: E731
    return [f for f in FIGURES if key(config) in {key(c) for c in figure_configs(f, 1, config.seed)}]


def select(configs: list[TrainConfig], only: str | None) -> list[TrainConfig]:
    """The configs whose run name matches one of the comma-separated shell patterns in ``only`` (all if None)."""
    if only is None:
        return configs
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [c for c in configs if any(fnmatch.fnmatch(run_name(c), p) for p in patterns)]
    if not chosen:
        raise ParameterError(f"--only {only!r} matches none of the runs: {', '.join(map(run_name, configs))}")
    return chosen


def samples_reached(run_dir: str | Path) -> int:
    """Training samples of the last evaluated point in ``run_dir/curve.csv`` (0 where there is none)."""
    path = Path(run_dir) / "curve.csv"
    rows = read_csv(path) if path.exists() else []
    return int(rows[-1]["samples"]) if rows else 0


def pending(configs: list[TrainConfig], results_dir: Path) -> list[TrainConfig]:
    """The configs not yet trained to their budget in ``results_dir`` (or, for Fig. 4/5, whose images are
    missing: the run is then only loaded and drawn)."""
    def done(c):
        run_dir = run_path(results_dir, run_name(c))
        return (samples_reached(run_dir) >= eval_schedule(c.budget, c.batch_size)[-1]
                and (not set(figures_of(c)) & {4, 5} or (run_dir / "images.npz").exists()))

    return [c for c in configs if not done(c)]


def cost(config: TrainConfig) -> float:
    """Rough relative cost of a run: multiply-adds per training sample (encoder, decoder, forward and
    backward) times the budget; MCEM's 10 leapfrog steps and 5 updates per minibatch cost about 6 AEVB steps."""
    d_x = 784 if config.dataset == "mnist" else 560
    h = config.hidden[0]
    macs = 3 * (d_x * h + h * 2 * config.n_z + config.n_z * h + h * d_x)
    return macs * config.budget * (6 if config.algorithm == "mcem" else 1)


@torch.no_grad()
def manifold(model, n: int = GRID_N) -> torch.Tensor:
    """Fig. 4: decoder means on an n × n grid of the unit square mapped through the inverse Gaussian CDF
    (cell centres (i + ½)/n, so no point maps to ±∞): -> (n·n, D), rows top to bottom = z_2 high to low."""
    u = (torch.arange(n, dtype=torch.float32) + 0.5) / n  # (n,)
    z = torch.distributions.Normal(0.0, 1.0).icdf(u)  # (n,)
    z1, z2 = torch.meshgrid(z, z.flip(0), indexing="xy")  # (n, n) each
    grid = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (n·n, 2)
    return model.decode(grid.to(next(model.parameters()).device))


def render_images(config: TrainConfig, model, seed: int = 0) -> dict[str, np.ndarray]:
    """The images Fig. 4 / Fig. 5 show for this run, as uint8 arrays (N, D) (small enough to commit); drawn on
    the CPU, so a run trained on a GPU stores the same images for the same weights and seed."""
    figs, out, model = figures_of(config), {}, model.cpu()
    if 4 in figs:
        out["manifold"] = manifold(model)
    if 5 in figs:
        out["samples"] = model.sample(N_SAMPLES_FIG5, generator=torch.Generator().manual_seed(seed))
    return {k: (v.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy() for k, v in out.items()}


def train_group(config_dicts: list[dict], run_dirs: list[str], threads: int) -> list:
    """Executor task: train runs that differ only in seed into ``run_dirs`` (resuming where they stopped) in one
    pass, with ``threads`` threads; returns per run its small files by name, as bytes, for the caller to store
    (the worker may be on another machine) and how far it got, or the exception that stopped it."""
    from aevb.runs import run_group

    torch.set_num_threads(threads)
    configs = [TrainConfig.from_dict(d) for d in config_dicts]
    return [out if isinstance(out, BaseException) else _task_result(c, out, Path(d))
            for c, out, d in zip(configs, run_group(configs, run_dirs), run_dirs)]


def _task_result(config: TrainConfig, result, run_dir: Path) -> dict:
    files = {name: (run_dir / name).read_bytes() for name in ("config.json", "curve.csv")}
    images = render_images(config, result.model, config.seed)
    if images:
        buf = io.BytesIO()
        np.savez_compressed(buf, **images)
        files["images.npz"] = buf.getvalue()
        atomic_write(run_dir / "images.npz", lambda f: f.write(files["images.npz"]))
    last = result.curve[-1]
    return {"name": run_dir.name, "files": files, "samples": last["samples"], "seconds": last["seconds"]}


def store(result: dict, results_dir: Path) -> Path:
    """Write a task's files into ``results_dir/runs/NAME`` atomically (a no-op where the worker wrote them)."""
    run_dir = run_path(results_dir, result["name"])
    for name, data in result["files"].items():
        path = run_dir / name
        if not (path.exists() and path.read_bytes() == data):
            atomic_write(path, lambda f, d=data: f.write(d))
    return run_dir


def load_images(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The committed Fig. 4 / 5 images of a run as float arrays in [0, 1]."""
    with np.load(Path(run_dir) / "images.npz", allow_pickle=False) as f:
        return {k: f[k].astype(np.float32) / 255 for k in f.files}


def run_figure(figure: int | list[int], budget: int, only: str | None = None, executor: str = "local", workers: int = 2,
               threads: int = 1, address: str | None = None, seed: int | list[int] = 0, device: str = "cpu",
               results_dir: str | Path = RESULTS_DIR, stack: bool = True, log=print) -> list[dict]:
    """Train the runs of ``figure`` (or of several figures, each shared run once; those matching ``only``) for
    ``seed`` (one or several) to ``budget`` samples with ``executor`` ("local": a pool of ``workers`` processes;
    "ray": tasks on a Ray cluster at ``address``, or a local Ray instance where it is None), each with
    ``threads`` threads; with ``stack``, the seeds of one run are one task trained with stacked weights.
    ``results_dir/index.csv`` is rewritten after every task. A run that fails (e.g. NaN) is reported and the
    others go on; the error is raised at the end."""
    from aevb.executors import EXECUTORS
    from aevb.results import write_index

    if executor not in EXECUTORS:
        raise ParameterError(f"executor {executor!r} is not one of {tuple(EXECUTORS)}")
    results_dir = Path(results_dir)
    figures = [figure] if isinstance(figure, int) else list(figure)
    configs = select(grid(figures, budget, seed, device), only)
    todo = pending(configs, results_dir)
    groups = sorted(stack_groups(todo, stack), key=lambda g: sum(map(cost, g)), reverse=True)  # longest first
    log(f"figure {', '.join(map(str, figures))}: {len(configs)} runs, {len(configs) - len(todo)} already at {budget:,} samples, "
        f"{len(todo)} to train in {len(groups)} tasks with {executor} ({workers} workers x {threads} threads)")
    tasks = [dict(config_dicts=[dataclasses.asdict(c) for c in g],
                  run_dirs=[str(run_path(results_dir, run_name(c))) for c in g], threads=threads) for g in groups]
    done, failed = [], []
    for task, outcome in EXECUTORS[executor](train_group, tasks, workers=workers, threads=threads, address=address):
        names = [Path(d).name for d in task["run_dirs"]]
        outcomes = outcome if isinstance(outcome, list) else [outcome] * len(names)  # a task that failed as a whole
        for name, out in zip(names, outcomes):
            if isinstance(out, BaseException):
                failed.append(f"{name}: {type(out).__name__}: {out}")
                log(f"  FAILED {failed[-1]}")
                continue
            store(out, results_dir)
            done.append(out)
            log(f"  {name}: {out['samples']:,} samples in {out['seconds']:.0f} s training time")
        write_index(results_dir)
    write_index(results_dir)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(todo)} runs failed (the others are stored): " + "; ".join(failed))
    return done
