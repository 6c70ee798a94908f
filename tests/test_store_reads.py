"""Issue 19: every file the results store and a run read is checked on read. A torn, empty, foreign or hand-edited
curve.csv, config.json, index.csv, images.npz or checkpoint.pt is one clear error naming the file and the problem
(``aevb.files.StoreError``), with the command that regenerates it; index.csv and (from a checkpoint) images.npz
are rebuilt; a full disk keeps the previous file and says so."""
import dataclasses
import errno
import json
import os
import pickle
import shutil
import warnings

import numpy as np
import pytest
import torch

from aevb.cli import main
from aevb.config import TrainConfig
from aevb.experiments.grids import figure_configs, run_name
from aevb.experiments.images import load_images, render_images, write_images
from aevb.experiments.runs import (checkpoint_file, load_config, load_model, read_checkpoint, read_curve, run,
                                   train_command)
from aevb.experiments.store import (RESULTS_DIR, check_prefix, figure_runs, index_rows, read_index, run_images,
                                    samples_reached, write_index)
from aevb.files import DiskFullError, StoreError, atomic_write, atomic_write_csv, atomic_write_text

RUN = "frey-aevb-z2-h200-nall-s0"  # a committed run of Fig. 2 and 4: config.json, curve.csv, images.npz
OTHER = "frey-wake-sleep-z2-h200-nall-s0"
TINY = TrainConfig(n_z=2, hidden=(20,), budget=2000, n_train=500, lr=0.05, eval_train_points=200,
                   checkpoint_every=1000, progress=False)
REGEN = f"python -m aevb figure 2 --only {RUN}"


@pytest.fixture
def store(tmp_path):
    """A copy of two committed runs as a results store, with its index."""
    for name in (RUN, OTHER):
        shutil.copytree(RESULTS_DIR / "runs" / name, tmp_path / "runs" / name)
    write_index(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny trained run directory (config.json, curve.csv, checkpoint.pt)."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    run(TINY, out)
    return out


@pytest.fixture
def tiny_copy(tiny, tmp_path):
    return shutil.copytree(tiny, tmp_path / "run")


def _torn(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit(path, old, new, count=1):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


# ---- curve.csv -------------------------------------------------------------------------------------------------

CURVE_FAULTS = {
    "torn": (_torn, "cut short"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "foreign bytes": (lambda p: p.write_bytes((RESULTS_DIR / "runs" / RUN / "images.npz").read_bytes()),
                      "is not a text file"),
    "another file": (lambda p: p.write_bytes((p.parent / "config.json").read_bytes()), "line 1 has the columns {"),
    "text for a value": (lambda p: _edit(p, _second_line_of(p).split(",")[3], "oops"),
                         "line 3: test_bound is 'oops', not a number"),
    "a column removed": (lambda p: p.write_text("\n".join(",".join(r.split(",")[:3]) for r in
                                                          p.read_text().splitlines()) + "\n"),
                         "line 1 has the columns samples, seconds, train_bound; expected samples, seconds, "
                         "train_bound, test_bound"),
    "a NaN": (lambda p: _edit(p, _second_line_of(p).split(",")[2], "nan"), "line 3: train_bound is nan, not a finite"),
    "samples out of order": (lambda p: _edit(p, _second_line_of(p).split(",")[0] + ",", "900,"),
                             "line 3: samples is 900, not a whole number above the line before's 1000"),
    "a short line": (lambda p: _edit(p, _second_line_of(p), _second_line_of(p).rsplit(",", 1)[0]),
                     "line 3 has 3 of 4 values"),
}


def _second_line_of(path):
    return path.read_text().splitlines()[2]


@pytest.mark.parametrize("fault", CURVE_FAULTS)
def test_a_bad_curve_is_one_error_naming_the_file_and_the_command(store, fault):
    damage, problem = CURVE_FAULTS[fault]
    path = store / "runs" / RUN / "curve.csv"
    damage(path)
    for read in (lambda: samples_reached(path.parent), lambda: figure_runs(2, store), lambda: index_rows(store),
                 lambda: check_prefix(RUN, 2000, 1e-3, results_dir=store)):
        with pytest.raises(StoreError) as e:
            read()
        msg = str(e.value)
        assert msg.startswith(f"{path}: ") and problem in msg, msg
        assert f"move it away and run `{REGEN} --results {store}`" in msg


def test_the_curve_reader_names_the_exact_problem(tiny_copy):
    (tiny_copy / "checkpoint.pt").unlink()  # else the curve is rewritten from it (below)
    path = tiny_copy / "curve.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + [lines[2].replace(lines[2].split(",")[3], "abc")]) + "\n")
    with pytest.raises(StoreError) as e:
        read_curve(tiny_copy)
    assert str(e.value) == (f"{path}: line 3: test_bound is 'abc', not a number; move it away and run "
                            f"`{train_command(TINY, tiny_copy)}` (it resumes from checkpoint.pt where there is one); "
                            f"it was trained with eval_train_points=200, which no flag sets: resume it with "
                            f"aevb.experiments.runs.run(config, '{tiny_copy}')")
    assert train_command(TINY, tiny_copy) == (f"python -m aevb train --n-z 2 --hidden 20 --budget 2000 --n-train 500 "
                                              f"--lr 0.05 --checkpoint-every 1000 --out {tiny_copy}")


@pytest.mark.parametrize("fault", ["torn", "empty", "a NaN", "a column removed"])
def test_a_bad_curve_is_rewritten_from_the_checkpoint(tiny_copy, fault):
    path = tiny_copy / "curve.csv"
    original = path.read_bytes()
    CURVE_FAULTS[fault][0](path)
    with pytest.warns(UserWarning, match=f"{path}: .*; rewritten from .*checkpoint.pt \\(2,000 samples\\)"):
        rows = read_curve(tiny_copy)
    assert path.read_bytes() == original and [r["samples"] for r in rows] == [1000, 1800, 2000]
    assert run(TINY, tiny_copy).curve == rows  # and the run resumes from there as before


def test_a_checkpoint_of_other_settings_does_not_rewrite_the_curve(tiny_copy):
    c = torch.load(tiny_copy / "checkpoint.pt", weights_only=True)
    torch.save({**c, "config": {**c["config"], "n_z": 3}}, tiny_copy / "checkpoint.pt")
    _torn(tiny_copy / "curve.csv")
    with pytest.raises(StoreError, match="cut short"):
        read_curve(tiny_copy)


def test_figure_list_with_a_torn_curve_is_one_error_line(store, cli):
    _torn(store / "runs" / RUN / "curve.csv")
    p = cli("figure", "2", "--list", "--results", store)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {store / 'runs' / RUN / 'curve.csv'}: "), p.stderr
    assert "cut short" in lines[0] and REGEN in lines[0]


def test_the_committed_store_reads_cleanly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read_index would warn (and rebuild) where index.csv disagreed
        rows = read_index(RESULTS_DIR)
        in_figures = [r for r in rows if any(f.isdigit() for f in r["figures"].split(";"))]
        seeds = [r for r in in_figures if r["figures"].split(";") == ["3"] and r["seed"] != "0"]
        assert {r["seed"] for r in seeds} <= {"1", "2"}  # Fig. 3's further seeds (grids.SEEDS), as far as stored
        assert len(in_figures) == 25 + 3 + len(seeds)  # the figures' 25 runs, Fig. 4's MNIST manifold for seeds 1-3
        assert len(rows) == len({r["path"] for r in rows}) > 25  # and the studies' runs, each once
        for f in (2, 3, 4, 5):
            for r in figure_runs(f, RESULTS_DIR):
                assert r.curve and r.lr in (0.01, 0.02, 0.1)
                if (r.path / "images.npz").exists():
                    assert run_images(r.path)


# ---- config.json -----------------------------------------------------------------------------------------------

CONFIG_FAULTS = {
    "torn": (_torn, "is not valid JSON: "),
    "empty": (lambda p: p.write_text(""), "is empty"),
    "foreign bytes": (lambda p: p.write_bytes(bytes(range(256)) * 4), "is not a text file"),
    "another file": (lambda p: p.write_bytes((p.parent / "curve.csv").read_bytes()), "is not valid JSON: "),
    "a list": (lambda p: p.write_text("[1, 2]\n"), "holds a JSON list, not an object"),
    "no config": (lambda p: p.write_text('{"lr_used": 0.01}\n'), "has no 'config' object"),
    "text for a value": (lambda p: _edit(p, '"n_z": 2', '"n_z": "two"'),
                         "holds a config that is not a run's settings: parameter 'n_z'"),
    "a field removed": (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "config": {
        k: v for k, v in json.loads(p.read_text())["config"].items() if k != "hidden"}})),
        "holds a config that is not a run's settings: lacks the field 'hidden'"),
    "an unknown field": (lambda p: _edit(p, '"n_z": 2', '"n_zz": 2'),
                         "holds a config that is not a run's settings: "),
    "a bad step size": (lambda p: _edit(p, '"lr_used": 0.01', '"lr_used": "fast"'), "lr_used is 'fast'"),
}


@pytest.mark.parametrize("fault", CONFIG_FAULTS)
def test_a_bad_config_is_one_error_naming_the_file(store, fault):
    damage, problem = CONFIG_FAULTS[fault]
    path = store / "runs" / RUN / "config.json"
    damage(path)
    for read in (lambda: samples_reached(path.parent), lambda: figure_runs(4, store), lambda: index_rows(store)):
        with pytest.raises(StoreError) as e:
            read()
        msg = str(e.value)
        assert msg.startswith(f"{path}: ") and problem in msg and f"{REGEN} --results {store}" in msg, msg


def test_a_torn_config_is_cut_short(store):
    path = store / "runs" / RUN / "config.json"
    _torn(path)
    with pytest.raises(StoreError, match=r"is not valid JSON: .* \(the file is cut short\)"):
        samples_reached(path.parent)


def test_a_run_directory_config_error_gives_the_train_command(tiny_copy, capsys):
    path = tiny_copy / "config.json"
    _torn(path)
    with pytest.raises(StoreError) as e:
        load_config(tiny_copy)
    assert f"move it away and run `{train_command(TINY, tiny_copy)}`" in str(e.value)  # known from the checkpoint
    assert main(["evaluate", str(tiny_copy), "--n-points", "5", "--method", "iwae", "--k", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: is not valid JSON") and err.count("\n") == 1


# ---- checkpoint.pt ---------------------------------------------------------------------------------------------

def _save(obj):
    return lambda p: torch.save(obj, p)


CHECKPOINT_FAULTS = {
    "torn": (_torn, "cannot be read as a checkpoint ("),
    "empty": (lambda p: p.write_bytes(b""), "cannot be read as a checkpoint ("),
    "foreign bytes": (lambda p: p.write_bytes(os.urandom(4096)), "cannot be read as a checkpoint ("),
    "another file": (lambda p: p.write_bytes((p.parent / "curve.csv").read_bytes()),
                     "cannot be read as a checkpoint ("),
    "a tensor": (_save(torch.zeros(3)), "cannot be read as a checkpoint (it holds a Tensor; a run's checkpoint has "
                                        "config, curve, lr, lr_search, trainer)"),
    "keys missing": (lambda p: torch.save({k: v for k, v in torch.load(p, weights_only=True).items() if k != "lr"}, p),
                     "cannot be read as a checkpoint (it lacks lr; a run's checkpoint has config, "),
    "trainer state missing": (lambda p: torch.save({**torch.load(p, weights_only=True), "trainer": {}}, p),
                              "its trainer state, config or curve is not a run's"),
    "a bad config": (lambda p: torch.save({**(c := torch.load(p, weights_only=True)),
                                           "config": {**c["config"], "n_z": -1}}, p),
                     "holds a config that is not a run's settings: parameter 'n_z'"),
}


@pytest.mark.parametrize("fault", CHECKPOINT_FAULTS)
def test_a_bad_checkpoint_is_one_error_naming_the_file(tiny_copy, fault):
    damage, problem = CHECKPOINT_FAULTS[fault]
    path = tiny_copy / "checkpoint.pt"
    damage(path)
    for read in (lambda: run(TINY, tiny_copy), lambda: load_model(tiny_copy), lambda: read_checkpoint(tiny_copy)):
        with pytest.raises(StoreError) as e:
            read()
        msg = str(e.value)
        assert msg.startswith(f"{path}: ") and problem in msg and msg.endswith("move it away to start afresh"), msg


def test_weights_that_do_not_fit_the_model_are_named(tiny_copy):
    path = tiny_copy / "checkpoint.pt"
    c = torch.load(path, weights_only=True)
    c["trainer"]["model"] = {k: v[:1] for k, v in c["trainer"]["model"].items()}
    torch.save(c, path)
    with pytest.raises(StoreError, match="holds weights that do not fit its model"):
        load_model(tiny_copy)


# ---- images.npz ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fig4_run(tmp_path_factory):
    """A store with Fig. 4's Frey Face run trained briefly (a step size given: no search), its images drawn, and its
    checkpoint kept."""
    store = tmp_path_factory.mktemp("fig4")
    (config,) = [c for c in figure_configs(4, 1000) if run_name(c) == RUN]
    config = dataclasses.replace(config, lr=0.01)
    run_dir = store / "runs" / RUN
    result = run(config, run_dir)
    write_images(run_dir, render_images(config, result.model, config.seed))
    return run_dir


def _np(save, path, *args, **kwargs):
    with open(path, "wb") as f:
        save(f, *args, **kwargs)


IMAGE_FAULTS = {
    "deleted": (lambda p: p.unlink(), "not found"),
    "torn": (_torn, "cannot be read as an npz archive of images (BadZipFile"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "foreign": (lambda p: p.write_bytes((p.parent / "curve.csv").read_bytes()),
                "cannot be read as an npz archive of images ("),
    "one array": (lambda p: _np(np.save, p, np.zeros(3)), "holds one array, not an npz archive of images"),
    "an array missing": (lambda p: _np(np.savez, p, samples=np.zeros((100, 560), np.uint8)),
                         "holds the arrays samples; expected manifold"),
    "floats": (lambda p: _np(np.savez, p, manifold=np.zeros((400, 560))),
               "manifold is float64 of shape (400, 560); expected uint8 of shape (400, 560)"),
    "a wrong shape": (lambda p: _np(np.savez, p, manifold=np.zeros((400, 784), np.uint8)),
                      "manifold is uint8 of shape (400, 784); expected uint8 of shape (400, 560)"),
}


@pytest.mark.parametrize("fault", IMAGE_FAULTS)
def test_bad_images_without_a_checkpoint_give_the_regenerate_command(store, fault):
    damage, problem = IMAGE_FAULTS[fault]
    path = store / "runs" / RUN / "images.npz"
    damage(path)
    with pytest.raises(StoreError) as e:
        run_images(path.parent)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and problem in msg, msg
    assert msg.endswith(f"move it away and run `{REGEN} --results {store}`"), msg


@pytest.mark.parametrize("fault", IMAGE_FAULTS)
def test_bad_images_with_a_checkpoint_are_drawn_again_identically(fig4_run, tmp_path, fault):
    run_dir = shutil.copytree(fig4_run, tmp_path / "runs" / RUN)
    path = run_dir / "images.npz"
    original = path.read_bytes()
    damage, problem = IMAGE_FAULTS[fault]
    damage(path)
    with pytest.warns(UserWarning, match=f"{problem.split('(')[0]}.*drawn again from .*checkpoint.pt"):
        images = run_images(run_dir)
    assert path.read_bytes() == original
    assert all(np.array_equal(images[k], v) for k, v in load_images(fig4_run).items())


def test_images_are_not_drawn_from_a_checkpoint_of_another_point(fig4_run, tmp_path):
    run_dir = shutil.copytree(fig4_run, tmp_path / "runs" / RUN)
    (run_dir / "images.npz").unlink()
    c = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    c["trainer"]["samples"] = 500
    torch.save(c, run_dir / "checkpoint.pt")
    with pytest.raises(StoreError, match="checkpoint.pt is at 500 samples, the curve at 1,000"):
        run_images(run_dir)


# ---- index.csv -------------------------------------------------------------------------------------------------

INDEX_FAULTS = {
    "torn": (_torn, "line"),
    "deleted": (lambda p: p.unlink(), "not found"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "foreign": (lambda p: p.write_bytes(os.urandom(512)), ""),
    "another file": (lambda p: p.write_bytes((p.parent / "runs" / RUN / "curve.csv").read_bytes()),
                     "line 1 has the columns samples"),
    "a value edited": (lambda p: _edit(p, ",10000000,", ",20000000,"), "line 2 disagrees with the run directories"),
    "a column removed": (lambda p: p.write_text("\n".join(",".join(r.split(",")[1:]) for r in
                                                          p.read_text().splitlines()) + "\n"),
                         "line 1 has the columns dataset,"),
}


@pytest.mark.parametrize("fault", INDEX_FAULTS)
def test_a_bad_index_is_rebuilt_from_the_run_directories(store, fault):
    path = store / "index.csv"
    original = path.read_bytes()
    damage, problem = INDEX_FAULTS[fault]
    damage(path)
    with pytest.warns(UserWarning, match=f"{path}: .*{problem}.*; rebuilt from the run directories"):
        rows = read_index(store)
    assert path.read_bytes() == original and [r["path"] for r in rows] == [f"runs/{RUN}", f"runs/{OTHER}"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_index(store) == rows  # now it reads cleanly


def test_write_index_keeps_the_good_runs_and_names_the_bad_one(store):
    _torn(store / "runs" / RUN / "curve.csv")
    with pytest.raises(StoreError) as e:
        write_index(store)
    msg = str(e.value)
    assert msg.startswith(f"{store / 'index.csv'}: written without 1 unreadable run(s), from the 1 readable: "
                          f"{store / 'runs' / RUN / 'curve.csv'}: ")
    assert REGEN in msg
    assert [r["path"] for r in index_rows(store / "x")] == []
    rows = (store / "index.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].endswith(f"runs/{OTHER}")


# ---- a full disk -----------------------------------------------------------------------------------------------

def test_a_full_disk_keeps_the_previous_file_and_says_so(tmp_path, capsys):
    target = tmp_path / "curve.csv"
    atomic_write_text(target, "old\n")

    def full(f):
        f.write(b"half of the new")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError) as e:
        atomic_write(target, full)
    assert str(e.value) == (f"cannot write {target}: the disk is full (no space left on device); the previous "
                            f"version of the file is kept unchanged")
    assert e.value.errno == errno.ENOSPC and isinstance(e.value, OSError)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["curve.csv"]


def test_a_full_disk_under_a_wrapping_error_is_named_too(tmp_path):
    """torch.save reports a failed write as a RuntimeError raised from (or during) the OSError."""
    target = tmp_path / "checkpoint.pt"
    atomic_write_text(target, "old\n")

    def full(f):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as e:
            raise RuntimeError("PytorchStreamWriter failed writing file") from e

    with pytest.raises(DiskFullError, match="the disk is full"):
        atomic_write(target, full)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["checkpoint.pt"]


def test_a_full_disk_through_the_cli_is_one_error_line(tiny_copy, monkeypatch, capsys):
    target = tiny_copy / "marginal-iwae-test.csv"
    atomic_write_text(target, "old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("aevb.files.os.fsync", full)
    assert main(["evaluate", str(tiny_copy), "--n-points", "5", "--method", "iwae", "--k", "2"]) == 2
    assert capsys.readouterr().err == (f"error: cannot write {target}: the disk is full (no space left on device); "
                                       f"the previous version of the file is kept unchanged\n")
    assert target.read_text() == "old\n" and not list(tiny_copy.glob(".*.tmp"))


def test_the_errors_travel_from_a_worker_process(tmp_path):
    for e in (StoreError(tmp_path / "curve.csv", "is empty", "run this"), DiskFullError(tmp_path / "x.csv")):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e)
    assert pickle.loads(pickle.dumps(DiskFullError(tmp_path))).errno == errno.ENOSPC


def test_other_write_errors_are_left_as_they_are(tmp_path):
    def fail(f):
        raise OSError(errno.EIO, "Input/output error")

    atomic_write_csv(tmp_path / "x.csv", [], ["a"])
    with pytest.raises(OSError) as e:
        atomic_write(tmp_path / "x.csv", fail)
    assert not isinstance(e.value, DiskFullError) and e.value.errno == errno.EIO
    assert (tmp_path / "x.csv").read_text() == "a\n" and os.listdir(tmp_path) == ["x.csv"]


def test_checkpoints_lie_under_AEVB_CHECKPOINT_DIR_and_a_fresh_checkout_resumes_from_them(tmp_path, monkeypatch):
    """With AEVB_CHECKPOINT_DIR set, a run's checkpoint is kept outside its run directory (outside the work tree),
    named by the run directory's path; a run directory laid anew (curve.csv and config.json only, as a fresh
    checkout has them) resumes from it to the curve of an uninterrupted run."""
    monkeypatch.setenv("AEVB_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    out = tmp_path / "store" / "run"
    run(dataclasses.replace(TINY, budget=1000), out)
    assert not (out / "checkpoint.pt").exists()
    kept = checkpoint_file(out)
    assert kept.is_file() and kept.is_relative_to(tmp_path / "ckpt") and kept.parts[-3:] == ("store", "run",
                                                                                              "checkpoint.pt")
    (out / "curve.csv").unlink()  # the work tree laid anew at an earlier state
    resumed = run(TINY, out).curve
    whole = run(TINY, tmp_path / "whole").curve
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in whole]
    monkeypatch.delenv("AEVB_CHECKPOINT_DIR")
    assert checkpoint_file(out) == out / "checkpoint.pt"  # unset: beside the run's files, as before

