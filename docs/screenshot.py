"""Screenshots for the README (docs/app.png, docs/app-explore.png) from a running app,
in headless Chromium (/usr/bin/chromium, see .ci/install-browser.sh; nothing downloaded).

    musicsearch ui --port 7860 &          # over the demo collection
    python docs/screenshot.py http://127.0.0.1:7860/
"""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent


def main(url: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(url)
        page.locator("#ms-query textarea, #ms-query input").first.fill("lively fiddle reel")
        page.locator("#ms-not textarea, #ms-not input").first.fill("slow, minor")
        page.click("#ms-tag input")
        page.get_by_role("option", name="traditional", exact=True).click()
        page.check("#ms-sections input[type=checkbox]")
        page.click("#ms-search")
        page.wait_for_selector("#ms-results .ms-card")
        page.screenshot(path=str(HERE / "app.png"))
        page.get_by_role("tab", name="Explore").click()
        page.click("#ms-map-tag input")
        page.get_by_role("option", name="reel", exact=True).click()
        page.wait_for_selector("#ms-map #ms-map-query")
        page.locator("#ms-map circle.ms-tagged").first.click()
        page.screenshot(path=str(HERE / "app-explore.png"))
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/")
