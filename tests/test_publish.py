"""The publishing workflow (.github/workflows/book.yml), checked offline: it is a valid GitHub Actions workflow
(check-jsonschema's GitHub workflow schema, and every job has a timeout), it builds the book with the README's
command and publishes what that command writes, and the repository it passes to the build is its own, which the
book's links then point at (aevb.book.sphinx.repository; the links in the built pages: tests/test_book_sphinx.py)."""
import re
import subprocess
import sys
from pathlib import Path

import yaml

from aevb.book.sphinx import repository

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
SCHEMAS = ("vendor.github-workflows", "custom.github-workflows-require-timeout")


def _lint(path: Path) -> list[str]:
    """check-jsonschema's complaints about ``path`` under each of SCHEMAS (empty: valid)."""
    out = []
    for schema in SCHEMAS:
        done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                              capture_output=True, text=True)
        if done.returncode:
            out.append(f"{schema}: {done.stdout}{done.stderr}")
    return out


def test_the_workflow_is_valid_and_the_linter_would_say_otherwise(tmp_path):
    assert _lint(WORKFLOW) == []
    text = WORKFLOW.read_text()
    (tmp_path / "no-runner.yml").write_text(text.replace("    runs-on: ubuntu-latest\n", "", 1))  # a job, no machine
    (tmp_path / "untimed.yml").write_text(text.replace("    timeout-minutes: 10\n", ""))  # a job without a limit
    assert len({text, *(p.read_text() for p in tmp_path.glob("*.yml"))}) == 3
    assert "'runs-on' is a required property" in " ".join(_lint(tmp_path / "no-runner.yml"))
    assert [c.split(":")[0] for c in _lint(tmp_path / "untimed.yml")] == ["custom.github-workflows-require-timeout"]


def _steps(job: dict, uses: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(uses)]


def test_it_builds_the_book_with_its_own_repository_and_publishes_it():
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert flow[True]["push"]["branches"] == ["main"]  # PyYAML reads the key `on` as True
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    (make,) = [s for s in build["steps"] if "run" in s]
    readme = (ROOT / "README.md").read_text()
    assert make["run"] == "make book" and re.search(r"^make book +# builds the book: _build/html/", readme, re.M)
    assert make["env"] == {"AEVB_REPOSITORY": "${{ github.server_url }}/${{ github.repository }}",
                           "AEVB_REVISION": "${{ github.sha }}"}
    (upload,) = _steps(build, "actions/upload-pages-artifact@")
    assert upload["with"]["path"] == "_build/html"
    assert _steps(deploy, "actions/deploy-pages@") and deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    # the address as GitHub expands it, for a fork: the book's links lead to the fork, at the commit built
    github = {"github.server_url": "https://github.com", "github.repository": "someone/a-fork", "github.sha": "f00d"}
    env = {k: re.sub(r"\$\{\{ ([\w.]+) \}\}", lambda m: github[m[1]], v) for k, v in make["env"].items()}
    assert repository(env["AEVB_REPOSITORY"], env["AEVB_REVISION"]) == {
        "repository_url": "https://github.com/someone/a-fork", "repository_branch": "f00d"}
    # the executed chapters are kept between runs where make book keeps them
    (executed,) = [s for s in _steps(build, "actions/cache@") if s["with"]["path"] == "_build/executed"]
    assert "BUILD=_build" in (ROOT / "Makefile").read_text()
