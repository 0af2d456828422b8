"""Station settings of the live bench, read at every boot (standard library only: it must run on
any CPU, before the SSE2 preflight).

Sources, weakest first: ``bench.toml`` on the stick's FAT partition (label BENCHCFG) or on the
virtual bench's io share; SMBIOS OEM strings (type 11) ``bench.KEY=VALUE`` (how a hypervisor
passes settings without touching the boot loader); the kernel command line ``bench.KEY=VALUE``
(per-machine PXE menus). The result goes to ``agent.toml`` in the station home (read by
``bench-agent``) and to a shell file of ``BENCH_*`` variables for the init scripts.

The station's signing key when its home is in RAM (``home = "ram"``, a read-only stick, a PXE
boot): taken from ``station_key`` (a setting like the token: the base64 line of an Ed25519 PEM
key, e.g. ``openssl genpkey -algorithm ed25519 | sed -n 2p``), else from ``station.key`` on
BENCHCFG, which is created there at the first boot when the partition is writable. So a reboot
keeps the key the ledger knows, with no admin. The key is written 0600 and never printed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import re
import shlex
import shutil
import sys
import tomllib
from pathlib import Path

# Agent settings (bench_agent.config.AgentSettings fields), with the short names accepted.
AGENT_KEYS = {
    "station": "station",
    "location": "location",
    "ledger_url": "ledger_url",
    "ledger": "ledger_url",
    "token": "token",
    "profile": "profile",
    "language": "language",
    "lang": "language",
    "operator": "operator",
    "allow_removable": "allow_removable",
    "post_sanitization_destination": "post_sanitization_destination",
}
# Settings of the live system itself.
LIVE_KEYS = {
    "mode",
    "keymap",
    "net",
    "screendump",
    "debug_shell",
    "home",
    "asset",
    "lot",
    "disks",
    "image",
}
# Secrets read like the other settings but never written to agent.toml, the env file or a log.
SECRET_KEYS = {"station_key"}
BOOL_KEYS = {"allow_removable", "net", "screendump", "debug_shell"}
MODES = ("app", "unattended")
LANGUAGES = ("en", "fr")
DEFAULT_KEYMAPS = {"fr": "fr-latin9", "en": ""}
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}

LIVE_RUN = Path("/run/bench-live")
RAM_HOME = Path("/var/lib/bench-agent")


class Settings:
    """Merged values plus the problems met on the way (shown to the operator, never fatal)."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.sources: list[str] = []
        self.errors: list[str] = []

    def merge(self, raw: dict[str, object], source: str) -> None:
        if not raw:
            return
        self.sources.append(source)
        for key, value in raw.items():
            name = AGENT_KEYS.get(key, key)
            if name not in AGENT_KEYS.values() and name not in LIVE_KEYS | SECRET_KEYS:
                self.errors.append(f"{source}: unknown setting '{key}'")
                continue
            checked = _check(name, value, source, self.errors)
            if checked is not None:
                self.values[name] = checked


def _check(name: str, value: object, source: str, errors: list[str]) -> object | None:
    if name == "station_key":
        seed = key_seed(str(value))
        if seed is None:  # the value itself is never repeated
            errors.append(f"{source}: 'station_key' is not an Ed25519 key (the PEM's base64 line)")
        return seed
    if name in BOOL_KEYS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        errors.append(f"{source}: '{name}' must be true or false, not '{value}'")
        return None
    if name == "disks":
        items = value if isinstance(value, list) else re.split(r"[,\s]+", str(value))
        return [str(item) for item in items if str(item)]
    text = str(value).strip()
    if name == "language" and text not in LANGUAGES:
        errors.append(f"{source}: language must be one of {', '.join(LANGUAGES)}, not '{text}'")
        return None
    if name == "mode" and text not in MODES:
        errors.append(f"{source}: mode must be one of {', '.join(MODES)}, not '{text}'")
        return None
    return text


def read_bench_toml(path: Path) -> tuple[dict[str, object], str | None]:
    """Top-level keys plus an optional ``[live]`` table, flattened."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc} (fix the file; the defaults are used meanwhile)"
    flat: dict[str, object] = {}
    for key, value in data.items():
        if key == "live" and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat, None


def parse_params(words: list[str]) -> dict[str, object]:
    """``bench.KEY=VALUE`` words (kernel command line, OEM strings); other words are ignored."""
    found: dict[str, object] = {}
    for word in words:
        if not word.startswith("bench."):
            continue
        key, sep, value = word[len("bench.") :].partition("=")
        key = key.replace("-", "_")
        if key in {"root", "io", "wait", "toram", "break"}:
            continue  # the initramfs' own switches
        found[key] = value if sep else "1"
    return found


def parse_cmdline(text: str) -> dict[str, object]:
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    return parse_params(words)


def oem_strings(entries: Path) -> list[str]:
    """Strings of the SMBIOS type 11 structures (``/sys/firmware/dmi/entries/11-*/raw``)."""
    strings: list[str] = []
    for raw_path in sorted(entries.glob("11-*/raw")):
        try:
            raw = raw_path.read_bytes()
        except OSError:
            continue
        if len(raw) < 5:
            continue
        header_length = raw[1]
        area = raw[header_length:]
        for item in area.split(b"\0"):
            if not item:
                break
            strings.append(item.decode("utf-8", "replace"))
    return strings


def default_station_name(net_class: Path) -> str:
    """``bench-`` and the end of the first wired MAC address: unique without configuration."""
    for iface in sorted(net_class.glob("*")):
        if iface.name == "lo" or (iface / "wireless").exists():
            continue
        try:
            mac = (iface / "address").read_text().strip()
        except OSError:
            continue
        if mac and mac != "00:00:00:00:00:00":
            return "bench-" + mac.replace(":", "")[-6:]
    return "bench"


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def read_agent_toml(home: Path) -> dict[str, object]:
    try:
        return tomllib.loads((home / "agent.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def write_agent_toml(home: Path, values: dict[str, object]) -> Path:
    """Merge into an existing ``agent.toml`` (a persistent home keeps what it had)."""
    path = home / "agent.toml"
    current = read_agent_toml(home)
    current.update(values)
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for key in sorted(current):
            handle.write(f"{key} = {toml_value(current[key])}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


# PKCS#8 DER of an Ed25519 private key: this fixed prefix, then the 32-byte seed (RFC 8410).
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
KEY_FILE = "station.key"
ORIGIN_FILE = "station.key.origin"


def key_seed(text: str) -> bytes | None:
    """The 32-byte seed of an Ed25519 key given as the base64 of its PKCS#8 DER (the PEM's
    middle line) or of the raw seed; None when it is neither."""
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) == 48 and raw.startswith(ED25519_PKCS8_PREFIX):
        return raw[len(ED25519_PKCS8_PREFIX) :]
    return raw if len(raw) == 32 else None


def key_pem(seed: bytes) -> bytes:
    body = base64.b64encode(ED25519_PKCS8_PREFIX + seed)
    return b"-----BEGIN PRIVATE KEY-----\n" + body + b"\n-----END PRIVATE KEY-----\n"


def pem_seed(path: Path) -> bytes | None:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return key_seed("".join(line for line in lines if not line.startswith("-----")))


def write_secret(path: Path, data: bytes) -> None:
    """Write a file only its owner reads (0600 from its creation, then renamed in place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def install_station_key(seed: object, config_dir: Path, home: Path, errors: list[str]) -> str:
    """Give a RAM home the station's lasting key; return where it came from ("" if none)."""
    target = home / KEY_FILE
    if target.exists():
        return "home"
    stored = config_dir / KEY_FILE
    source = "setting"
    if not isinstance(seed, bytes):
        seed = pem_seed(stored) if stored.is_file() else None
        source = "BENCHCFG"
        if seed is None and stored.exists():
            errors.append(f"{stored} is not an Ed25519 key: a new key is made for this boot")
    if seed is None and writable_dir(config_dir) and not stored.exists():
        seed = os.urandom(32)
        try:
            write_secret(stored, key_pem(seed))
        except OSError as exc:
            errors.append(f"cannot keep the station key on BENCHCFG: {exc}")
            return ""
    if not isinstance(seed, bytes):
        return ""
    write_secret(target, key_pem(seed))
    # Where the lasting copy is, for 'bench-agent' rotating the key (bench_agent.sync.enroll).
    origin = "setting" if source == "setting" else str(stored)
    (home / ORIGIN_FILE).write_text(origin + "\n", encoding="utf-8")
    return source


def writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def resolve(
    cmdline: str,
    dmi_entries: Path,
    config_dir: Path,
    io_dir: Path,
    ram_home: Path,
    net_class: Path,
) -> tuple[Settings, dict[str, str]]:
    settings = Settings()
    # bench.toml: the stick's partition first, else the virtual bench's io share.
    for directory, label in ((config_dir, "BENCHCFG"), (io_dir, "io share")):
        toml_path = directory / "bench.toml"
        if toml_path.is_file():
            raw, error = read_bench_toml(toml_path)
            if error:
                settings.errors.append(error)
            settings.merge(raw, f"bench.toml ({label})")
            break
    settings.merge(parse_params(oem_strings(dmi_entries)), "SMBIOS OEM strings")
    settings.merge(parse_cmdline(cmdline), "kernel command line")
    values = settings.values

    # The station home: on the stick when it is writable (keys, outbox and journal survive a
    # power cut), else in RAM; a seed directory on the io share is copied in.
    home_choice = str(values.get("home", "auto"))
    persistent = False
    seed: Path | None = None
    if home_choice not in ("auto", "ram"):
        home = Path(home_choice)
        persistent = True
    elif home_choice == "auto" and writable_dir(config_dir):
        home = config_dir / "station"
        persistent = True
    else:
        home = ram_home
        if (io_dir / "station").is_dir():
            seed = io_dir / "station"
    if seed is not None and not (home / "agent.toml").exists():
        shutil.copytree(seed, home, dirs_exist_ok=True)
    key_source = ""
    if not persistent:
        key_source = install_station_key(
            values.get("station_key"), config_dir, home, settings.errors
        )
    if not persistent and seed is None:
        what = "unsent records live" if key_source else "the station key and unsent records live"
        settings.errors.append(
            f"the station home is in RAM: {what} in RAM only until the ledger receives them"
        )

    agent = {name: values[name] for name in set(AGENT_KEYS.values()) if name in values}
    if "station" not in agent and "station" not in read_agent_toml(home):
        agent["station"] = default_station_name(net_class)
    write_agent_toml(home, agent)

    language = str(values.get("language", "fr"))
    keymap = values.get("keymap")
    if keymap is None:
        keymap = DEFAULT_KEYMAPS.get(language, "")
    if keymap in ("none", "us"):
        keymap = ""
    disks = values.get("disks", [])
    env = {
        "BENCH_AGENT_HOME": str(home),
        "BENCH_HOME_PERSISTENT": "1" if persistent else "0",
        "BENCH_LIVE_MODE": str(values.get("mode", "app")),
        "BENCH_LANG": language,
        "BENCH_PROFILE": str(values.get("profile", "")),
        "BENCH_KEYMAP": str(keymap),
        "BENCH_NET": "1" if values.get("net", True) else "0",
        "BENCH_SCREENDUMP": "1" if values.get("screendump", False) else "0",
        "BENCH_DEBUG_SHELL": "1" if values.get("debug_shell", False) else "0",
        "BENCH_RUN_ASSET": str(values.get("asset", "")),
        "BENCH_RUN_LOT": str(values.get("lot", "")),
        "BENCH_RUN_IMAGE": str(values.get("image", "")),
        "BENCH_RUN_DISKS": " ".join(disks) if isinstance(disks, list) else "",
        "BENCH_IO": str(io_dir) if io_dir.is_dir() and os.path.ismount(io_dir) else "",
        # The image catalogue (images/*.toml and their files) on the stick or the io share.
        "BENCH_AGENT_IMAGES": next(
            (str(d / "images") for d in (config_dir, io_dir) if (d / "images").is_dir()), ""
        ),
        "BENCH_SETTINGS_SOURCES": ", ".join(settings.sources) or "defaults",
        "BENCH_SETTINGS_ERROR": "; ".join(settings.errors),
    }
    return settings, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", type=Path, required=True, help="shell file to write")
    parser.add_argument("--cmdline", type=Path, default=Path("/proc/cmdline"))
    parser.add_argument("--dmi", type=Path, default=Path("/sys/firmware/dmi/entries"))
    parser.add_argument("--config-dir", type=Path, default=LIVE_RUN / "config")
    parser.add_argument("--io-dir", type=Path, default=LIVE_RUN / "io")
    parser.add_argument("--ram-home", type=Path, default=RAM_HOME)
    parser.add_argument("--net-class", type=Path, default=Path("/sys/class/net"))
    args = parser.parse_args(argv)
    try:
        cmdline = args.cmdline.read_text(encoding="utf-8", errors="replace")
    except OSError:
        cmdline = ""
    try:
        _settings, env = resolve(
            cmdline, args.dmi, args.config_dir, args.io_dir, args.ram_home, args.net_class
        )
    except OSError as exc:
        # Never leave the init without an environment: fall back to a RAM home.
        env = {
            "BENCH_AGENT_HOME": str(args.ram_home),
            "BENCH_HOME_PERSISTENT": "0",
            "BENCH_LIVE_MODE": "app",
            "BENCH_LANG": "fr",
            "BENCH_SETTINGS_ERROR": f"cannot apply the settings: {exc}",
        }
    args.env.parent.mkdir(parents=True, exist_ok=True)
    with open(args.env, "w", encoding="utf-8") as handle:
        for key, value in env.items():
            handle.write(f"{key}={shlex.quote(value)}\n")
    return 1 if env.get("BENCH_SETTINGS_ERROR") else 0


if __name__ == "__main__":
    sys.exit(main())
