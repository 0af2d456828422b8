"""``bench-agent station``: the hot-plug disk station (dock or hot-swap bay) on the command line:
each disk plugged in while it runs is checked by the guard, wiped, verified and certified."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench_agent.cli.wipe_cmd import _add_validation_option
from bench_agent.i18n import _


def register(sub: Any) -> None:
    station = sub.add_parser(
        "station",
        help=_("disk station: wipe and certify every disk plugged in while it runs"),
    )
    station.add_argument(
        "--profile",
        metavar="NAME",
        help=_("profile name or TOML file (default: the station's profile)"),
    )
    station.add_argument(
        "--verify",
        choices=["full", "sample"],
        help=_("read-back: full or NIST sample (default: the profile's)"),
    )
    station.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help=_("where reports and certificates go (default: the station's)"),
    )
    station.add_argument("--lot", default="", metavar="LOT", help=_("donor lot (media source)"))
    _add_validation_option(station)
    station.add_argument(
        "--loop-backing-dir",
        type=Path,
        metavar="DIR",
        help=_("also take loop devices whose backing file is under DIR (tests, training)"),
    )
    station.add_argument(
        "--exit-after",
        type=int,
        metavar="N",
        help=_("stop once N disks have finished (default: run until interrupted)"),
    )
    station.add_argument(
        "--json", action="store_true", help=_("print one JSON object per event, one per line")
    )
    station.set_defaults(func=run_station)


class _Printer:
    def __init__(self, as_json: bool) -> None:
        from bench_agent.console.output import ConsoleProgress

        self.as_json = as_json
        # Plain lines, one per disk every few seconds: the station's other lines come between.
        self._bars = ConsoleProgress(plain=True, interval_s=5.0)

    def event(self, event: dict[str, Any]) -> None:
        if self.as_json:
            from bench_agent.sanitize.station import station_log_line

            print(station_log_line(event), flush=True)
            return
        kind = event["event"]
        device = event.get("device", "")
        if kind == "watching":
            line = _(
                "Watching for disks ({source} events). Plug a disk in; Ctrl-C stops.",
                source=event["source"],
            )
        elif kind == "arrived":
            line = _("{device}: arrived", device=device)
        elif kind == "refused":
            line = _("{device}: not wiped: {reason}", device=device, reason=event["detail"])
        elif kind == "wiping":
            line = _(
                "{device}: {model} serial {serial}: wiping with {method}",
                device=device,
                model=event["model"] or "-",
                serial=event["serial"] or "-",
                method=event["method"],
            )
        elif kind == "removed-mid-wipe":
            line = _("{device}: removed during the wipe: nothing will be certified", device=device)
        elif kind == "finished":
            line = _(
                "{device}: {status} {detail} (certificate: {certificate})",
                device=device,
                status=str(event["state"]).upper().replace("_", " "),
                detail=event["detail"],
                certificate=event["certificate_id"] or "-",
            )
        elif kind == "left":
            line = _("{device}: unplugged", device=device)
        elif kind == "stopped":
            line = _("Station stopped.")
        else:
            return
        print(line, flush=True)

    def progress(self, event: Any) -> None:
        if not self.as_json:
            self._bars(event)


def _post_heartbeat(state: dict[str, Any], settings: Any) -> None:
    from bench_agent.sync import post_heartbeat

    post_heartbeat(state, settings)


def run_station(args: argparse.Namespace) -> int:
    import signal
    import threading

    from bench_agent.cli.wipe_cmd import _validation_options, _wipe_rules
    from bench_agent.config import load_settings
    from bench_agent.devices.udev import udevd_running
    from bench_agent.errors import EXIT_FAILURE, EXIT_OK
    from bench_agent.sanitize.certificate import CertificateContext
    from bench_agent.sanitize.station import DiskStation, queue_record

    # Disks arrive unnamed: a loop device only under --loop-backing-dir (the station decides).
    rules = _wipe_rules(args.profile, named=False)
    settings = load_settings()
    context = CertificateContext.from_settings(settings, lot=args.lot)
    validation = _validation_options(args.validation, context.operator, context.station)
    printer = _Printer(args.json)
    # With udevd, its events (after its rules ran); without it (a minimal live system), the
    # kernel's own uevents carry what the station needs.
    source = "udev" if udevd_running() else "kernel"
    station = DiskStation(
        settings=settings,
        context=context,
        policy=rules.policy,
        allowed_methods=rules.methods,
        verify=args.verify or (rules.verify if rules.verify != "none" else "sample"),
        report_dir=args.report_dir,
        validation=validation,
        loop_backing_dir=args.loop_backing_dir,
        listener=printer.event,
        progress=printer.progress,
        source=source,
        max_disks=args.exit_after,
        on_finished=lambda disk: queue_record(disk, context, settings),
        heartbeat=lambda state: _post_heartbeat(state, settings),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    try:
        disks = station.run(stop)
    except KeyboardInterrupt:
        stop.set()
        disks = station.finished
    wiped = [d for d in disks if d.state != "refused"]
    sys.stdout.flush()
    return EXIT_OK if all(d.state == "erased" for d in wiped) else EXIT_FAILURE
