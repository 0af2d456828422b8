"""Evidence replay gives the identical inventory it gave before the live probes changed.

The snapshots in ``tests/fixtures/replay/`` were written by this module (``python -m
tests.test_replay_identical --write``) at commit 77f3876, BEFORE psutil, pySMART, pyudev and
py-cpuinfo became the live probes (issue 12, finding 9). Each recorded bundle in
``tests/fixtures/evidence/`` and a one-disk bundle per real smartctl text in
``tests/fixtures/smartctl/`` (``smartctl/sda.txt``, the layout of a bundle recorded by an older
live image with no ``lsblk.json``) must replay into exactly that JSON. A difference is a change
in what a recorded machine's inventory says: never rewrite a snapshot to make a probe change
pass. Only a change meant to alter the inventory's output (e.g. a reworded health reason)
rewrites them (``--write``), in the same commit, saying so.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from bench_agent.inventory.collect import collect_inventory
from tests.conftest import FIXTURES

SNAPSHOTS = FIXTURES / "replay"
BUNDLES = sorted(p for p in (FIXTURES / "evidence").iterdir() if p.is_dir())
SMART_TEXTS = sorted((FIXTURES / "smartctl").glob("*.txt"))
WHY = "the replayed inventory changed (see this module's docstring before any --write)"


def _replay(bundle: Path) -> dict[str, object]:
    data: dict[str, object] = collect_inventory(evidence_dir=bundle).model_dump(mode="json")
    return data


def _one_disk_bundle(text: Path, where: Path) -> Path:
    bundle = where / text.stem
    (bundle / "smartctl").mkdir(parents=True)
    shutil.copyfile(text, bundle / "smartctl" / "sda.txt")
    return bundle


def _snapshot(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((SNAPSHOTS / f"{name}.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_recorded_bundle_replays_identical(bundle: Path) -> None:
    assert _replay(bundle) == _snapshot(f"bundle-{bundle.name}"), WHY


@pytest.mark.parametrize("text", SMART_TEXTS, ids=[t.stem for t in SMART_TEXTS])
def test_smartctl_bundle_replays_identical(text: Path, tmp_path: Path) -> None:
    assert _replay(_one_disk_bundle(text, tmp_path)) == _snapshot(f"smartctl-{text.stem}"), WHY


def test_every_bundle_has_a_snapshot() -> None:
    expected = {f"bundle-{b.name}.json" for b in BUNDLES}
    expected |= {f"smartctl-{t.stem}.json" for t in SMART_TEXTS}
    assert expected == {p.name for p in SNAPSHOTS.glob("*.json")}


def _write() -> None:
    import tempfile

    SNAPSHOTS.mkdir(exist_ok=True)
    outputs = {f"bundle-{b.name}": _replay(b) for b in BUNDLES}
    with tempfile.TemporaryDirectory() as tmp:
        for text in SMART_TEXTS:
            outputs[f"smartctl-{text.stem}"] = _replay(_one_disk_bundle(text, Path(tmp)))
    for name, data in outputs.items():
        path = SNAPSHOTS / f"{name}.json"
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write()
