"""Personalising an imaged education master: hostname from the asset tag, a fresh machine-id
at first boot, the workshop's contact and maintenance terms, the family's language.

It runs after the verified write (the range hashes describe the master, unchanged) and is
verified on its own: every file it writes is read back from a fresh mount and its SHA-256 goes
into the image report. A disk whose root is not an education master (no
``/etc/education-master``) is left as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bench_agent.durable import atomic_write
from bench_agent.errors import BenchError
from bench_agent.i18n import N_, translate
from bench_agent.imaging.grow import partition_loop, run_tool
from bench_agent.imaging.partitions import is_ext_filesystem, read_partition_table
from bench_agent.models.image import ImageReport

if TYPE_CHECKING:
    from bench_agent.config import AgentSettings

MASTER_MARK = "etc/education-master"
MAX_HOSTNAME = 63
MAINTENANCE_YEARS = 3


@dataclass
class Personalisation:
    """What the bench writes into one imaged computer."""

    asset_tag: str
    workshop: str = ""
    contact: str = ""
    language: str = "fr"
    lot: str = ""
    station: str = ""
    delivered: date | None = None
    maintenance_years: int = MAINTENANCE_YEARS

    @classmethod
    def for_station(cls, settings: AgentSettings, asset_tag: str, lot: str = "") -> Personalisation:
        """One machine's tag and lot, with this station's workshop, contact and language."""
        return cls(
            asset_tag=asset_tag,
            workshop=settings.workshop or settings.location,
            contact=settings.support_contact,
            language=settings.language,
            lot=lot,
            station=settings.station,
        )


@dataclass
class PersonalisationResult:
    hostname: str
    hostname_note: str
    files: dict[str, str] = field(default_factory=dict)  # path in the root -> SHA-256


class PersonalisationFailed(BenchError):
    pass


def valid_hostname(tag: str) -> tuple[str, str]:
    """The asset tag made a valid hostname (RFC 1123 label), and how it was changed ("" if not).

    Letters (ASCII), digits and '-' are kept with their case; every other run of characters
    becomes one '-'; leading and trailing '-' go; at most 63 characters; an empty result is
    "pc".
    """
    label = re.sub(r"[^A-Za-z0-9-]+", "-", tag.strip())
    label = re.sub(r"-{2,}", "-", label).strip("-")[:MAX_HOSTNAME].rstrip("-") or "pc"
    if label == tag:
        return label, ""
    return label, translate(
        N_("asset tag '{tag}' is not a valid hostname: became '{hostname}'"),
        "en",
        tag=tag,
        hostname=label,
    )


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def about_text(p: Personalisation, hostname: str) -> str:
    """The text of "About this computer", in the family's language."""
    lang = p.language if p.language in ("fr", "en") else "en"
    delivered = p.delivered or date.today()
    lines = [
        translate(N_("About this computer"), lang),
        "",
        translate(N_("Asset tag: {tag}"), lang, tag=p.asset_tag),
        translate(N_("Computer name: {hostname}"), lang, hostname=hostname),
        translate(
            N_("Maintenance: {years} years from delivery ({start} to {end})."),
            lang,
            years=p.maintenance_years,
            start=delivered.isoformat(),
            end=_add_years(delivered, p.maintenance_years).isoformat(),
        ),
        translate(
            N_("Refurbished by: {workshop}"),
            lang,
            workshop=p.workshop or translate(N_("the workshop"), lang),
        ),
    ]
    if p.contact:
        lines.append(translate(N_("Support: {contact}"), lang, contact=p.contact))
    if p.lot:
        lines.append(translate(N_("Lot: {lot}"), lang, lot=p.lot))
    return "\n".join(lines) + "\n"


def desktop_entry(p: Personalisation) -> str:
    """The "About this computer" desktop entry, carrying the asset tag and the contact."""
    comment_en = translate(N_("Asset tag {tag}, maintenance and contact"), "en", tag=p.asset_tag)
    comment_fr = translate(N_("Asset tag {tag}, maintenance and contact"), "fr", tag=p.asset_tag)
    return (
        "[Desktop Entry]\nType=Application\n"
        f"Name={translate(N_('About this computer'), 'en')}\n"
        f"Name[fr]={translate(N_('About this computer'), 'fr')}\n"
        f"Comment={comment_en}\nComment[fr]={comment_fr}\n"
        "Exec=/usr/lib/education-master/about\nIcon=computer\nCategories=System;\n"
    )


_LOCALES = {"fr": "fr_FR.UTF-8", "en": "en_US.UTF-8"}


def personal_files(p: Personalisation) -> tuple[dict[str, bytes], str, str]:
    """The files written into the root (relative path -> content), the hostname and its note."""
    hostname, note = valid_hostname(p.asset_tag)
    locale = _LOCALES.get(p.language, _LOCALES["fr"])
    files = {
        "etc/hostname": f"{hostname}\n",
        "etc/hosts": (
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
        # Empty: systemd makes a fresh machine-id at the first boot, so two computers imaged
        # from one master never share it.
        "etc/machine-id": "",
        "etc/default/locale": f"LANG={locale}\n",
        "etc/education-master/about.txt": about_text(p, hostname),
        "etc/education-master/asset.conf": (
            f"ASSET_TAG={_shell_quote(p.asset_tag)}\nHOSTNAME={hostname}\n"
            f"LOT={_shell_quote(p.lot)}\nSTATION={_shell_quote(p.station)}\n"
            f"WORKSHOP={_shell_quote(p.workshop)}\nCONTACT={_shell_quote(p.contact)}\n"
            f"LANGUAGE={p.language}\n"
        ),
        "usr/share/applications/education-about.desktop": desktop_entry(p),
    }
    return {k: v.encode("utf-8") for k, v in files.items()}, hostname, note


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _root_partition(device: str) -> tuple[int, int] | None:
    """(offset, size) of the last ext2/3/4 partition, where the master's root lives."""
    fd = os.open(device, os.O_RDONLY)
    try:
        table = read_partition_table(fd)
        ss = table.sector_size
        for part in reversed(table.partitions):
            if is_ext_filesystem(fd, part.start_byte(ss)):
                return part.start_byte(ss), part.end_byte(ss) - part.start_byte(ss)
    finally:
        os.close(fd)
    return None


@contextlib.contextmanager
def _mounted(loop: str, *, read_only: bool) -> Iterator[Path]:
    target = Path(tempfile.mkdtemp(prefix="bench-personalise-"))
    options = "ro,noload" if read_only else "rw"
    result = run_tool(["mount", "-t", "ext4", "-o", options, loop, str(target)])
    if result.returncode != 0:
        target.rmdir()
        raise PersonalisationFailed(
            translate(
                N_("Cannot mount the imaged root filesystem: {error}"),
                None,
                error=(result.stderr or result.stdout).strip()[-200:],
            ),
            translate(N_("Run as root; check the disk with e2fsck."), None),
        )
    try:
        yield target
    finally:
        run_tool(["umount", str(target)])
        target.rmdir()


def personalise(device: str, p: Personalisation) -> PersonalisationResult | None:
    """Write ``p`` into the master on ``device``, then read every file back and hash it.

    Returns None when the disk holds no education master (e.g. the test master).
    Raises ``PersonalisationFailed`` when a file reads back different from what was written.
    """
    where = _root_partition(device)
    if where is None:
        return None
    files, hostname, note = personal_files(p)
    with partition_loop(device, *where) as loop:
        # Looked at read-only first: any other master's filesystem stays byte for byte as written.
        with _mounted(loop, read_only=True) as root:
            if not (root / MASTER_MARK).is_dir():
                return None
        with _mounted(loop, read_only=False) as root:
            for rel, content in files.items():
                atomic_write(root / rel, content, mode=0o644)
            # Generalised again, whatever the master held: no D-Bus copy of a machine-id.
            with contextlib.suppress(FileNotFoundError):
                (root / "var/lib/dbus/machine-id").unlink()
            os.sync()
        result = PersonalisationResult(hostname=hostname, hostname_note=note)
        # Verified on its own: a fresh read-only mount, every file compared with what was meant.
        run_tool(["blockdev", "--flushbufs", loop])
        with _mounted(loop, read_only=True) as root:
            for rel, content in files.items():
                try:
                    got = (root / rel).read_bytes()
                except OSError as exc:
                    got = f"<{exc.strerror}>".encode()
                digest = hashlib.sha256(got).hexdigest()
                if got != content:
                    raise PersonalisationFailed(
                        translate(
                            N_("The personalised file /{path} reads back different."),
                            None,
                            path=rel,
                        ),
                        translate(N_("The disk may be failing: test it, or use another."), None),
                    )
                result.files["/" + rel] = digest
    return result


def personalise_into_report(report: ImageReport, device: str, p: Personalisation) -> None:
    """Personalise the just-written ``device`` and record what was written in ``report``."""
    report.asset_tag = p.asset_tag
    result = personalise(device, p)
    if result is not None:
        report.hostname = result.hostname
        report.hostname_note = result.hostname_note
        report.personalised_files = result.files
