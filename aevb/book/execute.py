"""``make book``'s execution step: papermill on every chapter whose execution key changed, some at once.

For each chapter: its key (``aevb.book.cache.execution_key``) is compared with the one saved beside its executed
notebook (``OUT/.keys/NAME``) at its last successful execution. Equal: the executed notebook is reused. Otherwise
papermill executes the chapter into ``OUT/chapters/`` in a fresh working directory (``OUT/work/NAME``: what a chapter
writes, e.g. chapter 4's run, starts anew), up to ``jobs`` chapters at once, and the key is saved when it
succeeds. Each chapter's papermill output is printed whole when it ends, with its time; then which chapters were
reused and which failed.

Every executed notebook, executed now or reused, is then made ready for the page (``for_the_page``): papermill's
injected-parameters cell is removed from the HTML (tag ``remove-cell``), and the ``parameters`` cell is folded
under "Rerun knobs" (tag ``hide-input``), headed by the ``make chapter`` line that changes them.

``python -m aevb.book.execute --out DIR [--params "-p n_z 10"] [--chapter 04] [--jobs 2] NOTEBOOK ...``; with
``--chapter`` the parameters go to that chapter only (``make chapter``). Exit status 1 when a chapter failed.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aevb.book.cache import execution_key

NOISE = ("Kernel is running over TCP",)  # lines of papermill's output not worth showing
# A kernel that could not start (two kernels starting at once can draw the same free port): the chapter is
# executed once more; any other failure is the chapter's own and is reported as it is.
KERNEL_START_FAILURES = ("Address already in use", "Kernel died before replying to kernel_info",
                         "Kernel didn't respond in", "DeadKernelError")
START_GAP = 2.0  # seconds between the starts of the first chapters executed at once


KNOBS_PROMPT = ("Rerun knobs", "Hide the rerun knobs")  # the folded parameters cell's toggle, shown and open
KNOBS_LINE = ('# Rerun with other values (the page "Rerun anything" says how):\n'
              '# make chapter CH={ch} PARAMS="-p name value"')  # short lines: the code column is 88 characters


def for_the_page(executed: Path) -> bool:
    """Tag the executed notebook ``executed`` for the page (see the module docstring); rewrites it only where
    something changed (an unchanged file keeps its time, so Sphinx does not reread it). Returns whether it did."""
    text = executed.read_text()
    nb = json.loads(text)
    line = KNOBS_LINE.format(ch=executed.name.split("_")[0])
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        elif "parameters" in tags:
            if "hide-input" not in tags:
                tags.append("hide-input")
            cell["metadata"]["mystnb"] = {"code_prompt_show": KNOBS_PROMPT[0], "code_prompt_hide": KNOBS_PROMPT[1]}
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if not source.startswith(line):
                old = source.split("\n")  # a header of an earlier wording goes: one header, the current one
                while old and old[0].startswith(("# Rerun with other values", "# make chapter CH=")):
                    old.pop(0)
                cell["source"] = line + "\n" + "\n".join(old)
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if json.loads(new) == json.loads(text):
        return False
    executed.write_text(new)
    return True


def chapter_params(notebook: Path, params: str, chapter: str | None) -> str:
    """The parameters ``notebook`` gets: ``params`` for every chapter, or only for chapter ``chapter`` (its number,
    the name's first field: ``04`` for ``04_aevb_vae_mnist.ipynb``)."""
    return params if chapter is None or notebook.name.split("_")[0] == chapter else ""


def stale(notebook: Path, out: Path, params: str) -> tuple[bool, str]:
    """(whether ``notebook`` must be executed again, its execution key)."""
    key = execution_key(notebook, params)
    saved = out / ".keys" / notebook.stem
    fresh = (out / "chapters" / notebook.name).exists() and saved.exists() and saved.read_text().strip() == key
    return not fresh, key


def run_one(notebook: Path, out: Path, params: str, key: str) -> tuple[bool, str]:
    """papermill on ``notebook`` into ``out/chapters``; on success its key is saved. Returns (ok, report)."""
    keyfile, work = out / ".keys" / notebook.stem, out / "work" / notebook.stem
    keyfile.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.time()
    cmd = [sys.executable, "-m", "papermill", str(notebook), str(out / "chapters" / notebook.name), "--cwd", str(work),
           "--no-progress-bar", "--kernel", "python3", *shlex.split(params)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    retried = done.returncode != 0 and any(s in done.stdout + done.stderr for s in KERNEL_START_FAILURES)
    if retried:
        done = subprocess.run(cmd, capture_output=True, text=True)
    text = "\n".join(line for line in (done.stdout + done.stderr).splitlines() if not line.startswith(NOISE))
    if done.returncode == 0:
        keyfile.write_text(key + "\n")
    head = f"== executed {notebook} {params}".rstrip() + (" (again: its kernel did not start)" if retried else "")
    return done.returncode == 0, f"{head}: {time.time() - start:.0f} s" + (f"\n{text}" if done.returncode else "")


def execute(notebooks: list[Path], out: Path, params: str = "", chapter: str | None = None, jobs: int = 1,
            log=print) -> list[Path]:
    """Execute the stale ones of ``notebooks`` into ``out`` (see the module docstring); returns those that failed."""
    (out / "chapters").mkdir(parents=True, exist_ok=True)
    (out / ".keys").mkdir(exist_ok=True)
    todo, reused = [], []
    for nb in notebooks:
        p = chapter_params(nb, params, chapter)
        must, key = stale(nb, out, p)
        (todo if must else reused).append((nb, p, key))
    failed = []

    def task(i: int):
        nb, p, key = todo[i]
        time.sleep(START_GAP * i if i < jobs else 0)  # the first wave's kernels do not start at the same moment
        return run_one(nb, out, p, key)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for (nb, _, _), (ok, report) in zip(todo, pool.map(task, range(len(todo)))):
            log(report)
            if not ok:
                failed.append(nb)
    for nb in notebooks:
        if (out / "chapters" / nb.name).exists():
            for_the_page(out / "chapters" / nb.name)
    if reused:
        log("reused (nothing they run changed since their last execution): " + " ".join(nb.stem for nb, _, _ in reused))
    if failed:
        log("chapters that failed: " + " ".join(map(str, failed)))
    return failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aevb.book.execute", description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="the executed book's directory (BUILD/executed)")
    ap.add_argument("--params", default="", help='papermill parameters, e.g. "-p n_z 10"')
    ap.add_argument("--chapter", default=None, help="give --params to this chapter only (its number, e.g. 04)")
    ap.add_argument("--jobs", type=int, default=1, help="chapters executed at once")
    args = ap.parse_args(argv)
    missing = [str(nb) for nb in args.notebooks if not nb.is_file()]
    if missing:
        ap.error(f"no such notebook: {', '.join(missing)}")
    if args.jobs < 1:
        ap.error(f"--jobs {args.jobs}: give at least 1")
    return 1 if execute(args.notebooks, args.out, args.params, args.chapter or None, args.jobs) else 0


if __name__ == "__main__":
    sys.exit(main())
