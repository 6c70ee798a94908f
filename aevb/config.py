"""The settings of a training run (§5's protocol and the knobs around it), as one frozen dataclass.

``TrainConfig`` is plain data at the bottom of the package: every value is checked on construction by
``aevb.validation`` (one clear error naming the parameter); the rules that join a learner's settings are the
learner's own (``check_config`` in ``aevb.learners``). Two pure functions of the settings sit with them:
``eval_schedule`` (where a run is evaluated: a log grid independent of the budget, so a short run is an exact
prefix of a long one) and ``seedless`` (what runs that differ only in their seed share, so that they can be
trained in one pass).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from aevb.validation import validate

LR_CANDIDATES = (0.01, 0.02, 0.1)  # the paper's grid of Adagrad global step sizes
# start="anglepy", as the authors' released code starts training (dpkingma/anglepy, wzoptim.py step_vae and
# step_wakesleep at commit 02681a5: `gw_ss += g**2; if nsteps > warmup: w += stepsize / sqrt(gw_ss + 1e-8) * g`
# with warmup=100; models/MLBN_Inverse.py at b4f71a5): the first START_WARMUP minibatch steps (steps 0 … 100)
# only accumulate Adagrad's squared gradients (no parameter moves), and the encoder's log-variance head starts at
# zero (weights and bias). Not emulated: anglepy's ε = 1e-8 inside the square root (torch's 1e-10 is outside; after
# the warm-up the two differ only where a parameter's summed squared gradient is below ~1e-8) and its 0.1 scale
# on that head's output.
START_WARMUP = {"paper": 0, "anglepy": 101}


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "mnist"  # "mnist" (Bernoulli decoder) or "frey" (Gaussian decoder)
    algorithm: str = "aevb"  # training algorithm (see aevb.learners.ALGORITHMS)
    n_z: int = 20  # latent dimensions N_z
    hidden: tuple[int, ...] = (500,)  # tanh hidden layer widths of encoder and decoder
    budget: int = 1_000_000  # training samples evaluated (minibatch steps x M)
    n_train: int | None = None  # use only the first n_train training points (None: all)
    batch_size: int = 100  # minibatch size M
    n_samples: int = 1  # samples L per datapoint
    estimator: str = "B"  # SGVB estimator for training: "A" (eq. 6) or "B" (eq. 7/10)
    lr: float | None = None  # Adagrad step size; None: pick from lr_candidates (§5)
    lr_candidates: tuple[float, ...] = LR_CANDIDATES  # grid searched when lr is None
    lr_search_samples: int = 50_000  # training samples per candidate in that search (not in budget)
    weight_decay: bool = True  # N(0, I) prior on parameters: Adagrad weight decay 1/N
    per_decade: int = 4  # evaluation points per decade of samples
    eval_start: int = 1_000  # first evaluation point (samples)
    eval_every: int | None = None  # also evaluate every this many samples (a linear grid, for Fig. 3's linear
    #   axis in millions; None: the log grid alone)
    eval_train_points: int = 10_000  # size of the fixed train subset evaluated
    marginal: str | None = None  # also record log p(x) at each evaluation: "hmc" (App. D), "iwae", "ais"
    marginal_points: int = 1000  # first points of train and test set used for it (Fig. 3: 1000)
    checkpoint_every: int = 100_000  # also checkpoint every this many samples (besides each evaluation)
    seed: int = 0  # seeds initialisation, minibatches, noise
    fused: bool = True  # AEVB and wake-sleep steps by the fused back end, MCEM's by its gradients written out
    #   (aevb.models.LatentVariableModel); False: autograd, the reference; the same draws either way
    start: str = "paper"  # optimiser start: "paper" (§5) or "anglepy" (the authors' code: see START_WARMUP)
    diagnostics: bool = False  # also record active units and KL(q‖p) per latent dimension at each evaluation
    frey_split: str = "blocks"  # Frey Face test split: "blocks" (ours), "frames" (a seeded random 180-frame
    #   split), "none" (train on all 1,965 frames; "test" = our block test frames, then also trained on): aevb.data
    frey_scale: int = 255  # Frey Face pixels divided by this: 255 (ours) or 256 (anglepy data/freyface.py)
    binarize: str | None = None  # MNIST pixels: None (grey levels as Bernoulli means, §5), "dynamic" (a fresh 0/1
    #   draw per pixel each time an image is in a minibatch; evaluated on one fixed draw) or "static" (one fixed
    #   seeded draw of train and test sets, the binarized MNIST of the later literature): aevb.data
    posterior: str = "diagonal"  # q(z|x): "diagonal" (eq. 9), "full" (full covariance) or "iaf" (inverse
    #   autoregressive flow): aevb.posteriors; a family other than diagonal trains and is evaluated by estimator A
    #   with its exact log q (aevb.objectives), algorithm "aevb" only
    n_flows: int = 2  # IAF steps (posterior="iaf" only)
    k: int = 1  # importance samples per datapoint of the training objective: 1 the bound of eq. 3, k > 1 the IWAE
    #   bound of Burda et al. 2015 (aevb.objectives.iwae_objective), algorithm "aevb" only
    protocol: str = "paper"  # parameter updates: "paper" (§5: Adagrad, one step size), "annealed" (App. E's other
    #   reading: the same, the step size also lowered tenfold every 10^7 samples) or "burda" (Burda et al. 2015: Adam,
    #   β = (0.9, 0.999), ε = 1e-4, the step size lr · 10^(−i/7) in stage i of 3^i passes): aevb.protocols
    device: str = "cpu"  # "cpu" or "cuda"
    progress: bool = True  # show a tqdm progress bar

    def __post_init__(self):
        validate(dataclasses.asdict(self))  # one clear error for any bad value (aevb.validation)

    @classmethod
    def from_dict(cls, d: dict, **overrides) -> "TrainConfig":
        """A config from its ``dataclasses.asdict`` form as stored in JSON or a checkpoint (lists back to tuples).
        A stored config without ``fused`` predates the fused step: its run was trained by autograd."""
        d = {"fused": False, **d, **overrides}
        return cls(**{**d, "hidden": tuple(d["hidden"]), "lr_candidates": tuple(d["lr_candidates"])})


def eval_schedule(budget: int, batch_size: int, per_decade: int = 4, start: int = 1_000,
                  every: int | None = None) -> list[int]:
    """Sample counts at which to evaluate: a budget-independent log grid, with ``every`` also the multiples of
    ``every`` (a linear grid, budget-independent too), plus the final count."""
    final = math.ceil(budget / batch_size) * batch_size
    pts, k = set(), 0
    while (s := round(start * 10 ** (k / per_decade))) < final:
        pts.add(max(batch_size, math.ceil(s / batch_size) * batch_size))
        k += 1
    if every is not None:
        pts.update(math.ceil(s / batch_size) * batch_size for s in range(every, final, every))
    return sorted(p for p in pts if p < final) + [final]


def evaluations(config: TrainConfig) -> list[int]:
    """The sample counts at which a run of ``config`` is evaluated (``eval_schedule`` of its settings)."""
    return eval_schedule(config.budget, config.batch_size, config.per_decade, config.eval_start, config.eval_every)


def seedless(config: TrainConfig) -> TrainConfig:
    """What runs that differ only in their seed share: every setting but the seed, a step size given in advance
    and ``fused`` (which path computes the step: the same trajectory either way). Runs with one ``seedless``
    config are trained in one pass (``aevb.learners.fitting.fit_seeds``)."""
    return dataclasses.replace(config, seed=0, lr=None, fused=True)
