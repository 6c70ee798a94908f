"""Every chapter's hosted set-up cell: ``python binder/hosted_cell.py chapters/NN_*.ipynb ...`` makes ``CELL``
each notebook's first code cell (inserted before it, or brought up to date), tagged ``remove-cell`` (not on the
book's pages), keeping the file's formatting (nbformat's 1-space indent). The cell runs ``binder/hosted.py`` in a
hosted kernel (Colab, Binder) and does nothing elsewhere; on Colab, where no checkout is around the notebook, it
first asks Colab's own Jupyter server which GitHub address the notebook was opened from.
"""
import json
import sys
from pathlib import Path

NAME = "hosted-setup"  # the cell's id in every chapter
CELL = '''\
# Colab or Binder only (not on the book's pages): install the aevb package at this
# book's revision with binder/hosted.py, from the checkout around this notebook or, on
# Colab, from the GitHub repository and revision it was opened from. Elsewhere: nothing.
import json, os, re, sys, urllib.request as web  # noqa: E401

if "google.colab" in sys.modules or any(k.startswith("BINDER_") for k in os.environ):
    _setup = "../binder/hosted.py"
    if not os.path.exists(_setup):  # Colab: the notebook's GitHub address, from Colab
        _sessions = web.urlopen("http://172.28.0.12:9000/api/sessions")
        _opened = web.unquote(json.load(_sessions)[0]["path"])
        _repo, _rev = re.search(r"github\\.com/(.+?/.+?)/blob/(.+?)/", _opened).groups()
        os.environ.update(AEVB_REPOSITORY=_repo, AEVB_REVISION=_rev)
        _raw = f"https://raw.githubusercontent.com/{_repo}/{_rev}/binder/hosted.py"
        _setup = web.urlretrieve(_raw)[0]
    exec(open(_setup).read(), {"__name__": "hosted"})'''


def insert(notebook: Path) -> bool:
    """Make CELL ``notebook``'s first code cell; returns whether the file changed."""
    text = notebook.read_text()
    nb = json.loads(text)
    cell = {"cell_type": "code", "execution_count": None, "id": NAME, "metadata": {"tags": ["remove-cell"]},
            "outputs": [], "source": CELL.splitlines(keepends=True)}
    cells = [c for c in nb["cells"] if c.get("id") != NAME]
    first = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    nb["cells"] = cells[:first] + [cell] + cells[first:]
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        notebook.write_text(new)
    return new != text


if __name__ == "__main__":
    if len(sys.argv) < 2 or not all(p.endswith(".ipynb") and Path(p).is_file() for p in sys.argv[1:]):
        sys.exit("usage: python binder/hosted_cell.py chapters/NN_NAME.ipynb ... (existing notebooks)")
    for p in sys.argv[1:]:
        print(f"{p}: {'set-up cell written' if insert(Path(p)) else 'already up to date'}")
