"""The book's PDF printer (aevb.book.pdf) on tiny pages: a PDF is written, is a PDF, and has its pages.

Needs the Debian Chromium and chromedriver of the browser test (``make browser-deps``): skipped without them,
failed without them under CI.
"""
import os
import re
from pathlib import Path

import pytest

from aevb.book import pdf

if not (Path(pdf.CHROMIUM).exists() and Path(pdf.CHROMEDRIVER).exists()):
    if os.environ.get("CI"):
        pytest.fail(f"CI run without {pdf.CHROMIUM} and {pdf.CHROMEDRIVER}: the PDF printer was not tested",
                    pytrace=False)
    pytest.skip("no Chromium: run `make browser-deps`", allow_module_level=True)

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tiny</title></head>
<body><main><h1>A tiny book</h1>{body}
<p><img alt="a square" width="120" height="120" src="data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg'
  width='120' height='120'><rect width='120' height='120' fill='steelblue'/></svg>"></p>
<pre>{code}</pre></main></body></html>
"""


def pages(data: bytes) -> int:
    """The number of pages of a PDF that Chromium wrote (no object streams: every page object is in the clear)."""
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


def test_a_tiny_page_prints_to_a_pdf(tmp_path):
    html = tmp_path / "book.html"
    html.write_text(PAGE.format(body="<p>The bound L(θ, φ; x) is below log p(x).</p>", code="x = 1"))
    out = pdf.print_pdf(html, tmp_path / "out" / "book.pdf", timeout=60)
    assert out == tmp_path / "out" / "book.pdf"
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert pages(data) == 1


def test_a_long_page_is_split_into_a4_pages_from_the_command_line(tmp_path, capsys):
    html = tmp_path / "long book.html"  # a name that must be quoted in the URL
    body = "\n".join(f"<p>Paragraph {i}: the estimator is unbiased.</p>" for i in range(300))
    html.write_text(PAGE.format(body=body, code="y = " + "1 + " * 100 + "1  # a line wider than the page"))
    assert pdf.main([str(html), str(tmp_path / "long.pdf"), "--timeout", "60"]) == 0
    data = (tmp_path / "long.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and pages(data) > 1
    assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.\d* 841\.\d*\s*\]", data), "not A4 (595 x 842 pt)"
    assert "long.pdf" in capsys.readouterr().out


def test_a_figure_that_does_not_load_fails_the_print(tmp_path):
    html = tmp_path / "book.html"
    html.write_text(PAGE.format(body='<p><img alt="Fig. 2" src="_images/missing.svg"></p>', code=""))
    with pytest.raises(RuntimeError, match="missing.svg"):
        pdf.print_pdf(html, tmp_path / "book.pdf", timeout=60)
    assert not (tmp_path / "book.pdf").exists()


def test_a_missing_page_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        pdf.print_pdf(tmp_path / "nothing.html", tmp_path / "nothing.pdf")
