"""aevb.book.sphinx: the build-status page is read again at every (incremental) build, and the repository the
pages link to can be given at build time."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from aevb.book.sphinx import execution_time, repository, status_pages

ROOT = Path(__file__).resolve().parents[1]


def test_the_status_page_is_always_read_again():
    env = SimpleNamespace(found_docs={"intro", "status", "chapters/04_aevb_vae_mnist"})
    assert status_pages(None, env, set(), set(), set()) == ["status"]
    assert status_pages(None, env, set(), {"status"}, set()) == []  # already to be read: not listed twice
    env.found_docs.add("reading")
    assert sorted(status_pages(None, env, set(), set(), set())) == ["reading", "status"]


def _executed(path: Path, papermill: dict | None) -> None:
    path.write_text(json.dumps({"cells": [], "metadata": {"papermill": papermill} if papermill else {}}))


def test_a_meetings_time_is_its_chapters_execution_times_summed_with_their_budget(tmp_path):
    _executed(tmp_path / "04_vae.ipynb", {"duration": 130.0, "parameters": {}})
    _executed(tmp_path / "05_ml.ipynb", {"duration": 1527.0, "parameters": {"n_points": 200}})
    _executed(tmp_path / "06_ws.ipynb", {"duration": 20.2, "parameters": {"smoke_test": True}})
    _executed(tmp_path / "07_vb.ipynb", None)  # not executed by papermill
    assert execution_time(tmp_path, ["04"]) == "about 2 min"
    assert execution_time(tmp_path, ["04", "05"]) == "about 28 min"
    assert execution_time(tmp_path, ["06"]) == "about 20 s at the CI budget"
    assert execution_time(tmp_path, ["04", "06"]) == "about 3 min at the CI budget"
    assert execution_time(tmp_path, ["04", "07"]) == "not timed in this build"
    with pytest.raises(ValueError, match="no single chapter numbered '08'"):
        execution_time(tmp_path, ["08"])


def test_a_repository_address_is_owner_name_or_an_address():
    assert repository("someone/a-fork") == {"repository_url": "https://github.com/someone/a-fork"}
    assert repository("https://github.com/someone/a-fork.git/", " 0123abc ") == {
        "repository_url": "https://github.com/someone/a-fork", "repository_branch": "0123abc"}
    for bad in ("", "someone", "a/b/c", "http://github.com/a/b", "https://github.com/a b/c"):
        with pytest.raises(ValueError, match="AEVB_REPOSITORY"):
            repository(bad)


@pytest.mark.parametrize("address", [None, "someone/a-fork"])
def test_the_built_pages_link_to_the_repository_of_the_build(tmp_path, address):
    """A small book with the repository's _config.yml, built by jupyter-book as make html does: its launch
    buttons (Binder, Colab) and repository link lead to AEVB_REPOSITORY at AEVB_REVISION where those are set (the
    publishing workflow), and to _config.yml's repository otherwise."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["sphinx"]["config"].pop("mathjax_path")
    config["sphinx"]["config"].pop("html_extra_path")
    (tmp_path / "references.bib").write_text((ROOT / "references.bib").read_text())
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/01_a\n")
    (tmp_path / "intro.md").write_text("# A book\n")
    (tmp_path / "chapters").mkdir()
    nb = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# A chapter"]}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "chapters" / "01_a.ipynb").write_text(json.dumps(nb))
    env = {k: v for k, v in os.environ.items() if k not in ("AEVB_REPOSITORY", "AEVB_REVISION")}
    if address:
        env.update(AEVB_REPOSITORY=address, AEVB_REVISION="0123abc")
    done = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(tmp_path), "-W", "-n",
                           "--keep-going"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = (tmp_path / "_build" / "html" / "chapters" / "01_a.html").read_text()
    links = set(re.findall(r'href="(https://(?:mybinder\.org|colab\.research\.google\.com|github\.com)[^"]*)"', page))
    if address:
        repo, branch = "someone/a-fork", "0123abc"
    else:
        repo = config["repository"]["url"].removeprefix("https://github.com/")
        branch = config["repository"]["branch"]
    assert links == {f"https://github.com/{repo}",
                     f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/chapters/01_a.ipynb",
                     f"https://colab.research.google.com/github/{repo}/blob/{branch}/chapters/01_a.ipynb"}, links
