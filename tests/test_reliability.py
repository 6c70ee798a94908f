"""Bad input gets a clear error and loses nothing (issue: reliability).

Each test feeds one bad input through the path a user would take and asserts both the message (it names
the parameter or file, the value, and what is allowed) and that nothing already on disk was lost.
"""
import dataclasses
import gzip
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from aevb import data
from aevb.book.knobs import check_notebook
from aevb.config import RULES, TrainConfig
from aevb.data import SOURCES, DataError, load_mnist, load_split
from aevb.experiments.runs import run
from aevb.files import atomic_write, atomic_write_text, read_csv
from aevb.learners.aevb import NonFiniteError, Trainer
from aevb.learners.fused.group import FusedGroup
from aevb.learners.fused.steps import FUSED_STEPS
from aevb.learners.wake_sleep import WakeSleepTrainer
from aevb.validation import ParameterError, validate

TINY = TrainConfig(n_z=2, hidden=(20,), budget=3000, n_train=500, lr=0.05, eval_train_points=200,
                   checkpoint_every=1000, progress=False)


# --- parameters ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,allowed", [
    ("dataset", "cifar", "one of ('mnist', 'frey')"),
    ("algorithm", "vae++", "one of ('aevb',"),
    ("budget", 0, "a positive whole number"),
    ("n_z", -3, "a positive whole number"),
    ("hidden", (500, 0), "a positive width or a list of widths"),
    ("lr", -0.1, "None (automatic) or a positive finite number"),
    ("batch_size", 2.5, "a positive whole number"),
    ("device", "tpu", "a device usable here"),
])
def test_bad_training_parameters_name_parameter_value_and_allowed(field, value, allowed):
    with pytest.raises(ParameterError) as e:
        dataclasses.replace(TINY, **{field: value})
    assert f"parameter {field!r} = {value!r}" in str(e.value) and allowed in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: device='cuda' is valid here")
def test_cuda_without_a_gpu():
    with pytest.raises(ParameterError, match="'device' = 'cuda'.*no CUDA GPU"):
        dataclasses.replace(TINY, device="cuda")


def test_n_z_too_large_for_app_d_and_unknown_keys():
    with pytest.raises(ParameterError, match="'n_z' = 10 is too large for the App. D estimator.*'ais'"):
        dataclasses.replace(TINY, n_z=10, marginal="hmc")
    with pytest.raises(ParameterError, match="unknown parameter 'nz'.*did you mean 'n_z'"):
        validate({"nz": 3}, RULES)


def test_notebook_parameters_are_checked_after_papermill_injection():
    ns = {"n_z": 2, "budget": 1000, "smoke_test": False, "In": [], "_oh": {}, "torch": torch}
    assert check_notebook(ns)["budget"] == 1000
    with pytest.raises(ParameterError, match="unknown parameter 'budgett'"):
        check_notebook({**ns, "budgett": 5})
    with pytest.raises(ParameterError, match="'smoke_test' = 'yes'.*True or False"):
        check_notebook({**ns, "smoke_test": "yes"})


def test_cli_names_the_flag(tmp_path, cli):
    p = cli("train", "--n-z", "0", "--out", tmp_path / "r")
    assert p.returncode == 2 and "--n-z = 0 is not allowed: it must be a positive whole number" in p.stderr
    assert not (tmp_path / "r").exists()  # nothing written for a rejected command


def test_papermill_rejects_a_bad_chapter_parameter(tmp_path):
    chapter = os.path.join(os.path.dirname(__file__), "..", "chapters", "02_variational_bound.ipynb")
    p = subprocess.run([sys.executable, "-m", "papermill", chapter, str(tmp_path / "out.ipynb"), "-p", "noise", "-1",
                        "--no-progress-bar", "-k", "python3"], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "parameter 'noise' = -1 is not allowed" in p.stderr + p.stdout


# --- data ---------------------------------------------------------------------------------------------

@pytest.fixture
def own_data(tmp_path, monkeypatch):
    """A private copy of the MNIST test files in a fresh AEVB_DATA_DIR and cache."""
    src = data.data_dir()
    monkeypatch.setenv("AEVB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AEVB_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    for key in ("mnist_test_images", "mnist_test_labels"):
        rel = SOURCES[key].relpath
        (tmp_path / "data" / rel).write_bytes((src / rel).read_bytes())
    return tmp_path / "data"


def test_truncated_file_is_moved_aside_and_refetched_where_possible(own_data, no_network):
    f = own_data / SOURCES["mnist_test_images"].relpath
    good = f.read_bytes()
    f.write_bytes(good[: len(good) // 2])  # a half-finished download
    with pytest.raises(DataError) as e:
        load_mnist("test")
    assert "t10k-images-idx3-ubyte.gz" in str(e.value) and "moved to" in str(e.value)
    assert "AEVB_DATA_DIR" in str(e.value) and "network disabled" in str(e.value)  # a retry was made
    aside = list(f.parent.glob("t10k-images-idx3-ubyte.gz.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == good[: len(good) // 2]  # kept for inspection
    f.write_bytes(good)  # the user restores the file: it is used again
    assert load_mnist("test")[0].shape == (10_000, 784)


def test_data_dir_that_is_not_a_directory(tmp_path, monkeypatch, no_network):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    monkeypatch.setenv("AEVB_DATA_DIR", str(not_a_dir))
    with pytest.raises(DataError, match="cannot create .*file/mnist"):
        load_mnist("test")


def test_corrupt_cache_is_rebuilt_from_the_verified_file(own_data):
    x, _ = load_mnist("test")
    cache = data.cache_dir()
    for npy in cache.glob("*.npy"):
        npy.write_bytes(b"garbage")
    x2, _ = load_mnist("test")
    assert (x2 == x).all()


def test_gzip_that_is_not_idx_is_a_clear_error(tmp_path):
    bogus = tmp_path / "x.gz"
    with gzip.open(bogus, "wb") as f:
        f.write(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(DataError, match="not an IDX uint8 file"):
        data._read_idx(bogus)


# --- numerics -----------------------------------------------------------------------------------------

def test_nan_gradient_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, nan_in_mnist, fused):
    """A training image with a NaN pixel (a damaged cache of the decoded images: the data files still verify)
    that the minibatch order first draws at step 24: the NaN reaches the encoder's gradients at that step, which
    stops the run, naming it, with the last good checkpoint on disk. With n_train = 2099 an epoch is 20
    minibatches and leaves 99 rows out, so some rows are first drawn in the second epoch, after the checkpoint at
    2000 samples."""
    config = dataclasses.replace(TINY, n_train=2099, fused=fused)
    nan_in_mnist(config, step=24)
    with pytest.raises(NonFiniteError, match="^training bound is nan at step 24 \\(after 2400 training samples\\)$"):
        run(config, tmp_path / "run")
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["trainer"]["samples"] == 2000  # the last good one (checkpoint_every = 1000)
    assert all(torch.isfinite(v).all() for v in ckpt["trainer"]["model"].values())
    assert read_csv(tmp_path / "run" / "curve.csv")[-1]["samples"] == 1800


def test_a_nan_gradient_under_a_finite_loss_never_reaches_a_checkpoint(tmp_path, monkeypatch, fused):
    """Only the loss is checked at every step; a NaN gradient under a finite loss poisons the weights, the
    next loss is NaN and the run stops there, naming the poisoned weights, with the last good checkpoint on
    disk. A finite loss with a NaN gradient comes from no input we can give (a NaN input makes the loss NaN), so
    a hook on the step of each path (``Trainer.train_step``, the fused ``FUSED_STEPS[Trainer]``) makes one weight's
    gradient NaN at step 24."""
    if not fused:
        real = Trainer.train_step

        def poisoned(self, x):
            if self.step == 24:  # step 24: finite loss, NaN gradient for one weight
                self.model.decoder.out.weight.register_hook(lambda g: torch.full_like(g, float("nan")))
            return real(self, x)
        monkeypatch.setattr(Trainer, "train_step", poisoned)
    else:
        real, calls = FUSED_STEPS[Trainer], {"n": 0}

        def poisoned(stack, x, gens, config):
            bound = real(stack, x, gens, config)
            calls["n"] += 1
            if calls["n"] == 25:  # step 24: finite bound, NaN gradient for one weight
                stack.decoder.head.gw.fill_(float("nan"))  # the decoder's head: decoder.out
            return bound
        monkeypatch.setitem(FUSED_STEPS, Trainer, poisoned)
    with pytest.raises(NonFiniteError,
                       match="^training bound is nan; parameters decoder.out.weight are not finite at step 25 "):
        run(dataclasses.replace(TINY, fused=fused), tmp_path)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["trainer"]["samples"] == 2000
    assert all(torch.isfinite(v).all() for v in ckpt["trainer"]["model"].values())


def test_non_finite_parameters_are_named_before_a_checkpoint(tmp_path, monkeypatch, fused):
    """A weight that is not finite when training pauses for a checkpoint, although every step's bound was finite,
    is named there and that checkpoint is not written. No input we can give gets there: for a finite gradient
    Adagrad moves a weight by at most its step size, so a weight goes non-finite only by a non-finite gradient
    under a finite bound (see the test above). So a hook on the step of each path (``Trainer.train_step``,
    the fused ``FUSED_STEPS[Trainer]``) sets a weight to inf through the model's attributes right after the last
    step before the checkpoint at 3000 samples (step 29)."""
    def corrupt(model):
        with torch.no_grad():
            model.encoder.mu.bias[0] = float("inf")

    if not fused:
        real = Trainer.train_step

        def step(self, x):
            out = real(self, x)
            if self.step == 29:
                corrupt(self.model)
            return out
        monkeypatch.setattr(Trainer, "train_step", step)
    else:
        real, calls = FUSED_STEPS[Trainer], {"n": 0}

        def step(stack, x, gens, config):
            bound = real(stack, x, gens, config)  # finite: the weights were
            calls["n"] += 1
            if calls["n"] == 30:
                corrupt(stack.models[0])
            return bound
        monkeypatch.setitem(FUSED_STEPS, Trainer, step)
    with pytest.raises(NonFiniteError, match="^parameters encoder.mu.bias are not finite at step 30 "
                                             "\\(after 3000 training samples\\)$"):
        run(dataclasses.replace(TINY, fused=fused), tmp_path)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["trainer"]["samples"] == 2000
    assert all(torch.isfinite(v).all() for v in ckpt["trainer"]["model"].values())
    assert read_csv(tmp_path / "curve.csv")[-1]["samples"] == 1800  # nothing evaluated at 3000


# --- long runs ----------------------------------------------------------------------------------------

def test_kill_9_then_the_same_command_gives_the_same_curve(tmp_path, cli):
    """``python -m aevb train`` killed with SIGKILL part way (a process of its own), then the same command again
    (run in this process, as the uninterrupted reference is: the ``cli`` fixture) resumes to the reference's curve."""
    args = ["train", "--n-z", "2", "--hidden", "200", "--budget", "150000", "--n-train", "2000", "--lr", "0.02",
            "--checkpoint-every", "3000", "--no-progress"]
    ref = cli(*args, "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "aevb", *args, "--out", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert p.poll() is None, "the run finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    partial = read_csv(out / "curve.csv")
    assert partial[-1]["samples"] < 150_000
    again = cli(*args, "--out", out)
    assert again.returncode == 0 and "resuming from" in again.stdout
    a, b = read_csv(tmp_path / "ref" / "curve.csv"), read_csv(out / "curve.csv")
    assert [(r["samples"], r["train_bound"], r["test_bound"]) for r in a] == \
           [(r["samples"], r["train_bound"], r["test_bound"]) for r in b]


def test_other_settings_in_the_same_directory_are_refused_not_overwritten(tmp_path):
    run(TINY, tmp_path)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match="other settings \\(n_z: 2 there, 3 here\\)"):
        run(dataclasses.replace(TINY, n_z=3), tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_a_longer_budget_extends_a_finished_run_exactly(tmp_path):
    run(TINY, tmp_path / "a")
    extended = run(dataclasses.replace(TINY, budget=6000), tmp_path / "a").curve
    straight = run(dataclasses.replace(TINY, budget=6000), tmp_path / "b").curve
    key = lambda c: [(r["samples"], r["train_bound"], r["test_bound"]) for r in c]  # noqa: E731
    # the same trajectory; the first run's final evaluation (3000 samples, off the log grid) stays in its curve
    assert [k for k in key(extended) if k[0] != 3000] == key(straight)
    assert 3000 in [r["samples"] for r in extended] and 3000 not in [r["samples"] for r in straight]


def test_a_torn_checkpoint_is_a_clear_error(tmp_path):
    run(TINY, tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"torn")
    with pytest.raises(ValueError, match="cannot be read as a checkpoint"):
        run(TINY, tmp_path)


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "curve.csv"
    atomic_write_text(target, "old\n")

    def crash(f):
        f.write(b"half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["curve.csv"]


def test_a_step_that_fails_on_corrupted_weights_names_them(fused):
    """Wake-sleep through autograd samples z ~ q(z|x) with torch.normal, which raises RuntimeError on a NaN scale
    (this stopped the Fig. 2 grid's N_z = 200 run in its step-size search at lr 0.1): the trainer turns it into
    NonFiniteError naming the parameters, so the search scores that candidate −inf and goes on. The fused step
    draws no such error: its bound is NaN, and the error names the same parameters. Both through a ``FusedGroup``,
    as the search trains its candidates."""
    config = dataclasses.replace(TINY, algorithm="wake-sleep", fused=fused)
    t = WakeSleepTrainer(config, load_split(config, "train", torch.device("cpu")), lr=0.1)
    with torch.no_grad():
        t.model.encoder.log_var.bias.fill_(float("nan"))  # what a diverged step leaves behind
    group = FusedGroup([t])
    assert (group.alone, len(group.fused)) == (([], 1) if fused else ([0], 0))  # the path asked for
    assert group.advance(200) == [-math.inf]
    assert isinstance(group.errors[0], NonFiniteError)
    assert re.search("parameters encoder.log_var.bias are not finite at step 0 \\(after 0 training samples\\)$",
                     str(group.errors[0])), group.errors[0]
    if not fused:  # the trainer alone raises it too
        with pytest.raises(NonFiniteError, match="^parameters encoder.log_var.bias are not finite at step 0 "):
            t.advance(200)
