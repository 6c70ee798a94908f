"""The built book in a real browser: headless Debian Chromium driven by selenium, pages served on loopback.

For every chapter page: it renders (a title), its figures load (no broken images) and are shown at their
natural size (not shrunk to fit the column), its math is typeset by MathJax (no MathJax errors), it has no
error output, and every internal link (and #anchor) resolves. For every chapter page and the front page, nothing
is cut off at a laptop's width (1280 px) and a phone's (390 px), in light and dark mode: the page does not scroll
sideways, every display equation, table, code block and printed output fits its column (on a phone it may scroll
in its own box), and in dark mode too the text of tables and links is legible (``CUT_OFF``). Screenshots of each
page are saved under ``_build/screenshots/``: the top of the page in each setting (``PAGE-WIDTH-THEME.png``) and
each chapter's whole page at 1280 px (``PAGE-full.png``, up to ``FULL_PAGE_CAP`` px). Runs where ``make test``
points ``AEVB_BOOK_HTML`` at the built HTML; under CI that variable is required.

Chapter 10's latent-space explorers (issue 27): ``window.aevbExplorer.decode`` against the Python decoder on the same
stored weights and against the trained float32 decoder's committed images; pointer and arrow keys move the image;
no request leaves the local server; the time of one decode (``_build/screenshots/explorer-decode-ms.txt``); the
explorers fit the page at 1280 px and 390 px, light and dark (screenshots ``explorer-NAME-WIDTH-THEME.png``); the
page works opened as a file.
"""
import functools
import os
import re
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import numpy as np
import pytest

# the book's PDF printer drives the same browser
from aevb.book.pdf import CHROMEDRIVER, CHROMIUM, WAIT_FOR_MATHJAX, chromium, serve
from aevb.experiments.decoders import STORED_ERROR, decode_stored
from aevb.experiments.grids import grid_points
from aevb.experiments.images import load_images
from aevb.experiments.store import RESULTS_DIR, run_decoder

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
    height = min(browser.execute_script("return document.documentElement.scrollHeight"), FULL_PAGE_CAP)
    size = browser.get_window_size()
    try:  # the whole page, every figure and table in it, at the same width
        browser.set_window_size(size["width"], height)
        browser.save_screenshot(str(SHOTS / f"{chapter}-full.png"))
    finally:
        browser.set_window_size(size["width"], size["height"])
    _nothing_cut_off(browser, chapter)  # and the top of the page, as a reader first sees it, in each setting


# The contrast (WCAG 2) between an element's text colour and the first background behind it that is at least
# half opaque: CONTRAST_OF defines it as a function (contrastOf) for scripts that measure many elements at once
CONTRAST_OF = """
const lum = c => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(x => x / 255)
  .map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
const contrastOf = el => {
  let bg = 'rgb(255, 255, 255)';
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor, v = (c.match(/[\\d.]+/g) || []);
    if (v.length === 3 || (v.length === 4 && +v[3] >= 0.5)) { bg = c; break; } }  // fainter tints: see through
  const a = lum(getComputedStyle(el).color), b = lum(bg);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
"""
CONTRAST = CONTRAST_OF + "return contrastOf(arguments[0]);"
MIN_CONTRAST = 4.5  # WCAG 2 AA for body text


# ---- nothing cut off, at a laptop's and a phone's width, light and dark (issue 26) ------------------------------

# (width, theme): each page is loaded once, at 1280 px in light mode, and then shown in each other setting by
# resizing the window and switching the theme's mode (CSS alone lays the page out again; MathJax's output does not
# depend on the width)
LAYOUTS = [(1280, "light"), (1280, "dark"), (390, "light"), (390, "dark")]
WINDOW_HEIGHT = {1280: 1600, 390: 844}  # 1280 x 1600: the browser's own size (aevb.book.pdf.CHROME_FLAGS)

# What is cut off, as a list of sentences (empty: nothing). Every folded section (<details>) is opened first, so
# that what a reader unfolds is checked too. Checked:
# - the page: no wider than the viewport (it would scroll sideways), naming what widens it;
# - every display equation, table, preformatted block (code, printed output) and image in the article: its content
#   lies inside its column (the article's text column; the page's width for a cell tagged full-width) and inside
#   every box around it that clips. On a phone (arguments[1] false) a box around it that scrolls sideways
#   (overflow-x auto or scroll: the theme's output areas, code blocks and display math) may hold it instead, if it
#   holds it from its left edge on and itself fits: content left of a scrolling box's edge (a display equation
#   centred in a box narrower than itself) cannot be scrolled to. On a laptop (arguments[1] true) it must fit its
#   column: only a box the book marks as scrolling on purpose (class aevb-scroll) may scroll it;
# - in the article, the text of every table cell and link: contrast at least arguments[0] against what lies behind
#   it (contrastOf, CONTRAST_OF).
CUT_OFF = CONTRAST_OF + r"""
const [minContrast, laptop] = arguments, problems = [], root = document.documentElement, vw = root.clientWidth;
const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const folded = Array.from(document.querySelectorAll('details:not([open])'));
folded.forEach(d => { d.open = true; });
const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const name = el => {
  if (el.matches('mjx-container')) {
    const item = window.MathJax && MathJax.startup.document.getMathItemsWithin(el)[0];
    return 'equation ' + (item ? item.math.replace(/\s+/g, ' ').trim() : el.textContent).slice(0, 70);
  }
  const where = el.closest('section[id]'), text = el.innerText.replace(/\s+/g, ' ').trim();
  return `${el.tagName.toLowerCase()} "${text.slice(0, 50)}"` + (where ? ` (section #${where.id})` : '');
};
const clipped = el => {  // a box around el (in the article) that clips or scrolls
  for (let n = el.parentElement; n && n !== article; n = n.parentElement)
    if (getComputedStyle(n).overflowX !== 'visible') return true;
  return false;
};
if (root.scrollWidth > vw + 1) {  // what sticks out of the window (itself or its text), in no box that clips
  const reach = e => { const r = e.getBoundingClientRect();  // its text's reach too, unless it scrolls or clips
    return getComputedStyle(e).overflowX === 'visible' ? Math.max(r.right, r.left + e.scrollWidth) : r.right; };
  const out = Array.from(article.querySelectorAll('*')).filter(e => reach(e) > vw + 1 && !clipped(e));
  const wide = out.filter(e => !out.some(c => c !== e && e.contains(c)));  // the innermost
  problems.push(`the page is ${root.scrollWidth} px wide in a ${vw} px window (it scrolls sideways)` +
                (wide.length ? `, widened by ${wide.slice(0, 3).map(name).join('; ')}` : ''));
}
const column = article.getBoundingClientRect();
const targets = article.querySelectorAll('mjx-container[display="true"], table, pre, img');
for (const el of targets) {
  if (!shown(el) || el.parentElement.closest('mjx-container, table, pre')) continue;  // the outermost only
  const r = el.getBoundingClientRect();
  let box = {left: r.left, right: r.left + Math.max(r.width, el.scrollWidth)};  // pre: its lines' width
  if (el.matches('mjx-container')) {  // what MathJax drew, wherever it lies
    for (const part of el.querySelectorAll('mjx-math, mjx-mtable, mjx-labels, mjx-mtd')) {
      const p = part.getBoundingClientRect();
      if (p.width > 0) box = {left: Math.min(box.left, p.left), right: Math.max(box.right, p.right)};
    }
  }
  let cut = null;
  for (let n = el; n && n !== article && !cut; n = n.parentElement) {
    const style = getComputedStyle(n);
    if (style.overflowX === 'visible') continue;
    const b = n.getBoundingClientRect();
    if (box.left < b.left - 1) cut = `its left ${Math.round(b.left - box.left)} px cut off`;
    else if (box.right > b.right + 1) {
      if (!['auto', 'scroll'].includes(style.overflowX))
        cut = `its right ${Math.round(box.right - b.right)} px cut off`;
      else if (laptop && !n.closest('.aevb-scroll'))
        cut = `${Math.round(box.right - b.right)} px wider than its box, which scrolls sideways`;
      else box = {left: b.left, right: b.right};  // it scrolls in its own box: that box must fit
    }
  }
  if (!cut) {
    const full = el.closest('.tag_full-width, .full-width');
    const [left, right] = full ? [0, vw] : [column.left, column.right];
    if (box.left < left - 1) cut = `its left ${Math.round(left - box.left)} px outside the column`;
    else if (box.right > right + 1) cut = `${Math.round(box.right - right)} px wider than the column ` +
      `(${Math.round(right - left)} px) on the right`;
  }
  if (cut) problems.push(`${name(el)}: ${cut}`);
}
const texts = new Set();
for (const holder of article.querySelectorAll('table, a[href]:not(.headerlink)')) {
  for (const el of [holder, ...holder.querySelectorAll('*')]) {
    if (shown(el) && !el.closest('mjx-container') &&
        Array.from(el.childNodes).some(t => t.nodeType === 3 && t.textContent.trim())) texts.add(el);
  }
}
const faint = Array.from(texts).map(el => [el, contrastOf(el)]).filter(([el, c]) => c < minContrast);
for (const [el, c] of faint.slice(0, 5)) problems.push(`${name(el)}: contrast ${c.toFixed(1)}`);
if (faint.length > 5) problems.push(`and ${faint.length - 5} more texts of low contrast`);
folded.forEach(d => { d.open = false; });
return problems;
"""


def _cut_off(browser, page: str) -> list[str]:
    """``page`` (loaded, at 1280 px in light mode) in each of ``LAYOUTS``: what is cut off there (``CUT_OFF``), each
    problem prefixed with the setting; a screenshot of the top of the page in each setting (``PAGE-WIDTH-THEME.png``).
    Leaves the window at 1280 x 1600 in light mode."""
    problems = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for width, theme in LAYOUTS:
            browser.set_window_size(width, WINDOW_HEIGHT[width])
            browser.execute_script("document.documentElement.dataset.theme = arguments[0];"
                                   "document.documentElement.dataset.mode = arguments[0]; window.scrollTo(0, 0);",
                                   theme)
            browser.save_screenshot(str(SHOTS / f"{page}-{width}-{theme}.png"))
            found = browser.execute_script(CUT_OFF, MIN_CONTRAST, width >= 1000)  # 1280 px: a laptop
            problems += [f"{width} px, {theme}: {p}" for p in found]
    finally:
        browser.set_window_size(1280, WINDOW_HEIGHT[1280])
        browser.execute_script("document.documentElement.dataset.theme = 'light';"
                               "document.documentElement.dataset.mode = 'light';")
    return problems


# Pages where something is still cut off, with what and whose fix it waits for: the test expects the problem
# there (and fails once it is gone, so that the page leaves this list) and reports the page as an expected failure
LAYOUT_PENDING: dict[str, str] = {}


def _nothing_cut_off(browser, page: str) -> None:
    """Fails if anything on ``page`` is cut off or illegible in any of ``LAYOUTS`` (see ``LAYOUT_PENDING``)."""
    problems = _cut_off(browser, page)
    if page in LAYOUT_PENDING:
        assert problems, f"{page}: nothing is cut off now: take it out of LAYOUT_PENDING"
        pytest.xfail(f"{page} (LAYOUT_PENDING: {LAYOUT_PENDING[page]}): " + "; ".join(problems[:3]))
    assert problems == [], f"{page}: cut off or illegible (CUT_OFF):\n" + "\n".join(problems)


def test_front_page_fits(server, browser):
    """The front page (intro): nothing cut off, and legible, at a laptop's and a phone's width, light and dark."""
    browser.set_window_size(1280, WINDOW_HEIGHT[1280])
    browser.get(urljoin(server, "intro.html"))
    assert browser.execute_async_script(WAIT_FOR_MATHJAX) == "ok"
    _nothing_cut_off(browser, "intro")


# ---- chapter 10's latent-space explorer (issue 27) -------------------------------------------------------------

EXPLORER_PAGE = "chapters/10_fig4_manifolds.html"
EXPLORERS = {"mnist": "mnist-aevb-z2-h500-nall-s0", "frey": "frey-aevb-z2-h200-nall-s0"}  # name -> stored run
FRAME_MS = 1000 / 60  # one decode must take far less than a frame at 60 Hz
IMAGE_PIXELS = "return arguments[0].querySelector('canvas.aevb-x-image').toDataURL()"


def _stored_decoder(name):
    return run_decoder(RESULTS_DIR / "runs" / EXPLORERS[name])


@pytest.fixture
def explorer_page(server, browser):
    browser.set_window_size(1280, 1600)
    browser.get(urljoin(server, EXPLORER_PAGE))
    assert browser.execute_async_script(WAIT_FOR_MATHJAX) == "ok"
    return browser


def _roots(browser):
    from selenium.webdriver.common.by import By

    return {r.get_attribute("data-aevb-explorer"): r for r in browser.find_elements(By.CSS_SELECTOR,
                                                                                    "[data-aevb-explorer]")}


def test_explorer_decodes_as_the_python_decoder_on_the_stored_weights(explorer_page):
    """``window.aevbExplorer.decode`` against ``aevb.experiments.decoders.decode_stored`` (float64, the same stored
    weights) at random z over the whole plane, and against the trained float32 decoder (its committed Fig. 4
    images, drawn at the grid's points and rounded to grey levels) within the stored precision's stated error."""
    roots = _roots(explorer_page)
    assert set(roots) == set(EXPLORERS) and all("aevb-explorer-live" in r.get_attribute("class")
                                                 for r in roots.values())
    decode = "return arguments[1].map(z => window.aevbExplorer.decode(arguments[0], z))"
    for name, run in EXPLORERS.items():
        arrays = _stored_decoder(name)
        z = np.random.default_rng(len(name)).uniform(-4, 4, (200, 2))
        got = np.array(explorer_page.execute_script(decode, name, z.tolist()))  # (200, D)
        assert got.shape == (200, {"mnist": 784, "frey": 560}[name]) and 0 <= got.min() and got.max() <= 1
        assert np.abs(got - decode_stored(arrays, z)).max() <= 1e-5
        grid = grid_points().numpy().astype(float)
        at_grid = np.array(explorer_page.execute_script(decode, name, grid.tolist()))  # (400, D)
        manifold = load_images(RESULTS_DIR / "runs" / run)["manifold"]  # the float32 decoder, rounded to 1/255
        assert np.abs(at_grid - manifold).max() <= STORED_ERROR + 0.5 / 255 + 1e-6


def test_explorer_pointer_and_keys_move_the_image_and_nothing_leaves_the_server(explorer_page, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for name, root in _roots(explorer_page).items():
        plane = root.find_element(By.CSS_SELECTOR, "canvas.aevb-x-plane")
        readout = root.find_element(By.CSS_SELECTOR, ".aevb-x-z")
        explorer_page.execute_script("arguments[0].scrollIntoView({block: 'center'})", root)
        before, z_before = explorer_page.execute_script(IMAGE_PIXELS, root), readout.text
        ActionChains(explorer_page).move_to_element_with_offset(plane, 40, -50).perform()
        moved = explorer_page.execute_script(IMAGE_PIXELS, root)
        assert readout.text != z_before and moved != before, f"{name}: the pointer did not move z and the image"
        plane.click()  # focus (and a pointer-down there)
        clicked, z_clicked = explorer_page.execute_script(IMAGE_PIXELS, root), readout.text
        plane.send_keys(Keys.SHIFT + Keys.ARROW_LEFT)
        assert readout.text != z_clicked, f"{name}: an arrow key did not move z"
        assert explorer_page.execute_script(IMAGE_PIXELS, root) != clicked, f"{name}: an arrow key left the image"
        strip = "return arguments[0].querySelector('canvas.aevb-x-strip').toDataURL()"
        old_strip = explorer_page.execute_script(strip, root)
        root.find_element(By.XPATH, ".//button[contains(., 'A = z')]").click()
        assert explorer_page.execute_script(strip, root) != old_strip, f"{name}: A = z did not redraw the strip"
    urls = explorer_page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat("
        "Array.from(document.querySelectorAll('script[src], link[href], img[src], iframe[src]'))"
        ".map(e => e.src || e.href))")
    outside = sorted({u for u in urls if not u.startswith((server, "data:", "blob:", "about:"))})
    assert outside == [], f"requests that leave the local server: {outside}"


def test_explorer_decode_time(explorer_page):
    """The time of one decode of the larger model (MNIST's 2-500-784) in headless Chromium, reported (written
    beside the screenshots) and far under a frame."""
    ms = explorer_page.execute_script(
        "const d = window.aevbExplorer.decode; d('mnist', [0, 0]);"
        "const t = performance.now(); for (let i = 0; i < 500; i++) d('mnist', [Math.sin(i), Math.cos(i)]);"
        "return (performance.now() - t) / 500;")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "explorer-decode-ms.txt").write_text(f"{ms:.3f} ms per decode of the MNIST decoder (2-500-784)\n")
    print(f"explorer: {ms:.3f} ms per decode of the MNIST decoder in headless Chromium")
    assert ms < FRAME_MS / 2


@pytest.mark.parametrize("width,theme", [(1280, "light"), (1280, "dark"), (390, "light"), (390, "dark")])
def test_explorer_fits_the_page_in_both_themes(explorer_page, width, theme):
    """At desktop and phone width, light and dark mode: every explorer's parts lie inside the viewport (nothing
    cut off), its text and buttons are legible on what lies behind them (the theme shows a cell's HTML output on a
    light card in dark mode; the plane's ink is the explorer's own text colour); a screenshot of each explorer is
    saved."""
    from selenium.webdriver.common.by import By

    explorer_page.set_window_size(width, 1000)
    explorer_page.execute_script("document.documentElement.dataset.theme = arguments[0];"
                                 "document.documentElement.dataset.mode = arguments[0];", theme)
    viewport = explorer_page.execute_script("return document.documentElement.clientWidth")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, root in _roots(explorer_page).items():
        explorer_page.execute_script("arguments[0].scrollIntoView({block: 'start'})", root)
        for part in root.find_elements(By.CSS_SELECTOR, "canvas, button, .aevb-x-legend, .aevb-x-z"):
            box = explorer_page.execute_script("const r = arguments[0].getBoundingClientRect();"
                                               "return [r.left, r.right, r.width];", part)
            assert box[2] > 0 and box[0] >= 0 and box[1] <= viewport + 0.5, (
                f"{name} at {width} px ({theme}): {part.get_attribute('class') or part.text} spans {box[:2]}, "
                f"the viewport 0-{viewport}")
        for part in [root, *root.find_elements(By.CSS_SELECTOR, "button, .aevb-x-z, .aevb-x-strip-note")]:
            contrast = explorer_page.execute_script(CONTRAST, part)
            assert contrast >= MIN_CONTRAST, f"{name} ({theme}): {part.text[:30]!r} has contrast {contrast:.1f}"
        root.screenshot(str(SHOTS / f"explorer-{name}-{width}-{theme}.png"))


def test_explorer_works_from_the_built_files(browser):
    """Opened as a file (file://, no server), as a reader who downloaded the built book would: both explorers
    start and decode."""
    browser.set_window_size(1280, 1600)
    browser.get((Path(HTML) / EXPLORER_PAGE).resolve().as_uri())
    roots = _roots(browser)
    assert set(roots) == set(EXPLORERS) and all("aevb-explorer-live" in r.get_attribute("class")
                                                 for r in roots.values())
    image = browser.execute_script("return window.aevbExplorer.decode('frey', [0.5, -0.5])")
    assert len(image) == 560 and 0 < min(image) and max(image) < 1
