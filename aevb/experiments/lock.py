"""One writer per run directory: ``run_lock(run_dir)`` is held for the life of a run by whoever writes it
(``aevb.experiments.runs.run_seeds``, the experiment runner storing a task's files).

Design: an advisory ``fcntl.flock`` on an open descriptor of ``RUN_DIR/run.lock``, whose body is JSON naming
the holder: ``{"pid", "host", "started"}``. The kernel releases a flock when the descriptor's last holder
exits, however it exits (SIGKILL, OOM killer, power-off of a process on this host), so a lock left by a killed
process is stale by construction: the next writer's ``flock`` simply succeeds, and rewrites the body with its
own name. Taking over a stale lock is therefore as atomic as taking a free one (the kernel grants the flock to
exactly one of two racing processes); nothing ever decides staleness by reading a pid, so there is no window
between "the holder is dead" and "the lock is mine" in which a third process could also win, and no pid reuse
can make a dead holder look alive. The alternative, ``O_CREAT|O_EXCL`` plus a pid-liveness check and takeover
by rename, needs a re-check dance to be race free and cannot tell a live holder on another host from a dead
one; with flock the JSON body is only for the message.

The holder unlinks the lock file before it releases the flock. A process that opened the file before the unlink
and is granted the flock afterwards would then hold a lock on a file no longer in the directory while a third
process locks a new one, so ``run_lock`` takes the flock, then checks that the path still names the file it
locked (same inode) and starts over where it does not. A lock file left behind by a killed process is
unlocked, ignored by git (``run.lock`` in ``.gitignore``) and not one of a run's stored files.

On a local file system this is exact. On NFS (v4, Linux >= 2.6.12) ``flock`` is emulated with byte-range
locks held by the server, so it still excludes writers on other hosts, and a client that dies loses its locks
when its lease expires.

Within one process the lock is re-entrant for the thread that holds it (the runner's worker holds a run's lock
while ``run_seeds`` takes it again); another thread, like another process, is refused.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import threading
from pathlib import Path

LOCK_NAME = "run.lock"

_held: dict[tuple[str, int], list] = {}  # (resolved lock path, thread id) -> [fd, depth]
_held_guard = threading.Lock()


class RunLocked(RuntimeError):
    """Another process (or thread) is writing the run directory: ``.holder`` names it (pid, host, started)."""

    def __init__(self, run_dir: Path, holder: dict):
        self.run_dir, self.holder = run_dir, holder
        who = (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
               if holder else "a process that has not yet written its name")
        super().__init__(f"{run_dir} is being written by another run ({who}); wait for it to finish, or stop "
                         f"it, then run this again (nothing was written)")


def holder(run_dir: str | Path) -> dict:
    """The holder named in ``run_dir``'s lock file (``{}`` where there is none or it cannot be read). The file
    may name a process that has died: only ``run_lock`` can tell whether the lock is held."""
    try:
        body = json.loads((Path(run_dir) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _me() -> dict:
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": started}


def _acquire(run_dir: Path, path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive flock, the body naming this process."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLocked(run_dir, holder(run_dir)) from None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder unlinked it between our open and our flock: lock the new file
            os.close(fd)
            continue
        body = json.dumps(_me()).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, body, 0)
        os.fsync(fd)
        return fd


def _release(path: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # before the unlock: a waiter that opened this file re-checks the inode (see _acquire)
    os.close(fd)  # releases the flock


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold the lock of ``run_dir`` (created where missing) for the ``with`` block; ``RunLocked`` (naming the
    holder) where another process or thread holds it. A lock left by a dead process is taken over."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    key = (str(path.resolve()), threading.get_ident())
    with _held_guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is None:
        fd = _acquire(run_dir, path)
        with _held_guard:
            _held[key] = entry = [fd, 1]
    try:
        yield run_dir
    finally:
        with _held_guard:
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _held[key]
        if last:
            _release(path, entry[0])


@contextlib.contextmanager
def run_locks(run_dirs):
    """``run_lock`` on every directory of ``run_dirs`` (None entries skipped), all or none."""
    with contextlib.ExitStack() as stack:
        for d in sorted({str(Path(d).resolve()) for d in run_dirs if d is not None}):
            stack.enter_context(run_lock(d))
        yield
