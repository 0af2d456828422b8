"""``bench-agent tui`` (the default), ``bench-agent run`` (headless) and ``bench-agent demo``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench_agent.i18n import _


def register(sub: Any) -> None:
    tui = sub.add_parser(
        "tui",
        help=_("the bench app (default when no command is given)"),
        description=_(
            "The bench app on this terminal: one donated machine at a time, from the operator's "
            "login to its label. Run as root to wipe and image (every disk is checked before "
            "anything is written, and a wipe needs two distinct keys). --training uses a recorded "
            "machine and two throwaway loop devices (root) or a simulation, and sends nothing. "
            "Quit with Ctrl+Q; a machine in progress resumes at its step on the next start."
        ),
    )
    tui.add_argument("--profile", help=_("minimum-spec profile (default: the station's)"))
    tui.add_argument("--operator-profile", help=_("operator profile name or TOML file"))
    tui.add_argument(
        "--training", action="store_true", help=_("training mode: a recorded machine, no risk")
    )
    tui.add_argument("--evidence", type=Path, help=_("replay a recorded evidence bundle"))
    tui.add_argument("--disks", nargs="+", default=[], help=_("restrict destructive steps to DEV"))
    tui.add_argument("--image", default="", help=_("image to write (default: chosen)"))
    tui.set_defaults(func=run_tui)

    run = sub.add_parser(
        "run",
        help=_("process one machine without the app (automation)"),
        description=_(
            "Process one machine without the app: inventory, automatic checks, grading, wipe, "
            "image and signed record, asking its questions on this terminal. Run as root: it "
            "WIPES this machine's eligible disks (or only those given with --disks). With "
            "--unattended it asks nothing and wipes WITHOUT confirmation: use it only on a "
            "bench that boots donated machines for that purpose."
        ),
    )
    run.add_argument("--profile", help=_("minimum-spec profile (default: the station's)"))
    run.add_argument(
        "--unattended",
        action="store_true",
        help=_(
            "no questions: wipes WITHOUT confirmation, guided checks 'not done', "
            "interrupted steps re-run"
        ),
    )
    run.add_argument("--asset", default="", help=_("asset tag (default: generated)"))
    run.add_argument("--lot", default="", help=_("donor lot"))
    run.add_argument("--evidence", type=Path, help=_("replay a recorded evidence bundle"))
    run.add_argument(
        "--disks", nargs="+", default=[], metavar="DEV", help=_("restrict destructive steps to DEV")
    )
    run.add_argument("--image", default="", help=_("image to write (default: chosen)"))
    run.add_argument("--full-checks", action="store_true", help=_("run the long automatic checks"))
    run.add_argument(
        "--self-test", action="store_true", help=_("also run each disk's SMART short self-test")
    )
    run.add_argument("--json", action="store_true", help=_("print the result as JSON"))
    run.set_defaults(func=run_headless_cmd)

    demo = sub.add_parser(
        "demo",
        help=_("whole cycle on a recorded Pentium 4, loop devices and a local ledger"),
        description=_(
            "One whole machine cycle for a newcomer, touching none of this computer's disks: a "
            "recorded Pentium 4 is inventoried and graded; as root, two loop devices (temporary "
            "files) stand in for its disks and are really wiped and imaged; the signed record "
            "goes to a local ledger started for the demo. Everything is removed at the end "
            "(--keep keeps the files). Without root the wipe and the image are skipped."
        ),
    )
    demo.add_argument("--json", action="store_true", help=_("print the result as JSON"))
    demo.add_argument("--keep", action="store_true", help=_("keep the demo's temporary files"))
    demo.set_defaults(func=run_demo)


def run_headless_cmd(args: argparse.Namespace) -> int:
    from bench_agent.config import load_settings
    from bench_agent.console.output import print_json
    from bench_agent.workflow.headless import RunOptions, run_headless, summary

    settings = load_settings()
    options = RunOptions(
        profile=args.profile,
        unattended=args.unattended,
        asset=args.asset,
        lot=args.lot,
        evidence=args.evidence,
        disks=list(args.disks),
        image=args.image,
        quick=not args.full_checks,
        self_test=args.self_test,
    )
    state, code = run_headless(settings, options)
    result = summary(state)
    if args.json:
        print_json(result)
    else:
        print(_("Asset {tag}", tag=state.asset_tag))
        print(_("Verdict: {outcome}", outcome=result["outcome"]))
        for wipe in result["wipes"]:
            print(
                _(
                    "Wipe {device}: {status}",
                    device=wipe["device"],
                    status=wipe["status"],
                )
            )
        if result["image"]:
            print(
                _(
                    "Image {name}: {status}",
                    name=result["image"]["image"],
                    status=result["image"]["status"],
                )
            )
        print(_("Record {id}: {state}", id=state.machine_id, state=state.record_state))
    return code


def run_tui(args: argparse.Namespace) -> int:
    from bench_agent.tui.app import launch

    return int(launch(args))


def run_demo(args: argparse.Namespace) -> int:
    from bench_agent.adapters.demo import run_demo as demo

    return int(demo(json_output=args.json, keep=args.keep))
