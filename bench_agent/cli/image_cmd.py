"""``bench-agent images`` (the catalogue, and which master suits this machine) and
``bench-agent image DEVICE --image NAME`` (write, verify and fit a master to a disk)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bench_agent.i18n import _

if TYPE_CHECKING:
    from bench_agent.inventory.profiles import Profile


def register(sub: Any) -> None:
    images = sub.add_parser(
        "images", help=_("list the master images and which one suits this machine")
    )
    images.add_argument("--json", action="store_true", help=_("machine-readable output"))
    images.add_argument(
        "--evidence", metavar="DIR", help=_("judge the machine recorded in this evidence bundle")
    )
    images.add_argument(
        "--profile", metavar="NAME", help=_("bench profile (default: the station's)")
    )
    images.set_defaults(func=run_images)

    image = sub.add_parser("image", help=_("write a master image to a disk, verify it, fit it"))
    image.add_argument("device", help=_("the target disk, e.g. /dev/sdb"))
    image.add_argument(
        "--image",
        required=True,
        metavar="NAME|FILE",
        help=_("catalogue name or catalogue .toml file"),
    )
    image.add_argument(
        "--no-grow", action="store_true", help=_("do not grow the last partition to fill the disk")
    )
    image.add_argument(
        "--yes", action="store_true", help=_("do not ask to type the device name or serial back")
    )
    image.add_argument("--json", action="store_true", help=_("print the report as JSON"))
    image.add_argument(
        "--asset",
        metavar="TAG",
        help=_("personalise an education master for this asset tag (hostname, About entry)"),
    )
    image.add_argument("--lot", metavar="LOT", default="", help=_("the donor lot, for the record"))
    image.add_argument(
        "--stream",
        action="store_true",
        help=_("stream the master from the ledger to the disk, keeping no local copy"),
    )
    image.add_argument(
        "--profile", metavar="NAME", help=_("bench profile (default: the station's)")
    )
    image.set_defaults(func=run_image)


def _profile(name: str | None) -> Profile | None:
    from bench_agent.config import load_settings
    from bench_agent.workflow.commands import station_profile

    return station_profile(name, load_settings())


def run_images(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench_agent.config import load_settings
    from bench_agent.console.output import human_bytes, print_json, print_table
    from bench_agent.imaging import (
        choose_image,
        interrupted_jobs,
        load_catalogue,
        station_images_dir,
    )
    from bench_agent.imaging.choose import why_not
    from bench_agent.inventory import collect_inventory

    settings = load_settings()
    folder = station_images_dir(settings)
    entries = load_catalogue(folder)
    profile = _profile(args.profile)
    inventory = collect_inventory(
        evidence_dir=Path(args.evidence) if args.evidence else None, smart=False
    )
    chosen, reasons = choose_image(inventory, profile, entries)
    from bench_agent.imaging.choose import largest_disk_bytes

    disk = largest_disk_bytes(inventory)
    if args.json:
        print_json(
            {
                "catalogue": str(folder),
                "chosen": chosen.name if chosen else None,
                "reasons": reasons,
                "interrupted_imaging": interrupted_jobs(settings.journal_dir),
                "images": [
                    {
                        **e.model_dump(mode="json", exclude={"ranges"}),
                        "ranges_count": len(e.ranges),
                        "mapped_bytes": e.mapped_bytes,
                        "suits": why_not(e, inventory, disk) is None,
                        "reason": why_not(e, inventory, disk),
                    }
                    for e in entries
                ],
            }
        )
        return 0
    if not entries:
        print(
            _(
                "The catalogue {folder} is empty; build the test master with "
                "scripts/build-test-master.",
                folder=folder,
            )
        )
        return 0
    from bench_agent.i18n import get_language

    rows = []
    for entry in entries:
        problem = why_not(entry, inventory, disk)
        mark = (
            _("→ chosen")
            if chosen is not None and entry.name == chosen.name
            else _("yes")
            if problem is None
            else _("no")
        )
        rows.append(
            [
                entry.name,
                entry.version,
                entry.architecture,
                f"{entry.min_ram_mib} MiB",
                human_bytes(max(entry.min_disk_mib << 20, entry.last_used_byte)),
                human_bytes(entry.compressed_size),
                mark,
                entry.describe(get_language()),
            ]
        )
    print_table(
        [
            _("image"),
            _("version"),
            _("arch"),
            _("min RAM"),
            _("min disk"),
            _("download"),
            _("suits"),
            _("description"),
        ],
        rows,
    )
    print()
    for reason in reasons:
        print("- " + reason)
    return 0


def _confirm(device: str, serial: str, kname: str, image: str) -> None:
    from bench_agent.console.output import confirm_typed

    expected = serial or kname
    what = _("serial number") if serial else _("device name")
    prompt = _(
        "All data on {device} will be replaced by the image {image}. Type its "
        "{what} ({expected}) to confirm: ",
        device=device,
        image=image,
        what=what,
        expected=expected,
    )
    confirm_typed(prompt, expected, device, what)


def _personalisation(args: argparse.Namespace) -> Any:
    if not args.asset:
        return None
    from bench_agent.config import load_settings
    from bench_agent.imaging.personalise import Personalisation

    return Personalisation.for_station(load_settings(), args.asset, args.lot)


def run_image(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.console.output import ConsoleProgress, human_bytes, print_json
    from bench_agent.devices.guard import check_target
    from bench_agent.errors import EXIT_FAILURE, EXIT_OK
    from bench_agent.imaging import find_image, interrupted_jobs, station_images_dir, write_image
    from bench_agent.progress import ignore_progress
    from bench_agent.workflow.commands import device_policy, station_profile

    settings = load_settings()
    entry = find_image(args.image, station_images_dir(settings))
    # The target disk is named on the command line.
    policy = device_policy(station_profile(args.profile, settings), settings, named=True)
    for job in interrupted_jobs(settings.journal_dir):
        print(
            _(
                "warning: the imaging of {device} with {image} started at {started} was "
                "interrupted during '{phase}'; that disk does not hold a verified image.",
                device=job.get("device", "?"),
                image=job.get("image", "?"),
                started=job.get("started_at", "?"),
                phase=job.get("phase", "?"),
            ),
            file=sys.stderr,
        )
    dev = check_target(args.device, policy)  # refuse early, before asking anything
    if not args.yes:
        _confirm(dev.path or args.device, dev.serial or "", dev.kernel_name, entry.name)
    if not args.json:
        print(
            _(
                "Writing {image} {version} ({arch}) to {device}: {mapped} of data, {ranges} "
                "ranges.",
                image=entry.name,
                version=entry.version,
                arch=entry.architecture,
                device=dev.path or args.device,
                mapped=human_bytes(entry.mapped_bytes),
                ranges=len(entry.ranges),
            )
        )
    progress = ignore_progress if args.json else ConsoleProgress()
    report = write_image(
        entry,
        args.device,
        settings=settings,
        grow=not args.no_grow,
        progress=progress,
        policy=policy,
        personalisation=_personalisation(args),
        stream=True if args.stream else None,
    )
    if args.json:
        print_json(report)
    else:
        if report.redone_after_interrupt:
            print(_("The earlier interrupted write was redone."))
        if report.status == "success":
            print(
                _(
                    "success: {device} holds {image} {version}, every range verified "
                    "({ranges}), write {write_s} s, verify {verify_s} s.",
                    device=report.device,
                    image=report.image,
                    version=report.version,
                    ranges=report.ranges_verified,
                    write_s=report.write_s,
                    verify_s=report.verify_s,
                )
            )
            for check, result in report.checks.items():
                print(f"  {check}: {result}")
            if report.hostname:
                print(
                    _(
                        "personalised: hostname {hostname}, {files} files verified.",
                        hostname=report.hostname,
                        files=len(report.personalised_files),
                    )
                )
                if report.hostname_note:
                    print("  " + report.hostname_note)
        else:
            print(
                _("{status}: {detail}", status=report.status.upper(), detail=report.status_detail),
                file=sys.stderr,
            )
            if report.failed_range:
                print(_("failed range: {range}", range=report.failed_range), file=sys.stderr)
    return EXIT_OK if report.status == "success" else EXIT_FAILURE
