"""The built book in a real browser: headless Debian Chromium driven by selenium, pages served on loopback.

For every chapter page: it renders (a title), its figures load (no broken images) and are shown at their
natural size (not shrunk to fit the column), its math is typeset by MathJax (no MathJax errors), it has no
error output, and every internal link (and #anchor) resolves. Two screenshots of each chapter are saved under
``_build/screenshots/``: the top of the page, and the whole page (``NAME-full.png``, up to ``FULL_PAGE_CAP`` px). Runs where ``make test`` points ``AEVB_BOOK_HTML`` at the built HTML; under CI that
variable is required.
"""
import functools
import os
import re
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest

from aevb.book.pdf import CHROMEDRIVER, CHROMIUM, WAIT_FOR_MATHJAX, chromium, serve  # the book's PDF printer drives the same browser

FULL_PAGE_CAP = 30_000  # px: the tallest full-page screenshot (Chromium's limit is far above)
HTML = os.environ.get("AEVB_BOOK_HTML")
CHAPTERS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
SHOTS = Path(os.environ.get("AEVB_SCREENSHOT_DIR", Path(__file__).resolve().parents[1] / "_build" / "screenshots"))

if not HTML:
    if os.environ.get("CI"):
        pytest.fail("CI run without AEVB_BOOK_HTML: the built book was not tested in a browser",
                    pytrace=False)
    pytest.skip("no built book: run `make test`", allow_module_level=True)
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) and not os.environ.get("CI"):
    pytest.skip(f"no headless Chromium here ({CHROMIUM}, {CHROMEDRIVER}: Debian's chromium and chromium-driver, "
                f"which `make browser-deps` installs with apt-get as root): the browser test is skipped on this "
                f"platform", allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    with serve(Path(HTML)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium(script_timeout=60) as driver:
        yield driver


@functools.lru_cache(maxsize=None)
def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200, url
        return r.read().decode("utf-8", "replace")


# Every figure in a cell's output, as laid out: its natural width in CSS px (a PNG's pixels; an SVG's width
# attribute, pt * 4/3), its rendered width, and the width of the column it sits in (its cell). Images not laid
# out at all (in a collapsed output) are left out: they are not shown, so not shrunk.
OUTPUT_IMAGES = """
return Array.from(document.querySelectorAll('.cell_output img')).filter(i => i.getClientRects().length > 0)
  .map(i => ({src: i.getAttribute('src'), alt: i.alt, natural: i.naturalWidth,
              rendered: i.getBoundingClientRect().width,
              column: (i.closest('.cell') || i.parentElement).getBoundingClientRect().width}));
"""
SHRUNK = 0.9  # a figure shown narrower than this fraction of its natural width counts as shrunk


def _shrunk(image: dict) -> str:
    alt = "" if image["alt"] in ("", image["src"]) else f" (alt {image['alt']!r})"  # myst-nb's alt is the src
    return (f"{image['src']}{alt}: natural {image['natural']} px, rendered {image['rendered']:.0f} px, "
            f"column {image['column']:.0f} px")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_in_chromium(chapter, server, browser):
    url = urljoin(server, f"chapters/{chapter}.html")
    browser.get(url)
    assert browser.execute_async_script(WAIT_FOR_MATHJAX) == "ok"
    from selenium.webdriver.common.by import By

    assert browser.find_elements(By.CSS_SELECTOR, "main h1"), "no title: the page did not render"
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert broken == [], f"broken images: {broken}"
    assert browser.execute_script("return document.images.length") > 0, "no figures on a chapter page"
    shrunk = [_shrunk(i) for i in browser.execute_script(OUTPUT_IMAGES) if i["rendered"] < SHRUNK * i["natural"]]
    assert shrunk == [], ("figures shrunk to fit the column (draw them at most aevb.plots.PAGE_WIDTH inches "
                          "wide, or FULL_WIDTH in a cell tagged full-width):\n" + "\n".join(shrunk))
    assert browser.execute_script("return document.querySelectorAll('mjx-container').length") > 0, "no math typeset"
    assert browser.execute_script("return document.querySelectorAll('mjx-merror').length") == 0, "MathJax errors"
    errors = browser.execute_script(
        "return Array.from(document.querySelectorAll('.output.traceback, .output.error, .output.stderr'))"
        ".map(e => e.innerText.slice(0, 200))")
    assert errors == [], f"error output on the page: {errors}"
    wide = browser.execute_script(  # the longest line of each code cell that scrolls sideways in the column
        "return Array.from(document.querySelectorAll('.cell_input pre')).filter(p => p.scrollWidth > p.clientWidth + 1)"
        ".map(p => p.innerText.split('\\n').reduce((a, b) => a.length >= b.length ? a : b).slice(0, 120))")
    assert wide == [], f"code that scrolls sideways at this window's width (longest line of each cell): {wide}"
    links = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    for link in {h for h in links if h.startswith(server)}:
        target, frag = urldefrag(link)
        page = _fetch(target)
        if frag:
            assert re.search(rf'id="{re.escape(frag)}"', page), f"{link}: no element with id {frag!r}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{chapter}.png"))  # the top of the page, as a reader first sees it
    height = min(browser.execute_script("return document.documentElement.scrollHeight"), FULL_PAGE_CAP)
    size = browser.get_window_size()
    try:  # the whole page, every figure and table in it, at the same width
        browser.set_window_size(size["width"], height)
        browser.save_screenshot(str(SHOTS / f"{chapter}-full.png"))
    finally:
        browser.set_window_size(size["width"], size["height"])
