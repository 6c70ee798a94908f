"""Each setting is declared once, with its ``TrainConfig`` field (``aevb.config.setting``): its rule, help, flag and
run-name mark. These tests check what is generated from the declarations for every field at once, so that a new
setting is covered by declaring it: its rule names it on a bad value, its flag (where it has one) round-trips
through the command that trains a run again, its mark tells runs apart; and every committed run's settings give
exactly its directory's name and a command that gives back its settings."""
import dataclasses
import json

import pytest

from aevb.cli import parser, train_configs
from aevb.config import FLAGS, HELP, MARKS, RULES, SETTINGS, TrainConfig
from aevb.experiments.grids import run_name
from aevb.experiments.runs import train_command, train_defaults
from aevb.experiments.store import RESULTS_DIR
from aevb.protocols import burda_config
from aevb.validation import ParameterError

# a value other than the default for every setting with a flag (a new flagged setting needs one here)
OTHER = {"dataset": "frey", "algorithm": "wake-sleep", "n_z": 3, "hidden": (40, 30), "budget": 12_300,
         "n_train": 500, "lr": 0.05, "batch_size": 50, "n_samples": 2, "estimator": "A", "marginal": "iwae",
         "marginal_points": 10, "checkpoint_every": 5000, "seed": 4, "device": "cpu", "protocol": "annealed",
         "binarize": "static", "posterior": "full", "n_flows": 3, "k": 5}
NEEDS = {"n_flows": {"posterior": "iaf"}}  # what a setting's other value needs beside it (its Rule.joint)


def _from_command(config: TrainConfig) -> list[TrainConfig]:
    """The configs ``python -m aevb train`` trains under ``train_command(config)``."""
    argv = train_command(config, "out").split()
    assert argv[:4] == ["python", "-m", "aevb", "train"] and argv[-2:] == ["--out", "out"]
    return train_configs(parser().parse_args(argv[3:]))


def _round_trips(config: TrainConfig) -> None:
    """The command gives back every setting that has a flag; the others are its protocol's preset's (so the
    whole config where its settings without a flag are: ``runs._resume_remedy`` names the others)."""
    (back,) = _from_command(config)
    preset = train_defaults(config.protocol, config.dataset)
    assert all(getattr(back, n) == getattr(config, n) for n in FLAGS), train_command(config, "out")
    assert all(getattr(back, f.name) == getattr(preset, f.name) for f in SETTINGS if f.name not in FLAGS)
    if all(getattr(config, f.name) == getattr(preset, f.name) for f in SETTINGS if f.name not in FLAGS):
        assert back == config


def test_every_setting_is_declared_with_a_rule_and_help():
    assert [f.name for f in SETTINGS] == list(RULES) == list(HELP)
    assert all(callable(RULES[n]) and HELP[n].strip() for n in RULES)
    assert set(OTHER) == set(FLAGS)  # and OTHER gives each flagged setting a value other than its default
    assert all(OTHER[n] != f.default for f in SETTINGS for n in [f.name] if n in OTHER and n != "device")


@pytest.mark.parametrize("name", [f.name for f in SETTINGS])
def test_a_bad_value_of_any_setting_is_named(name):
    with pytest.raises(ParameterError, match=f"parameter '{name}' = 'bad value' is not allowed: it must be "):
        TrainConfig(**{name: "bad value"})


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_every_flag_round_trips_through_the_command(name):
    """Each flagged setting at another value (under the paper's protocol and Burda et al.'s) gives a command that
    trains exactly that config; the command names it, and nothing else, where it is not the protocol's default."""
    for start in (TrainConfig(), burda_config()):
        if name == "dataset" and start.protocol == "burda":
            start = dataclasses.replace(start, binarize=None)  # the Frey Face has no binarization
        config = dataclasses.replace(start, **NEEDS.get(name, {}), **{name: OTHER[name]})
        _round_trips(config)
        flag = f"--{name.replace('_', '-')}"
        assert (flag in train_command(config, "out").split()) == (name != "device")  # "cpu", the default


def test_the_command_round_trips_settings_that_leaving_out_would_change():
    """Several settings at once, the CLI's own defaults (MNIST's and the Frey Face's widths: a Frey Face run with
    MNIST's 500 names --hidden too), None written as 'auto' and 'none'."""
    for config in (TrainConfig(dataset="frey", hidden=(500,)), TrainConfig(dataset="frey", hidden=(200,)),
                   TrainConfig(**{n: v for n, v in OTHER.items() if n not in ("dataset", "n_flows")}),
                   burda_config(lr=None, binarize=None, k=50, posterior="iaf", n_flows=4, seed=7),
                   TrainConfig(protocol="burda"), TrainConfig(algorithm="mcem", marginal="hmc", n_z=3),
                   TrainConfig(per_decade=2, start="anglepy")):
        _round_trips(config)
    assert train_command(TrainConfig(), "o") == "python -m aevb train --out o"
    assert "--lr auto --batch-size 30" in train_command(burda_config(lr=None, batch_size=30), "o")
    assert "--binarize none" in train_command(burda_config(binarize=None), "o")


def test_the_marks_tell_runs_apart():
    """A setting with a mark changes the name when it changes; the seed ends every name."""
    base = TrainConfig(n_train=1000)
    others = {**OTHER, "start": "anglepy", "diagnostics": True, "frey_split": "frames", "frey_scale": 256,
              "posterior": "iaf"}
    names = {run_name(base)}
    for name in MARKS:
        c = dataclasses.replace(base, **({"dataset": "frey"} if name.startswith("frey") else {}),
                                **{name: others[name]})
        assert run_name(c) not in names, name
        names.add(run_name(c))
        assert run_name(c).endswith(f"-s{c.seed}")
    assert run_name(TrainConfig()) == "mnist-aevb-z20-h500-nall-s0"
    assert run_name(TrainConfig(), omit=("n_train", "marginal")) == "mnist-aevb-z20-h500-s0"


def test_every_committed_run_is_named_by_its_settings_and_regenerated_by_its_command():
    """results/runs/*/config.json gives exactly its directory's name, and ``train_command`` gives back every
    setting that has a flag (the others are named by the store's remedy: ``aevb.experiments.runs``)."""
    dirs = sorted(p.parent for p in (RESULTS_DIR / "runs").glob("*/config.json"))
    assert len(dirs) > 50
    for d in dirs:
        config = TrainConfig.from_dict(json.loads((d / "config.json").read_text())["config"])
        assert run_name(config) == d.name
        _round_trips(config)
