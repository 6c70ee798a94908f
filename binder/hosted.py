"""Install the aevb package, at this book's revision, into a hosted kernel (Colab, Binder) that lacks it.

Every chapter's first code cell (``binder/hosted_cell.py`` writes it; not on the book's pages) runs this file in a
hosted kernel: read from the checkout around the notebook (Binder), or, on Colab, fetched from the GitHub
repository and revision the notebook was opened from, which the cell puts in ``AEVB_REPOSITORY`` (``owner/name``,
or a git address) and ``AEVB_REVISION`` (a branch or a commit). Standard library only: it runs before anything
is installed.

- ``aevb`` importable already (Binder: ``binder/postBuild`` installed it when the image was built): nothing.
- The repository: the checkout the notebook sits in (a directory above the working directory holding
  ``pyproject.toml`` and ``aevb/``), or else a shallow clone of ``AEVB_REPOSITORY`` at ``AEVB_REVISION`` into
  ``~/aevb-companion``.
- From there: ``binder/hosted-requirements.txt`` (what a hosted image lacks: myst-nb, for ``glue``), then the
  package, editable (so that the committed results store, ``results/``, is read from that checkout), and the
  checkout on this kernel's ``sys.path`` (a running kernel does not see a newly installed package otherwise).

The data sets are fetched by the package itself, where ``AEVB_DATA_DIR`` lacks them (``aevb.data``).
"""
import os
import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

CLONE = Path.home() / "aevb-companion"


def checkout() -> Path | None:
    """The book's checkout around the working directory, if any."""
    return next((p for p in [Path.cwd(), *Path.cwd().parents]
                 if (p / "aevb").is_dir() and (p / "pyproject.toml").is_file()), None)


def clone(repository: str, revision: str) -> Path:
    """A shallow clone of ``repository`` (``owner/name`` on GitHub, or a git address) at ``revision`` in CLONE."""
    if not repository:
        raise RuntimeError("no checkout of the book around this notebook, and AEVB_REPOSITORY is not set: set it "
                           "(owner/name, or a git address) and AEVB_REVISION (a branch or commit), then run the "
                           "cell again")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        repository = f"https://github.com/{repository}"
    for args in (["init", "-q", str(CLONE)], ["-C", str(CLONE), "fetch", "-q", "--depth", "1", repository,
                                             revision or "HEAD"], ["-C", str(CLONE), "checkout", "-q", "FETCH_HEAD"]):
        subprocess.run(["git", *args], check=True)
    return CLONE


def setup() -> None:
    if find_spec("aevb"):
        return
    root = checkout() or clone(os.environ.get("AEVB_REPOSITORY", ""), os.environ.get("AEVB_REVISION", ""))
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(root / "binder" / "hosted-requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", str(root)], check=True)
    sys.path.insert(0, str(root))
    print(f"installed the aevb package from {root}")


setup()
