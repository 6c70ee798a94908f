"""Where the experiment runner's tasks run (``aevb.experiments.run_figure``): a local process pool (the
default) or Ray, an existing distributed engine, for grids that outgrow one machine.

An executor takes ``fn`` and a list of keyword dicts and yields ``(kwargs, result or exception)`` as tasks
finish, so one failed run never stops the others. A task whose worker process died (killed, e.g. by SIGKILL
or the out-of-memory killer) is yielded with an ``Interrupted`` error: for the local pool, whose every other
task then stops too, so are the tasks it had not finished; their runs resume from their last checkpoints when
the grid is run again. Tasks return their small files as bytes and the caller
stores them, so Ray workers need no shared file system; on a cluster without one, a task interrupted on one
node restarts its run from the beginning on another (checkpoints stay on the node that wrote them).

Ray is an optional extra: ``pip install -r requirements-ray.txt``.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path


class Interrupted(RuntimeError):
    """A task stopped because a worker process died (not because of the task's own error)."""


def local(fn, tasks: list[dict], workers: int = 2, threads: int = 1, address: str | None = None):
    """``workers`` processes on this machine (spawned, so no thread pools are inherited), one task each at a
    time. On a 2-core machine 2 workers × 1 thread trains the paper's small models faster than 1 × 2."""
    if address is not None:
        raise ValueError("address is for the ray executor; the local executor runs on this machine")
    if not tasks:
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(fn, **t): t for t in tasks}
        for f in as_completed(futures):
            exc = f.exception()
            if isinstance(exc, BrokenProcessPool):  # a worker died: the pool stops every unfinished task
                exc = Interrupted("a worker process of the local pool died (killed?) before this task finished")
            yield futures[f], exc if exc is not None else f.result()


def ray(fn, tasks: list[dict], workers: int = 2, threads: int = 1, address: str | None = None):
    """Ray tasks of ``threads`` CPUs each, on the cluster at ``address`` (e.g. ``ray://HEAD:10001`` or
    ``auto``), or on a local Ray instance of ``workers × threads`` CPUs started for the purpose where
    ``address`` is None. The ``aevb`` package is shipped to the workers with the tasks."""
    try:
        import ray as ray_
    except ImportError as e:
        raise RuntimeError("the ray executor needs Ray: pip install -r requirements-ray.txt") from e
    if not tasks:
        return
    started = not ray_.is_initialized()
    if started:
        package = str(Path(__file__).resolve().parent)
        if address is None:
            ray_.init(num_cpus=workers * threads, include_dashboard=False, log_to_driver=False)
        else:
            ray_.init(address=address, runtime_env={"py_modules": [package]}, log_to_driver=False)
    try:
        remote = ray_.remote(num_cpus=threads, max_retries=0)(fn)
        pending = {remote.remote(**t): t for t in tasks}
        while pending:
            ready, _ = ray_.wait(list(pending), num_returns=1)
            task = pending.pop(ready[0])
            try:
                yield task, ray_.get(ready[0])
            except ray_.exceptions.RayTaskError as e:
                yield task, e.as_instanceof_cause()
            except (ray_.exceptions.WorkerCrashedError, ray_.exceptions.NodeDiedError) as e:
                yield task, Interrupted(f"its Ray worker died before it finished ({type(e).__name__})")
    finally:
        if started:
            ray_.shutdown()


EXECUTORS = {"local": local, "ray": ray}
