"""The workflow's journal: one JSON file per machine in progress, replaced atomically.

Every write goes to a temporary file that is fsync'ed, renamed over the journal, and the
directory is fsync'ed too, so after a crash or a power cut the journal holds either the old or
the new state, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench_agent.durable import atomic_write, fsync_dir
from bench_agent.errors import InputError
from bench_agent.i18n import _

CURRENT = "current.json"


class Journal:
    """The journal of the machine on the bench (``<journal_dir>/current.json``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / CURRENT

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                _("The bench journal {path} cannot be read: {error}", path=self.path, error=exc),
                _("Move the file aside to start a new machine; keep it for the supervisor."),
            ) from exc
        if not isinstance(data, dict):
            raise InputError(
                _(
                    "The bench journal {path} cannot be read: {error}",
                    path=self.path,
                    error="not an object",
                ),
                _("Move the file aside to start a new machine; keep it for the supervisor."),
            )
        return data

    def save(self, state: dict[str, Any]) -> None:
        data = json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        atomic_write(self.path, data)

    def archive(self, name: str) -> Path | None:
        """Move the finished machine's journal to ``done/<name>.json``."""
        if not self.path.exists():
            return None
        target = self.directory / "done" / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, target)
        fsync_dir(self.directory)
        fsync_dir(target.parent)
        return target

    def discard(self) -> None:
        if self.path.exists():
            self.path.unlink()
            fsync_dir(self.directory)
