"""The live board under its own Content-Security-Policy in Chromium.

The other browser tests bypass the CSP (Playwright's ``wait_for_function``/``evaluate`` use
eval, which the policy forbids), so none of them would notice a script or style the policy
blocks. Here the policy is enforced: log in, the board goes live, a heartbeat shows, and the
browser reports no violation. Only selectors are used (they need no eval in the page).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, start_ledger, stop_ledger

pytestmark = pytest.mark.browser


def test_the_live_board_works_under_its_csp(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing; run scripts/setup --test")
    ledger = start_ledger(
        tmp_path,
        stations=3,
        assets=12,
        env={"BENCH_DASHBOARD_POLL_S": "0.5", "BENCH_LEDGER_HOME": str(tmp_path / "home")},
    )
    violations: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on(
                    "console",
                    lambda message: (
                        violations.append(message.text)
                        if "Content Security Policy" in message.text
                        else None
                    ),
                )
                page.on("pageerror", lambda error: violations.append(str(error)))
                page.goto(f"{ledger.url}/dashboard/?lang=en")
                name, password = ledger.seeded.supervisor
                page.fill("#name", name)
                page.fill("#password", password)
                page.press("#password", "Enter")
                page.wait_for_url(f"{ledger.url}/dashboard/?lang=en")
                page.wait_for_selector("body[data-live='on']", state="attached", timeout=10_000)
                ledger.heartbeat("bench-002", state="wiping", step="wipe sdb: pass 1", progress=0.3)
                page.wait_for_selector(
                    "#station-bench-002:has-text('Wipe sdb: pass 1')", timeout=5_000
                )
            finally:
                browser.close()
    finally:
        stop_ledger(ledger)
    assert violations == []
