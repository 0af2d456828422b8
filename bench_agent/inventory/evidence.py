"""Where the probes read from: the live machine (optionally recording) or a saved evidence bundle.

A bundle mirrors the paths read (``proc/cpuinfo``, ``sys/class/dmi/id/product_serial``...);
command outputs go to fixed names (``lsblk.json``, ``smartctl/<kname>.txt``,
``dmidecode/memory.txt``); a symbolic link read is stored as a small text file named
``<path>.link`` holding the link's target. The parsers only ever see a :class:`Source`, so a
recorded machine replays through exactly the code that inventoried it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

LINK_SUFFIX = ".link"
# Probes never read files bigger than this (a corrupt sysfs attribute must not eat the RAM).
MAX_READ = 4 << 20


class Source:
    """Reads raw files and command outputs; records them when asked. Never raises."""

    live: bool = True

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def read(self, rel: str) -> str | None:
        raise NotImplementedError

    def listdir(self, rel: str) -> list[str]:
        raise NotImplementedError

    def readlink(self, rel: str) -> str | None:
        raise NotImplementedError

    def command(self, rel: str, argv: list[str], timeout_s: float = 30.0) -> str | None:
        """Output of ``argv`` (live) or of the recorded file ``rel`` (evidence)."""
        raise NotImplementedError

    def value(self, rel: str, produce: Callable[[], str]) -> str | None:
        """A fact computed in-process (live, then saved as ``rel``) or read back (evidence)."""
        raise NotImplementedError

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def _read_bounded(path: Path) -> bytes:
    # Small reads: procfs/sysfs files refuse one huge read (ENOMEM), and a corrupt sysfs
    # attribute must not eat the RAM of a 256 MB machine.
    chunks: list[bytes] = []
    total = 0
    with open(path, "rb") as handle:
        while total < MAX_READ:
            chunk = handle.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)[:MAX_READ]


def _safe_rel(rel: str) -> str:
    parts = [p for p in rel.strip("/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts)


class LiveSource(Source):
    """The running machine; with ``save_to`` every successful read is copied into a bundle."""

    live = True

    def __init__(self, root: Path = Path("/"), save_to: Path | None = None) -> None:
        super().__init__()
        self.root = root
        self.save_to = save_to
        if save_to is not None:
            save_to.mkdir(parents=True, exist_ok=True)

    def _save(self, rel: str, text: str) -> None:
        if self.save_to is None:
            return
        target = self.save_to / _safe_rel(rel)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            self.warn(f"cannot save evidence {rel}: {exc.strerror or exc}")

    def read(self, rel: str) -> str | None:
        path = self.root / _safe_rel(rel)
        try:
            data = _read_bounded(path)
        except OSError:
            return None
        text = data.decode("utf-8", errors="replace")
        self._save(rel, text)
        return text

    def listdir(self, rel: str) -> list[str]:
        try:
            names = sorted(os.listdir(self.root / _safe_rel(rel)))
        except OSError:
            return []
        return names

    def readlink(self, rel: str) -> str | None:
        try:
            target = os.readlink(self.root / _safe_rel(rel))
        except OSError:
            return None
        self._save(rel + LINK_SUFFIX, target)
        return target

    def value(self, rel: str, produce: Callable[[], str]) -> str | None:
        try:
            text = produce()
        except Exception as exc:  # a fact we cannot compute is a warning, not a crash
            self.warn(f"{rel}: {exc}")
            return None
        self._save(rel, text)
        return text

    def command(self, rel: str, argv: list[str], timeout_s: float = 30.0) -> str | None:
        if shutil.which(argv[0]) is None:
            self.warn(f"{argv[0]} is not installed: {rel} not collected")
            return None
        try:
            result = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            self.warn(f"{' '.join(argv)} failed: {exc}")
            return None
        text = result.stdout.decode("utf-8", errors="replace")
        if not text.strip():
            err = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
            self.warn(f"{' '.join(argv)} printed nothing" + (f": {err[-1]}" if err else ""))
            return None
        self._save(rel, text)
        return text


class EvidenceSource(Source):
    """A saved bundle: reads the recorded copies; missing files are simply absent."""

    live = False

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def read(self, rel: str) -> str | None:
        path = self.root / _safe_rel(rel)
        try:
            return _read_bounded(path).decode("utf-8", errors="replace")
        except OSError:
            return None

    def listdir(self, rel: str) -> list[str]:
        folder = self.root / _safe_rel(rel)
        try:
            entries = os.listdir(folder)
        except OSError:
            return []
        names = set()
        for name in entries:
            names.add(name[: -len(LINK_SUFFIX)] if name.endswith(LINK_SUFFIX) else name)
        return sorted(names)

    def readlink(self, rel: str) -> str | None:
        text = self.read(rel + LINK_SUFFIX)
        return text.strip() if text is not None else None

    def value(self, rel: str, produce: Callable[[], str]) -> str | None:
        return self.read(rel)

    def command(self, rel: str, argv: list[str], timeout_s: float = 30.0) -> str | None:
        return self.read(rel)
