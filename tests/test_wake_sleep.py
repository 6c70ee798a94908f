"""Wake-sleep (aevb/learners/wake_sleep.py): it improves its bound on a small real subset, its sleep
phase trains the recognition model on dreamed data (checked, not assumed), and it runs from the CLI."""
import copy
import json
import math
import re

import torch

from aevb.config import TrainConfig
from aevb.data import load_split
from aevb.experiments.runs import load_model, run
from aevb.files import read_csv
from aevb.learners.wake_sleep import WakeSleepTrainer
from aevb.rng import seeded

SMALL = TrainConfig(algorithm="wake-sleep", n_z=5, hidden=(50,), budget=20_000, n_train=1000, lr=0.05,
                    eval_train_points=500, progress=False)


def test_improves_its_bound_on_real_data():
    curve = run(SMALL).curve
    assert curve[-1]["train_bound"] > curve[0]["train_bound"] + 20
    assert curve[-1]["test_bound"] > curve[0]["test_bound"] + 20


def test_sleep_phase_trains_the_encoder_on_dreams_only():
    """The encoder is called with gradients once per step, on the dreams: (z, x) ~ p(z) p(x|z) drawn by the model's
    ``sample_joint`` right after the wake sample, replayed here from the same seed on a copy of the model."""
    x = load_split(SMALL, "train", torch.device("cpu"))
    t = WakeSleepTrainer(SMALL, x, 0.05)
    before = copy.deepcopy(t.model)
    seen = []  # inputs of every encoder call made with gradients enabled
    t.model.encoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0]) if torch.is_grad_enabled() else None)
    batch = x[:100]
    with seeded(7):
        t.train_step(batch)
    with seeded(7), torch.no_grad():
        before.encoder(batch).sample()  # the wake sample z ~ q(z|x), drawn first
        _, x_dream = before.sample_joint(len(batch))  # then the dreams
    assert len(seen) == 1
    assert torch.equal(seen[0], x_dream)  # the encoder learned from the dreamed x ...
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}  # ... binary samples of the Bernoulli decoder,
    assert not any(torch.equal(seen[0][i], batch[i]) for i in range(len(batch)))  # not the data


def test_wake_updates_only_the_decoder_and_sleep_only_the_encoder():
    x = load_split(SMALL, "train", torch.device("cpu"))[:100]
    t = WakeSleepTrainer(SMALL, x, 0.05)
    wake, sleep, _ = t.losses(x)
    enc, dec = list(t.model.encoder.parameters()), list(t.model.decoder.parameters())
    g_wake = torch.autograd.grad(wake, enc + dec, allow_unused=True, retain_graph=True)
    g_sleep = torch.autograd.grad(sleep, enc + dec, allow_unused=True)
    assert all(g is None for g in g_wake[: len(enc)]) and all(g is not None for g in g_wake[len(enc):])
    assert all(g is not None for g in g_sleep[: len(enc)]) and all(g is None for g in g_sleep[len(enc):])


def test_runs_from_the_cli(tmp_path, cli):
    """``python -m aevb train --algorithm wake-sleep`` (run in this process: the ``cli`` fixture) on a tiny budget
    writes the run's
    config.json, curve.csv (the lower bound by its recognition model) and a checkpoint that loads back, and
    prints the final bounds, finite and as the curve has them."""
    out = tmp_path / "run"
    p = cli("train", "--algorithm", "wake-sleep", "--n-z", "2", "--hidden", "20", "--budget", "2000", "--n-train",
            "300", "--lr", "0.05", "--no-progress", "--out", out)
    assert p.returncode == 0, p.stderr
    meta = json.loads((out / "config.json").read_text())
    assert meta["config"]["algorithm"] == "wake-sleep" and meta["config"]["n_train"] == 300
    assert meta["lr_used"] == 0.05 and meta["config"]["fused"] is True  # wake-sleep's default: the fused step
    rows = read_csv(out / "curve.csv")
    assert list(rows[0]) == ["samples", "seconds", "train_bound", "test_bound"]
    assert [r["samples"] for r in rows] == [1000, 1800, 2000]
    printed = re.search(r"^2000 samples in \S+ s training time .*, lr=0\.05: train bound (\S+), test bound (\S+) "
                        rf"-> {re.escape(str(out))}$", p.stdout, re.M)
    assert printed, p.stdout
    assert all(math.isfinite(float(v)) and float(v) < 0 for v in printed.groups())
    assert printed.groups() == (f"{rows[-1]['train_bound']:.2f}", f"{rows[-1]['test_bound']:.2f}")
    model = load_model(out)
    assert model.n_z == 2 and model.hidden == (20,) and hasattr(model, "encoder")
