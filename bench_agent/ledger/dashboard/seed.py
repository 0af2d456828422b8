"""Seed a ledger with a plausible workshop (stations, lots, machines, records, certificates,
lifecycle events) for demonstrations, the dashboard tests and the dashboard benchmark.

Rows are inserted in bulk straight into the tables (50 000 machines take seconds); they do not go
through the record API, so they carry no station signature and no audit-chain entry: never
seed a production ledger.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bench_agent.ledger.auth import hash_password, hash_token
from bench_agent.ledger.db import Store
from bench_agent.ledger.models import (
    Asset,
    Certificate,
    Heartbeat,
    LifecycleEvent,
    Lot,
    Record,
    Station,
    User,
)
from bench_agent.models.image import ImageReport
from bench_agent.models.inventory import Cpu, Disk, Inventory, Memory, System
from bench_agent.models.record import BenchRecord, GuidedCheck
from bench_agent.models.verdict import Criterion, Verdict
from bench_agent.models.wipe import WipeReport

CPUS = [
    ("GenuineIntel", "Intel(R) Pentium(R) 4 CPU 3.00GHz", 2993.0, False),
    ("GenuineIntel", "Intel(R) Core(TM)2 Duo CPU E8400 @ 3.00GHz", 3000.0, True),
    ("AuthenticAMD", "AMD Athlon(tm) 64 Processor 3200+", 2000.0, True),
    ("GenuineIntel", "Intel(R) Celeron(R) CPU 2.66GHz", 2660.0, False),
]
VENDORS = [
    ("Dell Inc.", "OptiPlex GX270"),
    ("Hewlett-Packard", "HP Compaq dc7600"),
    ("LENOVO", "ThinkCentre M55"),
]
METHODS = ["zero", "random", "ata-secure-erase-enhanced", "ata-sanitize-block"]
CATEGORIES = ["family", "job_seeker", "student", "association", "school"]
STEPS = ["inventory", "smart self-test", "wipe sda", "verify sda", "image", "guided checks"]


@dataclass
class Seeded:
    supervisor: tuple[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    lots: list[str] = field(default_factory=list)
    assets: int = 0


def _record_body(
    rng: random.Random, n: int, tag: str, lot: str, station: str, at: datetime, rejected: bool
) -> tuple[BenchRecord, list[dict[str, Any]]]:
    vendor, model, mhz, is64 = rng.choice(CPUS)
    sys_vendor, product = rng.choice(VENDORS)
    serial = f"SN{n:07d}"
    disk_serial = f"WD-{n:08d}"
    disk = Disk(
        name="sda",
        model="ST380011A",
        vendor="Seagate",
        serial=disk_serial,
        size_bytes=rng.choice([40, 80, 160, 250]) * 1_000_000_000,
        transport="ata",
        rotational=True,
        health="fail" if rejected and rng.random() < 0.5 else "pass",
    )
    criteria = []
    guided = [GuidedCheck(id=c, status="pass") for c in ("screen", "keyboard", "mouse", "sound")]
    if rejected:
        if disk.health == "fail":
            criteria.append(Criterion(id="disk.sda.health", status="fail"))
        else:
            criteria.append(Criterion(id=rng.choice(["ram", "cpu.sse2"]), status="fail"))
        if rng.random() < 0.3:
            guided[rng.randrange(len(guided))] = GuidedCheck(
                id=rng.choice(["screen", "keyboard", "mouse"]), status="fail"
            )
    method = rng.choice(METHODS)
    wipe = WipeReport(
        device="sda",
        model=disk.model,
        vendor=disk.vendor,
        serial=disk_serial,
        size_bytes=disk.size_bytes,
        media_type="magnetic (HDD)",
        method=method,
        level="purge" if method.startswith("ata") else "clear",
        tool="bench-agent",
        tool_version="0.1.0",
        verification="sample",
        verification_result="passed",
        status="erased",
        started_at=at - timedelta(minutes=40),
        finished_at=at - timedelta(minutes=10),
        certificate_id=f"cert-{n:07d}",
    )
    certificate = {
        "kind": "bench-agent/sanitization-certificate",
        "version": 1,
        "certificate_id": wipe.certificate_id,
        "issued_at": at.isoformat(),
        "standard": "NIST SP 800-88 Rev. 1",
        "media": {
            "manufacturer": wipe.vendor,
            "model": wipe.model,
            "serial": wipe.serial,
            "media_type": wipe.media_type,
            "size_bytes": wipe.size_bytes,
            "device": "sda",
        },
        "source": {"asset_tag": tag, "lot": lot},
        "sanitization": {
            "level": wipe.level,
            "method": method,
            "tool": "bench-agent",
            "tool_version": "0.1.0",
            "status": "erased",
            "started_at": wipe.started_at.isoformat() if wipe.started_at else "",
            "finished_at": wipe.finished_at.isoformat() if wipe.finished_at else "",
        },
        "verification": {"method": "sample", "result": "passed", "detail": "", "bytes_read": 0},
        "operator": "op",
        "station": station,
        "location": "atelier",
        "post_sanitization_destination": "reuse",
    }
    record = BenchRecord(
        record_id=f"rec-{n:07d}",
        station=station,
        operator="op",
        asset_tag=tag,
        lot=lot,
        started_at=at - timedelta(hours=1),
        finished_at=at,
        inventory=Inventory(
            cpu=Cpu(vendor=vendor, model=model, mhz=mhz, is_64bit=is64, arch="i686"),
            memory=Memory(total_bytes=rng.choice([512, 1024, 2048]) << 20),
            system=System(
                vendor=sys_vendor, product=product, serial=serial, bios_date="06/22/2004"
            ),
            disks=[disk],
        ),
        verdict=Verdict(outcome="rejected" if rejected else "kept", criteria=criteria),
        guided_checks=guided,
        wipes=[wipe],
        image=None
        if rejected
        else ImageReport(device="sda", image="edu-i686", version="2026.1", status="success"),
        certificates=[certificate],
    )
    return record, [certificate]


def seed_demo(
    store: Store,
    *,
    stations: int = 6,
    assets: int = 60,
    lots: int = 3,
    seed: int = 1,
    now: datetime | None = None,
    supervisor: tuple[str, str] = ("supervisor", "correct horse battery"),
    heartbeats: bool = True,
    days: int = 60,
) -> Seeded:
    """Fill an empty, migrated ledger. Returns the supervisor login and the station tokens."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    result = Seeded(supervisor=supervisor)
    with store.write() as session:
        session.add(
            User(name=supervisor[0], role="supervisor", password_hash=hash_password(supervisor[1]))
        )
        station_rows = []
        for i in range(stations):
            name = f"bench-{i + 1:03d}"
            token = (
                f"bst_seed{seed}_{i:04d}_" + hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:24]
            )
            result.tokens[name] = token
            station_rows.append(
                {"id": i + 1, "name": name, "token_hash": hash_token(token),
                 "location": f"atelier {1 + i % 3}", "created_by": "seed", "created_at": now,
                 "last_seen_at": now if heartbeats else None, "disabled": False}
            )  # fmt: skip
        session.execute(insert(Station), station_rows)
        if heartbeats:
            session.execute(
                insert(Heartbeat),
                [
                    {
                        "station_id": row["id"],
                        "received_at": now,
                        "state": "idle" if i % 4 == 3 else "wiping",
                        "step": "" if i % 4 == 3 else rng.choice(STEPS),
                        "progress": None if i % 4 == 3 else round(rng.random(), 3),
                        "rate": None if i % 4 == 3 else rng.randrange(30, 120) * 1e6,
                        "eta_s": None if i % 4 == 3 else float(rng.randrange(60, 4000)),
                        "operator": f"operator-{i % 5 + 1}",
                        "asset_tag": "" if i % 4 == 3 else f"BSN-{rng.randrange(assets or 1):06d}",
                        "queued": 0,
                        "body": "{}",
                    }
                    for i, row in enumerate(station_rows)
                ],
            )
        lot_codes = [f"LOT-{(now - timedelta(days=days)).year}-{k + 1:03d}" for k in range(lots)]
        result.lots = lot_codes
        session.execute(
            insert(Lot),
            [
                {"code": code, "donor": f"Donor company {k + 1}", "created_by": "seed",
                 "received_on": (now - timedelta(days=days - k)).date(), "created_at": now, "note": ""}
                for k, code in enumerate(lot_codes)
            ],
        )  # fmt: skip
        asset_rows: list[dict[str, Any]] = []
        record_rows: list[dict[str, Any]] = []
        cert_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        for n in range(assets):
            asset_id = n + 1
            tag = f"BSN-{n:06d}"
            lot = lot_codes[n % len(lot_codes)] if lot_codes else ""
            received = now - timedelta(days=rng.uniform(0.2, days), minutes=rng.randrange(600))
            tested = received + timedelta(hours=rng.uniform(0.5, 30))
            if tested > now:
                tested = now - timedelta(minutes=5)
            station = (
                str(station_rows[n % len(station_rows)]["name"]) if station_rows else "bench-000"
            )
            rejected = rng.random() < 0.15
            record, certificates = _record_body(rng, n, tag, lot, station, tested, rejected)
            body = json.dumps(record.model_dump(mode="json"), separators=(",", ":"), sort_keys=True)
            sys = record.inventory.system
            asset_rows.append(
                {"id": asset_id, "asset_tag": tag, "serial": sys.serial, "uuid": "", "vendor": sys.vendor,
                 "product": sys.product, "lot": lot, "first_seen_at": received, "last_seen_at": tested}
            )  # fmt: skip
            record_rows.append(
                {"id": asset_id, "record_id": record.record_id, "station_id": (n % max(stations, 1)) + 1,
                 "station": station, "asset_id": asset_id, "asset_tag": tag, "serial": sys.serial, "uuid": "",
                 "lot": lot, "operator": "op", "outcome": "rejected" if rejected else "kept", "training": False,
                 "finished_at": tested, "created_at": tested, "body_sha256": hashlib.sha256(body.encode()).hexdigest(),
                 "key_id": "", "body": body}
            )  # fmt: skip
            for cert in certificates:
                cert_rows.append(
                    {"certificate_id": cert["certificate_id"], "record_id": asset_id, "asset_id": asset_id,
                     "disk_serial": cert["media"]["serial"], "method": cert["sanitization"]["method"],
                     "status": "erased", "key_id": "", "issued_at": tested,
                     "body": json.dumps(cert, separators=(",", ":"), sort_keys=True)}
                )  # fmt: skip
            events = [("received", received, ""), ("tested", tested, ""), ("wiped", tested, "")]
            if rejected:
                if rng.random() < 0.5:
                    events.append(("recycled", tested + timedelta(days=2), ""))
            else:
                imaged = tested + timedelta(minutes=30)
                packed = imaged + timedelta(hours=rng.uniform(1, 48))
                events += [("imaged", imaged, ""), ("packed", packed, "")]
                if rng.random() < 0.6:
                    given = packed + timedelta(days=rng.uniform(1, 20))
                    events.append(("given", given, rng.choice(CATEGORIES)))
                    if rng.random() < 0.08:
                        events.append(
                            ("returned", given + timedelta(days=rng.uniform(1, 30)), events[-1][2])
                        )
            for kind, at, category in events:
                if at > now:
                    continue
                event_rows.append(
                    {"asset_id": asset_id, "kind": kind, "at": at, "category": category,
                     "beneficiary_ref": f"B-{n:06d}" if category else "", "note": "",
                     "created_at": at, "created_by": "seed"}
                )  # fmt: skip
        for table, rows in (
            (Asset, asset_rows),
            (Record, record_rows),
            (Certificate, cert_rows),
            (LifecycleEvent, event_rows),
        ):
            for start in range(0, len(rows), 5000):
                session.execute(insert(table), rows[start : start + 5000])
        if not store.is_sqlite:
            # Explicit ids do not move PostgreSQL's sequences: move them, or the next row the
            # ledger inserts would collide with a seeded one.
            from sqlalchemy import text

            for name in ("stations", "assets", "records"):
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
                    )
                )
    result.assets = assets
    return result
