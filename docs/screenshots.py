"""Screenshots of the web app for the docs, from a running docloop with a trained model.

Usage (a server with a hosted model and a few predictions, and a user who may review):

    python docs/screenshots.py --url http://127.0.0.1:8000 --model MODEL_ID \\
        --email you@example.com --password '...'

Writes docs/img/model.png, queue.png and editor.png with Debian's Chromium.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

IMG = Path(__file__).parent / "img"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{args.url}/login")
        page.fill("input[name=email]", args.email)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.url}/models")
        page.goto(f"{args.url}/models/{args.model}")
        page.wait_for_selector("#versions tbody tr")
        page.screenshot(path=str(IMG / "model.png"))
        page.goto(f"{args.url}/models/{args.model}/review")
        page.wait_for_selector("#files tbody tr")
        page.screenshot(path=str(IMG / "queue.png"))
        page.click("#files tbody tr:first-child a")
        page.wait_for_selector("#overlay g.box rect")
        page.wait_for_timeout(500)
        page.screenshot(path=str(IMG / "editor.png"))
        browser.close()


if __name__ == "__main__":
    main()
