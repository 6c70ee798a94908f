"""aevb.book.cache: a chapter's execution key changes exactly when something it runs changes."""
import json
from pathlib import Path

from aevb.book.cache import closure, execution_key, imported_modules, inputs, main


def _notebook(path: Path, *code: str) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# A chapter\n"]}]
    cells += [{"cell_type": "code", "metadata": {}, "outputs": [], "source": [c]} for c in code]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _package(root: Path) -> None:
    """aevb/{__init__, maths, plots, unused}.py and aevb/experiments/store.py: plots imports maths."""
    files = {"aevb/__init__.py": '"""pkg"""\n', "aevb/maths.py": "import numpy\nX = 1\n",
             "aevb/plots.py": "from aevb.maths import X\n", "aevb/unused.py": "Y = 2\n",
             "aevb/experiments/__init__.py": "", "aevb/experiments/store.py": "import aevb.maths\n",
             "results/index.csv": "run\n", "requirements.txt": "numpy==2\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_imports_are_read_from_the_code():
    src = "import os\nfrom aevb.plots import table\nimport aevb.maths as m\nfrom . import x\nfrom aevb import plots\n"
    assert imported_modules(src) == {"aevb.plots", "aevb.plots.table", "aevb.maths", "aevb", "aevb.plots"}


def test_the_closure_follows_the_package_imports_and_their_parents(tmp_path):
    _package(tmp_path)
    assert set(closure({"aevb.plots"}, tmp_path)) == {"aevb", "aevb.plots", "aevb.maths"}
    assert set(closure({"aevb.experiments.store"}, tmp_path)) == {"aevb", "aevb.experiments",
                                                                  "aevb.experiments.store", "aevb.maths"}


def test_the_key_changes_with_what_the_chapter_runs_and_only_that(tmp_path):
    _package(tmp_path)
    nb = _notebook(tmp_path / "ch.ipynb", "from aevb.plots import X\n%matplotlib inline\nprint(X)")
    key = execution_key(nb, "", tmp_path)
    assert execution_key(nb, "", tmp_path) == key  # deterministic
    assert execution_key(nb, "-p n_z 10", tmp_path) != key  # parameters
    (tmp_path / "aevb/unused.py").write_text("Y = 3\n")
    (tmp_path / "results/index.csv").write_text("run\nnew\n")  # the chapter does not read the store
    assert execution_key(nb, "", tmp_path) == key
    (tmp_path / "aevb/maths.py").write_text("import numpy\nX = 2\n")  # imported through aevb.plots
    changed = execution_key(nb, "", tmp_path)
    assert changed != key
    (tmp_path / "requirements.txt").write_text("numpy==3\n")
    assert execution_key(nb, "", tmp_path) != changed
    _notebook(nb, "from aevb.plots import X\nprint(X + 1)")  # the notebook itself
    assert execution_key(nb, "", tmp_path) not in (key, changed)


def test_a_chapter_that_reads_the_store_is_keyed_on_it(tmp_path):
    _package(tmp_path)
    nb = _notebook(tmp_path / "fig.ipynb", "from aevb.experiments.store import read_index")
    assert tmp_path / "results/index.csv" in inputs(nb, tmp_path)
    key = execution_key(nb, "", tmp_path)
    (tmp_path / "results/runs").mkdir()
    (tmp_path / "results/runs/curve.csv").write_text("samples\n")
    assert execution_key(nb, "", tmp_path) != key


def test_the_command_line_prints_the_key_or_a_usage(tmp_path, capsys):
    nb = _notebook(tmp_path / "ch.ipynb", "print(1)")
    assert main([str(nb), "-p seed 1"]) == 0
    assert len(capsys.readouterr().out.strip()) == 64
    assert main([str(tmp_path / "missing.ipynb")]) == 2
    assert "usage" in capsys.readouterr().err
