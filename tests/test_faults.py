"""Faults (issue 19): one writer per run directory (aevb.experiments.lock), and a grid whose workers are killed
with SIGKILL at random moments ends, after restarts, with the store an uninterrupted grid writes."""
import csv
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from aevb.cli import main
from aevb.config import TrainConfig
from aevb.experiments.grids import run_name
from aevb.experiments.lock import LOCK_NAME, RunLocked, holder, run_lock
from aevb.experiments.runner import run_grid
from aevb.experiments.runs import run
from aevb.files import StoreError, atomic_write_csv, read_csv

REPO = Path(__file__).resolve().parents[1]
TINY = dict(hidden=(20,), n_train=500, lr=0.05, eval_train_points=200, checkpoint_every=500, progress=False)
# 10 runs in 6 tasks (a run's seeds form one stacked task): 4 tasks of two seeds, 2 of one
GRID = ([TrainConfig(dataset=d, n_z=z, seed=s, budget=6000, **TINY)
         for d in ("mnist", "frey") for z in (2, 3) for s in (0, 1)]
        + [TrainConfig(dataset="frey", n_z=2, seed=0, budget=8000, **{**TINY, "hidden": (30,)}),
           TrainConfig(dataset="mnist", n_z=3, seed=2, budget=4000, **{**TINY, "hidden": (30,)})])
WALL_CLOCK = "seconds"  # the only run-dependent value: curve.csv / index.csv column, checkpoint fields


def _holding(run_dir: Path):
    """A process that holds ``run_dir``'s lock until its stdin closes (it prints its pid once it holds it)."""
    code = ("import sys; from aevb.experiments.lock import run_lock\n"
            f"with run_lock({str(run_dir)!r}):\n    print('held', flush=True); sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         cwd=REPO)
    assert p.stdout.readline().strip() == "held"
    return p


def _snapshot(d: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}


def test_a_second_writer_of_a_run_directory_is_refused_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    train = ["train", "--dataset", "frey", "--n-z", "2", "--hidden", "20", "--n-train", "500", "--lr", "0.05",
             "--checkpoint-every", "500", "--no-progress", "--out", str(out)]
    cli_config = TrainConfig(dataset="frey", n_z=2, hidden=(20,), n_train=500, lr=0.05, checkpoint_every=500,
                             progress=False, budget=4000)
    assert main([*train, "--budget", "2000"]) == 0
    assert not (out / LOCK_NAME).exists()  # released (and removed) at the end of the run
    before, dir_mtime = _snapshot(out), out.stat().st_mtime_ns
    p = _holding(out)
    try:
        capsys.readouterr()
        assert main([*train, "--budget", "4000"]) == 2  # would extend the run, were it not held
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(out) in err and "being written by another run" in err
        assert f"pid {p.pid} on {socket.gethostname()}, started 20" in err
        with pytest.raises(RunLocked) as e:
            run(cli_config, out)
        assert e.value.holder["pid"] == p.pid and e.value.run_dir == out
        assert {n: v[0] for n, v in _snapshot(out).items() if n != LOCK_NAME} == {n: v[0] for n, v in before.items()}
        assert {n: v[1] for n, v in _snapshot(out).items() if n != LOCK_NAME} == {n: v[1] for n, v in before.items()}
    finally:
        p.stdin.close()
        p.wait(timeout=30)
        p.stdout.close()
    assert out.stat().st_mtime_ns >= dir_mtime and read_csv(out / "curve.csv")[-1]["samples"] == 2000
    assert not (out / LOCK_NAME).exists()
    run(cli_config, out)  # free again: the run extends
    assert read_csv(out / "curve.csv")[-1]["samples"] == 4000


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    assert not psutil.pid_exists(pid)
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "2026-01-01"}))
    assert holder(stale)["pid"] == pid  # it names a holder, but nobody holds it
    run(TrainConfig(dataset="frey", n_z=2, budget=2000, **TINY), stale)
    assert read_csv(stale / "curve.csv")[-1]["samples"] == 2000 and not (stale / LOCK_NAME).exists()

    killed = tmp_path / "killed"  # the real case: a holder killed with SIGKILL leaves its lock file behind
    p = _holding(killed)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    p.stdin.close()
    p.stdout.close()
    assert holder(killed)["pid"] == p.pid
    with run_lock(killed):
        assert holder(killed)["pid"] == os.getpid()


def test_racing_takers_of_a_stale_lock_have_one_winner(tmp_path):
    """flock is granted to one open file at a time, even within one process: threads race as processes do."""
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 999_999_999, "host": "gone", "started": "2026-01-01"}))
    barrier, won, refused = threading.Barrier(8, timeout=30), [], []

    def take():
        barrier.wait()
        try:
            with run_lock(tmp_path):
                won.append(holder(tmp_path))
                barrier.wait()  # hold it until every thread has tried
                return
        except RunLocked as e:
            refused.append(e.holder)
        barrier.wait()

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(won) == 1 and len(refused) == 7 and won[0]["pid"] == os.getpid()


def _workers() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(p.cmdline()):  # the pool's workers (not the resource tracker)
                out.append(p)
        except psutil.Error:
            pass
    return sorted(out, key=lambda p: p.pid)


def _killer(rng: random.Random, store: Path, started: float, at_start: bool, stop: threading.Event, kills: list):
    """Kill one worker of the pool with SIGKILL: ``at_start``, at a random moment of the pool's first seconds
    (spawning, importing, loading data); else a random moment shortly after training wrote a checkpoint."""
    delay = rng.uniform(0.5, 2.5) if at_start else rng.uniform(0.0, 0.4)
    victim = rng.random()
    if not at_start:
        while not any(p.stat().st_mtime > started for p in store.glob("runs/*/checkpoint.pt")):
            if stop.wait(0.01):
                return
    if stop.wait(delay):
        return
    workers = _workers()
    if workers:
        w = workers[int(victim * len(workers))]
        w.send_signal(signal.SIGKILL)
        kills.append(w.pid)


def _compare(got: Path, want: Path):
    """The stores hold the same files (left-over lock and temporary files of killed workers aside, which git
    ignores) with the same values, the wall-clock ``seconds`` aside."""
    def files(d):
        return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}

    left = files(got) - files(want)
    assert all(Path(f).name == LOCK_NAME or f.endswith(".tmp") for f in left), left
    if left:  # and git ignores them, so a stale lock never shows in `git status` of results/
        probe = [f"results/{f}" for f in left]
        ignored = subprocess.run(["git", "check-ignore", *probe], cwd=REPO, capture_output=True, text=True)
        assert set(ignored.stdout.split()) == set(probe)
    assert files(want) <= files(got)
    for f in sorted(files(want)):
        a, b = got / f, want / f
        if f.endswith("config.json"):  # settings, step size, search and environment (same machine, same checkout)
            assert json.loads(a.read_text()) == json.loads(b.read_text()), f
        elif f.endswith(".csv"):  # curve.csv and index.csv, as text
            ra, rb = (list(csv.DictReader(io.StringIO(x.read_text()))) for x in (a, b))  # as text: exact
            assert [list(r) for r in ra] == [list(r) for r in rb], f
            assert [{k: v for k, v in r.items() if k != WALL_CLOCK} for r in ra] == \
                   [{k: v for k, v in r.items() if k != WALL_CLOCK} for r in rb], f
        elif f.endswith("checkpoint.pt"):
            _same(torch.load(a, weights_only=True), torch.load(b, weights_only=True), f)
        else:
            assert a.read_bytes() == b.read_bytes(), f


def _same(a, b, where):
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            if k != WALL_CLOCK:
                _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    else:
        assert a == b, where


def test_a_grid_survives_workers_killed_at_random_and_resumes_to_the_same_store(tmp_path):
    t0 = time.monotonic()
    reference = tmp_path / "reference"
    assert len(run_grid(GRID, reference, workers=2, log=lambda s: None)) == len(GRID)

    store, rng, logs, kills, interrupted, partial = tmp_path / "killed", random.Random(19), [], [], 0, []
    for attempt in range(12):
        stop = threading.Event()
        killer = None
        if interrupted < 4:
            killer = threading.Thread(target=_killer, args=(rng, store, time.time(), attempt == 0, stop, kills),
                                      daemon=True)
            killer.start()
        try:
            run_grid(GRID, store, workers=2, log=logs.append)
            finished = True
        except RuntimeError as e:  # what the CLI prints as `error: ...`: the interrupted runs, nothing failed
            assert "interrupted (a worker process died)" in str(e) and "failed" not in str(e), e
            assert "run the same command again" in str(e)
            interrupted, finished = interrupted + 1, False
            assert (store / "index.csv").exists()  # written even so
            partial += [d.name for d in store.glob("runs/*") if (d / "checkpoint.pt").exists()
                        and 0 < torch.load(d / "checkpoint.pt", weights_only=True)["trainer"]["samples"]
                        < {run_name(c): c.budget for c in GRID}[d.name]]
        stop.set()
        if killer is not None:
            killer.join(timeout=30)
        if finished:
            break
    assert finished and interrupted >= 3 and len(kills) >= interrupted, (interrupted, kills)
    assert any(s.startswith("  INTERRUPTED ") for s in logs)
    assert partial  # some runs were stopped part way and resumed from their checkpoints
    print(f"{len(GRID)} runs, {interrupted} interrupted attempts, kills {kills}, resumed part way: {partial}, "
          f"{time.monotonic() - t0:.1f} s")
    assert not _workers()
    _compare(store, reference)
    assert time.monotonic() - t0 < 120


def test_two_train_commands_on_one_directory_one_is_refused(tmp_path):
    """The issue's case, end to end: while one ``python -m aevb train --out D`` runs, a second one on D exits
    with code 2 and names the first; once the first is killed (SIGKILL), its lock is stale and taken over."""
    out = tmp_path / "run"
    train = [sys.executable, "-m", "aevb", "train", "--dataset", "frey", "--n-z", "2", "--hidden", "20",
             "--n-train", "500", "--lr", "0.05", "--budget", "1e8", "--no-progress", "--out", str(out)]
    first = subprocess.Popen(train, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while holder(out).get("pid") != first.pid:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = subprocess.run(train, capture_output=True, text=True, cwd=REPO, timeout=300)
        assert first.poll() is None  # still training: the second really ran beside it
        assert second.returncode == 2 and second.stdout == "", second
        assert second.stderr.startswith(f"error: {out} is being written by another run (pid {first.pid} on "
                                        f"{socket.gethostname()}, started "), second.stderr
    finally:
        first.kill()
        first.wait(timeout=30)
    assert holder(out)["pid"] == first.pid  # left behind by the killed process: stale
    with run_lock(out):
        assert holder(out)["pid"] == os.getpid()


def test_read_csv_keeps_the_text_columns_it_is_told_and_parses_the_rest(tmp_path):
    """The one reader of the store's CSVs: named columns stay text (even where they look like numbers), the others
    are floats, and a word in a number column is an error naming the line."""
    path = tmp_path / "a.csv"
    atomic_write_csv(path, [{"run": "7", "task": "bottom half", "mean": -1.0}], ["run", "task", "mean"])
    assert read_csv(path, ["run", "task", "mean"], text_columns=("run", "task")) == [
        {"run": "7", "task": "bottom half", "mean": -1.0}]
    with pytest.raises(StoreError, match="line 2: task is 'bottom half', not a number"):
        read_csv(path, ["run", "task", "mean"], text_columns=("run",))
