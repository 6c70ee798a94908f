"""Atomic file writes: write to a temporary file beside the target, fsync, rename; and the errors of reading them.

A reader (or a run killed half-way) sees either the old file or the new one, never a torn one. A write that finds
the disk full (ENOSPC) leaves the old file as it was and says so (``DiskFullError``). A file that is torn anyway
(copied half-way, cut short by hand), empty, another file's bytes or hand-edited is reported by its reader as one
``StoreError`` naming the file, what is wrong with it and how to get it back.
"""
from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


class StoreError(ValueError):
    """A file a run or the results store reads is torn, empty, foreign or hand-edited: ``path`` (the file),
    ``problem`` (what is wrong with it, e.g. "line 7 has 2 of 4 values (the file is cut short)") and ``remedy``
    (how to get it back: the command that regenerates it, or "" where none is known). ``str(e)`` says all three."""

    def __init__(self, path: str | Path, problem: str, remedy: str = ""):
        self.path, self.problem, self.remedy = Path(path), problem, remedy
        super().__init__(f"{self.path}: {problem}" + (f"; {remedy}" if remedy else ""))

    def __reduce__(self):  # picklable, so that a worker process can return it
        return type(self), (self.path, self.problem, self.remedy)

    def remedied(self, remedy: str) -> "StoreError":
        """The same error with another ``remedy`` (a caller that knows the file better says how to regenerate it)."""
        return type(self)(self.path, self.problem, remedy)


class DiskFullError(OSError):
    """A write found no space left on the device (ENOSPC): the previous version of the file is kept, untouched."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        super().__init__(errno.ENOSPC, f"cannot write {self.path}: the disk is full (no space left on device); the "
                                       f"previous version of the file is kept unchanged", str(self.path))

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):  # picklable, so that a worker process can return it
        return type(self), (self.path,)


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(f)`` on a binary temporary file, then atomically move it to ``path``. Whatever stops it (an
    error of ``write``, a full disk, an interrupt) leaves ``path`` as it was and removes the temporary file; a full
    disk (ENOSPC, also where it surfaces in flush, fsync or the rename) is raised as ``DiskFullError``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise DiskFullError(path) from e
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if _disk_full(e):
            raise DiskFullError(path) from e
        raise
    return path


def _disk_full(e: BaseException) -> bool:
    """Whether ``e`` (or what it was raised from, e.g. torch.save's RuntimeError around a failed write) is ENOSPC."""
    while e is not None:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        e = e.__cause__ or e.__context__
    return False


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_write_csv(path: str | Path, rows: list[dict], fieldnames: list[str]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def atomic_save_npy(path: str | Path, arr: np.ndarray) -> Path:
    return atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))


def atomic_torch_save(path: str | Path, obj) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def read_text(path: Path, remedy: str = "") -> str:
    """The text of ``path`` (``StoreError`` where it is not UTF-8 text, or empty)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise StoreError(path, "is not a text file (another file's bytes?)", remedy) from None
    if not text.strip():
        raise StoreError(path, "is empty", remedy)
    return text


def read_npz(path: str | Path, remedy: str = "", contents: str = "") -> dict[str, np.ndarray]:
    """The arrays of the npz archive ``path``, read in full; the one reader of the store's npz files.

    ``StoreError`` (naming ``path`` and the problem, then ``remedy``) where the file is missing, empty, not an npz
    archive numpy can read in full (torn, another file's bytes) or one array saved alone; ``contents`` says what
    the archive should hold, in the message ("... not an npz archive{contents}", e.g. " of images")."""
    path = Path(path)
    if not path.exists():
        raise StoreError(path, "not found", remedy)
    if path.stat().st_size == 0:
        raise StoreError(path, "is empty", remedy)
    try:
        with open(path, "rb") as fh:  # numpy leaves a path it opened open where the archive is torn
            f = np.load(fh, allow_pickle=False)
            if isinstance(f, np.lib.npyio.NpzFile):
                with f:
                    arrays = {k: f[k] for k in f.files}
    except Exception as e:  # zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError: torn or foreign
        first = (str(e).strip().splitlines() or [""])[0]
        raise StoreError(path, f"cannot be read as an npz archive{contents} ({type(e).__name__}: {first})",
                         remedy) from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise StoreError(path, f"holds one array, not an npz archive{contents}", remedy)
    return arrays


def read_csv(path: str | Path, columns: list[str] | None = None, remedy: str = "", text_columns=()) -> list[dict]:
    """Rows of a CSV of numbers written by ``atomic_write_csv``, parsed as float (the columns named in
    ``text_columns`` kept as text); the one reader of such files.

    Raises ``StoreError`` (naming ``path``, the line and the problem, then ``remedy``) where the file is empty,
    not text, its header is not ``columns`` (where given; else where it repeats or lacks a name), a line has
    more or fewer values than the header (a file cut short) or a value is not a number. A header with no rows
    is an empty list (a run checkpointed before its first evaluation)."""
    path = Path(path)
    text = read_text(path, remedy)
    lines = list(csv.reader(io.StringIO(text, newline="")))
    header = lines[0]
    if columns is not None and header != list(columns):
        raise StoreError(path, f"line 1 has the columns {', '.join(header)}; expected {', '.join(columns)}", remedy)
    if len(set(header)) != len(header) or not all(header):
        raise StoreError(path, f"line 1 is not a header of column names: {', '.join(header)}", remedy)
    rows = []
    for n, values in enumerate(lines[1:], start=2):
        if len(values) != len(header):
            cut = " (the file is cut short)" if n == len(lines) and len(values) < len(header) else ""
            raise StoreError(path, f"line {n} has {len(values)} of {len(header)} values{cut}", remedy)
        row = {}
        for k, v in zip(header, values):
            if k in text_columns:
                row[k] = v
                continue
            try:
                row[k] = float(v)
            except ValueError:
                raise StoreError(path, f"line {n}: {k} is {v!r}, not a number", remedy) from None
        rows.append(row)
    if not text.endswith("\n"):
        raise StoreError(path, f"line {len(lines)} does not end the file with a newline (the file is cut short)",
                         remedy)
    return rows


def finite_rows(path: str | Path, rows: list[dict], remedy: str = "") -> list[dict]:
    """``rows`` of ``read_csv(path)`` after checking every value is finite (``StoreError`` naming the line)."""
    for n, row in enumerate(rows, start=2):
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
            raise StoreError(path, f"line {n}: {bad[0]} is {row[bad[0]]}, not a finite number", remedy)
    return rows


def read_json(path: str | Path, remedy: str = "") -> dict:
    """The JSON object in ``path`` (``StoreError`` where it is empty, not text, not JSON or not an object)."""
    path = Path(path)
    text = read_text(path, remedy)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        cut = " (the file is cut short)" if not text.rstrip().endswith(("}", "]")) else ""
        raise StoreError(path, f"is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}{cut}", remedy) from None
    if not isinstance(obj, dict):
        raise StoreError(path, f"holds a JSON {type(obj).__name__}, not an object", remedy)
    return obj
