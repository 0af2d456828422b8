"""Supervisor dashboard (server-rendered pages, SSE board, reports, labels, GLPI export)."""

from __future__ import annotations

from typing import Any


def mount(app: Any) -> None:
    """Add the dashboard's routes to the ledger app (called by the ledger's app factory)."""
