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


def grid(figures: list[int], budget: int, seed: int = 0, device: str = "cpu") -> list[TrainConfig]:
    """The runs of several figures, each run once (in the order the figures list them)."""
    out = {}
    for f in figures:
        out.update({run_name(c): c for c in figure_configs(f, budget, seed, device) if run_name(c) not in out})
    return list(out.values())


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
    """The figures a run belongs to (budget, device, progress and a step size fixed instead of searched aside)."""
    key = lambda c: dataclasses.replace(c, budget=1, device="cpu", progress=False, lr=None)  # noqa: E731
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
    missing: the run is then only loaded and drawn), most expensive first (a pool of workers then finishes the
    grid soonest)."""
    def done(c):
        run_dir = run_path(results_dir, run_name(c))
        return (samples_reached(run_dir) >= eval_schedule(c.budget, c.batch_size)[-1]
                and (not set(figures_of(c)) & {4, 5} or (run_dir / "images.npz").exists()))

    todo = [c for c in configs if not done(c)]
    return sorted(todo, key=cost, reverse=True)


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


def train_one(config_dict: dict, run_dir: str, threads: int) -> dict:
    """Executor task: train one run into ``run_dir`` (resuming where it stopped) with ``threads`` threads;
    returns the run's small files by name, as bytes, for the caller to store (the worker may be on another
    machine) and how far it got."""
    from aevb.runs import run

    torch.set_num_threads(threads)
    config = TrainConfig.from_dict(config_dict)
    result = run(config, run_dir)
    files = {name: (Path(run_dir) / name).read_bytes() for name in ("config.json", "curve.csv")}
    images = render_images(config, result.model, config.seed)
    if images:
        buf = io.BytesIO()
        np.savez_compressed(buf, **images)
        files["images.npz"] = buf.getvalue()
        atomic_write(Path(run_dir) / "images.npz", lambda f: f.write(files["images.npz"]))
    last = result.curve[-1]
    return {"name": Path(run_dir).name, "files": files, "samples": last["samples"], "seconds": last["seconds"]}


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
               threads: int = 1, address: str | None = None, seed: int = 0, device: str = "cpu",
               results_dir: str | Path = RESULTS_DIR, log=print) -> list[dict]:
    """Train the runs of ``figure`` (or of several figures, each shared run once; those matching ``only``) to ``budget`` samples with ``executor``
    ("local": a pool of ``workers`` processes; "ray": tasks on a Ray cluster at ``address``, or a local Ray
    instance where it is None), each with ``threads`` threads; rewrite ``results_dir/index.csv`` after every
    run. A run that fails (e.g. NaN) is reported and the others go on; the error is raised at the end."""
    from aevb.executors import EXECUTORS
    from aevb.results import write_index

    if executor not in EXECUTORS:
        raise ParameterError(f"executor {executor!r} is not one of {tuple(EXECUTORS)}")
    results_dir = Path(results_dir)
    figures = [figure] if isinstance(figure, int) else list(figure)
    configs = select(grid(figures, budget, seed, device), only)
    todo = pending(configs, results_dir)
    log(f"figure {', '.join(map(str, figures))}: {len(configs)} runs, {len(configs) - len(todo)} already at {budget:,} samples, "
        f"{len(todo)} to train with {executor} ({workers} workers x {threads} threads)")
    tasks = [dict(config_dict=dataclasses.asdict(c), run_dir=str(run_path(results_dir, run_name(c))),
                  threads=threads) for c in todo]
    done, failed = [], []
    for task, outcome in EXECUTORS[executor](train_one, tasks, workers=workers, threads=threads, address=address):
        name = Path(task["run_dir"]).name
        if isinstance(outcome, BaseException):
            failed.append(f"{name}: {type(outcome).__name__}: {outcome}")
            log(f"  FAILED {failed[-1]}")
            continue
        store(outcome, results_dir)
        write_index(results_dir)
        done.append(outcome)
        log(f"  {name}: {outcome['samples']:,} samples in {outcome['seconds']:.0f} s training time")
    write_index(results_dir)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(tasks)} runs failed (the others are stored): " + "; ".join(failed))
    return done

