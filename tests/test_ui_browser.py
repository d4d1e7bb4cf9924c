"""The served app in headless Chromium: a text search shows result cards with players, and
the server refuses files outside the indexed folders.

Needs /usr/bin/chromium (`.ci/install-browser.sh`) and the `playwright` package (test extra);
skipped with a reason otherwise. Playwright drives the system Chromium: no browser download.
"""
from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (test extra)")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:::gradio.queueing"),   # gradio's own pandas use
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is missing: run .ci/install-browser.sh"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def served(tiny_model, tiny_audio, tmp_path):
    from retrieval.search import Searcher
    from test_ui import index_tiny
    from ui.app import indexed_audio_roots, serve

    folder, records = tiny_audio
    store = index_tiny(tiny_model, folder, tmp_path / "index")
    searcher = Searcher(tiny_model, store)
    roots = indexed_audio_roots(store)
    port = _free_port()
    app = serve(searcher, port=port, audio_roots=roots, block=False)
    try:
        yield f"http://127.0.0.1:{port}/", folder, records
    finally:
        app.close()
        store.close()


@pytest.fixture()
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_search_in_the_browser(served, browser, tmp_path):
    started = time.monotonic()
    url, folder, records = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(url)
    page.wait_for_selector("#ms-query textarea, #ms-query input")
    assert "8 tracks indexed" in page.inner_text("#ms-header")

    query = page.locator("#ms-query textarea, #ms-query input").first
    query.fill("fast happy violin")
    page.click("#ms-search")
    page.wait_for_selector(".ms-card .ms-title")
    titles = page.locator(".ms-card .ms-title").all_inner_texts()
    assert len(titles) == len(records)          # default k=10 > 8 indexed tracks
    assert set(titles) <= {r.title for r in records}
    assert "fast happy violin" in page.inner_text("#ms-status")
    players = page.locator("audio.ms-player")
    assert players.count() == len(records)

    # the players' files are served (inline, with ranges), from the indexed folder
    src = players.first.get_attribute("src")
    response = page.request.get(url + src)
    assert response.status == 200 and response.headers["content-type"].startswith("audio/")
    assert len(response.body()) > 1000
    audio_ok = page.evaluate("""async () => {
        const a = document.querySelector('audio.ms-player'); a.preload = 'auto'; a.load();
        for (let i = 0; i < 100 && a.readyState < 1 && !a.error; i++)
            await new Promise(r => setTimeout(r, 50));
        return a.readyState >= 1 && a.duration > 5; }""")
    assert audio_ok

    # files outside the indexed folders are refused
    outside = tmp_path / "secret.wav"
    shutil.copy(folder / records[0].path, outside)
    for path in ["/etc/passwd", str(outside), str(folder / "catalog.jsonl")]:
        assert page.request.get(url + "gradio_api/file=" + path).status != 200, path

    # Enter submits; an unknown-only query shows a friendly message, not a trace
    query.fill("qzxv blorptang")
    query.press("Enter")
    page.wait_for_function(
        "document.querySelector('#ms-status').innerText.includes('qzxv')")
    assert "no known words" in page.inner_text("#ms-status").lower()
    assert page.locator(".ms-card").count() == 0

    # "More like this" searches by the clicked track
    query.fill("slow piano")
    page.click("#ms-search")
    page.wait_for_selector(".ms-card .ms-more")
    first_title = page.locator(".ms-card .ms-title").first.inner_text()
    page.locator(".ms-card .ms-more").first.click()
    page.wait_for_function(
        f"document.querySelector('#ms-status').innerText.includes('sounds like {first_title}')")
    assert first_title not in page.locator(".ms-card .ms-title").all_inner_texts()
    assert time.monotonic() - started < 60
