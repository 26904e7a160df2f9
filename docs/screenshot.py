"""Take the README's picture of the report's first screen: `make screenshot` (after `make report`).

Opens reports/acr_report.html in Debian's chromium (offline) at 1280x860 and writes docs/report-first-screen.png.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "acr_report.html"
OUT = ROOT / "docs" / "report-first-screen.png"
LIMIT = 300_000  # bytes: the README stays light


def main() -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None or not REPORT.exists():
        print("needs Debian's chromium and reports/acr_report.html (make report)", file=sys.stderr)
        return 2
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
            page.goto(REPORT.as_uri())
            page.wait_for_selector(".acrlib-first-screen")
            page.screenshot(path=str(OUT))
        finally:
            browser.close()
    size = OUT.stat().st_size
    print(f"{OUT.relative_to(ROOT)}: {size:,} bytes")
    return 0 if size < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
