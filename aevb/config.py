"""The settings of a training run (§5's protocol and the knobs around it), as one frozen dataclass.

``TrainConfig`` is plain data at the bottom of the package. Each setting is declared once, with its field
(``setting``): its default, its rule (``aevb.validation``: every value is checked on construction, one clear error
naming the parameter), its help text, its flag of ``python -m aevb train`` (``Flag``; a setting without one is
the default in a run started from the command line) and its mark in a run's name. From these are generated the
tables ``RULES`` (the validation, which ``aevb.book.knobs`` extends with the chapters' knobs), ``FLAGS`` and
``MARKS``, and from them the command line's flags (``aevb.cli``), the command that trains a run again
(``aevb.experiments.runs.train_command``) and run names (``aevb.experiments.grids.run_name``): adding a setting is
one field here, plus the code that uses it. The fields stand in the order of the flags in a run's command and of
the marks in its name (the protocol's flag first, as it picks the preset the others change; the seed's mark last).
A rule that joins a setting to another is the field's ``Rule.joint``; the rules that join a learner's settings are
the learner's own (``check_config`` in ``aevb.learners``).

Two pure functions of the settings sit with them: ``eval_schedule`` (where a run is evaluated: a log grid
independent of the budget, so a short run is an exact prefix of a long one) and ``seedless`` (what runs that differ
only in their seed share, so that they can be trained in one pass).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

from aevb.datasets import DATASETS
from aevb.validation import (ALGORITHM_NAMES, FREY_SCALES, FREY_SPLIT_NAMES, MARGINAL_METHODS, POSTERIOR_FAMILIES,
                             PROTOCOL_NAMES, Rule,
                             boolean, non_negative_int, one_of, only_with, optional_positive_int,
                             optional_positive_number, parse_count, parse_number, parse_seeds, parse_widths,
                             positive_int, positive_number, validate, widths)
from aevb.validation import device as usable_device

LR_CANDIDATES = (0.01, 0.02, 0.1)  # the paper's grid of Adagrad global step sizes
# start="anglepy", as the authors' released code starts training (dpkingma/anglepy, wzoptim.py step_vae and
# step_wakesleep at commit 02681a5: `gw_ss += g**2; if nsteps > warmup: w += stepsize / sqrt(gw_ss + 1e-8) * g`
# with warmup=100; models/MLBN_Inverse.py at b4f71a5): the first START_WARMUP minibatch steps (steps 0 … 100)
# only accumulate Adagrad's squared gradients (no parameter moves), and the encoder's log-variance head starts at
# zero (weights and bias). Not emulated: anglepy's ε = 1e-8 inside the square root (torch's 1e-10 is outside; after
# the warm-up the two differ only where a parameter's summed squared gradient is below ~1e-8) and its 0.1 scale
# on that head's output.
START_WARMUP = {"paper": 0, "anglepy": 101}
APPD_MAX_NZ = 5  # App. D is reliable only below about 5 latent dimensions (paper, App. D; chapter 5)


@dataclass(frozen=True)
class Flag:
    """A setting's flag of ``python -m aevb train`` (``option``: ``--NAME``), its text read by ``parse`` (``read``)
    and written back by ``write``; ``none``: the text that stands for None; ``choices``: the values the command
    line lists (else the setting's rule says what is allowed)."""
    parse: Callable[[str], object] = str
    none: str | None = None
    choices: tuple | None = None

    def read(self, text: str):
        return None if self.none is not None and text.lower() == self.none else self.parse(text)

    def write(self, value) -> str:
        return (self.none if value is None else ",".join(map(str, value)) if isinstance(value, tuple) else
                str(value))


def option(name: str) -> str:
    """The command line's flag of the setting ``name``: ``--NAME``, ``_`` written ``-`` (``n_z``: ``--n-z``)."""
    return "--" + name.replace("_", "-")


def setting(default, rule: Callable, help: str, flag: Flag | None = None,
            mark: Callable[["TrainConfig"], str] | None = None):
    """A ``TrainConfig`` field with its declaration: ``rule`` (an ``aevb.validation`` rule, or a ``Rule`` that also
    joins it to other settings), ``help``, ``flag`` (``Flag``, or None: no flag sets it) and ``mark`` (what it adds
    to a run's name, a function of the config; None: nothing)."""
    return dataclasses.field(default=default, metadata={"rule": rule, "help": help, "flag": flag, "mark": mark})


def _appd_limit(n_z, params: dict) -> str | None:
    if params.get("marginal") == "hmc" and n_z > APPD_MAX_NZ:
        return (f"is too large for the App. D estimator (marginal='hmc'), which is reliable only up to "
                f"n_z = {APPD_MAX_NZ} (see chapter 5); use marginal='ais' or 'iwae'")
    return None


def _iaf_only(n_flows, params: dict) -> str | None:
    if "posterior" in params and params["posterior"] != "iaf" and n_flows != 2:
        return (f"is not allowed with posterior={params['posterior']!r}: it counts the steps of an inverse "
                f"autoregressive flow and applies to posterior='iaf' only (leave it at 2)")
    return None


_FREY_ONLY = "it applies to the Frey Face only (dataset='frey'); leave it at {!r}"


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = setting("mnist", one_of(*DATASETS), "mnist (Bernoulli decoder) or frey (Gaussian decoder)",
                           Flag(), mark=lambda c: c.dataset)
    algorithm: str = setting("aevb", one_of(*ALGORITHM_NAMES),
                             f"training algorithm (aevb.learners.ALGORITHMS): one of {', '.join(ALGORITHM_NAMES)}",
                             Flag(), mark=lambda c: f"-{c.algorithm}")
    n_z: int = setting(20, Rule(positive_int, _appd_limit), "latent dimensions N_z (default 20)", Flag(parse_count),
                       mark=lambda c: f"-z{c.n_z}")
    hidden: tuple[int, ...] = setting(
        (500,), widths, "tanh hidden layer widths of encoder and decoder, e.g. 500 or 500,500 (default: 500 for "
        "MNIST, 200 for Frey Face)", Flag(parse_widths), mark=lambda c: "-h" + "x".join(map(str, c.hidden)))
    budget: int = setting(1_000_000, positive_int, "training samples evaluated (minibatch steps x M), e.g. 1e6 "
                          "(default 1e6)", Flag(parse_count))
    n_train: int | None = setting(None, optional_positive_int, "use the first N training points only (default: all)",
                                  Flag(parse_count), mark=lambda c: f"-n{'all' if c.n_train is None else c.n_train}")
    lr: float | None = setting(None, optional_positive_number, "Adagrad step size, or 'auto' (default): pick from "
                               "{0.01, 0.02, 0.1} as in §5", Flag(parse_number, none="auto"))
    lr_candidates: tuple[float, ...] = setting(
        LR_CANDIDATES, lambda v: None if isinstance(v, (list, tuple)) and v and all(
            positive_number(c) is None for c in v) else "a non-empty list of positive numbers",
        "grid searched when lr is None")
    lr_search_samples: int = setting(50_000, positive_int, "training samples per candidate in that search (not in "
                                     "budget)")
    batch_size: int = setting(100, positive_int, "minibatch size M (default 100)", Flag(parse_count))
    n_samples: int = setting(1, positive_int, "samples L per datapoint", Flag(parse_count),
                             mark=lambda c: f"-L{c.n_samples}" if c.n_samples != 1 else "")
    estimator: str = setting("B", one_of("A", "B"), "SGVB estimator for training (eq. 6 or 7/10)",
                             Flag(choices=("A", "B")))
    weight_decay: bool = setting(True, boolean, "N(0, I) prior on parameters: Adagrad weight decay 1/N")
    per_decade: int = setting(4, positive_int, "evaluation points per decade of samples")
    eval_start: int = setting(1_000, positive_int, "first evaluation point (samples)")
    eval_every: int | None = setting(None, optional_positive_int, "also evaluate every this many samples (a linear "
                                     "grid, for Fig. 3's linear axis in millions; None: the log grid alone)")
    eval_train_points: int = setting(10_000, positive_int, "size of the fixed train subset evaluated")
    marginal: str | None = setting(
        None, one_of(None, *MARGINAL_METHODS), "also record log p(x) of the first --marginal-points train and test "
        "points at each evaluation (Fig. 3 uses hmc, the App. D estimator; the default for mcem)",
        Flag(choices=MARGINAL_METHODS), mark=lambda c: f"-{c.marginal}" if c.marginal else "")
    marginal_points: int = setting(1000, positive_int, "first points of train and test set used for it (Fig. 3: "
                                   "1000)", Flag(parse_count))
    checkpoint_every: int = setting(100_000, positive_int, "samples between checkpoints (besides each evaluation; "
                                    "the same command resumes an interrupted run)", Flag(parse_count))
    seed: int = setting(0, non_negative_int, "seeds initialisation, minibatches, noise; on the command line one seed "
                        "or several (0,1,2 or 0-3): aevb and wake-sleep train them in one stacked pass",
                        Flag(parse_seeds), mark=lambda c: f"-s{c.seed}")
    fused: bool = setting(True, boolean, "AEVB and wake-sleep steps by the fused back end, MCEM's by its gradients "
                          "written out (aevb.models.LatentVariableModel); False: autograd, the reference; the same "
                          "draws either way")
    device: str = setting("cpu", usable_device, "cpu or cuda", Flag())
    progress: bool = setting(True, boolean, "show a tqdm progress bar")
    start: str = setting("paper", one_of("paper", "anglepy"), "optimiser start: paper (§5) or anglepy (the authors' "
                         "code: see START_WARMUP)", mark=lambda c: f"-{c.start}" if c.start != "paper" else "")
    diagnostics: bool = setting(False, boolean, "also record active units and KL(q‖p) per latent dimension at each "
                                "evaluation", mark=lambda c: "-diag" if c.diagnostics else "")
    protocol: str = setting(
        "paper", one_of(*PROTOCOL_NAMES), "paper (§5: Adagrad, default), annealed (App. E's other reading: the same, "
        "the global step size lowered tenfold every 10^7 samples) or burda: Burda et al. 2015's preset "
        "(aevb.protocols: Adam, the staged step size, 784-200-200-50, dynamic binarization, M = 20, 3,280 passes), "
        "whose settings the flags given here change", Flag(choices=PROTOCOL_NAMES),
        mark=lambda c: f"-{c.protocol}" if c.protocol != "paper" else "")
    frey_split: str = setting(
        "blocks", Rule(one_of(*FREY_SPLIT_NAMES), only_with("dataset", "frey", "blocks", _FREY_ONLY.format("blocks"))),
        "Frey Face test split: blocks (ours), frames (a seeded random 180-frame split), none (train on all 1,965 "
        "frames; 'test' = our block test frames, then also trained on): aevb.data",
        mark=lambda c: f"-{c.frey_split}" if c.frey_split != "blocks" else "")
    frey_scale: int = setting(
        255, Rule(lambda v: None if type(v) is int and v in FREY_SCALES else f"one of {FREY_SCALES}",
                  only_with("dataset", "frey", 255, _FREY_ONLY.format(255))),
        "Frey Face pixels divided by this: 255 (ours) or 256 (anglepy data/freyface.py)",
        mark=lambda c: f"-div{c.frey_scale}" if c.frey_scale != 255 else "")
    binarize: str | None = setting(
        None, Rule(one_of(None, "dynamic", "static"), only_with(
            "dataset", "mnist", None, "the Frey Face has a Gaussian decoder on continuous pixels; binarize applies to "
            "MNIST only (leave it at None)")),
        "MNIST pixels: none (default: grey levels as Bernoulli means, §5), dynamic (a fresh 0/1 draw per use in a "
        "minibatch, evaluated on one fixed draw) or static (one fixed seeded draw of train and test sets, the "
        "binarized MNIST of the later literature): aevb.data", Flag(none="none"),
        mark=lambda c: f"-bin{c.binarize}" if c.binarize is not None else "")
    posterior: str = setting(
        "diagonal", one_of(*POSTERIOR_FAMILIES), "q(z|x): diagonal (eq. 9, default), full (full covariance) or "
        "iaf (inverse autoregressive flow): aevb.posteriors; a richer family trains and is evaluated by estimator A "
        "with its exact log q (aevb.objectives), algorithm aevb only", Flag(),
        mark=lambda c: {"diagonal": "", "full": "-qfull", "iaf": f"-qiaf{c.n_flows}"}[c.posterior])
    n_flows: int = setting(2, Rule(positive_int, _iaf_only), "IAF steps (with --posterior iaf)", Flag(parse_count))
    k: int = setting(1, positive_int, "importance samples per datapoint of the training objective: 1 the bound of "
                     "eq. 3 (default), k > 1 the IWAE bound (Burda et al. 2015; aevb.objectives.iwae_objective), "
                     "algorithm aevb only", Flag(parse_count), mark=lambda c: f"-k{c.k}" if c.k != 1 else "")

    def __post_init__(self):
        validate(dataclasses.asdict(self), RULES)  # one clear error for any bad value (aevb.validation)

    @classmethod
    def from_dict(cls, d: dict, **overrides) -> "TrainConfig":
        """A config from its ``dataclasses.asdict`` form as stored in JSON or a checkpoint (lists back to tuples).
        A stored config without ``fused`` predates the fused step: its run was trained by autograd."""
        d = {"fused": False, **d, **overrides}
        return cls(**{**d, "hidden": tuple(d["hidden"]), "lr_candidates": tuple(d["lr_candidates"])})


SETTINGS = dataclasses.fields(TrainConfig)  # in the order of a run's command and name
RULES = {f.name: f.metadata["rule"] for f in SETTINGS}  # the rule of every setting (aevb.validation.validate)
HELP = {f.name: f.metadata["help"] for f in SETTINGS}  # what each setting is
FLAGS = {f.name: f.metadata["flag"] for f in SETTINGS if f.metadata["flag"] is not None}  # the settings with a flag
MARKS = {f.name: f.metadata["mark"] for f in SETTINGS if f.metadata["mark"] is not None}  # ... with a name mark


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
