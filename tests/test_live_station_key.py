"""Issue 14: a live bench whose home is in RAM keeps its signing key across reboots.

The key lives beside the token (``station.key`` on the BENCHCFG partition, or the
``station_key`` setting of a PXE menu / SMBIOS OEM string); the settings reader installs it in
the RAM home at each boot, 0600, and never prints it. A real ledger accepts the rebooted bench's
enrolment and records without an admin.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from bench_agent.config import load_settings
from bench_agent.signing import generate_key, key_id, load_private_key
from tests.test_ledger_support import Ledger, make_record, start_ledger
from tests.test_live_settings import bench_settings


def boot(tmp_path: Path, ram: str, cmdline: str = "", config: Path | None = None) -> Path:
    """One boot of the settings reader with a fresh RAM home; returns that home."""
    net = tmp_path / "net"
    (net / "eth0").mkdir(parents=True, exist_ok=True)
    (net / "eth0" / "address").write_text("52:54:00:12:ab:cd\n")
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    home = tmp_path / ram
    bench_settings.main([
        "--env", str(tmp_path / f"{ram}.env"), "--cmdline", str(tmp_path / "cmdline"),
        "--dmi", str(tmp_path / "no-dmi"), "--config-dir", str(config or tmp_path / "no-cfg"),
        "--io-dir", str(tmp_path / "no-io"), "--ram-home", str(home),
        "--net-class", str(net),
    ])  # fmt: skip
    return home


def benchcfg(tmp_path: Path, ledger: Ledger) -> Path:
    config = tmp_path / "BENCHCFG"
    config.mkdir()
    (config / "bench.toml").write_text(
        f'ledger = "{ledger.url}"\ntoken = "{ledger.tokens["bench-1"]}"\n'
        'station = "bench-1"\n[live]\nhome = "ram"\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "ledger").mkdir()
    running = start_ledger("sqlite", tmp_path / "ledger")
    try:
        yield running
    finally:
        running.server.stop()
        running.store.dispose()


def _enrol_and_send(home: Path, ledger: Ledger, n: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the live image does after a boot: enrol (its stamp is in RAM, so every boot), then
    send a signed record; returns the key id it enrolled with."""
    from bench_agent.sync import submit_record, sync_once
    from bench_agent.sync.enroll import enroll

    monkeypatch.setenv("BENCH_AGENT_HOME", str(home))
    enrolled = enroll(ledger.url, ledger.tokens["bench-1"], settings=load_settings())
    settings = load_settings()
    record_id = submit_record(make_record(n=n), settings, send_now=False)
    sync_once(settings)
    stored = ledger.count(f"SELECT COUNT(*) FROM records WHERE record_id = '{record_id}'")
    assert stored == 1, f"record of boot {n} not accepted"
    return enrolled["key_id"]


def test_a_ram_home_bench_keeps_its_key_on_benchcfg_across_reboots(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = benchcfg(tmp_path, ledger)
    first = boot(tmp_path, "ram-1", config=config)
    assert not (first / "station.key").is_symlink()
    kept = config / "station.key"
    for path in (kept, first / "station.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    key_1 = _enrol_and_send(first, ledger, 1, monkeypatch)
    # Reboot: RAM is gone, BENCHCFG holds what it held.
    second = boot(tmp_path, "ram-2", config=config)
    assert (second / "station.key").read_bytes() == kept.read_bytes()
    key_2 = _enrol_and_send(second, ledger, 2, monkeypatch)
    assert key_1 == key_2
    assert ledger.count("SELECT COUNT(*) FROM station_keys") == 1  # no reset, no new key
    # The key is never printed: not in the env file, agent.toml or the settings' messages.
    secret = kept.read_text().splitlines()[1]
    for shown in (tmp_path / "ram-2.env", second / "agent.toml"):
        assert secret not in shown.read_text()


def test_a_pxe_bench_takes_its_key_from_the_station_key_setting(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key(tmp_path / "admin-made.key")
    line = (tmp_path / "admin-made.key").read_text().splitlines()[1]  # the PEM's base64 line
    cmdline = (
        f"quiet bench.ledger={ledger.url} bench.token={ledger.tokens['bench-1']} "
        f"bench.station=bench-1 bench.station_key={line}"
    )
    ids = set()
    for n in (1, 2):
        home = boot(tmp_path, f"pxe-{n}", cmdline=cmdline)
        assert stat.S_IMODE((home / "station.key").stat().st_mode) == 0o600
        assert key_id(load_private_key(home / "station.key").public_key()) == key_id(
            key.public_key()
        )
        ids.add(_enrol_and_send(home, ledger, 10 + n, monkeypatch))
        for shown in (tmp_path / f"pxe-{n}.env", home / "agent.toml"):
            assert line not in shown.read_text()
    assert ids == {key_id(key.public_key())}


def test_a_bad_station_key_is_reported_without_its_value(tmp_path: Path) -> None:
    bad = base64.b64encode(b"x" * 31).decode()
    home = boot(tmp_path, "ram", cmdline=f"bench.station_key={bad}")
    env = (tmp_path / "ram.env").read_text()
    assert "station_key" in env and "is not an Ed25519 key" in env
    assert bad not in env
    assert not (home / "station.key").exists()
    # A raw 32-byte seed is accepted as well as the PEM line.
    seed = base64.b64encode(bytes(range(32))).decode()
    home = boot(tmp_path, "ram-seed", cmdline=f"bench.station_key={seed}")
    load_private_key(home / "station.key")


def test_a_key_rotated_on_a_ram_home_is_kept_on_benchcfg(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench_agent.errors import InputError
    from bench_agent.sync.enroll import rotate_key

    config = benchcfg(tmp_path, ledger)
    first = boot(tmp_path, "ram-1", config=config)
    before = _enrol_and_send(first, ledger, 40, monkeypatch)
    rotated = rotate_key(load_settings())["key_id"]
    assert rotated != before
    kept = config / "station.key"
    assert kept.read_bytes() == (first / "station.key").read_bytes()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # The reboot brings the rotated key back: enrolment and records go on, no admin.
    second = boot(tmp_path, "ram-2", config=config)
    assert _enrol_and_send(second, ledger, 41, monkeypatch) == rotated
    # A key given by the PXE menu cannot be rotated from the bench: refused, nothing changed.
    line = (tmp_path / "ram-2" / "station.key").read_text().splitlines()[1]
    pxe = boot(tmp_path, "pxe", cmdline=f"bench.station_key={line}")
    monkeypatch.setenv("BENCH_AGENT_HOME", str(pxe))
    (pxe / "agent.toml").write_text((second / "agent.toml").read_text())
    with pytest.raises(InputError, match="boot settings"):
        rotate_key(load_settings())
    assert (pxe / "station.key").read_text().splitlines()[1] == line
