"""Torch threads that do not oversubscribe the cores.

torch takes as many threads as the machine has cores, in every process. Two trainings side by side on a 2-core
machine then run 4 threads on 2 cores, and the threads spin against each other: measured here, one
``python -m aevb train`` alone 43,000 training samples/s, two at once 4,500 each (README, reliability).

So every process of this package that computes says how many threads it uses in a small registry on this
machine (a directory of one JSON file per process, ``AEVB_THREADS_DIR``, default ``<tmp>/aevb-threads``):

- ``claim(threads)``: a fixed count (``--threads N``, the runner's workers), or ``None``: automatic, this
  process's fair share of the cores it may run on: (cores − the fixed claims of the others) divided among the
  automatic claimants, at least 1;
- ``claimed(threads)``: the same for the life of a block (the command line's commands);
- ``rebalance()``: an automatic claimant takes its fair share again; the §5 protocol calls it at every pause of
  training (``aevb.learners.fitting``), so a training that started alone gives up threads within one
  checkpoint interval when another starts, and takes them back when it ends;
- an entry whose process is gone (ended, or killed) is ignored and removed.

The registry is read and written under an exclusive ``flock``; a process that never claims (a library user's
script) keeps torch's default and is not counted.
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path

import torch


def registry_dir() -> Path:
    """The registry's directory: ``AEVB_THREADS_DIR``, or ``aevb-threads`` in the system's temporary directory."""
    return Path(os.environ.get("AEVB_THREADS_DIR") or Path(tempfile.gettempdir()) / "aevb-threads")


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def _locked():
    """The registry, held exclusively for the block."""
    d = registry_dir()
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield d
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _entries(d: Path) -> dict[int, int | None]:
    """pid -> fixed thread count (None: automatic) of every live claimant; entries of dead processes removed."""
    out = {}
    for path in d.glob("*.json"):
        try:
            pid, threads = int(path.stem), json.loads(path.read_text())["threads"]
        except (ValueError, KeyError, TypeError, OSError):
            path.unlink(missing_ok=True)  # torn or foreign: not a claim
            continue
        if _alive(pid):
            out[pid] = threads
        else:
            path.unlink(missing_ok=True)
    return out


def fair_share(entries: dict[int, int | None], n_cores: int) -> int:
    """The threads of each automatic claimant: the cores left by the fixed claims, divided among the automatic
    ones, at least 1."""
    fixed = sum(t for t in entries.values() if t is not None)
    automatic = sum(t is None for t in entries.values())
    return max(1, (n_cores - fixed) // max(1, automatic))


def claim(threads: int | None = None) -> int:
    """Register this process with ``threads`` (a fixed count) or None (automatic), set torch's thread count to it
    (or to the fair share) and return that count; the entry is removed when the process exits."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads={threads!r}: give a positive whole number, or None for automatic")
    with _locked() as d:
        (d / f"{os.getpid()}.json").write_text(json.dumps({"threads": threads}))
        n = threads if threads is not None else fair_share(_entries(d), cores())
    torch.set_num_threads(n)
    atexit.unregister(release)  # once, however often this process claims
    atexit.register(release)
    return n


def rebalance() -> int | None:
    """An automatic claimant takes its fair share again (returns it); a fixed one, or a process that never
    claimed, changes nothing (returns None)."""
    path = registry_dir() / f"{os.getpid()}.json"
    if not path.exists():
        return None
    with _locked() as d:
        entries = _entries(d)
        if entries.get(os.getpid(), 0) is not None:  # fixed, or no entry any more
            return None
        n = fair_share(entries, cores())
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


def release() -> None:
    """Remove this process's entry (at exit)."""
    (registry_dir() / f"{os.getpid()}.json").unlink(missing_ok=True)


@contextlib.contextmanager
def claimed(threads: int | None = None):
    """``claim(threads)`` for the block (yields the count); afterwards the entry is removed and torch's thread
    count is what it was, so a command run inside a longer-lived process (a test, a notebook) leaves no claim."""
    before = torch.get_num_threads()
    try:
        yield claim(threads)
    finally:
        release()
        torch.set_num_threads(before)
