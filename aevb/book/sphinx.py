"""Sphinx extension for the book (listed in ``_config.yml``):

- the ``aevb-status`` directive: a table of every chapter's execution in the last build (time, start, status,
  parameters), read from the metadata papermill writes into each executed notebook (a chapter that ``make book``
  reused shows its last execution); its page is read again at every build (``status_pages``);
- docstrings shown verbatim on the API page, so that shape notes like ``z: (*S, B, Z) -> (*S, B)`` read as
  written instead of being parsed as reStructuredText;
- the ``aevb-time`` role: how long the chapters it names took to execute in this build, summed (the reading-group
  guide's "before the meeting" times), with the budget they ran at, and ``aevb-machine``: the machine that built
  these pages; their pages are read again at every build, as the status page is;
- the repository address at build time: where ``AEVB_REPOSITORY`` is set (the publishing workflow,
  ``.github/workflows/book.yml``, sets it to its own repository and ``AEVB_REVISION`` to the commit it builds), it
  replaces ``_config.yml``'s ``repository`` for the repository links and the launch buttons (``repository``).
"""
from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive


def execution_rows(chapters_dir: Path) -> list[dict]:
    """One row per executed notebook in ``chapters_dir``, from its papermill metadata."""
    rows = []
    for nb in sorted(chapters_dir.glob("*.ipynb")):
        meta = json.loads(nb.read_text()).get("metadata", {})
        pm = meta.get("papermill", {})
        params = {k: v for k, v in pm.get("parameters", {}).items()}
        rows.append({"chapter": nb.stem, "seconds": f"{pm['duration']:.1f}" if pm.get("duration") else "not run",
                     "started": (pm.get("start_time") or "")[:19].replace("T", " "),
                     "status": "failed" if pm.get("exception") else ("ok" if pm else "not executed"),
                     "parameters": ", ".join(f"{k}={v!r}" for k, v in params.items()) or "defaults"})
    return rows


def execution_time(chapters_dir: Path, numbers: list[str]) -> str:
    """The chapters ``numbers`` (``["04", "05"]``) of ``chapters_dir``: their execution times in its papermill
    metadata, summed and rounded for reading (``about 4 min``), and the budget they ran at where it was not the
    default (``at the CI budget``: papermill's ``smoke_test`` parameter)."""
    total, smoke = 0.0, False
    for n in numbers:
        found = sorted(chapters_dir.glob(f"{n}_*.ipynb"))
        if len(found) != 1:
            raise ValueError(f"aevb-time: no single chapter numbered {n!r} in {chapters_dir}")
        pm = json.loads(found[0].read_text()).get("metadata", {}).get("papermill", {})
        if not pm.get("duration"):
            return "not timed in this build"
        total += pm["duration"]
        smoke = smoke or bool(pm.get("parameters", {}).get("smoke_test"))
    text = f"about {total:.0f} s" if total < 90 else f"about {total / 60:.0f} min"
    return text + (" at the CI budget" if smoke else "")


def time_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{aevb-time}`04 05``: see ``execution_time``."""
    src = Path(inliner.document.settings.env.srcdir)
    try:
        return [nodes.Text(execution_time(src / "chapters", text.replace(",", " ").split()))], []
    except ValueError as e:
        return [], [inliner.reporter.error(str(e), line=lineno)]


def machine_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{aevb-machine}`x``: the machine that builds the pages, in words."""
    return [nodes.Text(f"{os.cpu_count()} CPU cores ({platform.machine()}, {platform.system()})")], []


def _table(rows: list[dict]) -> nodes.table:
    cols = list(rows[0]) if rows else ["chapter"]
    table, group = nodes.table(), nodes.tgroup(cols=len(cols))
    table += group
    group += [nodes.colspec(colwidth=1) for _ in cols]
    head, body = nodes.thead(), nodes.tbody()
    group += [head, body]
    for values, parent in [(cols, head)] + [([r[c] for c in cols], body) for r in rows]:
        row = nodes.row()
        for v in values:
            row += nodes.entry("", nodes.paragraph(text=str(v)))
        parent += row
    return table


class StatusDirective(Directive):
    """``aevb-status``: the execution table of the chapters next to the page being built."""

    def run(self):
        src = Path(self.state.document.settings.env.srcdir)
        return [_table(execution_rows(src / "chapters"))]


def _verbatim_docstring(app, what, name, obj, options, lines):
    if lines:
        lines[:] = ["::", ""] + ["   " + line for line in lines] + [""]


BUILD_DATA_PAGES = ("status", "reading")  # pages that show what the build measured (aevb-status, aevb-time)


def status_pages(app, env, added, changed, removed) -> list[str]:
    """The pages that show what the build measured (the ``aevb-status`` table, ``aevb-time``), read again at every
    build: an incremental build rereads only the pages whose source changed, and these read the executed
    notebooks instead."""
    return [d for d in env.found_docs if d.endswith(BUILD_DATA_PAGES) and d not in changed]


def repository(address: str, revision: str = "") -> dict:
    """The theme options for the repository ``address`` (``owner/name`` on GitHub, or a repository's URL) at
    ``revision`` (a branch or commit; empty: the configured branch)."""
    address = address.strip().rstrip("/").removesuffix(".git")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", address):
        address = f"https://github.com/{address}"
    if not re.fullmatch(r"https://[\w.-]+/[\w.-]+/[\w.-]+", address):
        raise ValueError(f"AEVB_REPOSITORY={address!r}: give owner/name or https://HOST/owner/name")
    return {"repository_url": address, **({"repository_branch": revision.strip()} if revision.strip() else {})}


def repository_from_environment(app, config) -> None:
    """``config-inited``: ``AEVB_REPOSITORY`` (and ``AEVB_REVISION``) override ``_config.yml``'s repository."""
    if os.environ.get("AEVB_REPOSITORY"):
        config.html_theme_options = {**(config.html_theme_options or {}),
                                     **repository(os.environ["AEVB_REPOSITORY"], os.environ.get("AEVB_REVISION", ""))}


def setup(app):
    app.connect("config-inited", repository_from_environment)
    app.add_directive("aevb-status", StatusDirective)
    app.add_role("aevb-time", time_role)
    app.add_role("aevb-machine", machine_role)
    app.connect("autodoc-process-docstring", _verbatim_docstring)
    app.connect("env-get-outdated", status_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
