"""Where the data shipped with the agent lives: in the wheel, or in the repository checkout.

An installed wheel carries ``profiles/`` and the recorded Pentium 4 evidence bundle as
package data under ``bench_agent/_data/`` (mapped by setup.py); a checkout reads them from
their places in the repository (``profiles/``, ``tests/fixtures/evidence/``), which stay the
source of truth. Nothing here depends on the current directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PACKAGED = PACKAGE / "_data"
CHECKOUT = PACKAGE.parent


def _data(packaged: str, checkout: str) -> Path:
    inside = PACKAGED / packaged
    if inside.is_dir():
        return inside
    return CHECKOUT / checkout


def bundled_profiles() -> Path:
    """The minimum-spec profiles shipped with the agent (``profiles/`` in the repository)."""
    return _data("profiles", "profiles")


def bundled_operators() -> Path:
    """The sample operator profiles (``profiles/operators/`` in the repository)."""
    return bundled_profiles() / "operators"


def training_evidence() -> Path:
    """The recorded Pentium 4 evidence bundle used by training mode and ``bench-agent demo``."""
    return _data("evidence/pentium4-desktop", "tests/fixtures/evidence/pentium4-desktop")


def checkout_images() -> Path | None:
    """The repository's ``images/`` catalogue when running from a checkout, else None."""
    folder = CHECKOUT / "images"
    if PACKAGED.is_dir() or not (CHECKOUT / "pyproject.toml").is_file():
        return None
    return folder if folder.is_dir() else None
