"""The built book in a real browser: headless Debian Chromium driven by selenium, pages served on loopback.

For every chapter page: it renders (a title), its figures load (no broken images), its math is typeset by
MathJax (no MathJax errors), it has no error output, and every internal link (and #anchor) resolves. A
screenshot of each chapter is saved under ``_build/screenshots/``. Runs where ``make test`` points
``AEVB_BOOK_HTML`` at the built HTML; under CI that variable is required.
"""
import functools
import http.server
import os
import re
import tempfile
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest

HTML = os.environ.get("AEVB_BOOK_HTML")
CHAPTERS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
SHOTS = Path(os.environ.get("AEVB_SCREENSHOT_DIR", Path(__file__).resolve().parents[1] / "_build" / "screenshots"))
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1600"]

if not HTML:
    if os.environ.get("CI"):
        pytest.fail("CI run without AEVB_BOOK_HTML: the built book was not tested in a browser",
                    pytrace=False)
    pytest.skip("no built book: run `make test`", allow_module_level=True)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=HTML))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        for flag in CHROME_FLAGS + [f"--user-data-dir={profile}"]:
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"),
                                  options=opts)
        driver.set_script_timeout(60)
        yield driver
        driver.quit()


@functools.lru_cache(maxsize=None)
def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200, url
        return r.read().decode("utf-8", "replace")


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
    assert browser.execute_script("return document.querySelectorAll('mjx-container').length") > 0, "no math typeset"
    assert browser.execute_script("return document.querySelectorAll('mjx-merror').length") == 0, "MathJax errors"
    errors = browser.execute_script(
        "return Array.from(document.querySelectorAll('.output.traceback, .output.error, .output.stderr'))"
        ".map(e => e.innerText.slice(0, 200))")
    assert errors == [], f"error output on the page: {errors}"
    links = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    for link in {h for h in links if h.startswith(server)}:
        target, frag = urldefrag(link)
        page = _fetch(target)
        if frag:
            assert re.search(rf'id="{re.escape(frag)}"', page), f"{link}: no element with id {frag!r}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{chapter}.png"))
