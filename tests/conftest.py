"""Shared test set-up: the data directory, the step paths, training data with a corrupt image, the command line run
in this process, and a Fig. 4 store trained once for the session."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from aevb import data
from aevb.cli import main
from aevb.experiments.runner import run_figure
from aevb.experiments.store import write_index
from aevb.learners import ALGORITHMS
from aevb.threads import registry_dir

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

if "AEVB_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["AEVB_DATA_DIR"] = str(SHARED_DATA)

MNIST_KEYS = ("mnist_train_images", "mnist_train_labels", "mnist_test_images", "mnist_test_labels")
MNIST_TRAIN_FILE_ROWS = 60_000  # the official training file: our train split is its first 50,000 images
FREY = "frey-aevb-z2-h200-nall-s0"  # Fig. 4's Frey Face run (and Fig. 2's N_z = 2 AEVB run)


@pytest.fixture
def no_network(monkeypatch):
    """Make every download attempt fail as it would offline."""
    import urllib.error
    import urllib.request

    def refuse(*a, **k):
        raise urllib.error.URLError("network disabled in this test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def cli(capsys):
    """``python -m aevb ARGS`` run in this process (``aevb.cli.main``, what ``python -m aevb`` calls), for the tests
    of a command's behaviour: returns a ``subprocess.CompletedProcess`` with its exit code (argparse's too) and what
    it printed. A fresh interpreter for each command would import torch again, and torch._dynamo at its first
    optimiser (about 3 s of CPU a command); the tests of what only a separate process shows (the exit status of
    ``python -m aevb``, Ctrl-C, SIGKILL, a lock or a thread claim held by another process) start one."""
    def run(*args) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse: a bad flag (2), --help (0)
            code = e.code
        out = capsys.readouterr()
        return subprocess.CompletedProcess(["python", "-m", "aevb", *map(str, args)], code, out.out, out.err)

    return run


@pytest.fixture(params=[True, False], ids=["fused", "autograd"])
def fused(request) -> bool:
    """Run the test through both ways a training step is computed, as ``TrainConfig.fused``: the fused step
    (``aevb.learners.fused``: the gradient written out, taken by ``aevb.learners.fused.group.FusedGroup``: the
    default for AEVB and wake-sleep) and autograd's (``Trainer.train_step``, the reference)."""
    return request.param


def _minibatch_rows(config, steps: int) -> list[list[int]]:
    """The training-set rows of the first ``steps`` minibatches of a run of ``config``, read from a trainer of its
    algorithm (``Trainer.batch_index`` after each step); both step paths draw the same minibatches."""
    t = ALGORITHMS[config.algorithm](config, data.load_split(config, "train", torch.device("cpu")), config.lr or 0.01)
    rows = []
    for s in range(steps):
        t.advance((s + 1) * config.batch_size)
        rows.append(t.batch_index.tolist())
    return rows


@pytest.fixture
def nan_in_mnist(tmp_path, monkeypatch):
    """MNIST with one corrupt training image, as a damaged decoded-array cache would hold it: a private copy of the
    MNIST files in a fresh AEVB_DATA_DIR (they still verify against their checksums) and a fresh AEVB_CACHE_DIR
    whose decoded training images get a NaN pixel.

    Returns ``poison(config, step)``: puts the NaN into a training image of ``config``'s run that its minibatch
    order draws first at ``step`` (and that no evaluation reads: a row past ``eval_train_points``), checks the
    loaders now return it, and returns its row."""
    src, root = data.data_dir(), tmp_path / "corrupt-data"
    monkeypatch.setenv("AEVB_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("AEVB_CACHE_DIR", str(root / "cache"))
    for key in MNIST_KEYS:
        dest = root / "data" / data.SOURCES[key].relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / data.SOURCES[key].relpath, dest)

    def poison(config, step: int) -> int:
        batches = _minibatch_rows(config, step + 1)  # decodes the verified files into the cache on the way
        seen = {r for b in batches[:step] for r in b}
        fresh = sorted(r for r in batches[step] if r not in seen and r >= config.eval_train_points)
        assert fresh, f"no training row of this run is drawn first at step {step}: choose other settings"
        caches = [p for p in data.cache_dir().glob("*.npy") if np.load(p).size == MNIST_TRAIN_FILE_ROWS * 784]
        assert len(caches) == 1, caches  # the decoded training images
        images = np.load(caches[0]).astype(np.float32)
        images.reshape(MNIST_TRAIN_FILE_ROWS, 784)[fresh[0], 0] = np.nan
        np.save(caches[0], images)
        x = data.load_split(config, "train", torch.device("cpu"))
        assert torch.isnan(x).any(1).nonzero().flatten().tolist() == [fresh[0]]  # the run reads this image
        return fresh[0]

    return poison



@pytest.fixture(scope="session")
def fig4_grid(tmp_path_factory):
    """Fig. 4's two runs (MNIST and Frey Face, N_z = 2) trained briefly (1,000 samples) from nothing through the
    runner's local pool (two workers, the §5 step-size search in each): the store (config.json, curve.csv,
    images.npz, decoder.npz, checkpoints kept, index.csv) and what ``run_figure`` returned. Read only: a test that
    changes the store works on a copy (``shutil.copytree``)."""
    store = tmp_path_factory.mktemp("fig4-grid")
    return store, run_figure(4, 1000, results_dir=store, workers=2, log=lambda s: None)


@pytest.fixture(scope="session")
def fig4_store(fig4_grid, tmp_path_factory):
    """A results store with Fig. 4's Frey Face run alone, as ``run_figure(4, 1000, only="frey-*")`` writes it: the
    run of ``fig4_grid``, and the index of this store (tests/test_decoders.py, tests/test_explorer.py; read only)."""
    store = tmp_path_factory.mktemp("fig4")
    shutil.copytree(fig4_grid[0] / "runs" / FREY, store / "runs" / FREY)
    write_index(store)
    return store


@pytest.fixture(autouse=True)
def no_thread_claim_left():
    """No test leaves this process registered in aevb.threads' registry: nbval's chapter kernels, which run
    after the unit tests, would take a smaller share of the cores than papermill's did, and their float
    rounding (hence their outputs) would differ."""
    yield
    entry = registry_dir() / f"{os.getpid()}.json"
    leaked = entry.exists()
    entry.unlink(missing_ok=True)
    assert not leaked, "this test left a claim of torch threads (use aevb.threads.claimed)"


def pytest_collection_modifyitems(config, items):
    """nbval re-executes a chapter to compare the outputs of its cells tagged ``nbval-check-output`` with
    papermill's. The cells after a chapter's last checked cell cannot change those outputs, and papermill has
    already run them without error (``test_book.py::test_every_chapter_was_executed_by_ci``): they are deselected,
    as is every cell of a chapter without a checked cell. So are the chapters that plot the committed store (the
    figure chapters 8-11 and chapter 12, those that call ``check_store``): their checked cells report the
    re-training of a prefix of it, which papermill's execution has already asserted within ``check_atol``; a second
    execution would re-train the same prefix."""
    nb = [i for i in items if type(i).__name__ == "IPyNbCell"]
    store = {p for p in {i.path for i in nb} if "check_store(" in p.read_text()}
    cells = [i for i in nb if i.path not in store]
    dropped = [i for i in nb if i.path in store]
    last = {}
    for i, item in enumerate(cells):
        if "nbval-check-output" in item.cell.get("metadata", {}).get("tags", []):
            last[item.path] = i
    dropped += [item for i, item in enumerate(cells) if i > last.get(item.path, -1)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        keep = set(map(id, dropped))
        items[:] = [i for i in items if id(i) not in keep]
