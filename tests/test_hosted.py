"""binder/: every chapter opens with the hosted set-up cell (off the page), and that cell, run as a hosted kernel
runs it, installs the aevb package at the book's revision in a fresh virtual environment: from the checkout around
the notebook (Binder), or from a clone of the GitHub repository and revision the notebook was opened from (Colab).
Offline: the repository is a local one (git's ``insteadOf``), Colab's server and GitHub's raw files are stood in
for, and pip is given no index."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("hosted_cell", ROOT / "binder" / "hosted_cell.py")
hosted_cell = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(hosted_cell)
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# Chapters whose set-up cell is still to be written by their editors (python binder/hosted_cell.py
# chapters/NN_*.ipynb): remove a chapter from this set when it has it
PENDING: set[str] = set()


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_opens_with_the_hosted_setup_cell(nb):
    code = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    if nb.stem in PENDING:
        pytest.skip(f"{nb.stem}: its set-up cell is still to be written (PENDING)")
    first = code[0]
    assert first.get("id") == hosted_cell.NAME, f"{nb.stem}: the first code cell is not the hosted set-up cell"
    assert "".join(first["source"]) == hosted_cell.CELL, f"{nb.stem}: the set-up cell differs from binder/"
    assert first["metadata"]["tags"] == ["remove-cell"] and not first["outputs"]
    assert "parameters" in code[1]["metadata"].get("tags", []), f"{nb.stem}: the parameters cell should follow it"


def test_inserting_the_cell_changes_nothing_else_and_twice_is_once(tmp_path):
    original = ROOT / "chapters" / "01_problem_and_model.ipynb"
    nb = json.loads(original.read_text())
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != hosted_cell.NAME]
    bare = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    path = tmp_path / original.name
    path.write_text(bare)
    assert hosted_cell.insert(path) and not hosted_cell.insert(path)
    cells = json.loads(path.read_text())["cells"]
    assert [c["id"] for c in cells] == [nb["cells"][0]["id"], hosted_cell.NAME] + [c["id"] for c in nb["cells"][1:]]
    again = json.loads(path.read_text())
    again["cells"] = [c for c in again["cells"] if c.get("id") != hosted_cell.NAME]
    assert json.dumps(again, indent=1, ensure_ascii=False) + "\n" == bare  # byte for byte, but the new cell


def _run(python: Path, code: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _git(*args, cwd) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


# Colab, stood in for: its Jupyter server names the notebook by the GitHub address it was opened from (the launch
# button's), and GitHub serves binder/hosted.py at that revision (here: the checkout's own file)
COLAB = """\
import io, json, sys, types, urllib.request
sys.modules["google.colab"] = types.ModuleType("google.colab")
OPENED = "fileId=" + urllib.request.quote(
    "https://github.com/someone/a-fork/blob/{rev}/chapters/01_problem_and_model.ipynb", safe="")
def urlopen(url, *a, **k):
    assert url == "http://172.28.0.12:9000/api/sessions", url
    return io.BytesIO(json.dumps([{{"name": "01_problem_and_model.ipynb", "path": OPENED}}]).encode())
def urlretrieve(url, *a, **k):
    assert url == "https://raw.githubusercontent.com/someone/a-fork/{rev}/binder/hosted.py", url
    return "{hosted}", None
urllib.request.urlopen, urllib.request.urlretrieve = urlopen, urlretrieve
"""


def test_the_setup_cell_installs_the_package_in_a_fresh_hosted_kernel(tmp_path):
    """A fresh virtual environment with a hosted image's packages (this environment's site-packages on its path,
    as Colab ships pip, torch, numpy, ...; not aevb) and no package index: the set-up cell does nothing in a plain
    kernel; on Binder it installs the checkout around the notebook; on Colab it clones the repository the notebook
    was opened from, at that revision, and installs that."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    site = Path(_ok(_run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])", tmp_path, {})).strip())
    (site / "hosted-image.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    checkout = tmp_path / "checkout"  # the book's repository: the package, its store, binder/
    for part in ("aevb", "results", "binder"):
        shutil.copytree(ROOT / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", checkout)
    (checkout / "chapters").mkdir()
    home, content = tmp_path / "home", tmp_path / "content"  # content: Colab's working directory
    home.mkdir()
    content.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    probe = "\nimport importlib.util\nprint('aevb:', (importlib.util.find_spec('aevb') or {}) and " \
            "importlib.util.find_spec('aevb').origin)\n"
    report = ("\nimport aevb, myst_nb\nfrom aevb.experiments.store import RESULTS_DIR\n"
              "print('aevb:', aevb.__file__)\nprint('store:', RESULTS_DIR)\n")
    cell = hosted_cell.CELL

    # a kernel on a reader's own machine: nothing happens, nothing is installed
    assert _ok(_run(python, cell + probe, checkout / "chapters", env)).split() == ["aevb:", "{}"]

    # Binder: the notebook in chapters/ of the checkout
    binder = {**env, "BINDER_LAUNCH_HOST": "https://mybinder.org/"}
    out = _ok(_run(python, cell + report, checkout / "chapters", binder))
    assert f"installed the aevb package from {checkout}" in out
    assert f"aevb: {checkout / 'aevb' / '__init__.py'}" in out and f"store: {checkout / 'results'}" in out
    # a new kernel finds the package without the cell, and the cell then does nothing
    assert _ok(_run(python, probe, tmp_path, env)).strip() == f"aevb: {checkout / 'aevb' / '__init__.py'}"
    assert "installed" not in _ok(_run(python, cell, checkout / "chapters", binder))
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "aevb"], env=env, check=True)

    # Colab: no checkout around the notebook; the repository and the revision it was opened from
    _git("init", "-q", cwd=checkout)
    _git("add", "-A", cwd=checkout)
    _git("commit", "-q", "-m", "the book", cwd=checkout)
    revision = _git("rev-parse", "HEAD", cwd=checkout)
    _git("commit", "-q", "--allow-empty", "-m", "a later commit", cwd=checkout)  # the revision is not the tip
    _git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=checkout)  # GitHub serves a commit by its hash
    github = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.file://{checkout}.insteadOf",
              "GIT_CONFIG_VALUE_0": "https://github.com/someone/a-fork"}  # the fork's address, served locally
    colab = COLAB.format(rev=revision, hosted=checkout / "binder" / "hosted.py")
    out = _ok(_run(python, colab + cell + report, content, {**env, **github}))
    clone = home / "aevb-companion"
    assert f"installed the aevb package from {clone}" in out
    assert f"aevb: {clone / 'aevb' / '__init__.py'}" in out and f"store: {clone / 'results'}" in out
    assert _git("rev-parse", "HEAD", cwd=clone) == revision

    # no checkout and no address to go on: a clear error naming what to set
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "aevb"], env=env, check=True)
    done = _run(python, (checkout / "binder" / "hosted.py").read_text(), content, {**env, "HOME": str(tmp_path)})
    assert done.returncode != 0 and "AEVB_REPOSITORY is not set" in done.stderr, done.stderr[-2000:]
