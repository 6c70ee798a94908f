"""The whole book as one PDF, for reading groups, built offline: ``make pdf``.

The book's single-page HTML build (``jupyter-book build --builder singlehtml``, every chapter on one page) is
printed by headless Chromium, the same Debian Chromium and chromedriver that the browser test drives
(tests/test_browser.py). The page is served on a loopback HTTP server (MathJax and its fonts are loaded from
the book's own copy, which ``file://`` pages may be refused), MathJax is waited for until it has typeset every
equation and the fonts have loaded, and the page is then printed with the DevTools command
``Page.printToPDF``: A4, backgrounds printed, page numbers in the footer, the headings as the PDF's outline.
The theme's print CSS already leaves out what only makes sense on screen (its header, both sidebars, the
article's buttons, the previous/next links); ``PRINT_CSS`` adds wrapped code lines and a new page for every
chapter.

    python -m aevb.book.pdf _build/singlehtml/intro.html _build/aevb-companion.pdf
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1600"]

# Resolves (to 'ok') once MathJax has loaded and typeset the page; run with selenium's execute_async_script
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('ok'), e => done('error: ' + e));
  } else if (Date.now() - start > 30000) { done('MathJax did not load'); }
  else { setTimeout(poll, 100); }
})();
"""

# Resolves once every image has loaded (or failed) and every web font in use (MathJax's) has loaded
WAIT_FOR_IMAGES_AND_FONTS = """
const done = arguments[arguments.length - 1];
Promise.all(Array.from(document.images).filter(i => !i.complete)
              .map(i => new Promise(r => { i.onload = i.onerror = r; })))
  .then(() => document.fonts.ready).then(() => done('ok'), e => done('error: ' + e));
"""

# Added to the theme's own print CSS, which already leaves out the header, both sidebars, the article's buttons
# and the previous/next links (its d-print-none): code and text outputs wrap instead of scrolling (a scrolled
# line would be cut off on paper; a scrolling box is not split across pages either, so it would leave a page
# mostly blank), long tables may break between rows (the theme keeps a table whole), every chapter (a section
# of the single page's top section, the introduction, or of its table of contents) starts on a new page, and
# neither a figure nor a heading's link with what follows is split.
PRINT_CSS = """
@media print {
  pre, .highlight pre, .cell_output pre { white-space: pre-wrap !important; overflow-wrap: anywhere;
    overflow: visible !important; max-height: none !important; }
  .cell_output .output { overflow: visible !important; }
  table { break-inside: auto !important; }
  tr, .cell_output img, figure { break-inside: avoid; }
  .bd-article > section > section, .bd-article > section > .toctree-wrapper > section { break-before: page; }
  h1, h2, h3, h4 { break-after: avoid; }
}
"""

A4 = {"paperWidth": 8.27, "paperHeight": 11.69}  # inches
FOOTER = ('<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a loopback HTTP server (an unused port) for the duration; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def chromium(script_timeout: float = 60.0):
    """Headless Chromium driven by chromedriver (selenium), with a throw-away profile; yields the driver."""
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory() as profile:
        for flag in CHROME_FLAGS + [f"--user-data-dir={profile}"]:
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
        try:
            driver.set_script_timeout(script_timeout)
            yield driver
        finally:
            driver.quit()


def print_pdf(html_file: Path, pdf: Path, timeout: float = 300.0) -> Path:
    """Print ``html_file`` (served with the folder it is in) to ``pdf`` with headless Chromium; returns ``pdf``.

    Waits for MathJax, when the page loads it, to finish typesetting (a MathJax error fails the print) and
    for the images and fonts to load, at most ``timeout`` seconds for each wait; an image that does not load
    fails the print too.
    """
    html_file, pdf = Path(html_file).resolve(), Path(pdf)
    if not html_file.is_file():
        raise FileNotFoundError(html_file)
    with serve(html_file.parent) as url, chromium(script_timeout=timeout) as driver:
        driver.set_page_load_timeout(timeout)
        driver.get(url + quote(html_file.name))
        if driver.execute_script("return !!document.querySelector('script[src*=\"mathjax\"]')"):
            state = driver.execute_async_script(WAIT_FOR_MATHJAX)
            if state != "ok":
                raise RuntimeError(f"{html_file}: {state}")
            errors = driver.execute_script("return document.querySelectorAll('mjx-merror').length")
            if errors:
                raise RuntimeError(f"{html_file}: {errors} MathJax errors (untypeset TeX)")
        driver.execute_script("const s = document.createElement('style'); s.textContent = arguments[0];"
                              "document.head.appendChild(s);", PRINT_CSS)
        driver.execute_async_script(WAIT_FOR_IMAGES_AND_FONTS)
        broken = driver.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        if broken:
            raise RuntimeError(f"{html_file}: images that did not load: {broken}")
        out = driver.execute_cdp_cmd("Page.printToPDF", {
            **A4, "marginTop": 0.5, "marginBottom": 0.6, "marginLeft": 0.45, "marginRight": 0.45,
            "printBackground": True, "preferCSSPageSize": False, "displayHeaderFooter": True,
            "headerTemplate": "<span></span>", "footerTemplate": FOOTER, "generateDocumentOutline": True})
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(base64.b64decode(out["data"]))
    return pdf


def main(argv: list[str] | None = None) -> int:
    """``python -m aevb.book.pdf HTML PDF [--timeout S]``: print one HTML page (the single-page book) to PDF."""
    parser = argparse.ArgumentParser(prog="python -m aevb.book.pdf", description=main.__doc__)
    parser.add_argument("html", type=Path, help="the page to print, e.g. _build/singlehtml/intro.html")
    parser.add_argument("pdf", type=Path, help="the PDF to write")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for MathJax (default 300)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = print_pdf(args.html, args.pdf, timeout=args.timeout)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
