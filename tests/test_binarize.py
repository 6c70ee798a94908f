"""Binarized MNIST (``TrainConfig.binarize``): static and dynamic draws of x ~ Bernoulli(grey level), their
seeds, cache and resumes, and the default (None: the paper's grey levels) unchanged bit for bit."""
import copy
import dataclasses
import hashlib
import json

import numpy as np
import pytest
import torch

from aevb import data
from aevb.config import TrainConfig
from aevb.data import evaluation_images, load_mnist, load_split
from aevb.experiments.grids import run_name
from aevb.learners.aevb import Trainer
from aevb.learners.fitting import fit
from aevb.learners.wake_sleep import WakeSleepTrainer
from aevb.validation import ParameterError

CPU = torch.device("cpu")
TINY = TrainConfig(n_z=2, hidden=(20,), budget=3000, n_train=200, lr=0.05, eval_train_points=100,
                   checkpoint_every=1000, progress=False, batch_size=50)
# sha256 of the three minibatches after six steps of TINY (binarize=None), computed on the code before binarize
# existed: the default must draw exactly the same minibatches (and no extra random numbers)
NONE_BATCHES_SHA = "8325cbcd43464a96ddbc3bf3c8282b8994fbe192fa3a89ab0bdfce6f55edea92"


def _binned_worst_z(bits: np.ndarray, grey: np.ndarray, draws: np.ndarray | int = 1, bins: int = 20) -> float:
    """Worst |z| over grey-level bins of (mean of the 0/1 draws − mean grey level) / its standard error, pixels with
    0 < grey < 1 only; bits: the per-pixel count of ones out of ``draws`` draws."""
    inner = (grey > 0) & (grey < 1)
    g, k = grey[inner].astype(np.float64), bits[inner].astype(np.float64)
    edges = np.quantile(g, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, g, side="right") - 1, 0, bins - 1)
    zs = []
    for b in range(bins):
        sel = which == b
        if sel.sum() < 100:
            continue
        n = sel.sum() * draws
        se = np.sqrt((g[sel] * (1 - g[sel])).sum() * draws) / n
        zs.append(abs(k[sel].sum() / n - g[sel].mean()) / se)
    assert len(zs) >= bins // 2
    return max(zs)


# --- static -------------------------------------------------------------------------------------------

def test_static_is_zero_one_with_the_grey_levels_as_means():
    for split in ("train", "test"):
        bits, grey = load_mnist(split, binarized=True)[0], load_mnist(split)[0]
        assert bits.dtype == np.float32 and set(np.unique(bits)) == {0.0, 1.0}
        assert (bits[grey == 0] == 0).all() and (bits[grey == 1] == 1).all()
        assert _binned_worst_z(bits, grey) < 5.0
        # a defect the test must catch: thresholding at 1/2 instead of drawing
        assert _binned_worst_z((grey > 0.5).astype(np.float32), grey) > 50
    a = load_split(dataclasses.replace(TINY, binarize="static"), "train", CPU)
    b = load_split(dataclasses.replace(TINY, binarize="static", seed=7), "train", CPU)
    assert torch.equal(a, b)  # fixed, independent of the run's seed
    assert torch.equal(a, torch.from_numpy(load_mnist("train", binarized=True)[0][:200]))


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AEVB_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    draw = data.fixed_binarization
    monkeypatch.setattr(data, "fixed_binarization", lambda x, key: calls.append(key) or draw(x, key))
    return calls


def _binary_cache():
    (path,) = data.cache_dir().glob("mnist_test_images-binarized-*.npy")
    return path


def test_static_cache_is_reused(own_cache):
    first = load_mnist("test", binarized=True)[0]
    path = _binary_cache()
    before = path.read_bytes()
    again = load_mnist("test", binarized=True)[0]
    assert own_cache == ["mnist_test_images"]  # drawn once, then read from the cache
    assert path.read_bytes() == before and np.array_equal(first, again)
    assert (path.parent / (path.name + ".sha256")).read_text().strip() == hashlib.sha256(before).hexdigest()


@pytest.mark.parametrize("damage", ["flip", "truncate", "no_checksum"])
def test_a_corrupted_static_cache_is_drawn_again(own_cache, damage):
    first = load_mnist("test", binarized=True)[0]
    path = _binary_cache()
    good = path.read_bytes()
    if damage == "flip":  # still a loadable .npy: only the checksum tells
        raw = bytearray(good)
        raw[-100] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    else:
        (path.parent / (path.name + ".sha256")).unlink()
    again = load_mnist("test", binarized=True)[0]
    assert own_cache == ["mnist_test_images"] * 2  # redrawn, not used
    assert np.array_equal(first, again) and path.read_bytes() == good


# --- dynamic ------------------------------------------------------------------------------------------

def _full_batch(**kw) -> Trainer:
    c = dataclasses.replace(TINY, binarize="dynamic", batch_size=200, **kw)
    return Trainer(c, load_split(c, "train", CPU), 0.05)


def test_dynamic_draws_are_zero_one_with_the_grey_levels_as_means():
    t, g = _full_batch(), torch.Generator().manual_seed(3)
    grey = t.x.numpy()
    T = 300
    counts = np.zeros_like(grey)
    for _ in range(T):
        x = t.next_batch(g).numpy()  # (200, 784): a whole epoch, rows in the epoch's order
        assert set(np.unique(x)) <= {0.0, 1.0}
        counts[t.batch_index.numpy()] += x
    assert (counts[grey == 0] == 0).all() and (counts[grey == 1] == T).all()
    assert _binned_worst_z(counts, grey, T) < 5.0
    assert _binned_worst_z(T * (grey > 0.5), grey, T) > 50


def test_dynamic_epochs_draw_the_same_image_afresh_and_the_seed_fixes_the_draws():
    t, g = _full_batch(), torch.Generator().manual_seed(0)
    inner = (t.x[0] > 0) & (t.x[0] < 1)  # (784,)
    seen = []
    for _ in range(2):
        x = t.next_batch(g)
        seen.append(x[(t.batch_index == 0).nonzero()[0, 0]])  # image 0 of the training set
    expected = (2 * t.x[0] * (1 - t.x[0]))[inner].sum().item()  # E[pixels that differ]
    differ = (seen[0] != seen[1])[inner].sum().item()
    assert differ > 0.5 * expected and torch.equal(seen[0][~inner], seen[1][~inner])
    # the trainer's own seeded stream: the same seed, the same draws; another seed, others
    runs = {}
    for seed in (0, 0, 1):
        tr = _full_batch(seed=seed)
        tr.advance(400)
        gen = torch.Generator()
        gen.set_state(tr.rng["cpu"])
        runs.setdefault(seed, []).append(tr.next_batch(gen))
    assert torch.equal(runs[0][0], runs[0][1]) and not torch.equal(runs[0][0], runs[1][0])


def test_dynamic_minibatches_are_drawn_by_subclasses_too():
    c = dataclasses.replace(TINY, binarize="dynamic", algorithm="wake-sleep")
    t = WakeSleepTrainer(c, load_split(c, "train", CPU), 0.05)
    x = t.next_batch(torch.Generator().manual_seed(0))
    assert set(x.unique().tolist()) == {0.0, 1.0} and not torch.equal(x, t.x[t.batch_index])


def test_dynamic_evaluates_on_the_fixed_binarization():
    c = dataclasses.replace(TINY, binarize="dynamic")
    grey, test = load_split(c, "train", CPU), load_split(c, "test", CPU)
    static = dataclasses.replace(TINY, binarize="static")
    assert torch.equal(test, load_split(static, "test", CPU))  # the test set: the fixed draw
    fixed = evaluation_images(c, grey[:100])
    assert torch.equal(fixed, load_split(static, "train", CPU)[:100])  # the train subset: the same fixed draw
    assert torch.equal(evaluation_images(c, fixed), fixed)  # already 0/1: unchanged
    assert evaluation_images(TINY, grey) is grey  # the default evaluates the grey levels, as before


def _key(curve):
    return [(r["samples"], r["train_bound"], r["test_bound"]) for r in curve]


def test_dynamic_run_resumed_gives_the_straight_curve(fused):
    c = dataclasses.replace(TINY, binarize="dynamic", fused=fused)
    states = []
    straight = fit(c, on_checkpoint=lambda s: states.append(copy.deepcopy(s))).curve
    assert len(states) >= 3 and states[1]["trainer"]["samples"] < c.budget
    resumed = fit(c, resume=copy.deepcopy(states[1])).curve
    assert _key(resumed) == _key(straight)
    grey = fit(dataclasses.replace(c, binarize=None)).curve
    assert all(a[1] != b[1] for a, b in zip(_key(straight), _key(grey)))  # the draws do change the run


def test_fused_and_autograd_draw_the_same_binarized_minibatches():
    a, b = (fit(dataclasses.replace(TINY, binarize="dynamic", fused=f)).curve for f in (True, False))
    worst = max(abs(x[i] - y[i]) for x, y in zip(_key(a), _key(b)) for i in (1, 2))
    assert worst < 0.05  # float rounding only (other draws move the bounds by whole nats)


def test_dynamic_with_marginal_is_refused_in_training():
    c = dataclasses.replace(TINY, binarize="dynamic", marginal="iwae")
    with pytest.raises(ParameterError, match="'binarize' = 'dynamic' is not allowed with marginal='iwae'"):
        Trainer(c, load_split(c, "train", CPU), 0.05)


# --- the default, settings and the command line --------------------------------------------------------

def test_none_draws_exactly_the_minibatches_of_before():
    t = Trainer(TINY, load_split(TINY, "train", CPU), 0.05)
    t.advance(6 * TINY.batch_size)
    g, h = torch.Generator(), hashlib.sha256()
    g.set_state(t.rng["cpu"])
    for _ in range(3):
        h.update(t.next_batch(g).numpy().tobytes())
    assert h.hexdigest() == NONE_BATCHES_SHA
    assert TrainConfig() == TrainConfig(binarize=None) and run_name(TrainConfig()) == "mnist-aevb-z20-h500-nall-s0"


def test_config_round_trip_and_older_configs():
    for mode in (None, "dynamic", "static"):
        c = dataclasses.replace(TINY, binarize=mode)
        assert TrainConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(c)))) == c
    stored = dataclasses.asdict(TINY)
    del stored["binarize"]  # a config.json written before this setting
    assert TrainConfig.from_dict(stored).binarize is None


@pytest.mark.parametrize("bad", ["yes", "Dynamic", True, 1, ""])
def test_bad_values_are_refused_naming_the_parameter(bad):
    with pytest.raises(ParameterError, match=rf"parameter 'binarize' = {bad!r} is not allowed.*None, 'dynamic'"):
        dataclasses.replace(TINY, binarize=bad)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_frey_face_is_refused_naming_the_parameter(mode):
    with pytest.raises(ParameterError, match=f"parameter 'binarize' = '{mode}' is not allowed with dataset 'frey'"):
        TrainConfig(dataset="frey", hidden=(200,), binarize=mode)


def test_cli_binarize_flag(tmp_path, cli):
    args = ["train", "--n-z", "2", "--hidden", "20", "--budget", "2000", "--n-train", "200", "--lr", "0.05",
            "--no-progress"]
    ok = cli(*args, "--binarize", "dynamic", "--out", str(tmp_path / "d"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "d" / "config.json").read_text())["config"]["binarize"] == "dynamic"
    bad = cli(*args, "--binarize", "sometimes", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--binarize = 'sometimes' is not allowed" in bad.stderr
    frey = cli(*args, "--dataset", "frey", "--binarize", "static", "--out", str(tmp_path / "frey"))
    assert frey.returncode == 2 and "--binarize = 'static' is not allowed with dataset 'frey'" in frey.stderr
