"""The live image's boot-time pieces that run on the host too: the settings reader (bench.toml,
SMBIOS OEM strings, kernel command line → agent.toml + shell variables), the CPU preflight
(real lscpu outputs of an Athlon XP and a Pentium III, which lack SSE2) and the build script's
argument checks."""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
LIVE_LIB = ROOT / "scripts" / "live" / "rootfs" / "usr" / "lib" / "bench-live"


def _load_settings_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_settings", LIVE_LIB / "bench_settings.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_settings = _load_settings_module()


def smbios_type11(index: int, strings: list[str]) -> bytes:
    """An SMBIOS type 11 structure (OEM strings) as /sys/firmware/dmi/entries/11-N/raw holds it:
    type, length 5, handle, count, then the NUL-terminated strings and a final NUL."""
    header = struct.pack("<BBHB", 11, 5, 0x0B00 + index, len(strings))
    return header + b"".join(s.encode() + b"\0" for s in strings) + b"\0"


def resolve(
    tmp_path: Path,
    cmdline: str = "",
    toml: str | None = None,
    oem: list[str] | None = None,
    config_writable: bool = True,
    io_station: bool = False,
):  # type: ignore[no-untyped-def]
    dmi = tmp_path / "dmi"
    dmi.mkdir(exist_ok=True)
    if oem:
        (dmi / "11-0").mkdir(exist_ok=True)
        (dmi / "11-0" / "raw").write_bytes(smbios_type11(0, oem))
    config = tmp_path / "config"
    io = tmp_path / "io"
    io.mkdir(exist_ok=True)
    if config_writable:
        config.mkdir(exist_ok=True)
        if toml is not None:
            (config / "bench.toml").write_text(toml, encoding="utf-8")
    elif toml is not None:
        (io / "bench.toml").write_text(toml, encoding="utf-8")
    if io_station:
        (io / "station").mkdir(exist_ok=True)
        (io / "station" / "station.key").write_text("seed key\n")
    net = tmp_path / "net"
    (net / "lo").mkdir(parents=True, exist_ok=True)
    (net / "lo" / "address").write_text("00:00:00:00:00:00\n")
    (net / "eth0").mkdir(exist_ok=True)
    (net / "eth0" / "address").write_text("52:54:00:12:ab:cd\n")
    return bench_settings.resolve(cmdline, dmi, config, io, tmp_path / "ram-home", net)


def test_precedence_toml_then_oem_strings_then_command_line(tmp_path: Path) -> None:
    toml = (
        'ledger = "http://ledger.example:8080"\ntoken = "from-toml"\nprofile = "pentium4"\n'
        'language = "fr"\nlocation = "Atelier 2"\n[live]\nkeymap = "be-latin1"\n'
    )
    settings, env = resolve(
        tmp_path,
        cmdline="BOOT_IMAGE=/live/vmlinuz quiet bench.token=from-cmdline bench.lang=en "
        'bench.root=9p:live "bench.operator=Jean Dupont"',
        toml=toml,
        oem=["bench.token=from-oem", "bench.profile=modern-2024", "something-else=1"],
    )
    agent = tomllib.loads((tmp_path / "config" / "station" / "agent.toml").read_text())
    assert agent["ledger_url"] == "http://ledger.example:8080"
    assert agent["token"] == "from-cmdline"  # the command line wins over OEM strings and file
    assert agent["profile"] == "modern-2024"  # OEM strings win over the file
    assert agent["language"] == "en"
    assert agent["operator"] == "Jean Dupont"
    assert agent["location"] == "Atelier 2"
    assert agent["station"] == "bench-12abcd"  # from the wired MAC, as nothing named it
    assert "root" not in agent  # the initramfs' own switches stay out
    assert env["BENCH_AGENT_HOME"] == str(tmp_path / "config" / "station")
    assert env["BENCH_HOME_PERSISTENT"] == "1"
    assert env["BENCH_KEYMAP"] == "be-latin1"
    assert env["BENCH_LANG"] == "en"
    assert settings.sources == [
        "bench.toml (BENCHCFG)",
        "SMBIOS OEM strings",
        "kernel command line",
    ]
    assert env["BENCH_SETTINGS_ERROR"] == ""


def test_bad_values_are_reported_and_ignored(tmp_path: Path) -> None:
    _settings, env = resolve(
        tmp_path,
        cmdline="bench.lang=de bench.net=maybe bench.mode=batch bench.colour=red bench.profile=pentium4",
    )
    error = env["BENCH_SETTINGS_ERROR"]
    assert "language must be one of en, fr, not 'de'" in error
    assert "'net' must be true or false, not 'maybe'" in error
    assert "mode must be one of app, unattended, not 'batch'" in error
    assert "unknown setting 'colour'" in error
    assert env["BENCH_LANG"] == "fr" and env["BENCH_NET"] == "1" and env["BENCH_LIVE_MODE"] == "app"
    agent = tomllib.loads((tmp_path / "config" / "station" / "agent.toml").read_text())
    assert agent["profile"] == "pentium4"  # the good values still apply
    assert "language" not in agent


def test_malformed_bench_toml_names_the_file_and_defaults_apply(tmp_path: Path) -> None:
    _settings, env = resolve(tmp_path, toml='ledger_url = "http://x\nprofile = ', cmdline="")
    assert str(tmp_path / "config" / "bench.toml") in env["BENCH_SETTINGS_ERROR"]
    assert env["BENCH_LIVE_MODE"] == "app"
    assert env["BENCH_KEYMAP"] == "fr-latin9"  # French by default, so AZERTY


def test_persistent_home_keeps_its_station_name_and_merges(tmp_path: Path) -> None:
    home = tmp_path / "config" / "station"
    home.mkdir(parents=True)
    (home / "agent.toml").write_text('station = "bench-3"\ntoken = "old"\n')
    resolve(tmp_path, cmdline="bench.token=new")
    agent = tomllib.loads((home / "agent.toml").read_text())
    assert agent == {"station": "bench-3", "token": "new"}


def test_without_a_writable_partition_the_home_is_in_ram_seeded_from_the_io_share(
    tmp_path: Path,
) -> None:
    _settings, env = resolve(
        tmp_path,
        toml='profile = "test-bench"\n',
        config_writable=False,
        io_station=True,
        cmdline="bench.mode=unattended bench.disks=sda,nvme0n1 bench.asset=A-1",
    )
    ram = tmp_path / "ram-home"
    assert env["BENCH_AGENT_HOME"] == str(ram)
    assert env["BENCH_HOME_PERSISTENT"] == "0"
    assert (ram / "station.key").read_text() == "seed key\n"
    assert tomllib.loads((ram / "agent.toml").read_text())["profile"] == "test-bench"
    assert env["BENCH_LIVE_MODE"] == "unattended"
    assert env["BENCH_RUN_DISKS"] == "sda nvme0n1"
    assert env["BENCH_RUN_ASSET"] == "A-1"


def test_env_file_is_valid_shell_even_with_quotes_and_spaces(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    cmdline = tmp_path / "cmdline"
    cmdline.write_text('quiet "bench.location=L\'atelier du 2e" bench.lang=en\n')
    (tmp_path / "net").mkdir()
    code = bench_settings.main([
        "--env", str(env_file), "--cmdline", str(cmdline), "--dmi", str(tmp_path / "none"),
        "--config-dir", str(tmp_path / "missing"), "--io-dir", str(tmp_path / "missing-io"),
        "--ram-home", str(tmp_path / "ram"), "--net-class", str(tmp_path / "net"),
    ])  # fmt: skip
    assert code == 1  # a RAM-only home is worth a warning on screen
    shown = subprocess.run(
        ["bash", "-c", f'. "{env_file}" && printf "%s|%s" "$BENCH_LANG" "$BENCH_SETTINGS_ERROR"'],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lang, error = shown.split("|", 1)
    assert lang == "en"
    assert "the station key and unsent records live in RAM" in error
    agent = tomllib.loads((tmp_path / "ram" / "agent.toml").read_text())
    assert agent["location"] == "L'atelier du 2e"
    assert agent["station"] == "bench"  # no wired card: the plain default


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("athlon-xp-2500-barton-f6bdec.lscpu.txt", "missing sse2 AMD Athlon(tm) XP 2500+"),
        ("pentium3-coppermine-2socket-d6b515.lscpu.txt", "missing sse2 Pentium III (Coppermine)"),
        (
            "pentium4-willamette-htflag-1thread-069ba0.lscpu.txt",
            "ok Intel(R) Pentium(R) 4 CPU 1.60GHz",
        ),
        ("pentium-m-dothan-0ac19d.lscpu.txt", "ok Intel(R) Pentium(R) M processor 1.73GHz"),
        ("amd-epyc-kvm-this-vm.cpuinfo.txt", "ok AMD EPYC"),
    ],
)
def test_cpu_preflight_on_real_processors(fixture: str, expected: str) -> None:
    done = subprocess.run(
        [str(LIVE_LIB / "cpu-preflight")],
        env={**os.environ, "CPUINFO": str(FIXTURES / "cpu" / fixture)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.stdout.strip() == expected
    assert done.returncode == (1 if expected.startswith("missing") else 0)


def test_cpu_preflight_runs_under_a_plain_posix_shell() -> None:
    """It runs before anything else on any CPU: no bash-isms, no Python."""
    text = (LIVE_LIB / "cpu-preflight").read_text()
    assert text.startswith("#!/bin/sh\n")
    done = subprocess.run(
        ["busybox", "sh", str(LIVE_LIB / "cpu-preflight")],
        env={"CPUINFO": str(FIXTURES / "cpu" / "pentium3-coppermine-2socket-d6b515.lscpu.txt"),
             "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.stdout.startswith("missing sse2"), done.stderr


def test_build_live_refuses_an_unknown_architecture() -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-live"), "--arch", "sparc"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown architecture 'sparc'" in done.stderr
    assert "hint:" in done.stderr
