"""Which chapters ``make book`` must execute again: a chapter's *execution key*.

A chapter's executed notebook is reused when nothing that can change its outputs has changed since it was last
executed. The key is a SHA-256 over:

- the notebook's own file (its prose, code and default parameters);
- the parameters given to papermill (``PARAMS``, e.g. ``-p n_z 10``);
- the source of every module of this package the notebook imports, followed through their own imports of the
  package (read from the code, not by importing it), and ``requirements.txt`` (the pinned versions of everything
  else);
- the committed results store (``results/``), when one of those modules reads it (``aevb.experiments.store``).

The data sets are not in the key: their loaders check every file against its SHA-256 (``aevb.data``).
``python -m aevb.book.cache NOTEBOOK [PARAMS]`` prints the key (the Makefile compares it with the one saved beside
the executed notebook); ``--why`` lists what went into it instead.
"""
from __future__ import annotations

import ast
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: aevb/, chapters/, results/
PACKAGE = "aevb"
STORE_READER = "aevb.experiments.store"  # a chapter that imports this (directly or not) reads results/


def imported_modules(source: str, package: str = PACKAGE) -> set[str]:
    """The modules of ``package`` that ``source`` (Python code) imports by name, absolute imports only:
    ``from aevb.book.figures import run_figure`` gives ``aevb.book.figures``; ``from aevb import plots`` gives
    ``aevb.plots`` where that is a module and ``aevb`` otherwise."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == package:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}  # kept below only where a module
    return found


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of module ``name`` under ``root`` (a package's ``__init__.py``), or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def closure(names: set[str], root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package that ``names`` reach through imports, with its parent packages (importing
    ``aevb.book.figures`` runs ``aevb/__init__.py`` and ``aevb/book/__init__.py``): name -> source file."""
    todo, seen = list(names), {}
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            path = module_file(sub, root)
            if sub in seen or path is None:
                continue
            seen[sub] = path
            todo.extend(imported_modules(path.read_text(), parts[0]))
    return dict(sorted(seen.items()))


def notebook_code(notebook: Path) -> str:
    """The code cells of ``notebook``, joined; IPython's ``%`` and ``!`` lines left out (they are not Python)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def _store_files(root: Path) -> list[Path]:
    store = root / "results"
    return sorted(p for p in store.rglob("*") if p.is_file()) if store.is_dir() else []


def inputs(notebook: Path, root: Path = ROOT) -> list[Path]:
    """The files of the key of ``notebook``, in a fixed order (see the module docstring)."""
    modules = closure(imported_modules(notebook_code(notebook)), root)
    files = [Path(notebook), *modules.values()]
    if (root / "requirements.txt").is_file():
        files.append(root / "requirements.txt")
    if STORE_READER in modules:
        files += _store_files(root)
    return files


def execution_key(notebook: Path, params: str = "", root: Path = ROOT) -> str:
    """The SHA-256 (hex) of everything that can change ``notebook``'s executed outputs, run with ``params``."""
    h = hashlib.sha256(f"params {params.strip()}\n".encode())
    for path in inputs(notebook, root):
        rel = path.resolve().relative_to(root.resolve()) if path.resolve().is_relative_to(root.resolve()) else path
        h.update(f"{rel}\n".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``NOTEBOOK [PARAMS] [--why]``: print the execution key (or, with --why, the files that go into it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    why = "--why" in args
    args = [a for a in args if a != "--why"]
    if not 1 <= len(args) <= 2 or not Path(args[0]).is_file():
        print("usage: python -m aevb.book.cache NOTEBOOK [PARAMS] [--why]", file=sys.stderr)
        return 2
    notebook, params = Path(args[0]), args[1] if len(args) == 2 else ""
    if why:
        files = inputs(notebook)
        for path in files[:40]:
            print(path)
        if len(files) > 40:
            print(f"... and {len(files) - 40} more files of the results store")
    else:
        print(execution_key(notebook, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
