"""``bench-agent disks``, ``wipe`` and ``verify-cert``: list what may be wiped, wipe it to NIST
SP 800-88 with a progress bar per disk, and check a certificate offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_agent.i18n import _

if TYPE_CHECKING:
    from bench_agent.sanitize.journal import JournalEntry
    from bench_agent.sanitize.plan import WipePlan
    from bench_agent.sanitize.validation import ValidationOptions
    from bench_agent.workflow.commands import WipeRules


def register(sub: Any) -> None:
    disks = sub.add_parser("disks", help=_("list the disks and whether each may be wiped"))
    disks.add_argument("--json", action="store_true", help=_("print JSON instead of tables"))
    disks.add_argument(
        "--profile",
        metavar="NAME",
        help=_("profile name or TOML file (default: the station's profile)"),
    )
    disks.set_defaults(func=run_disks)

    wipe = sub.add_parser(
        "wipe", help=_("wipe disks to NIST SP 800-88, verified, with a signed certificate per disk")
    )
    wipe.add_argument("devices", nargs="+", metavar="DEVICE", help=_("whole disks, e.g. /dev/sdb"))
    wipe.add_argument(
        "--method",
        choices=["auto", "zero", "random", "firmware"],
        default="auto",
        help=_("auto: strongest the disk supports and the profile allows"),
    )
    wipe.add_argument(
        "--verify",
        choices=["full", "sample", "none"],
        help=_("read-back: full, NIST sample (default: the profile's), or none"),
    )
    wipe.add_argument("--dry-run", action="store_true", help=_("show the plan and write nothing"))
    wipe.add_argument(
        "--yes", action="store_true", help=_("do not ask to type the serial number back")
    )
    wipe.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help=_("where reports and certificates go (default: the station's)"),
    )
    wipe.add_argument("--asset", default="", metavar="TAG", help=_("asset tag of the machine"))
    wipe.add_argument("--lot", default="", metavar="LOT", help=_("donor lot (media source)"))
    wipe.add_argument(
        "--profile",
        metavar="NAME",
        help=_("profile name or TOML file (default: the station's profile)"),
    )
    wipe.add_argument(
        "--resume",
        action="store_true",
        help=_("resume an interrupted overwrite where it is safe (else restart)"),
    )
    wipe.add_argument(
        "--json", action="store_true", help=_("print the plan or the reports as JSON")
    )
    _add_validation_option(wipe)
    wipe.add_argument(
        "--validator",
        default="",
        metavar="NAME",
        help=_("who confirms the validation (another operator than the one who wiped)"),
    )
    wipe.set_defaults(func=run_wipe)

    cert = sub.add_parser("verify-cert", help=_("check a sanitization certificate (JSON or PDF)"))
    cert.add_argument("file", type=Path, metavar="FILE")
    cert.add_argument(
        "--public-key", metavar="KEY", help=_("the issuing station's public key (text or file)")
    )
    cert.set_defaults(func=run_verify_cert)


# -- shared ---------------------------------------------------------------------------------


def _add_validation_option(parser: Any) -> None:
    parser.add_argument(
        "--validation",
        choices=["draw", "always", "skip"],
        default="draw",
        help=_(
            "independent re-check: drawn at the rate the ledger published (default), "
            "always, or skipped"
        ),
    )


def _validation_options(choice: str, validator: str, station: str) -> ValidationOptions | None:
    """How the wipes are validated, from ``--validation`` (None: skipped)."""
    from bench_agent.config import load_settings
    from bench_agent.sanitize.validation import ValidationOptions, refresh_policy

    if choice == "skip":
        return None
    settings = load_settings()
    return ValidationOptions(
        policy=refresh_policy(settings.ledger_url, settings.home),
        validator=validator,
        station=station,
        forced=True if choice == "always" else None,
    )


def _wipe_rules(profile_name: str | None, *, named: bool = True) -> WipeRules:
    """The bench's wipe rules (device policy, methods, read-back) for the profile named on the
    command line or the station's. ``named``: the disks were named (a loop device only then)."""
    from bench_agent.config import load_settings
    from bench_agent.workflow.commands import station_profile, wipe_rules

    settings = load_settings()
    return wipe_rules(station_profile(profile_name, settings), settings, named=named)


def _warn_interrupted(entries: list[JournalEntry]) -> None:
    for entry in entries:
        print(
            _(
                "warning: the wipe of {device} (serial {serial}) started at {started} was "
                "interrupted during '{phase}': that disk is NOT erased and has no certificate; "
                "wipe it again.",
                device=entry.device,
                serial=entry.serial or "-",
                started=entry.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                phase=entry.phase,
            ),
            file=sys.stderr,
        )
        if entry.ata_password:
            print(
                _(
                    "warning: {device} may still be locked with the temporary ATA password "
                    "'{password}' (hdparm --user-master u --security-disable {password} "
                    "{device}).",
                    device=entry.device,
                    password=entry.ata_password,
                ),
                file=sys.stderr,
            )


# -- disks ----------------------------------------------------------------------------------


def run_disks(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.console.output import human_bytes, print_json, print_table
    from bench_agent.devices.guard import assess_all_refusals
    from bench_agent.sanitize.journal import interrupted

    # Listing names no disk: loop devices are not offered (name one to wipe it).
    rules = _wipe_rules(args.profile, named=False)
    pending = interrupted(load_settings().home)
    rows: list[dict[str, Any]] = []
    for dev, refusal in assess_all_refusals(rules.policy):
        rows.append(
            {
                "device": dev.path or "/dev/" + dev.kernel_name,
                "size_bytes": dev.size,
                "model": dev.model,
                "serial": dev.serial,
                "transport": dev.tran,
                "type": dev.type,
                "rotational": dev.rota,
                "removable": dev.rm or dev.hotplug,
                "wipeable": refusal is None,
                "rule": None if refusal is None else refusal.rule,
                "reason": None if refusal is None else refusal.message,
            }
        )
    if args.json:
        print_json(
            {
                "disks": rows,
                "interrupted_wipes": [
                    e.model_dump(mode="json", exclude={"ata_password", "seed"}) for e in pending
                ],
            }
        )
        return 0
    _warn_interrupted(pending)
    print_table(
        [_("device"), _("size"), _("model"), _("serial"), _("wipeable"), _("reason")],
        [
            [
                r["device"],
                human_bytes(r["size_bytes"]),
                r["model"],
                r["serial"],
                _("yes") if r["wipeable"] else _("no"),
                r["reason"] or "",
            ]
            for r in rows
        ],
    )
    return 0


# -- wipe -----------------------------------------------------------------------------------


def _print_plan(plan: WipePlan) -> None:
    from bench_agent.console.output import human_bytes

    print(
        _(
            "{device}: {model} serial {serial}, {size}, {media}",
            device=plan.device,
            model=plan.model or "-",
            serial=plan.serial or "-",
            size=human_bytes(plan.size_bytes),
            media=plan.media_type,
        )
    )
    print(
        "  "
        + _(
            "method: {method} ({level}), verification: {verify}",
            method=plan.method,
            level=plan.level,
            verify=plan.verify,
        )
    )
    if plan.fallback:
        print(
            "  "
            + _("if the firmware purge fails: overwrite with {fallback}", fallback=plan.fallback)
        )
    if plan.estimate_s:
        print(
            "  " + _("estimated time: {minutes} min", minutes=max(1, round(plan.estimate_s / 60)))
        )
    print("  " + _("hidden areas: {note}", note=plan.hidden_areas.note or "-"))
    for note in plan.notes:
        print("  - " + note)
    for option in plan.options:
        # Only what this drive could do but will not (frozen, not allowed...), not the other
        # kinds of drive's methods.
        if (
            option.reason
            and option.method != plan.method
            and option.reason not in ("not this kind of drive", "behind a USB bridge")
        ):
            print("    " + _("{method}: {reason}", method=option.method, reason=option.reason))


def _confirm(plans: list[WipePlan]) -> None:
    from bench_agent.console.output import confirm_typed

    for plan in plans:
        expected = plan.serial or plan.kname
        what = _("serial number") if plan.serial else _("device name")
        prompt = _(
            "All data on {device} will be destroyed. Type its {what} ({expected}) to confirm: ",
            device=plan.device,
            what=what,
            expected=expected,
        )
        confirm_typed(prompt, expected, plan.device, what)


def run_wipe(args: argparse.Namespace) -> int:
    import threading

    from bench_agent.config import load_settings
    from bench_agent.console.output import ConsoleProgress, print_json, print_table
    from bench_agent.errors import EXIT_FAILURE, EXIT_OK
    from bench_agent.sanitize import CertificateContext, run_wipes
    from bench_agent.sanitize.journal import interrupted
    from bench_agent.workflow.commands import plan_disk_wipes

    settings = load_settings()
    rules = _wipe_rules(args.profile)
    _warn_interrupted(interrupted(settings.home))
    plans = plan_disk_wipes(
        args.devices,
        rules,
        method=args.method,
        verify=args.verify,
        resume=args.resume,
        journal_directory=settings.journal_dir,
    )
    if args.dry_run:
        if args.json:
            print_json([p.model_dump(mode="json", exclude={"evidence"}) for p in plans])
        else:
            for plan in plans:
                _print_plan(plan)
            print(_("dry run: nothing was written."))
        return EXIT_OK
    if not args.json:
        for plan in plans:
            _print_plan(plan)
    if not args.yes:
        _confirm(plans)
    context = CertificateContext.from_settings(settings, asset_tag=args.asset, lot=args.lot)
    validation = _validation_options(
        args.validation, args.validator or context.operator, context.station
    )
    display = ConsoleProgress(
        [p.kname for p in plans], stream=sys.stderr if args.json else sys.stdout
    )
    results = run_wipes(
        plans,
        settings=settings,
        context=context,
        progress=display,
        cancel=threading.Event(),
        report_dir=args.report_dir,
        validation=validation,
    )
    if args.json:
        print_json([{"report": r.model_dump(mode="json"), "certificate": c} for r, c in results])
    else:
        print_table(
            [_("device"), _("status"), _("method"), _("verification"), _("certificate")],
            [
                [
                    r.device,
                    r.status.upper().replace("_", " "),
                    r.method,
                    f"{r.verification}: {r.verification_result}",
                    (r.extra.get("certificate_files") or ["-"])[-1],
                ]
                for r, _c in results
            ],
        )
        for report, _cert in results:
            if report.status_detail:
                print(f"{report.device}: {report.status_detail}")
            _print_validation(report)
    return EXIT_OK if all(r.status == "erased" for r, _c in results) else EXIT_FAILURE


def _print_validation(report: Any) -> None:
    drawn = report.extra.get("validation_draw")
    if not drawn:
        return
    done = report.extra.get("validation") or {}
    document = done.get("document") or {}
    if not drawn.get("selected"):
        print(
            _(
                "{device}: not drawn for validation ({rate} rate, from {source}).",
                device=report.device,
                rate=f"{drawn['rate']:.1%}",
                source=drawn["source"],
            )
        )
    elif document.get("certificate_status") == "failed":
        print(
            _(
                "{device}: VALIDATION FAILED, the certificate is revoked and the disk must be "
                "wiped again: {detail}",
                device=report.device,
                detail=document["check"]["detail"],
            )
        )
    elif document:
        print(
            _(
                "{device}: validation passed ({detail})",
                device=report.device,
                detail=document["check"]["detail"],
            )
        )
    else:
        print(
            _(
                "{device}: drawn for validation but not checked: {detail}",
                device=report.device,
                detail=done.get("detail", "-"),
            )
        )


# -- verify-cert ----------------------------------------------------------------------------


def run_verify_cert(args: argparse.Namespace) -> int:
    from bench_agent.sanitize.certificate import (
        standard_of,
        technique_summary,
        verify_certificate,
    )

    if str(args.file).endswith(".validation.json"):
        return _verify_validation(args)
    cert = verify_certificate(args.file, args.public_key)
    media = cert.get("media", {})
    san = cert.get("sanitization", {})
    print(
        _(
            "genuine: certificate {id} for {model} serial {serial}: {status} by {method}, "
            "signed by key {key}",
            id=cert.get("certificate_id"),
            model=media.get("model") or "-",
            serial=media.get("serial") or "-",
            status=san.get("status"),
            method=san.get("method"),
            key=cert.get("signature", {}).get("key_id"),
        )
    )
    print(_("standard: {standard}", standard=standard_of(cert)))
    print(_("IEEE 2883 technique: {technique}", technique=technique_summary(cert)))
    block = cert.get("technique")
    if isinstance(block, dict):
        print(
            _(
                "interface command: {command}; completion: {status}",
                command=block.get("interface_command") or "-",
                status=block.get("completion_status") or "-",
            )
        )
        ver = cert.get("verification", {})
        print(
            _(
                "verification: {scope}, {percent} % of the media, {result}",
                scope=ver.get("scope"),
                percent=ver.get("coverage_percent"),
                result=ver.get("result"),
            )
        )
    if not args.public_key:
        print(
            _(
                "note: checked against the key inside the certificate (integrity only); pass "
                "--public-key with the station's published key to check who signed it."
            )
        )
    return 0


def _verify_validation(args: argparse.Namespace) -> int:
    from bench_agent.errors import EXIT_FAILURE, EXIT_OK
    from bench_agent.sanitize.validation import verify_validation

    result = verify_validation(args.file, args.public_key)
    check = result.get("check", {})
    print(
        _(
            "genuine: validation {id} of certificate {certificate} (disk {serial}): {result} "
            "by {validator}; {detail}",
            id=result.get("validation_id"),
            certificate=result.get("certificate_id"),
            serial=result.get("media", {}).get("serial") or "-",
            result=check.get("result"),
            validator=result.get("validator") or "-",
            detail=check.get("detail"),
        )
    )
    link = result.get("_certificate_link")
    if link == "DIFFERS":
        print(
            _("warning: the certificate beside it is not the one this validation checked."),
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if link:
        print(_("tied to the certificate beside it (SHA-256 matches)."))
    return EXIT_OK if result.get("certificate_status") == "valid" else EXIT_FAILURE
