"""The imaging journal: one small fsync'ed file per device being imaged.

It is written before the first byte goes to the disk and removed only when the job ends, so a
write cut by a crash, a power cut or ``kill -9`` is found at the next start and redone.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_agent.durable import atomic_write, fsync_dir

PREFIX = "image-"


def journal_key(kname: str, serial: str) -> str:
    """Journal files follow the disk (its serial) when it has one, else its kernel name."""
    raw = serial.strip() or kname
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)


class ImageJournal:
    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self.path = directory / f"{PREFIX}{key}.json"

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        state = {**state, "updated_at": datetime.now(UTC).isoformat()}
        atomic_write(self.path, json.dumps(state, indent=1, sort_keys=True))

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.directory)


def interrupted_jobs(folder: Path) -> list[dict[str, Any]]:
    """Imaging jobs that started and never finished (the station crashed or was killed);
    ``folder``: the station's journal directory."""
    jobs: list[dict[str, Any]] = []
    if not folder.is_dir():
        return jobs
    for path in sorted(folder.glob(f"{PREFIX}*.json")):
        data = ImageJournal(folder, path.stem[len(PREFIX) :]).load()
        if data is not None:
            jobs.append(data)
    return jobs
