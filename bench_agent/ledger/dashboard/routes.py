"""The dashboard's routes, assembled: pages under ``/dashboard`` and the public verify page."""

from __future__ import annotations

from fastapi import APIRouter

from bench_agent.ledger.dashboard import board_views, public_views, record_views

router = APIRouter(include_in_schema=False)
router.include_router(board_views.router)
router.include_router(record_views.router)
public_router = public_views.public_router

__all__ = ["public_router", "router"]
