"""A call for help on the real board in Chromium: it appears at once (badge, beeps counted,
announcement), the supervisor answers from its page, and the station learns who is coming."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.test_dashboard_browser import (  # noqa: F401 - fixtures
    LiveLedger,
    browser_context,
    ledger,
    page,
    wait_live,
)

pytestmark = pytest.mark.browser


def test_a_call_for_help_rings_on_the_board_and_is_answered(
    page: Any,  # noqa: F811 - fixture
    ledger: LiveLedger,  # noqa: F811 - fixture
) -> None:
    page.goto(f"{ledger.url}/dashboard/?lang=en")
    wait_live(page)
    row = "#station-bench-003"
    headers = {"Authorization": f"Bearer {ledger.seeded.tokens['bench-003']}"}
    called = time.monotonic()
    response = httpx.post(
        f"{ledger.url}/api/v1/help",
        json={"operator": "Nadia", "asset_tag": "BSN-000123", "step": "guided"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["state"] == "called"
    page.wait_for_function(
        "sel => document.querySelector(sel).getAttribute('data-help') === 'called'",
        arg=row,
        timeout=5_000,
    )
    assert time.monotonic() - called < 2.0
    assert "HELP ASKED" in page.inner_text(row)
    assert page.get_attribute("body", "data-help-sounds") == "1"  # the three beeps played
    assert "HELP ASKED" in page.inner_text("#announce")

    page.click(f"{row} a.badge-help")
    page.wait_for_url(f"{ledger.url}/dashboard/help/bench-003")
    assert "Nadia" in page.inner_text("main") and "BSN-000123" in page.inner_text("main")
    page.keyboard.press("Enter")  # the answer button has focus
    page.wait_for_url(f"{ledger.url}/dashboard/")
    page.wait_for_function(
        "sel => document.querySelector(sel).getAttribute('data-help') === 'acknowledged'",
        arg=row,
        timeout=5_000,
    )
    state = httpx.get(f"{ledger.url}/api/v1/help", headers=headers, timeout=10).json()
    assert state["state"] == "acknowledged"
    assert state["acknowledged_by"] == ledger.seeded.supervisor[0]
