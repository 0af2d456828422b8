"""scripts/build-master refuses a recipe naming a package Debian does not have: at once, by
name, with exit code 3, before any download or cache."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]


def test_a_package_missing_from_debian_stops_the_build_by_name(tmp_path: Path) -> None:
    require_root()
    require_tool("apt-cache")
    recipes = tmp_path / "recipes"
    shutil.copytree(ROOT / "images" / "recipes", recipes)
    with open(recipes / "education-small.txt", "a") as handle:
        handle.write("\n# misspelt on purpose\ntuxpaintt gcompris-qtt\n")
    cache = tmp_path / "cache"
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-master"), "--recipes", str(recipes), "--cache", str(cache),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "gcompris-qtt tuxpaintt" in errors[0]
    assert "hint:" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not any(cache.glob("root-*")) if cache.exists() else True
