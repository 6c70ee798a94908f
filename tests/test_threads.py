"""Torch threads that do not oversubscribe the cores (aevb/threads.py): the fair share, the registry of the
processes that compute, stale entries, rebalancing at a pause, and the CLI's --threads."""
import json
import os
import subprocess
import sys

import pytest
import torch

from aevb import threads
from aevb.threads import claim, claimed, cores, fair_share, rebalance


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A registry of our own, and torch's thread count restored afterwards."""
    monkeypatch.setenv("AEVB_THREADS_DIR", str(tmp_path / "threads"))
    before = torch.get_num_threads()
    yield tmp_path / "threads"
    threads.release()
    torch.set_num_threads(before)


def _claim_in_a_new_process(env_dir) -> int:
    out = subprocess.run([sys.executable, "-c", "from aevb.threads import claim; print(claim())"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "AEVB_THREADS_DIR": str(env_dir)})
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@pytest.mark.parametrize("entries,n_cores,share", [
    ({1: None}, 2, 2), ({1: None, 2: None}, 2, 1), ({1: None, 2: None}, 8, 4), ({1: 1, 2: None}, 2, 1),
    ({1: 3, 2: None}, 2, 1), ({1: 2, 2: None, 3: None}, 8, 3), ({}, 4, 4)])
def test_fair_share(entries, n_cores, share):
    assert fair_share(entries, n_cores) == share


def test_a_process_alone_takes_every_core_and_beside_others_its_share(registry):
    """A new process claims (and its entry is gone when it exits); then this one, beside another live process."""
    assert _claim_in_a_new_process(registry) == cores()  # alone (its entry is gone when it exits)
    assert not list(registry.glob("*.json"))
    other = _sleeper()
    try:
        (registry / f"{other.pid}.json").write_text(json.dumps({"threads": None}))  # a live automatic claimant
        assert claim(None) == max(1, cores() // 2) == torch.get_num_threads()
        (registry / f"{other.pid}.json").write_text(json.dumps({"threads": cores()}))  # a live fixed claim
        assert claim(None) == 1 == torch.get_num_threads()
        assert claim(3) == 3 == torch.get_num_threads()  # a fixed count is taken as given
    finally:
        other.kill()
        other.wait()


def test_entries_of_dead_processes_and_torn_entries_are_dropped(registry):
    dead = _sleeper()
    dead.kill()
    dead.wait()
    registry.mkdir(parents=True)
    (registry / f"{dead.pid}.json").write_text(json.dumps({"threads": 64}))
    (registry / "12345678.json").write_text("{torn")
    assert claim(None) == cores()
    assert [p.name for p in registry.glob("*.json")] == [f"{os.getpid()}.json"]  # this process's entry alone


def test_rebalance_follows_other_processes(registry):
    n = claim(None)
    assert n == cores() == torch.get_num_threads()
    other = _sleeper()
    try:
        (registry / f"{other.pid}.json").write_text(json.dumps({"threads": None}))
        assert rebalance() == max(1, cores() // 2) == torch.get_num_threads()
    finally:
        other.kill()
        other.wait()
    assert rebalance() == cores() == torch.get_num_threads()  # the other one is gone: its cores come back
    claim(1)
    assert rebalance() is None and torch.get_num_threads() == 1  # a fixed claim is left alone


def test_a_bad_thread_count_is_a_clear_error(registry, cli):
    with pytest.raises(ValueError, match="threads=0"):
        claim(0)
    out = cli("train", "--threads", "0")
    assert out.returncode == 2 and "--threads" in out.stderr and "Traceback" not in out.stderr


def test_a_command_run_in_process_leaves_no_claim(registry):
    """The CLI claims threads for the life of a command: run in a longer-lived process (a test, a notebook), it
    leaves neither an entry in the registry nor another thread count behind."""
    torch.set_num_threads(1)
    with claimed(None) as n:
        assert n == torch.get_num_threads() == cores() and len(list(registry.glob("*.json"))) == 1
    assert torch.get_num_threads() == 1 and not list(registry.glob("*.json"))
