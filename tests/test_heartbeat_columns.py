"""The heartbeat is defined once (``models.heartbeat.Heartbeat``); the ledger stores it in the
``heartbeats`` table, whose columns are the one list the ledger's code reads
(``ledger.models.HEARTBEAT_COLUMNS``: the update, the API's values and ``HeartbeatOut``, the
board). These tests fail when the model's fields and the stored columns disagree (a field
added without its column and migration, a column without its field, another type or length),
and show that a row stored before today's input limits still answers as it was stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench_agent.ledger.models import (
    HEARTBEAT_COLUMNS,
    HEARTBEAT_FIELD_COLUMNS,
    Heartbeat,
    Station,
    utcnow,
)
from bench_agent.ledger.schemas import HeartbeatOut
from bench_agent.models.heartbeat import HEARTBEAT_FIELDS
from bench_agent.models.heartbeat import Heartbeat as HeartbeatModel

# The fields a bench sends that the ledger keeps in ``body`` only (no column): a new field of
# the model is either given a column (ledger/models.py and a migration) or added here.
BODY_ONLY = {"training", "message"}


def test_the_stored_columns_are_the_models_fields_and_the_ledgers_two() -> None:
    assert ("received_at", *HEARTBEAT_FIELD_COLUMNS, "body") == HEARTBEAT_COLUMNS
    missing = HEARTBEAT_FIELDS - set(HEARTBEAT_FIELD_COLUMNS) - BODY_ONLY
    assert not missing, f"heartbeat fields without a column (or BODY_ONLY entry): {missing}"
    assert not BODY_ONLY & set(HEARTBEAT_FIELD_COLUMNS)
    assert BODY_ONLY <= HEARTBEAT_FIELDS
    # The API answers with exactly the stored columns, in their order.
    assert tuple(HeartbeatOut.model_fields) == HEARTBEAT_COLUMNS


def _max_length(name: str) -> int | None:
    for item in HeartbeatModel.model_fields[name].metadata:
        if getattr(item, "max_length", None) is not None:
            return int(item.max_length)
    return None


def test_each_column_has_its_fields_type_and_length() -> None:
    columns = Heartbeat.__table__.columns
    for name in HEARTBEAT_FIELD_COLUMNS:
        column, field = columns[name], HeartbeatModel.model_fields[name]
        python_type = column.type.python_type
        annotation = field.annotation
        if annotation is str:
            assert isinstance(column.type, sa.String) and python_type is str, name
            assert column.type.length == _max_length(name), name
        elif annotation is int:
            assert python_type is int, name
        else:
            assert annotation == float | None, name  # the one other kind of field
            assert python_type is float and column.nullable, name


def test_the_migrated_table_keeps_an_old_row_as_stored(tmp_path: Path) -> None:
    """The migrations (not the ORM's ``create_all``) give the table exactly these columns; the
    API's heartbeat keeps the model's types, not its input limits: a row stored before today's
    limits (a progress over 1, a state over 64 characters) lists as it was stored."""
    from bench_agent.ledger.api.stations import station_out
    from bench_agent.ledger.db import Store

    store = Store(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        store.upgrade()
        found = [c["name"] for c in sa.inspect(store.engine).get_columns("heartbeats")]
        assert sorted(found) == sorted(["station_id", *HEARTBEAT_COLUMNS])
        values: dict[str, Any] = {
            "received_at": utcnow(),
            "state": "w" * 80,
            "step": "wipe sda",
            "progress": 1.5,
            "rate": 2.5e7,
            "eta_s": None,
            "operator": "claire",
            "asset_tag": "AT-7",
            "queued": 3,
            "body": json.dumps({"state": "wiping", "training": True}),
        }
        assert set(values) == set(HEARTBEAT_COLUMNS)
        with store.write() as session:
            station = Station(name="bench-old", location="", token_hash="x" * 64)
            session.add(station)
            session.flush()
            session.execute(sa.insert(Heartbeat), [{"station_id": station.id, **values}])
        with store.session() as session:
            row = session.scalar(sa.select(Station).where(Station.name == "bench-old"))
            assert row is not None
            out = station_out(row).heartbeat
    finally:
        store.dispose()
    assert out is not None
    shown = out.model_dump()
    assert shown["body"] == {"state": "wiping", "training": True}
    assert {k: v for k, v in shown.items() if k not in ("body", "received_at")} == {
        k: v for k, v in values.items() if k not in ("body", "received_at")
    }
