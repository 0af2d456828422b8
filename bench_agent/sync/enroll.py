"""Enrolment: bind this station to a ledger with the token an admin created for it.

Checks the token with the ledger (which station it belongs to), stores the ledger URL, token
and station name in ``agent.toml`` (0600), creates the station's Ed25519 key pair if needed and
publishes the public key, so the ledger can verify every record and certificate it signs.
"""

from __future__ import annotations

from typing import Any

import httpx

from bench_agent.config import AgentSettings, save_settings
from bench_agent.errors import EXIT_UNAVAILABLE, BenchError, InputError
from bench_agent.i18n import _
from bench_agent.signing import key_id, load_or_create_key, public_key_text

TIMEOUT = httpx.Timeout(15.0, connect=5.0)


def _call(method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
    try:
        return httpx.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT, **kwargs
        )
    except httpx.HTTPError as exc:
        raise BenchError(
            _("Cannot reach the ledger at {url}: {error}", url=url, error=exc),
            _("Check the address (http://HOST:PORT) and that the ledger is running."),
            exit_code=EXIT_UNAVAILABLE,
        ) from exc


def enroll(
    ledger_url: str, token: str, station: str | None = None, *, settings: AgentSettings
) -> dict[str, str]:
    """Enrol this station; return the stored settings (station, ledger_url, key_id)."""
    ledger_url = ledger_url.strip().rstrip("/")
    if not ledger_url.startswith(("http://", "https://")):
        raise InputError(
            _("The ledger address '{url}' is not an http(s) URL.", url=ledger_url),
            _("Give it as http://HOST:PORT, e.g. http://ledger.local:8080."),
        )
    token = token.strip()
    if not token:
        raise InputError(
            _("The token is empty."), _("Paste the token 'bench-ledger station add' printed.")
        )
    response = _call("GET", f"{ledger_url}/api/v1/me", token)
    if response.status_code == 401:
        raise BenchError(
            _("The ledger does not accept this token."),
            _("Check the token, or ask an admin for a new one (bench-ledger station add)."),
            exit_code=EXIT_UNAVAILABLE,
        )
    if response.status_code != 200:
        raise BenchError(
            _("The ledger answered {code} to the token check.", code=response.status_code),
            _("Check that the address is the ledger's (http://HOST:PORT)."),
            exit_code=EXIT_UNAVAILABLE,
        )
    me = response.json()
    if me.get("kind") != "station":
        raise InputError(
            _("This token belongs to a user, not to a station."),
            _("Use the token printed by 'bench-ledger station add'."),
        )
    name = str(me.get("name", ""))
    if station and station != name:
        raise InputError(
            _(
                "The token belongs to station '{name}', not '{station}'.",
                name=name,
                station=station,
            ),
            _("Leave out --station, or use the token of station '{station}'.", station=station),
        )
    save_settings({"ledger_url": ledger_url, "token": token, "station": name}, settings.home)
    key = load_or_create_key(settings.key_path)
    public = public_key_text(key.public_key())
    published = _call(
        "POST", f"{ledger_url}/api/v1/stations/{name}/key", token, json={"public_key": public}
    )
    if published.status_code == 409:
        raise BenchError(
            _(
                "The ledger holds another key for station '{name}' and refuses a new one.",
                name=name,
            ),
            _(
                "If this bench lost its key, an admin runs 'bench-ledger station reset-key "
                "{name}', then enrol again.",
                name=name,
            ),
            exit_code=EXIT_UNAVAILABLE,
        )
    if published.status_code != 200:
        raise BenchError(
            _("The ledger refused the station's public key ({code}).", code=published.status_code),
            _("Run 'bench-agent enroll' again; if it persists, check the ledger's log."),
            exit_code=EXIT_UNAVAILABLE,
        )
    return {"station": name, "ledger_url": ledger_url, "key_id": key_id(key.public_key())}


# ----------------------------------------------------------------------------- key rotation
ROTATION_PURPOSE = "bench-ledger/key-rotation"


def rotation_statement(station: str, new_public_key: str) -> bytes:
    """What the station's current key signs to hand over to a new key."""
    from bench_agent.signing import canonical_json

    return canonical_json(
        {"purpose": ROTATION_PURPOSE, "station": station, "new_public_key": new_public_key}
    )


def sign_rotation(current_key: Any, station: str, new_public_key: str) -> str:
    """The ``rotation_signature`` for ``POST /stations/NAME/key`` (base64 Ed25519)."""
    import base64

    return base64.b64encode(current_key.sign(rotation_statement(station, new_public_key))).decode(
        "ascii"
    )


def rotate_key(settings: AgentSettings) -> dict[str, str]:
    """Replace this station's signing key, the hand-over signed by the current key.

    The new key is written beside the current one, published with ``rotation_signature``,
    and only then takes the current key's place (a refusal leaves everything as it was). Send
    the outbox first (``bench-agent sync --once``): records signed with the old key and sent
    after the rotation are refused by the ledger (quarantined as key-mismatch).
    """
    import os

    from bench_agent.signing import generate_key, load_private_key

    if not (settings.ledger_url and settings.token and settings.station):
        raise InputError(
            _("This station is not enrolled with a ledger."),
            _("Run 'bench-agent enroll --ledger URL --token TOKEN' first."),
        )
    lasting = _lasting_copy(settings.key_path)
    current = load_private_key(settings.key_path)
    staged = settings.key_path.parent / "station-new.key"
    new = generate_key(staged)
    public = public_key_text(new.public_key())
    try:
        published = _call(
            "POST",
            f"{settings.ledger_url}/api/v1/stations/{settings.station}/key",
            settings.token,
            json={
                "public_key": public,
                "rotation_signature": sign_rotation(current, settings.station, public),
            },
        )
        if published.status_code != 200:
            raise BenchError(
                _(
                    "The ledger refused the new key ({code}): the station keeps its key.",
                    code=published.status_code,
                ),
                _("Check that this station is enrolled with its current key (bench-agent enroll)."),
                exit_code=EXIT_UNAVAILABLE,
            )
    except BaseException:
        staged.unlink(missing_ok=True)
        staged.with_suffix(".pub").unlink(missing_ok=True)
        raise
    os.replace(staged, settings.key_path)
    os.replace(staged.with_suffix(".pub"), settings.key_path.with_suffix(".pub"))
    if lasting is not None:
        _keep_copy(settings.key_path, lasting)
    return {"station": settings.station, "key_id": key_id(new.public_key())}


def _lasting_copy(key_path: Any) -> Any:
    """Where a live bench's RAM home keeps its key across reboots (the settings reader wrote
    ``station.key.origin``): a path on BENCHCFG, or None. A key given by the boot settings
    (``station_key``) cannot be rotated from the bench: refused before anything changes."""
    from pathlib import Path

    try:
        origin = (key_path.parent / "station.key.origin").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if origin == "setting":
        raise InputError(
            _("This station's key comes from its boot settings (station_key): it stays."),
            _(
                "Give the station a new key in its boot settings, then an admin runs "
                "'bench-ledger station reset-key'."
            ),
        )
    return Path(origin) if origin else None


def _keep_copy(key_path: Any, lasting: Any) -> None:
    """Write the rotated key over its lasting copy (0600, atomically)."""
    import os

    tmp = lasting.with_name(lasting.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_path.read_bytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, lasting)
    except OSError as exc:
        raise BenchError(
            _(
                "The new key is in use but could not be kept at {path}: {error}",
                path=lasting,
                error=exc,
            ),
            _(
                "Copy {key} to {path} before the next reboot, or the ledger refuses the old key.",
                key=key_path,
                path=lasting,
            ),
        ) from exc
