"""Screenshot of a running musicsearch app answering a query (for docs/ui.png).

    musicsearch ui --port 7860 &          # or `musicsearch demo`
    python docs/screenshot.py http://127.0.0.1:7860/ "lively irish fiddle reel" docs/ui.png

Drives the system Chromium (/usr/bin/chromium, see .ci/install-browser.sh) through the
`playwright` Python package; nothing is downloaded.
"""
from __future__ import annotations

import argparse
import sys

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--hide-scrollbars"]


def take(url: str, query: str, out: str, *, width: int = 1280, height: int = 900,
         k: int | None = None, full_page: bool = False,
         chromium: str = "/usr/bin/chromium", timeout_ms: int = 60_000) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    device_scale_factor=1)
            page.set_default_timeout(timeout_ms)
            page.goto(url)
            box = page.locator("#ms-query textarea, #ms-query input").first
            box.wait_for()
            if k is not None:
                slider = page.locator("input[type=number]").first
                slider.fill(str(k))
                slider.press("Tab")
            box.fill(query)
            page.click("#ms-search")
            page.wait_for_selector(".ms-card .ms-title")
            page.wait_for_timeout(500)        # let fonts and layout settle
            page.screenshot(path=out, full_page=full_page)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("query")
    parser.add_argument("out", nargs="?", default="docs/ui.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--k", type=int, default=None, help="number of results")
    parser.add_argument("--full-page", action="store_true")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    take(args.url, args.query, args.out, width=args.width, height=args.height, k=args.k,
         full_page=args.full_page, chromium=args.chromium)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
