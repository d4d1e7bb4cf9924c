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
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
SCREENSHOTS = "MUSICSEARCH_SCREENSHOTS"    # a folder to keep the screenshots in (else tmp)

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

    assert time.monotonic() - started < 60


def _choose(page, elem_id: str, value: str) -> None:
    """Pick `value` in a Gradio dropdown the way a visitor does: open it, click the option."""
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=value, exact=True).click()   # the list is not inside


def _play(page, selector: str) -> dict:
    """Start the player and wait until its time advances; its state afterwards."""
    return page.evaluate("""async (selector) => {
        const a = document.querySelector(selector); a.muted = true;
        await a.play();
        const t0 = a.currentTime;
        for (let i = 0; i < 100 && !(a.currentTime > t0 + 0.2) && !a.error; i++)
            await new Promise(r => setTimeout(r, 50));
        return {playing: !a.paused && a.currentTime > t0 + 0.2, start: t0,
                src: a.currentSrc, time: a.currentTime}; }""", selector)


def test_the_tabs_in_the_browser(served, browser, tmp_path):
    """Search with a filter and a negative term, a result played, a section match, an
    upload for similar-by-example, the Explore map (a point played) and the Library."""
    url, port, folder, records, _ = served
    shots = Path(os.environ.get(SCREENSHOTS) or tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(20_000)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    query = page.locator("#ms-query textarea, #ms-query input").first
    query.fill("fast violin")
    page.locator("#ms-not textarea, #ms-not input").first.fill("sad")
    _choose(page, "ms-artist", "Artist 1")
    page.click("#ms-search")
    page.wait_for_function(
        "document.querySelector('#ms-results .ms-status').innerText.includes('without sad')")
    by_id = {r.track_id: r for r in records}
    shown = page.locator("#ms-results .ms-card").evaluate_all(
        "cards => cards.map(c => c.dataset.trackId)")
    assert shown and {by_id[t].artist for t in shown} == {"Artist 1"}
    assert not any("sad" in by_id[t].tags for t in shown)
    assert set(shown) == {t for t, r in by_id.items()
                          if r.artist == "Artist 1" and "sad" not in r.tags}
    assert any("/search?" in r and "artist=Artist+1" in r and "not=sad" in r for r in requests)
    state = _play(page, "#ms-results audio.ms-player")
    assert state["playing"] and "/audio/" in state["src"], state
    page.screenshot(path=str(shots / "app-search.png"), full_page=True)

    # the diversity slider's λ travels with the search; at 1 (relevance only) it does not
    diverse = page.locator("#ms-diverse input[type=number]").first
    diverse.fill("0.2")
    page.click("#ms-search")
    page.wait_for_function(
        "document.querySelector('#ms-results .ms-status').innerText.includes('varied (λ 0.2)')")
    assert any("/search?" in r and "diverse=0.2" in r for r in requests)
    diverse.fill("1")
    # the catalog collection filter (payload meta.collection: test_ui.music_folder)
    _choose(page, "ms-artist", "(any)")
    page.locator("#ms-not textarea, #ms-not input").first.fill("")
    _choose(page, "ms-collection", "airs")
    page.click("#ms-search")
    page.wait_for_function(
        "document.querySelector('#ms-results .ms-status').innerText.includes('from airs')")
    airs = page.locator("#ms-results .ms-card").evaluate_all(
        "cards => cards.map(c => c.dataset.trackId)")
    assert set(airs) == {r.track_id for r in records[3:]}
    assert any("from_collection=airs" in r and "diverse" not in r for r in requests)
    _choose(page, "ms-collection", "(any)")

    # section matches: the players start where the matched section starts
    page.check("#ms-sections input[type=checkbox]")
    query.fill("slow piano")
    page.click("#ms-search")
    page.wait_for_selector("#ms-results .ms-section")
    start = float(page.locator("#ms-results .ms-section").first.get_attribute("data-start"))
    src = page.locator("#ms-results audio.ms-player").first.get_attribute("src")
    assert src.endswith(f"#t={start:g}")
    state = _play(page, "#ms-results audio.ms-player")
    assert state["playing"] and state["start"] == pytest.approx(start, abs=0.05), state

    # By example: an uploaded clip finds its own track first, through Gradio's event
    page.get_by_role("tab", name="By example").click()
    clip = folder / records[3].path
    page.locator("#ms-audio input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#ms-audio audio, #ms-audio .waveform-container, #ms-audio button")
    page.click("#ms-example-search")
    page.wait_for_function(
        "document.querySelector('#ms-example-results .ms-status').innerText"
        f".includes('sounds like {clip.name}')")
    first = page.locator("#ms-example-results .ms-card").first.get_attribute("data-track-id")
    assert first == records[3].track_id
    assert any("gradio_api/run/on_example" in r or "gradio_api/run/predict" in r
               for r in requests)
    assert not list(Path(os.environ["GRADIO_TEMP_DIR"]).rglob(clip.name))   # deleted after

    # Explore: the map of every track, the Search tab's query marked; a point plays
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_selector("#ms-map svg circle.ms-point")
    assert page.locator("#ms-map circle.ms-point").count() == len(records)
    assert page.locator("#ms-map #ms-map-query").count() == 1
    assert "slow piano" in page.inner_text("#ms-map")
    point = page.locator("#ms-map circle.ms-point").first
    track = point.get_attribute("data-track")
    point.click()
    page.wait_for_function(
        "document.querySelector('#ms-map .ms-map-now').innerText.startsWith('Playing')")
    state = _play(page, "#ms-map-player")
    assert state["playing"] and state["src"].endswith(f"/audio/{track}"), state
    page.screenshot(path=str(shots / "app-explore.png"), full_page=True)

    # Library: the collection and the model; a missing folder is refused in one line
    page.get_by_role("tab", name="Library").click()
    assert f"{len(records)}" in page.inner_text("#ms-library")
    page.locator("#ms-index-folder textarea, #ms-index-folder input").first.fill(
        str(tmp_path / "missing"))
    page.click("#ms-index")
    page.wait_for_function(
        "document.querySelector('#ms-index-outcome').innerText.includes('no such folder')")
