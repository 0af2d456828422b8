"""Rows of the asset CSV export, read from the store in batches (50 000 machines stay cheap)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from bench_agent.ledger.board_queries import BoardSettings
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import Asset, LifecycleEvent, Record

BATCH = 2000


def asset_rows(
    store: Store, settings: BoardSettings | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Batches of CSV rows (columns of ``glpi.ASSET_CSV_COLUMNS``), ordered by asset id."""
    from bench_agent.ledger.labels import maintenance_end

    last_id = 0
    while True:
        with store.session() as session:
            assets = session.scalars(
                select(Asset).where(Asset.id > last_id).order_by(Asset.id).limit(BATCH)
            ).all()
            if not assets:
                return
            ids = [a.id for a in assets]
            last_id = ids[-1]
            outcome: dict[int, str] = {}
            latest: dict[int, int] = {}
            for record_id, asset_id, value in session.execute(
                select(Record.id, Record.asset_id, Record.outcome)
                .where(Record.asset_id.in_(ids), Record.training.is_(False))
                .order_by(Record.id)
            ):
                if asset_id is not None:
                    outcome[asset_id] = value
                    latest[asset_id] = record_id
            hardware: dict[int, dict[str, Any]] = {}
            for asset_id, body in session.execute(
                select(Record.asset_id, Record.body).where(Record.id.in_(latest.values()))
            ):
                if asset_id is not None:
                    hardware[int(asset_id)] = _hardware(body)
            events: dict[int, dict[str, Any]] = {}
            for asset_id, kind, at, category in session.execute(
                select(
                    LifecycleEvent.asset_id,
                    LifecycleEvent.kind,
                    LifecycleEvent.at,
                    LifecycleEvent.category,
                )
                .where(LifecycleEvent.asset_id.in_(ids))
                .order_by(LifecycleEvent.at, LifecycleEvent.id)
            ):
                row = events.setdefault(asset_id, {})
                row[kind] = at
                row["last"] = kind
                if kind == "given":
                    row["category"] = category
        batch = []
        for asset in assets:
            ev = events.get(asset.id, {})
            given = ev.get("given")
            batch.append(
                {
                    "asset_tag": asset.asset_tag,
                    "lot": asset.lot,
                    "status": ev.get("last") or outcome.get(asset.id, ""),
                    "serial": asset.serial,
                    "vendor": asset.vendor,
                    "product": asset.product,
                    **hardware.get(asset.id, {}),
                    "received_at": ev.get("received") or asset.first_seen_at,
                    "packed_at": ev.get("packed"),
                    "delivered_at": given,
                    "beneficiary_category": ev.get("category", ""),
                    # From packing, as printed on the label (see labels.maintenance_end).
                    "maintenance_end": maintenance_end(
                        (ev.get("packed") or given).date()
                    ).isoformat()
                    if given
                    else "",
                }
            )
        yield batch


def _hardware(body: str) -> dict[str, Any]:
    """cpu, ram_mb, disk_gb and image of a machine, from its latest bench record."""
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    inventory = document.get("inventory") or {}
    cpu = inventory.get("cpu") or {}
    memory = inventory.get("memory") or {}
    disks = [
        d
        for d in inventory.get("disks") or []
        if isinstance(d, dict) and not d.get("removable") and d.get("transport") != "usb"
    ]
    image = document.get("image") or {}
    total_disk = sum(int(d.get("size_bytes") or 0) for d in disks)
    name = str(image.get("image") or "")
    return {
        "cpu": str(cpu.get("model") or "").strip(),
        "ram_mb": int(memory.get("total_bytes") or 0) // 2**20 or "",
        "disk_gb": round(total_disk / 1e9) if total_disk else "",
        "image": f"{name} {image.get('version') or ''}".strip()
        if name and image.get("status", "success") == "success"
        else "",
    }
