"""Session fixtures shared by the QEMU tests: the live roots, built once per test session.

Registered as a plugin in ``tests/conftest.py`` so that every vm test module shares one build
(a session fixture imported into two modules would be set up twice).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "live"))

import vbench  # noqa: E402

__all__ = ["ROOT", "live_amd64", "live_builds", "live_i686", "vbench"]

BUILD_TOOLS = (
    "debootstrap",
    "mksquashfs",
    "grub-mkrescue",
    "xorriso",
    "mkfs.vfat",
    "mcopy",
    "cpio",
)


class _Background:
    """scripts/build-live for one architecture, running while other tests use the first one."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.out = vbench.live_dir(arch)
        self.log = ROOT / "build" / f"build-live-{arch}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in result()
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "build-live"), "--arch", arch, "--out", str(self.out)],
            stdout=self.handle, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def result(self) -> Path:
        code = self.process.wait()
        self.handle.close()
        assert code == 0, (
            f"scripts/build-live --arch {self.arch} failed:\n{self.log.read_text()[-3000:]}"
        )
        return self.out


@pytest.fixture(scope="session")
def live_builds() -> Iterator[dict[str, Any]]:
    require_root()
    for tool in (*BUILD_TOOLS, "qemu-system-i386", "qemu-system-x86_64"):
        require_tool(tool)
    amd64 = _Background("amd64")
    try:
        i686 = vbench.build_live("i686")
        yield {"i686": i686, "amd64": amd64}
    finally:
        if amd64.process.poll() is None:
            amd64.process.wait()


@pytest.fixture(scope="session")
def live_i686(live_builds: dict[str, Any]) -> Path:
    path: Path = live_builds["i686"]
    return path


@pytest.fixture(scope="session")
def live_amd64(live_builds: dict[str, Any]) -> Path:
    return live_builds["amd64"].result()  # type: ignore[no-any-return]
