"""aevb.book.execute: make book's execution step executes the stale chapters, reuses the others, and names a
failed one (tiny notebooks through papermill and a real kernel)."""
import json
from pathlib import Path

from aevb.book.execute import chapter_params, execute, for_the_page, main


def _notebook(path: Path, code: str) -> Path:
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [], "execution_count": None,
              "source": ["x = 1  # a parameter"]},
             {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": [code]}]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}}}))
    return path


def _outputs(path: Path) -> str:
    return "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                   for c in json.loads(path.read_text())["cells"] for o in c.get("outputs", []))


def test_stale_chapters_run_the_others_are_reused_and_a_failure_is_named(tmp_path):
    src, out = tmp_path / "chapters", tmp_path / "executed"
    src.mkdir()
    a, b = _notebook(src / "01_a.ipynb", "print('a', x)"), _notebook(src / "02_b.ipynb", "print('b', x)")
    log = []
    assert execute([a, b], out, jobs=2, log=log.append) == [], log
    assert [line.split(":")[0] for line in log] == [f"== executed {a}", f"== executed {b}"]
    assert _outputs(out / "chapters" / a.name) == "a 1\n"
    log.clear()
    assert execute([a, b], out, params="-p x 2", chapter="02", log=log.append) == [], log  # make chapter CH=02
    assert log[0].startswith(f"== executed {b} -p x 2") and log[1].endswith(": 01_a")
    assert _outputs(out / "chapters" / b.name) == "b 2\n" and _outputs(out / "chapters" / a.name) == "a 1\n"
    _notebook(a, "raise RuntimeError('broken chapter')")
    log.clear()
    assert execute([a, b], out, params="-p x 2", chapter="02", log=log.append) == [a]
    assert "broken chapter" in log[0] and log[-1] == f"chapters that failed: {a}"
    assert not (out / ".keys" / a.stem).exists()  # executed again next time
    assert main([str(a), "--out", str(out), "--jobs", "1"]) == 1


def test_parameters_go_to_the_chosen_chapter_only():
    assert chapter_params(Path("chapters/04_aevb.ipynb"), "-p n_z 10", "04") == "-p n_z 10"
    assert chapter_params(Path("chapters/05_ml.ipynb"), "-p n_z 10", "04") == ""
    assert chapter_params(Path("chapters/05_ml.ipynb"), "-p n_z 10", None) == "-p n_z 10"


def test_the_page_shows_no_injected_cell_and_folds_the_knobs(tmp_path):
    """papermill's injected cell is tagged off the page and the parameters cell folded as "Rerun knobs", headed by
    the make chapter line; a second pass (a reused chapter) changes nothing."""
    src, out = tmp_path / "chapters", tmp_path / "executed"
    src.mkdir()
    nb = _notebook(src / "07_c.ipynb", "print('c', x)")
    assert execute([nb], out, params="-p x 3", log=lambda _: None) == []
    executed = out / "chapters" / nb.name
    assert _outputs(executed) == "c 3\n"
    cells = json.loads(executed.read_text())["cells"]
    (injected,) = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    (knobs,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert "remove-cell" in injected["metadata"]["tags"] and "hide-input" not in injected["metadata"]["tags"]
    assert "hide-input" in knobs["metadata"]["tags"] and "remove-cell" not in knobs["metadata"]["tags"]
    assert knobs["metadata"]["mystnb"]["code_prompt_show"] == "Rerun knobs"
    source = "".join(knobs["source"])
    assert source.split("\n")[1] == '# make chapter CH=07 PARAMS="-p name value"'
    assert source.startswith("# Rerun with other values") and source.endswith("x = 1  # a parameter")
    assert max(len(line) for line in source.split("\n")) <= 88  # the code column: nothing scrolls sideways
    before = executed.stat().st_mtime_ns, executed.read_text()
    assert not for_the_page(executed)
    assert execute([nb], out, params="-p x 3", log=lambda _: None) == []  # reused: the file is left as it was
    assert (executed.stat().st_mtime_ns, executed.read_text()) == before
