"""§5 and App. A: the paper's experiments (Fig. 2, 3, 4, 5) as grids of runs, trained into the results store.

- Fig. 2: MNIST (500 hidden) N_z ∈ {3, 5, 10, 20, 200} and Frey Face (200 hidden) N_z ∈ {2, 5, 10, 20}, AEVB and
  wake-sleep, average train and test lower bound vs training samples evaluated.
- Fig. 3: MNIST, 100 hidden, N_z = 3, N_train ∈ {1000, 50000}, AEVB, wake-sleep and Monte Carlo EM, log p(x)
  by the App. D estimator on the first 1000 train and test points.
- Fig. 4: 2-D latent manifolds (MNIST, Frey Face): decoder means on a grid of the unit square mapped through
  the inverse Gaussian CDF. Fig. 5: decoder means at random z ~ p(z), MNIST, N_z ∈ {2, 5, 10, 20}.

Every run is a ``TrainConfig`` of the paper's §5 protocol (plain data: this module trains nothing), named by
``run_name``; the runner (``aevb.experiments.runner``) trains them into the store (``aevb.experiments.store``).
A run shared by two figures (Fig. 2's Frey Face N_z = 2 AEVB is Fig. 4's) is one run.

Studies (``STUDIES``) are grids of the same kind that settle a disagreement with the paper by experiment; they are
named, not numbered, and trained the same way (``python -m aevb study NAME``):
- ``frey-latent-use`` (chapter 8): Frey Face N_z = 2, AEVB and wake-sleep, each under the paper's optimiser start
  and the authors' code's (``TrainConfig.start``), recording the active units and KL per latent dimension.
- ``frey-split`` (chapter 8): Frey Face AEVB, 200 hidden, N_z ∈ {2, 5, 10, 20} (Fig. 2's Frey Face panels) under
  four data settings (``TrainConfig.frey_split``, ``frey_scale``): our block split at /255 (Fig. 2's own runs,
  shared), a random single-frame test split, no split (the authors' loader), and our block split with pixels
  divided by 256 (the authors' scale).
- ``full-vb`` (chapter 7, App. F): full VB and AEVB on 1,000 MNIST points (N_z = 10, 100 hidden), as chapter 7
  trains them, kept in the store for the scorecard.
- ``burda`` (chapter 12, after the paper): Burda et al.'s (2015) benchmark protocol (``aevb.protocols``), one
  stochastic layer on dynamically binarized MNIST: the VAE (k = 1), IWAE k = 5 and 50, the VAE with a
  full-covariance Gaussian and with an inverse autoregressive flow for q(z|x), and the VAE trained on the grey
  levels (the paper's data) beside the binarized one (``BURDA_ROWS``); ``aevb.experiments.measurements`` evaluates
  them by the k = 5000 bound, AIS, the active units and the inference gap.
- ``appd-dimension`` (chapter 5, App. D): AEVB on MNIST, 100 hidden, N_z ∈ APPD_NZ, whose checkpoints
  ``aevb.experiments.measurements`` evaluates by App. D beside AIS (the paper: App. D is unreliable beyond
  about 5 latent dimensions).
- ``appe-anneal`` (chapters 0 and 9, App. E): Fig. 3's runs under App. E's other reading of "the Adagrad stepsizes
  (with accompanying annealing schedule)", an explicit schedule on Adagrad's global step size
  (``TrainConfig.protocol="annealed"``, ``aevb.protocols``), trained to ``APPE_BUDGET`` samples, where the schedule
  has lowered the step size tenfold: do Fig. 3's orderings there differ from those of the runs under the first
  reading (Fig. 3's own, Adagrad's decay alone) at the same point?
"""
from __future__ import annotations

import dataclasses
import fnmatch

import torch

from aevb.config import MARKS, TrainConfig
from aevb.datasets import DATASETS
from aevb.protocols import ANNEAL_TENFOLD, burda_config
from aevb.validation import ParameterError

FIGURES = (2, 3, 4, 5)
FIG2_NZ = {"mnist": (3, 5, 10, 20, 200), "frey": (2, 5, 10, 20)}  # Fig. 2's panels
FIG3_N_TRAIN = (1000, 50_000)  # Fig. 3's two columns
FIG3_BUDGET = 60_000_000  # Fig. 3's x-axis: "# Training samples evaluated (millions)", 0 to 60, linear
FIG3_EVAL_EVERY = 5_000_000  # Fig. 3's runs are also evaluated every 5 million samples, for that linear axis
FIG3_YLIM = {1000: (-160, -100), 50_000: (-160, -125)}  # Fig. 3's y-axes (nats), read from the paper's figure
SEEDS = (0, 1, 2)  # the seeds of every Fig. 2 and Fig. 3 run (each run's seeds train as one stacked pass)
FIG5_NZ = (2, 5, 10, 20)  # Fig. 5's panels
GRID_N = 20  # Fig. 4: points per axis of the unit-square grid
N_SAMPLES_FIG5 = 100  # Fig. 5: random samples per model


def grid_points(n: int = GRID_N) -> torch.Tensor:
    """Fig. 4's latent points: an n × n grid of the unit square mapped through the inverse Gaussian CDF (cell
    centres (i + ½)/n, so no point maps to ±∞) -> (n·n, 2), rows top to bottom = z_2 high to low."""
    u = (torch.arange(n, dtype=torch.float32) + 0.5) / n  # (n,)
    z = torch.distributions.Normal(0.0, 1.0).icdf(u)  # (n,)
    z1, z2 = torch.meshgrid(z, z.flip(0), indexing="xy")  # (n, n) each
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (n·n, 2)
STUDIES = ("frey-latent-use", "frey-split", "full-vb", "appd-dimension", "burda",
           "appe-anneal", "one-sample")  # the named grids of the investigations
APPD_NZ = (2, 3, 5, 10, 20)  # appd-dimension's latent sizes
APPE_BUDGET = ANNEAL_TENFOLD  # appe-anneal's runs: trained until the schedule has lowered the step size tenfold
# burda: the rows of chapter 12's table, each a change to Burda et al.'s VAE (aevb.protocols.burda_config)
BURDA_ROWS = ({}, {"k": 5}, {"k": 50}, {"posterior": "full"}, {"posterior": "iaf"}, {"binarize": None})
BURDA_SHORT_STAGES = 3  # the committed runs' schedule: its first 3 stages, 1 + 3 + 9 = 13 passes (7.8e5 samples)
# one-sample (§2.3: "the number of samples L per datapoint can be set to 1 as long as the minibatch size M was
# large enough, e.g. M = 100"): Fig. 2's MNIST N_z = 20 model at M = 100 with L = 1 (Fig. 2's own run) and L = 10
ONE_SAMPLE_L = (1, 10)
# frey-split: our block split at /255 (Fig. 2's runs, shared), a random frame split, none, blocks at /256
FREY_SPLIT_VARIANTS = ({}, {"frey_split": "frames"}, {"frey_split": "none"}, {"frey_scale": 256})


def figure_configs(figure: int, budget: int, seed: int = 0, device: str = "cpu") -> list[TrainConfig]:
    """The runs of one of the paper's figures, each a §5 ``TrainConfig`` trained to ``budget`` samples."""
    common = dict(budget=budget, seed=seed, device=device, progress=False)
    if figure == 2:
        return [TrainConfig(dataset=d, algorithm=a, n_z=z, hidden=DATASETS[d].hidden, **common)
                for d, zs in FIG2_NZ.items() for z in zs for a in ("aevb", "wake-sleep")]
    if figure == 3:
        return [TrainConfig(dataset="mnist", algorithm=a, n_z=3, hidden=(100,), n_train=n, marginal="hmc",
                            marginal_points=1000, eval_every=FIG3_EVAL_EVERY, **common)
                for n in FIG3_N_TRAIN for a in ("aevb", "wake-sleep", "mcem")]
    if figure == 4:
        return [TrainConfig(dataset=d, algorithm="aevb", n_z=2, hidden=DATASETS[d].hidden, **common) for d in DATASETS]
    if figure == 5:
        return [TrainConfig(dataset="mnist", algorithm="aevb", n_z=z, hidden=DATASETS["mnist"].hidden, **common)
                for z in FIG5_NZ]
    raise ParameterError(f"figure {figure!r} is not one of the paper's experiments {FIGURES}")


def study_configs(study: str, budget: int, seed: int = 0, device: str = "cpu") -> list[TrainConfig]:
    """The runs of one of the ``STUDIES``, each trained to ``budget`` samples."""
    common = dict(budget=budget, seed=seed, device=device, progress=False)
    if study == "frey-latent-use":
        return [TrainConfig(dataset="frey", algorithm=a, n_z=2, hidden=DATASETS["frey"].hidden, start=s,
                            diagnostics=True, **common)
                for s in ("paper", "anglepy") for a in ("aevb", "wake-sleep")]
    if study == "frey-split":
        return [TrainConfig(dataset="frey", algorithm="aevb", n_z=z, hidden=DATASETS["frey"].hidden, **v, **common)
                for v in FREY_SPLIT_VARIANTS for z in FIG2_NZ["frey"]]
    if study == "full-vb":
        return [TrainConfig(dataset="mnist", algorithm=a, n_z=10, hidden=(100,), n_train=1000, per_decade=2,
                            **common) for a in ("full-vb", "aevb")]
    if study == "burda":
        return [burda_config(**row, **common) for row in BURDA_ROWS]
    if study == "appe-anneal":
        return [dataclasses.replace(c, protocol="annealed") for c in figure_configs(3, budget, seed, device)]
    if study == "one-sample":
        return [TrainConfig(dataset="mnist", algorithm="aevb", n_z=20, hidden=DATASETS["mnist"].hidden, n_samples=n,
                            **common) for n in ONE_SAMPLE_L]
    if study == "appd-dimension":
        return [TrainConfig(dataset="mnist", algorithm="aevb", n_z=z, hidden=(100,), **common) for z in APPD_NZ]
    raise ParameterError(f"study {study!r} is not one of {STUDIES}")


def grid_configs(name: int | str, budget: int, seed: int = 0, device: str = "cpu") -> list[TrainConfig]:
    """The runs of a figure (a number) or of a study (a name)."""
    if isinstance(name, str) and not name.isdigit():
        return study_configs(name, budget, seed, device)
    return figure_configs(int(name), budget, seed, device)


def grid(figures: list[int | str], budget: int, seeds: int | list[int] = 0, device: str = "cpu") -> list[TrainConfig]:
    """The runs of several figures or studies for one seed or several, each run once (in the order they list them)."""
    out = {}
    for seed in [seeds] if isinstance(seeds, int) else seeds:
        for f in figures:
            out.update({run_name(c): c for c in grid_configs(f, budget, seed, device) if run_name(c) not in out})
    return list(out.values())


def run_name(config: TrainConfig, omit: tuple[str, ...] = ()) -> str:
    """A run's directory name: the marks of its settings (``aevb.config.MARKS``, declared with each field, in the
    fields' order), the seed's last, so that the seeds of a run sit side by side; without the marks of the settings
    in ``omit``."""
    return "".join(MARKS[name](config) for name in sorted(MARKS, key=lambda name: name == "seed") if name not in omit)


def figures_of(config: TrainConfig) -> list[int]:
    """The figures a run belongs to (budget, device, progress, fused or not, a step size fixed instead of
    searched, and the evaluation grid aside: none of them changes the training trajectory)."""
    return [f for f in FIGURES if _key(config) in {_key(c) for c in figure_configs(f, 1, config.seed)}]


def _key(c: TrainConfig) -> TrainConfig:
    return dataclasses.replace(c, budget=1, device="cpu", progress=False, lr=None, fused=True, eval_every=None)


def memberships(config: TrainConfig) -> list[str]:
    """The figures (as text) and studies a run belongs to, as ``results/index.csv`` lists them."""
    studies = [s for s in STUDIES if _key(config) in {_key(c) for c in study_configs(s, 1, config.seed)}]
    return [str(f) for f in figures_of(config)] + studies


def select(configs: list[TrainConfig], only: str | None) -> list[TrainConfig]:
    """The configs whose run name matches one of the comma-separated shell patterns in ``only`` (all if None)."""
    if only is None:
        return configs
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [c for c in configs if any(fnmatch.fnmatch(run_name(c), p) for p in patterns)]
    if not chosen:
        raise ParameterError(f"--only {only!r} matches none of the runs: {', '.join(map(run_name, configs))}")
    return chosen


def cost(config: TrainConfig) -> float:
    """Rough relative cost of a run: multiply-adds per training sample (encoder, decoder with its k samples,
    forward and backward) times the budget; MCEM's 10 leapfrog steps and 5 updates per minibatch cost about 6
    AEVB steps."""
    d_x = DATASETS[config.dataset].d_x
    h = config.hidden[0]
    macs = 3 * (d_x * h + h * 2 * config.n_z + config.k * (config.n_z * h + h * d_x))
    return macs * config.budget * (6 if config.algorithm == "mcem" else 1)
