"""The served app in headless Chromium: a text search shows result cards whose players play
the indexed audio; the server refuses every other file, however it is asked for; uploads
are checked and removed.

Needs /usr/bin/chromium (`.ci/install-browser.sh`) and the `playwright` package (test extra);
skipped with a reason otherwise. Playwright drives the system Chromium: no browser download.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (test extra)")
from test_ui import SECRET, free_port, music_folder, raw_get, refused_paths  # noqa: E402,F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:::gradio.queueing"),   # gradio's own pandas use
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is missing: run .ci/install-browser.sh"),
]


@pytest.fixture()
def served(music_folder):
    """The real app over an indexed copy of the tiny folder (see test_ui.music_folder)."""
    from ui.app import serve

    searcher, folder, records, outside = music_folder
    port = free_port()
    app = serve(searcher, port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/", port, folder, records, outside
    finally:
        app.close()


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
    url, port, folder, records, outside = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    page.wait_for_selector("#ms-query textarea, #ms-query input")
    assert "8 tracks indexed" in page.inner_text("#ms-header")

    # a text search goes through the light `search` route, not a Gradio event
    query = page.locator("#ms-query textarea, #ms-query input").first
    query.fill("fast happy violin")
    page.click("#ms-search")
    page.wait_for_selector(".ms-card .ms-title")
    titles = page.locator(".ms-card .ms-title").all_inner_texts()
    assert len(titles) == len(records)          # default k=10 > 8 indexed tracks
    assert set(titles) <= {r.title for r in records}
    assert "fast happy violin" in page.inner_text(".ms-status")
    assert any("/search?q=fast+happy+violin" in r for r in requests)
    assert not any("gradio_api/run" in r or "queue/join" in r for r in requests)
    players = page.locator("audio.ms-player")
    assert players.count() == len(records)

    # the players' files come from the track-id route, and play
    src = players.first.get_attribute("src")
    assert src.startswith("audio/") and str(folder) not in src
    response = page.request.get(url + src)
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    assert len(response.body()) > 1000
    audio_ok = page.evaluate("""async () => {
        const a = document.querySelector('audio.ms-player'); a.preload = 'auto'; a.load();
        for (let i = 0; i < 100 && a.readyState < 1 && !a.error; i++)
            await new Promise(r => setTimeout(r, 50));
        return a.readyState >= 1 && a.duration > 5; }""")
    assert audio_ok

    # everything else is refused, however it is asked for (raw paths: no normalisation)
    uploads = os.environ["GRADIO_TEMP_DIR"]
    for path in refused_paths(folder, outside, uploads, url):
        status, _, body = raw_get(port, path)
        assert status in (403, 404), (path, status)
        assert SECRET.encode() not in body and b"root:" not in body, path

    # Enter submits; an unknown-only query shows a friendly message, not a trace
    query.fill("qzxv blorptang")
    query.press("Enter")
    page.wait_for_function(
        "document.querySelector('.ms-status').innerText.includes('qzxv')")
    assert "no known words" in page.inner_text(".ms-status").lower()
    assert page.locator(".ms-card").count() == 0

    # "More like this" searches by the clicked track
    query.fill("slow piano")
    page.click("#ms-search")
    page.wait_for_selector(".ms-card .ms-more")
    first_title = page.locator(".ms-card .ms-title").first.inner_text()
    page.locator(".ms-card .ms-more").first.click()
    page.wait_for_function(
        f"document.querySelector('.ms-status').innerText.includes('sounds like {first_title}')")
    assert first_title not in page.locator(".ms-card .ms-title").all_inner_texts()

    # a non-audio upload is refused with a message; a clip search goes through Gradio's
    # event, and its upload is deleted afterwards
    file_input = page.locator("#ms-audio input[type=file]")
    fake = tmp_path / "notes.wav"
    fake.write_text(SECRET)
    file_input.set_input_files(str(fake))
    page.wait_for_function(
        "document.querySelector('.ms-status').innerText.includes('not an audio file')")
    assert not list(Path(uploads).rglob("notes.wav"))
    file_input.set_input_files(str(folder / records[3].path))
    page.wait_for_function("window.musicsearchClip === true")
    query.fill("")
    page.click("#ms-search")
    page.wait_for_function(
        f"document.querySelector('.ms-status').innerText.includes('sounds like {Path(records[3].path).name}')")
    assert page.locator(".ms-card .ms-title").first.inner_text() == records[3].title
    assert any("gradio_api/run/predict" in r for r in requests)     # the page's event call
    assert not list(Path(uploads).rglob(Path(records[3].path).name))
    assert time.monotonic() - started < 60
