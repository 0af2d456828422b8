"""The app's "Disk station" mode (issue 15 item 3) driven by an operator profile's keys only
(Textual Pilot at 80x25): real loop devices attached while the station runs (udev add events;
udevd is started when none runs), tied to a donor lot or a machine, wiped with the two-input
confirmation, several at once, certified; a held key never starts a wipe; a disk pulled out
mid-wipe is said aborted in words and gets no certificate."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench_agent.config import load_settings
from bench_agent.i18n import _, ngettext
from bench_agent.sanitize import verify_certificate
from bench_agent.tui.operators import SAMPLE_DIR, load_operator
from tests.conftest import LoopFactory, require_tool
from tests.test_station import udevd  # noqa: F401 - fixture
from tests.test_tui_safety import hold
from tests.test_wipe_faultyfs import IMAGE
from tests.tui_driver import settle, wait_for

pytestmark = [pytest.mark.device, pytest.mark.anyio, pytest.mark.usefixtures("udevd")]

MiB = 1 << 20
CONSOLE = (80, 25)
ROOT = Path(__file__).parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def station_app(tmp_path: Path, operator: str | None) -> Any:
    from bench_agent.tui.app import BenchApp

    return BenchApp(
        load_settings(),
        profile="test-bench",
        operator=load_operator(operator) if operator else None,
        poll_ledger=False,
        station_loop_dir=tmp_path,
    )


class Keys:
    """The operator's keys: ``move`` to the next choice and ``select``, a press counted only
    after the profile's bounce time of silence."""

    def __init__(self, pilot: Any) -> None:
        self.pilot = pilot
        operator = pilot.app.operator
        self.auto_scan = operator.scan_mode == "auto-scan"  # one switch: Enter only
        self.move = "space" if operator.scan_mode == "two-switch" else "right"
        self.gap = max(operator.bounce_ms, 150) / 1000 + 0.05
        self.pressed: list[str] = []

    async def press(self, key: str) -> None:
        self.pressed.append(key)
        await self.pilot.press(key)
        await self.pilot.pause(self.gap)

    def focused(self) -> str:
        return str(getattr(self.pilot.app.screen.focused, "id", "") or "")

    async def wait_scan(self, condition: Any, what: str) -> None:
        """One switch: the silence a press needs, then until the scan highlights ``what``."""
        await self.pilot.pause(self.gap)
        try:
            await wait_for(self.pilot, condition, timeout=30)
        except AssertionError:
            raise AssertionError(f"the scan never reached {what} (on {self.focused()})") from None

    async def reach(self, widget_id: str) -> None:
        if self.auto_scan:
            await self.wait_scan(lambda: self.focused() == widget_id, widget_id)
            return
        for _attempt in range(16):
            if self.focused() == widget_id:
                return
            await self.press(self.move)
        raise AssertionError(f"{self.move} never reached {widget_id} (on {self.focused()})")

    async def choose(self, widget_id: str) -> None:
        await self.reach(widget_id)
        await self.press("enter")

    async def confirm(self) -> None:
        from bench_agent.tui.modals import ConfirmDestructive

        screen = self.pilot.app.screen
        assert isinstance(screen, ConfirmDestructive)
        if self.auto_scan:  # Enter on "Arm", then on "Confirm": two targets of the scan
            await self.wait_scan(lambda: screen.target == "arm", "Arm")
            await self.press("enter")
            await self.wait_scan(lambda: screen.target == "confirm", "Confirm")
            await self.press("enter")
            return
        await self.press(self.move)  # arm
        await self.press("enter")  # confirm


async def open_station(pilot: Any, keys: Keys) -> Any:
    """From the login to the station screen, watching, with the profile's keys only."""
    from bench_agent.tui.station import StationScreen

    await settle(pilot)
    # The login: this operator's profile is the one chosen by default.
    await (
        keys.choose(f"act-op-{pilot.app.operator.name}") if keys.auto_scan else keys.press("enter")
    )
    await settle(pilot)
    await keys.choose("act-station")
    screen = pilot.app.screen
    assert isinstance(screen, StationScreen)
    await wait_for(pilot, lambda: "Watching" in status(screen) or "Surveillance" in status(screen))
    return screen


def status(screen: Any) -> str:
    return str(screen.query_one("#station-status").render())


async def tile_of(pilot: Any, screen: Any, dev: Path, timeout: float = 60) -> Any:
    await wait_for(
        pilot, lambda: any(t.device == str(dev) for t in screen.tiles.values()), timeout=timeout
    )
    return next(t for t in screen.tiles.values() if t.device == str(dev))


def assert_focus_on_screen(app: Any) -> None:
    focused = app.screen.focused
    assert focused is not None
    region = focused.region
    width, height = app.size
    assert region.height > 0 and region.width > 0, f"{focused.id} is not shown"
    assert region.y >= 0 and region.bottom <= height and region.right <= width, (
        f"{focused.id} at {region} is off the {width}x{height} screen"
    )


@pytest.mark.parametrize("operator", ["four-keys", "two-switch", "one-switch"])
async def test_docked_disks_are_tied_wiped_at_once_and_certified_with_the_operators_keys(
    operator: str, paced_loop: LoopFactory, tmp_path: Path, agent_home: Path
) -> None:
    if operator == "one-switch":
        # The shipped profile with a brisker scan (the test waits on it), as this station's.
        sample = (SAMPLE_DIR / "one-switch.toml").read_text()
        own = agent_home / "operators" / "one-switch.toml"
        own.parent.mkdir(parents=True, exist_ok=True)
        own.write_text(sample.replace("scan_rate_ms = 1500", "scan_rate_ms = 600"))
    # At the paced 40 MB/s, about 3 s of writing each (8 s with one switch, whose presses
    # wait on the scan): the second wipe starts while the first runs.
    size = (320 if operator == "one-switch" else 128) * MiB
    present = paced_loop(4 * MiB, fill="random")  # there before the station: never offered
    before = present.read_bytes()
    app = station_app(tmp_path, operator)
    lot = "LOT-2026-014"
    async with app.run_test(size=CONSOLE) as pilot:
        keys = Keys(pilot)
        screen = await open_station(pilot, keys)
        first = paced_loop(size, fill="random")
        second = paced_loop(size, fill="random")
        tiles = [await tile_of(pilot, screen, dev) for dev in (first, second)]
        for tile in tiles:
            assert tile.state == "ready" and tile.model and tile.size_bytes == size
            # A loop device has no SMART: said in words on its tile.
            assert tile.health == "unknown" and tile.health_reasons
        assert not any(t.device == str(present) for t in screen.tiles.values())
        # Tie the first to the lot: a barcode reader types the label (four keys), or the lot
        # is chosen from the list the bench has (two switches: the machine on the bench).
        if operator != "four-keys":
            app.wf.state.lot = lot
        await keys.reach(f"tie-{tiles[0].uid}")
        assert_focus_on_screen(app)
        await keys.press("enter")
        if operator == "four-keys":
            await keys.reach("tie-label")
            for char in lot:  # the reader's keystrokes (not the operator's keys)
                await pilot.press(char)
            await pilot.press("enter")  # the reader's Enter: focus moves to the choices
            await keys.choose("typed-lot")
        else:
            await keys.choose("choice-0")
        assert tiles[0].tie == ("lot", lot)
        # The second tile lies below the first at 80x25: reached, it is scrolled into view.
        await keys.reach(f"tie-{tiles[1].uid}")
        assert_focus_on_screen(app)
        await keys.press("enter")
        assert_focus_on_screen(app)
        await keys.choose("choice-0")  # the lot just used is in the list
        assert tiles[1].tie == ("lot", lot)
        # Erase both: two inputs each, the second while the first runs.
        for tile in tiles:
            await keys.reach(f"erase-{tile.uid}")
            assert_focus_on_screen(app)
            await keys.press("enter")
            await keys.confirm()
        await wait_for(pilot, lambda: all(t.state == "erased" for t in tiles), timeout=180)
        text = " ".join(str(t.query_one(".disk-state").render()) for t in tiles)
        assert text.count("EFFACÉ" if app.operator.language == "fr" else "ERASED") == 2, text
    assert set(keys.pressed) <= ({"enter"} if keys.auto_scan else {keys.move, "enter"})
    assert present.read_bytes() == before
    reports = load_settings().reports_dir / "station"
    certificates = sorted(reports.glob("*.cert.json"))
    assert len(certificates) == 2
    for path in certificates:
        cert = verify_certificate(path)
        assert cert["source"]["lot"] == lot
        assert cert["media"]["device"] in {str(first), str(second)}
    # Several disks at once: each wipe started before the other ended.
    runs = [json.loads(p.read_text()) for p in sorted(reports.glob("*.wipe.json"))]
    assert len(runs) == 2
    assert max(r["started_at"] for r in runs) < min(r["finished_at"] for r in runs), runs
    for dev in (first, second):
        with dev.open("rb") as handle:
            while chunk := handle.read(8 * MiB):
                assert chunk == bytes(len(chunk))
    from bench_agent.sync.outbox import Outbox

    with Outbox(agent_home / "outbox.sqlite") as outbox:
        bodies = [outbox.body(e.record_id) or {} for e in outbox.entries()]
    assert sorted(b["lot"] for b in bodies) == [lot, lot]
    assert all(b["certificates"] for b in bodies)


async def test_a_held_key_never_starts_or_stops_a_wipe_and_nothing_refused_is_offered(
    make_loop: LoopFactory, paced_loop: LoopFactory, tmp_path: Path
) -> None:
    from bench_agent.tui.modals import ConfirmDestructive
    from bench_agent.tui.station import StationScreen

    app = station_app(tmp_path, None)  # the default keys: no bounce filter
    async with app.run_test(size=CONSOLE) as pilot:
        keys = Keys(pilot)
        screen = await open_station(pilot, keys)
        # A loop device outside the named directory (another test's, the system's): refused
        # by the station, never a tile; one line says why.
        outside = tmp_path.parent / f"{tmp_path.name}-outside.img"
        outside.write_bytes(bytes(MiB))
        foreign = subprocess.run(
            ["losetup", "--find", "--show", str(outside)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        try:
            refused = screen.query_one("#station-refused")
            await wait_for(pilot, lambda: foreign in str(refused.render()))
            assert _("a loop device, not a docked disk") in str(refused.render())
        finally:
            subprocess.run(["losetup", "-d", foreign], capture_output=True)
            outside.unlink()
        assert not any(t.device == foreign for t in screen.tiles.values())
        # 1 GiB at the paced 40 MB/s: the wipe runs for the whole test.
        dev = paced_loop(1 << 30)
        tile = await tile_of(pilot, screen, dev)
        app.wf.state.lot = "LOT-1"
        await keys.reach(f"tie-{tile.uid}")
        await hold(pilot, "enter")  # opens the tie list, ties, opens it again...
        await pilot.pause(0.5)
        assert tile.tie is not None  # tying is harmless, and it was done
        while not isinstance(app.screen, StationScreen):
            await keys.press("escape")
        # Held on the erase choice: the confirmation opens, and is never armed by Enter.
        await keys.reach(f"erase-{tile.uid}")
        await hold(pilot, "enter")
        await pilot.pause(0.5)
        assert screen.station is not None
        assert screen.station.disks[tile.kname].state == "ready"
        assert tile.state == "ready"
        assert isinstance(app.screen, ConfirmDestructive)
        await keys.press("escape")
        # Started for real (two inputs): a held key then neither stops it...
        await keys.reach(f"erase-{tile.uid}")
        await keys.press("enter")
        await keys.confirm()
        await wait_for(pilot, lambda: tile.state == "wiping")
        assert app.screen.focused is None  # "Stop…" is never focused by itself
        await hold(pilot, "enter")
        await keys.reach(f"stop-{tile.uid}")
        await hold(pilot, "enter")
        await pilot.pause(0.5)
        assert tile.state == "wiping" and isinstance(app.screen, ConfirmDestructive)
        # ...nor does it go back to the bench while the wipe runs.
        await keys.press("escape")
        await keys.choose("act-leave")
        assert isinstance(app.screen, StationScreen)
        assert status(screen) == ngettext(
            "{count} wipe is running: the station stays until it ends.",
            "{count} wipes are running: the station stays until they end.",
            1,
        )
        # Two inputs stop it: aborted, no certificate, said in words.
        await keys.choose(f"stop-{tile.uid}")
        await keys.confirm()
        await wait_for(pilot, lambda: tile.state == "aborted", timeout=60)
        await pilot.pause(0.2)
        text = str(tile.query_one(".disk-state").render())
        assert _("■ ABORTED — no certificate") in text, text  # in the operator's language
        assert _("stopped by the operator") in text, text
    reports = load_settings().reports_dir / "station"
    assert not list(reports.glob("*.cert.*"))
    (report_file,) = reports.glob("*.wipe.json")
    assert json.loads(report_file.read_text())["status"] == "aborted"


async def test_a_disk_pulled_mid_wipe_shows_aborted_and_gets_no_certificate(
    tmp_path: Path, agent_home: Path
) -> None:
    """A loop device over a FUSE file: killing the FUSE server makes every I/O fail (as a
    pulled USB disk does) and the kernel then announces the removal (see test_station)."""
    require_tool("losetup")
    if not Path("/dev/fuse").exists():
        pytest.fail("this test needs /dev/fuse (FUSE in the kernel)")
    backing = tmp_path / "pulled.img"
    backing.write_bytes(os.urandom(48 * MiB))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.test_wipe_faultyfs", str(mnt), str(backing),
         "--delay-ms", "15"],
        cwd=ROOT, stderr=subprocess.PIPE,
    )  # fmt: skip
    dev = ""
    app = station_app(tmp_path, "four-keys")
    try:
        deadline = time.monotonic() + 15
        while not (mnt / IMAGE).exists():
            assert server.poll() is None and time.monotonic() < deadline, "FUSE did not start"
            time.sleep(0.05)
        async with app.run_test(size=CONSOLE) as pilot:
            keys = Keys(pilot)
            screen = await open_station(pilot, keys)
            dev = subprocess.run(
                ["losetup", "--find", "--show", str(mnt / IMAGE)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            Path(f"/sys/block/{Path(dev).name}/queue/max_sectors_kb").write_text("128")
            tile = await tile_of(pilot, screen, Path(dev))
            app.wf.state.asset_tag = "BA-000042"
            await keys.choose(f"tie-{tile.uid}")
            await keys.choose("choice-0")
            assert tile.tie == ("machine", "BA-000042")
            await keys.choose(f"erase-{tile.uid}")
            await keys.confirm()
            await wait_for(pilot, lambda: tile.state == "wiping")
            await asyncio.sleep(1.5)  # well into the write pass
            server.kill()  # the disk stops answering...
            server.wait()
            Path(f"/sys/block/{Path(dev).name}/uevent").write_text("remove")  # ...and is gone
            await wait_for(
                pilot,
                lambda: tile.state == "aborted" and screen.station.disks.get(tile.kname) is None,
                timeout=120,
            )
            await wait_for(pilot, lambda: not screen.station._started[0].thread, timeout=60)
            await pilot.pause(0.3)
            text = str(tile.query_one(".disk-state").render())
            # In words, in the operator's language (French for this profile).
            assert "aucun certificat" in text and "retiré" in text, text
    finally:
        if dev:
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        if server.poll() is None:
            server.kill()
    reports = load_settings().reports_dir / "station"
    assert not list(reports.glob("*.cert.*"))
    (report_file,) = reports.glob("*.wipe.json")
    report = json.loads(report_file.read_text())
    assert report["status"] == "aborted" and report["certificate_id"] == ""
    from bench_agent.sync.outbox import Outbox

    with Outbox(agent_home / "outbox.sqlite") as outbox:
        (entry,) = outbox.entries()
        body = outbox.body(entry.record_id)
    assert body is not None and body["certificates"] == []
    assert body["asset_tag"] == "BA-000042"


SIZES = [(64, 24), (80, 25), (160, 50)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_the_station_fits_every_screen_for_every_profile(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """Four disks (waiting, tied, wiping, erased): with every operator profile, each choice,
    once focused, is wholly on screen with its label not cut, and so is every line."""

    from bench_agent.tui.operators import list_operators
    from bench_agent.tui.station import StationScreen

    problems: list[str] = []
    for profile in sorted(p.name for p in list_operators()):
        app = station_app(tmp_path, profile)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            screen = StationScreen()
            await app.push_screen(screen)
            for n, state in enumerate(("ready", "tied", "wiping", "erased")):
                screen.add_tile(
                    {
                        "kname": f"sd{'wxyz'[n]}",
                        "device": f"/dev/sd{'wxyz'[n]}",
                        "model": "WDC WD800JD-75MSA3",
                        "serial": f"WD-WMAM9ABC123{n}",
                        "size_bytes": 80_026_361_856,
                        "health": "warn",
                    }
                )
                tile = list(screen.tiles.values())[-1]
                tile.health_reasons = ["12 sectors reallocated (5)"]
                tile.tie = None if state == "ready" else ("lot", "LOT-2026-014")
                tile.state = "ready" if state == "tied" else state
                tile.certificate_id = "4f0e8a52-8c1d-4b7e-9a57-2b9f6c3d1e07"  # shown when erased
            await pilot.pause(0.2)
            for tile in screen.tiles.values():
                tile.show()
            await pilot.pause(0.2)
            problems += await check_choices(pilot, screen, f"{profile} {size}")
            # The tie dialog over it (a list of known lots, the label field, the choices).
            screen.ask_tie(next(iter(screen.tiles.values())))
            await pilot.pause(0.2)
            problems += await check_choices(pilot, app.screen, f"{profile} {size} tie")
    assert not problems, "\n".join(problems)


async def check_choices(pilot: Any, screen: Any, where: str) -> list[str]:
    """Each choice of the screen, once focused, wholly on it with its label not cut; no
    line cut either."""
    from rich.cells import cell_len
    from textual.widgets import Label

    from bench_agent.tui.widgets import ActionButton
    from tests.test_tui_layout import on_screen

    problems: list[str] = []
    for button in [b for b in screen.query("Button, Input") if b.display]:
        button.focus()
        for _tick in range(20):  # until the body's scroll to it has ended
            await pilot.pause(0.05)
            if on_screen(button, screen):
                break
        what = f"{where}: {button.id}"
        if not on_screen(button, screen):
            problems.append(f"{what} at {button.region} off screen when focused")
        elif isinstance(button, ActionButton):
            label = cell_len("» " + button.plain_label)
            if label > button.content_region.width:
                problems.append(f"{what} cut ({label} > {button.content_region.width})")
    for label in screen.query(Label):
        box = getattr(label.parent, "content_region", screen.region)
        if label.region.width and label.region.right > box.right:
            problems.append(f"{where}: text cut: {str(label.render())[:60]!r}")
    return problems


async def test_finished_disks_taken_out_keep_only_the_last_tiles(tmp_path: Path) -> None:
    from bench_agent.tui.station import KEEP_FINISHED, StationEvent, StationScreen

    app = station_app(tmp_path, "four-keys")
    async with app.run_test(size=CONSOLE) as pilot:
        await settle(pilot)
        screen = StationScreen()
        await app.push_screen(screen)
        waiting = {"event": "ready", "kname": "sdw", "device": "/dev/sdw", "size_bytes": 1}
        screen.on_station_event(StationEvent(waiting))
        for n in range(KEEP_FINISHED + 3):
            disk = {"kname": f"sd{n}", "device": f"/dev/sd{n}", "size_bytes": 1}
            for kind, extra in (
                ("ready", {}),
                ("wiping", {}),
                ("finished", {"state": "erased", "certificate_id": f"c{n}"}),
                ("left", {}),
            ):
                screen.on_station_event(StationEvent({"event": kind, **disk, **extra}))
        await pilot.pause(0.2)
        kept = [t.device for t in screen.tiles.values()]
        # The waiting disk stays; of the finished ones taken out, the newest.
        assert kept == ["/dev/sdw"] + [f"/dev/sd{n}" for n in range(3, KEEP_FINISHED + 3)]
        assert len(screen.query(".disk-tile")) == len(kept)


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_a_serial_read_from_the_usb_bridge_is_marked_on_its_tile(
    tmp_path: Path, language: str
) -> None:
    """A disk whose serial is only its USB bridge's says so next to the serial, whole on one
    line of its tile at 80x25; a drive's own serial carries no marker."""
    from rich.cells import cell_len

    from bench_agent.i18n import get_language, set_language
    from bench_agent.tui.station import StationEvent, StationScreen

    before = get_language()
    try:
        app = station_app(tmp_path, "four-keys")
        async with app.run_test(size=CONSOLE) as pilot:
            await settle(pilot)
            set_language(language)  # after the operator's own, chosen at start
            screen = StationScreen()
            await app.push_screen(screen)
            for kname, serial, own in (("sdv", "DOCKBRIDGE01", False), ("sdw", "5JV0DOCK01", True)):
                event = {
                    "event": "ready",
                    "kname": kname,
                    "device": f"/dev/{kname}",
                    "model": "ST380011A",
                    "serial": serial,
                    "serial_names_disk": own,
                    "size_bytes": 80_026_361_856,
                    "health": "unknown",
                }
                screen.on_station_event(StationEvent(event))
            await pilot.pause(0.3)
            bridge, drive = (screen.tile_for(k) for k in ("sdv", "sdw"))
            assert bridge is not None and drive is not None
            marker = {"en": "(USB bridge)", "fr": "(pont USB)"}[language]
            words = {"en": "Serial", "fr": "N° de série"}[language]
            shown = {}
            for tile in (bridge, drive):
                facts = tile.query_one(".disk-facts")
                lines = [facts.render_line(y).text for y in range(facts.size.height)]
                shown[tile.kname] = lines
                assert all(cell_len(line.rstrip()) <= facts.size.width for line in lines)
            # The serial and its marker whole, on one line.
            assert any(f"{words} DOCKBRIDGE01 {marker}" in line for line in shown["sdv"]), shown
            assert not any(marker in line for line in shown["sdw"]), shown
            assert any("5JV0DOCK01" in line for line in shown["sdw"]), shown
    finally:
        set_language(before)
