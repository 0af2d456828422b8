"""``bench-agent inventory``, ``check`` and ``profiles``: what is in this machine, is it good
enough for a profile, and which profiles exist."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_agent.i18n import _

if TYPE_CHECKING:
    from bench_agent.inventory.profiles import Profile
    from bench_agent.models.inventory import Inventory
    from bench_agent.models.record import AutoCheck
    from bench_agent.models.verdict import Verdict

# Symbols AND words: never colour alone; ASCII so the Linux text console shows them.
SYMBOLS = {
    "pass": "[+]",
    "warn": "[!]",
    "fail": "[x]",
    "unknown": "[?]",
    "remediate": "[>]",
    "skipped": "[-]",
}


def register(sub: Any) -> None:
    inv = sub.add_parser("inventory", help=_("list the hardware of this machine"))
    inv.add_argument("--json", action="store_true", help=_("print JSON instead of tables"))
    inv.add_argument(
        "--evidence",
        metavar="DIR",
        type=Path,
        help=_("rebuild the inventory from a saved evidence bundle"),
    )
    inv.add_argument(
        "--save-evidence", metavar="DIR", type=Path, help=_("save every raw source read into DIR")
    )
    inv.add_argument(
        "--no-smart", action="store_true", help=_("do not query the disks' SMART data (faster)")
    )
    inv.set_defaults(func=run_inventory)

    chk = sub.add_parser("check", help=_("grade this machine against a minimum-spec profile"))
    chk.add_argument(
        "--profile",
        metavar="NAME",
        help=_("profile name or TOML file (default: the station's profile)"),
    )
    chk.add_argument(
        "--json", action="store_true", help=_("print the inventory, verdict and checks as JSON")
    )
    chk.add_argument(
        "--evidence",
        metavar="DIR",
        type=Path,
        help=_("grade a saved evidence bundle instead of this machine"),
    )
    chk.add_argument(
        "--save-evidence", metavar="DIR", type=Path, help=_("save every raw source read into DIR")
    )
    chk.add_argument(
        "--quick",
        action="store_true",
        help=_("skip the long automatic checks (seconds instead of a minute)"),
    )
    chk.add_argument(
        "--self-test", action="store_true", help=_("run each disk's SMART short self-test first")
    )
    chk.set_defaults(func=run_check)

    prof = sub.add_parser("profiles", help=_("list the minimum-spec profiles"))
    prof.add_argument("--json", action="store_true", help=_("print JSON instead of tables"))
    prof.set_defaults(func=run_profiles)


def _check_evidence_dir(path: Path | None) -> None:
    from bench_agent.errors import InputError

    if path is not None and not path.is_dir():
        raise InputError(
            _("Evidence bundle {path} is not a directory.", path=path),
            _("Give the folder written by --save-evidence."),
        )


# --- inventory ---------------------------------------------------------------------------


def _health_word(level: str) -> str:
    words = {"pass": _("good"), "warn": _("worn"), "fail": _("failing"), "unknown": _("unknown")}
    return f"{SYMBOLS.get(level, '[?]')} {words.get(level, level)}"


def print_inventory(inventory: Inventory) -> None:
    from bench_agent.console.output import human_bytes, print_table

    cpu, memory, system = inventory.cpu, inventory.memory, inventory.system
    print(_("Machine"))
    identity = " ".join(x for x in (system.vendor, system.product) if x) or _("unknown")
    print("  " + _("model: {identity}", identity=identity))
    print(
        "  "
        + _(
            "serial: {serial}   machine id: {machine_id}",
            serial=system.serial or "-",
            machine_id=system.machine_id,
        )
    )
    print()
    print(_("Processor"))
    print("  " + (cpu.model or _("unknown")))
    features = []
    features.append(_("64-bit") if cpu.is_64bit else _("32-bit only"))
    features.append("SSE2" if cpu.has_sse2 else _("no SSE2"))
    features.append("PAE" if cpu.has_pae else _("no PAE"))
    mhz = f"{cpu.mhz:.0f} MHz" if cpu.mhz else "? MHz"
    print(
        "  "
        + _(
            "{mhz}, {cores} core(s), {threads} thread(s); {features}",
            mhz=mhz,
            cores=cpu.physical_cores or "?",
            threads=cpu.logical_cpus,
            features=", ".join(features),
        )
    )
    print()
    print(_("Memory"))
    # RAM is counted in binary megabytes, as the workshop and the module labels do.
    line = _("{usable} usable", usable=f"{memory.total_bytes / (1 << 20):.0f} MB")
    if memory.installed_bytes:
        line += "; " + _(
            "{installed} installed in {count} module(s)",
            installed=f"{memory.installed_bytes / (1 << 20):.0f} MB",
            count=len(memory.modules),
        )
    print("  " + line)
    print()
    rows = []
    for disk in inventory.disks:
        media = (
            "SSD"
            if disk.rotational is False and disk.kind == "disk"
            else "HDD"
            if disk.rotational
            else "-"
        )
        rows.append(
            [
                disk.name,
                disk.model or "-",
                human_bytes(disk.size_bytes),
                media,
                disk.transport,
                disk.serial or "-",
                _health_word(disk.health),
            ]
        )
    if rows:
        print_table(
            [_("disk"), _("model"), _("size"), _("media"), _("bus"), _("serial"), _("health")],
            rows,
            title=_("Disks"),
        )
        from bench_agent.i18n import get_language

        for disk in inventory.disks:
            if disk.health in ("warn", "fail"):
                reasons = disk.health_reasons_i18n.get(get_language()) or disk.health_reasons
                for reason in reasons:
                    print(f"  {disk.name}: {reason}")
    else:
        print(_("Disks: none found"))
    print()
    if inventory.optical:
        print_table(
            [_("drive"), _("model"), _("reads"), _("writes")],
            [
                [
                    d.name,
                    " ".join(x for x in (d.vendor, d.model) if x) or "-",
                    "DVD" if d.can_read_dvd else ("CD" if d.can_read_cd else "-"),
                    "DVD" if d.can_write_dvd else ("CD" if d.can_write_cd else "-"),
                ]
                for d in inventory.optical
            ],
            title=_("Optical drives"),
        )
    else:
        print(_("Optical drives: none found"))
    print()
    if inventory.sound:
        print_table(
            [_("card"), _("name"), _("driver")],
            [[c.card, c.name, c.driver] for c in inventory.sound],
            title=_("Sound cards"),
        )
    else:
        print(_("Sound cards: none found"))
    print()
    if inventory.network:
        print_table(
            [_("interface"), _("MAC"), _("driver"), _("link")],
            [
                [
                    n.name,
                    n.mac,
                    n.driver or "-",
                    _("yes") if n.link else (_("no") if n.link is False else "?"),
                ]
                for n in inventory.network
            ],
            title=_("Network"),
        )
    if inventory.warnings:
        print()
        print(_("Not collected:"))
        for warning in inventory.warnings:
            print(f"  [!] {warning}")


def run_inventory(args: argparse.Namespace) -> int:
    from bench_agent.console.output import print_json
    from bench_agent.inventory import collect_inventory

    _check_evidence_dir(args.evidence)
    inventory = collect_inventory(args.evidence, args.save_evidence, smart=not args.no_smart)
    if args.json:
        print_json(inventory)
    else:
        print_inventory(inventory)
    return 0


# --- check -------------------------------------------------------------------------------


def _status_word(status: str) -> str:
    words = {
        "pass": _("pass"),
        "remediate": _("to fix"),
        "fail": _("fail"),
        "unknown": _("unknown"),
        "warn": _("warning"),
        "skipped": _("skipped"),
    }
    return f"{SYMBOLS.get(status, '[?]')} {words.get(status, status)}"


def print_verdict(verdict: Verdict, profile: Profile, checks: list[AutoCheck]) -> None:
    from bench_agent.console.output import print_table

    print(_("Profile: {title}", title=profile.display_title()))
    print_table(
        [_("criterion"), _("status"), _("measured"), _("limit"), _("why")],
        [[c.id, _status_word(c.status), c.measured, c.limit, c.message] for c in verdict.criteria],
    )
    if checks:
        print()
        print_table(
            [_("check"), _("status"), _("measured"), _("result")],
            [[c.id, _status_word(c.status), c.measured, c.message] for c in checks],
            title=_("Automatic checks"),
        )
    print()
    if verdict.actions:
        print(_("To do before the machine is kept:"))
        for action in verdict.actions:
            print(f"  [>] {action}")
        print()
    headline = {"kept": _("KEPT"), "remediate": _("KEPT AFTER REPAIRS"), "rejected": _("REJECTED")}[
        verdict.outcome
    ]
    symbol = {"kept": "[+]", "remediate": "[>]", "rejected": "[x]"}[verdict.outcome]
    print(f"{symbol} {headline}")
    print("    " + verdict.summary)
    if verdict.outcome == "rejected":
        destination = {
            "parts": _("parts"),
            "recycling": _("recycling"),
            "reuse": _("reuse"),
            "": "-",
        }[verdict.destination]
        print("    " + _("destination: {destination}", destination=destination))


def run_check(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.console.output import ConsoleProgress, print_json
    from bench_agent.errors import EXIT_OK, EXIT_REJECTED, EXIT_REMEDIATE
    from bench_agent.inventory import collect_inventory
    from bench_agent.inventory.profiles import load_profile
    from bench_agent.progress import ignore_progress
    from bench_agent.workflow.commands import check_machine, self_test_disks

    profile = load_profile(args.profile or load_settings().profile)  # a bad one fails fast
    _check_evidence_dir(args.evidence)
    inventory = collect_inventory(args.evidence, args.save_evidence)
    # Progress only on a terminal: a log or a pipe gets the result alone.
    progress = ConsoleProgress(stream=sys.stderr) if sys.stderr.isatty() else ignore_progress
    if args.self_test and args.evidence is None:
        self_test_disks(inventory, progress)
    checks, verdict = check_machine(inventory, profile, quick=args.quick, progress=progress)
    if args.json:
        document = inventory.model_dump(mode="json")
        document["verdict"] = verdict.model_dump(mode="json")
        document["auto_checks"] = [c.model_dump(mode="json") for c in checks]
        print_json(document)
    else:
        print_inventory(inventory)
        print()
        print_verdict(verdict, profile, checks)
    return {"kept": EXIT_OK, "remediate": EXIT_REMEDIATE, "rejected": EXIT_REJECTED}[
        verdict.outcome
    ]


# --- profiles ----------------------------------------------------------------------------


def run_profiles(args: argparse.Namespace) -> int:
    from bench_agent.console.output import print_json, print_table
    from bench_agent.inventory.profiles import list_profiles

    profiles = list_profiles()
    if args.json:
        print_json([p.model_dump(mode="json") for p in profiles])
        return 0
    rows = []
    for p in profiles:
        needs = []
        if p.cpu.require_64bit:
            needs.append(_("64-bit"))
        if p.cpu.require_sse2:
            needs.append("SSE2")
        if p.cpu.min_mhz:
            needs.append(f"{p.cpu.min_mhz:.0f} MHz")
        rows.append(
            [
                p.name,
                p.display_title(),
                ", ".join(needs) or "-",
                f"{p.memory.min_mb} MB" if p.memory.min_mb else "-",
                f"{p.disk.min_gb:.0f} GB" + (" SSD" if p.disk.ssd != "any" else "")
                if p.disk.min_gb
                else "-",
                p.optical.required if p.optical.required != "none" else "-",
            ]
        )
    print_table([_("name"), _("title"), _("processor"), _("memory"), _("disk"), _("optical")], rows)
    return 0
