"""The wipe journal: one fsync'd file per running wipe, so that a wipe cut short by a crash,
``kill -9`` or a power cut is found at the next start and done again (never certified).

A file exists from the moment a wipe starts until it ends (any status); a file whose process
is gone is an interrupted wipe. Overwrites record a flushed checkpoint, which allows a safe
resume (same disk, same method and pattern seed; verification still covers the whole disk).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bench_agent.durable import atomic_write, fsync_dir

PREFIX = "wipe-"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), to detect pid reuse."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text.rsplit(")", 1)[1].split()[19]


class JournalEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    device: str
    kname: str = ""
    serial: str = ""
    model: str = ""
    size_bytes: int = 0
    method: str = ""
    verify: str = ""
    seed: str = ""  # hex seed of the random pattern, for a safe resume
    state: Literal["running", "finished", "superseded"] = "running"
    phase: str = "starting"
    written_upto: int = 0  # bytes flushed to the media (overwrite only)
    started_at: datetime
    updated_at: datetime
    pid: int = 0
    process_start: str = ""
    boot_id: str = ""
    ata_password: str = ""  # temporary ATA password, needed to unlock a drive after a cut
    resumed_from: str = ""

    def same_disk(self, serial: str, size_bytes: int, kname: str) -> bool:
        if self.serial or serial:
            return self.serial == serial and self.size_bytes == size_bytes
        return self.kname == kname and self.size_bytes == size_bytes

    @property
    def alive(self) -> bool:
        """Is the process that wrote this entry still running it?"""
        if self.boot_id != _boot_id():
            return False
        return bool(self.process_start) and _process_start(self.pid) == self.process_start


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, entry_id: str) -> Path:
        return self.directory / f"{PREFIX}{entry_id}.json"

    def write(self, entry: JournalEntry) -> None:
        """Durably replace the entry's file (write, fsync, rename, fsync the directory)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        entry.updated_at = datetime.now(UTC)
        atomic_write(self._path(entry.id), entry.model_dump_json(indent=2))

    def start(self, **fields: object) -> JournalEntry:
        now = datetime.now(UTC)
        pid = os.getpid()
        entry = JournalEntry.model_validate(
            {
                "id": uuid.uuid4().hex[:12],
                "started_at": now,
                "updated_at": now,
                "pid": pid,
                "process_start": _process_start(pid),
                "boot_id": _boot_id(),
                **fields,
            }
        )
        self.write(entry)
        return entry

    def close(self, entry: JournalEntry) -> None:
        """The wipe ended (with a report, whatever its status): forget it."""
        with contextlib.suppress(FileNotFoundError):
            self._path(entry.id).unlink()
        if self.directory.exists():
            fsync_dir(self.directory)

    def entries(self) -> list[JournalEntry]:
        found: list[JournalEntry] = []
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob(f"{PREFIX}*.json")):
            try:
                found.append(JournalEntry.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError, ValueError):
                continue  # a torn write cannot happen (rename), but never crash on one
        return found

    def interrupted(self) -> list[JournalEntry]:
        return [e for e in self.entries() if e.state == "running" and not e.alive]

    def supersede(self, entry: JournalEntry, by: str) -> None:
        """A new wipe of the same disk replaces an interrupted one."""
        entry.state = "superseded"
        entry.resumed_from = by
        self.close(entry)


def journal_dir(home: Path) -> Path:
    return home / "journal"


def interrupted(home: Path) -> list[JournalEntry]:
    """Wipes that started and never ended (process killed, crash, power cut)."""
    return Journal(journal_dir(home)).interrupted()
