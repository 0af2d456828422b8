"""The disk station (issue 15) on the live image's real console, not only in Textual Pilot.

The i686 live root boots in QEMU (the PXE files of the same build, no disk, a USB controller,
standard VGA whose screen is 640x400: the kernel's framebuffer console holds 80x25 cells of
8x16 px, the default operator's text size). The default operator's keys, sent with QMP
``send-key`` (→ and Enter, as the key line on screen says), open "Poste d'effacement"; two
disks are then plugged into USB docks (QMP ``device_add`` of a USB mass-storage bridge and its
SCSI disk, backed by raw files made here, with donor data in them): the guest sees hot-plugs,
udev ``add`` events, and the station shows a tile for each. Screendumps of the tiles, the focus
on each tile, the tie dialog, the two-input confirmation and the erased disk are measured:

- every text cell is ≥ 7:1 (tests/cell_contrast.py, as tests/test_live_console.py does);
- every character on screen (the console's own text, /dev/vcsu, copied to the serial port by
  the live image's ``screendump`` helper) is in the console font's Unicode table: none draws
  as the font's replacement glyph;
- no character is drawn in its background colour (an invisible cell: the contrast tool only
  sees cells of two colours), the progress bar's empty track excepted (drawn in the panel
  colour on purpose: its percentage is written beside it);
- each tile shows its disk's model, serial, size and SMART health in words; the focused choice
  is on screen, its frame whole.

The two docks are of one make and report the same USB serial (``DOCK_SERIAL``, found on the
live console: both tiles showed the dock's number and the second disk was refused as a twin):
each tile names its own disk's serial, read behind the bridge (SCSI VPD page 0x80), and both
disks are accepted.

Then the second disk is tied to a lot and erased with the two inputs: its donor data is gone,
its tile names its certificate beside its own serial (the serial its certificate states: both
are the plan's), and the first disk, never confirmed, still holds its own.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from bench_agent.i18n import format_size, scoped_language, translate
from bench_agent.tui.widgets import status_text
from tests.conftest import require_tool
from tests.test_console_font import FONTS, psf2_table
from tests.test_live_console import measure
from tests.test_station import udevd  # noqa: F401 - fixture
from tests.vm_support import plug_usb_disk, scenario_machine, send_chord, vbench

MiB = 1 << 20
COLUMNS, ROWS = 80, 25
CELL = (8, 16)
# Docked disks as a workshop gets them out of rejected machines (a 2004 desktop's Seagate and
# a Western Digital), each behind its USB-SATA bridge.
DISKS = (
    vbench.Drive("usb", 64, "5JV0DOCK01", "ST380011A"),
    vbench.Drive("usb", 96, "WMAD0CK0002", "WD400BB-00DEA0"),
)
DOCK_SERIAL = "DOCKBRIDGE01"  # both docks' own USB serial (one make of dock)
LOT = "LOTB"  # letters that are the same keys on the French (AZERTY) and US keyboards
BAR_TRACK = set("━╸╺")  # the progress bar's empty track: panel colour, see the docstring
FRAME = "│║┃"
SCROLLBAR = "▁▂▃▄▅▆▇█"


def fr(msgid: str, **params: object) -> str:
    return translate(msgid, "fr", **params)


@dataclass
class Shot:
    name: str
    text: str
    contrast: float
    report: str
    missing_glyphs: set[str]
    invisible: list[tuple[int, int, str]]  # (row, column, character)


class Console:
    """The guest's tty1 as the operator sees it: screen copies (text) and screendumps."""

    def __init__(self, session: vbench.QemuSession, workdir: Path) -> None:
        self.session = session
        self.workdir = workdir
        self.font = psf2_table(FONTS / "bench-8x16.psf")[3] | {" "}
        self.shots: dict[str, Shot] = {}

    def screens(self) -> list[str]:
        return vbench.screens_in(self.session.text())

    def wait(self, text: str, *, after: int = 0, timeout_s: float = 60, where: str = "") -> str:
        """The newest screen copy, from the ``after``-th on, that shows ``text`` (inside the
        tile of the disk model ``where`` if given)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for screen in reversed(self.screens()[after:]):
                if text in (tile_of(screen, where) if where else screen):
                    return screen
            time.sleep(1)
        screens = self.screens()
        last = screens[-1] if screens else self.session.text()[-3000:]
        raise AssertionError(f"no screen with {text!r} after {timeout_s:.0f} s; last:\n{last}")

    def press(self, *keys: str, expect: str, timeout_s: float = 60, where: str = "") -> str:
        """The operator's keys, one after the other; the screen that then shows ``expect``."""
        seen = len(self.screens())
        self.session.keys(*keys)
        return self.wait(expect, after=seen, timeout_s=timeout_s, where=where)

    def shot(self, name: str, text: str, *, modal: bool = False) -> Shot:
        """Screendump of the screen ``text`` was copied from: the newest copy (one is sent
        once the screen holds still for 2 s; the screens shot here wait for a key)."""
        image = self.workdir / f"{name}.ppm"
        vbench.qmp(
            self.session.qmp_sock,
            {"execute": "screendump", "arguments": {"filename": str(image)}},
        )
        assert self.screens()[-1] == text, f"{name}: the screen changed meanwhile"
        contrast, report = measure(image, "x".join(map(str, CELL)))
        shot = Shot(
            name=name,
            text=text,
            contrast=contrast,
            report=report,
            missing_glyphs={c for c in text if c not in self.font and c != "\n"},
            invisible=invisible_cells(image, text, modal),
        )
        self.shots[name] = shot
        return shot


def invisible_cells(image: Path, text: str, modal: bool = False) -> list[tuple[int, int, str]]:
    """Characters on screen whose 8x16 cell is one colour: drawn in their background's. Behind
    a dialog (``modal``) the screen is dimmed on purpose (to black on the console): only the
    dialog's cells, inside its heavy frame, count."""
    picture = Image.open(image).convert("RGB")
    assert picture.size == (COLUMNS * CELL[0], ROWS * CELL[1]), picture.size
    pixels = picture.load()
    assert pixels is not None
    found = []
    for row, line in enumerate(text.split("\n")):
        if modal and line.count("┃") < 2:
            continue
        for column, char in enumerate(line):
            if char.isspace() or char in BAR_TRACK:
                continue
            if modal and not line.index("┃") < column < line.rindex("┃"):
                continue
            x0, y0 = column * CELL[0], row * CELL[1]
            colours = {
                pixels[x, y] for y in range(y0, y0 + CELL[1]) for x in range(x0, x0 + CELL[0])
            }
            if len(colours) < 2:
                found.append((row, column, char))
    return found


def tile_of(screen: str, model: str) -> str:
    """The text inside the tile of the disk ``model`` (lines joined where they wrapped);
    empty when its title is not on screen."""
    lines = screen.split("\n")
    start = next((i for i, line in enumerate(lines) if "▣ " in line and model in line), None)
    if start is None:
        return ""
    inside = []
    for line in lines[start:]:
        body = line.strip()
        if not body or body[0] not in FRAME:
            break  # the tile's bottom frame (╰ ╚) or the end of the screen
        inside.append(body.strip(FRAME + SCROLLBAR + " ▊▎").strip())
    return " ".join(part for part in inside if part)


def dialog_text(screen: str) -> str:
    """The words inside a dialog's heavy frame (┃ … ┃), over whatever lies under it."""
    inside = [
        line[line.index("┃") + 1 : line.rindex("┃")]
        for line in screen.split("\n")
        if line.count("┃") >= 2
    ]
    return " ".join(" ".join(inside).split())


def focused_line(screen: str) -> tuple[int, str]:
    """(row, text) of the focused choice: its label starts with the "» " marker."""
    rows = [(i, line) for i, line in enumerate(screen.split("\n")) if "» " in line]
    assert len(rows) == 1, f"one focused choice expected, got {rows}:\n{screen}"
    return rows[0]


def assert_focus_whole(screen: str, label: str) -> None:
    """The focused choice is ``label``, on screen with its double frame above and below."""
    row, line = focused_line(screen)
    assert "» " + label in line, f"focus on {line.strip()!r}, expected {label!r}:\n{screen}"
    lines = screen.split("\n")
    column = line.index("» " + label)
    assert 0 < row < len(lines) - 1, f"the focused choice is on the screen's edge:\n{screen}"
    above, below = lines[row - 1], lines[row + 1]
    left = line.rfind("║", 0, column)
    assert left >= 0 and above[left] == "╔" and below[left] == "╚", (
        f"the focused choice's frame is cut:\n{screen}"
    )


def tile_facts(drive: vbench.Drive, size_bytes: int) -> list[str]:
    """What the tile must say of ``drive`` (French, the operator's language)."""
    with scoped_language("fr"):
        unknown = status_text("unknown")
    return [
        f"{drive.model} · {format_size(size_bytes, 'fr')}",
        fr("Serial {serial}", serial=drive.serial),
        # A USB bridge relays no SMART here: said in words, with the reason.
        fr("SMART {health}: {reason}", health=unknown, reason=""),
        fr("○ WAITING"),
    ]


@pytest.mark.device
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.usefixtures("udevd")
async def test_station_opens_with_nothing_chosen(tmp_path: Path, anyio_backend: str) -> None:
    """Seen on the live console: the station opened with "» Retour au banc" chosen (Textual's
    auto-focus), against its rule that nothing is chosen before the operator moves (so a key
    still held from the intake screen's "Poste d'effacement" went straight back)."""
    from tests.test_tui_station import Keys, open_station, station_app

    app = station_app(tmp_path, None)
    async with app.run_test(size=(COLUMNS, ROWS)) as pilot:
        keys = Keys(pilot)
        screen = await open_station(pilot, keys)
        assert screen.focused is None, screen.focused
        await keys.press("right")  # the operator's first move chooses
        assert keys.focused() == "act-leave"


@pytest.mark.vm
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_disk_station_tiles_on_the_live_console(live_i686: Path, tmp_path: Path) -> None:
    require_tool("qemu-system-i386")
    started = time.monotonic()
    machine = scenario_machine("station", "the disk station: diskless, two USB docks")
    io_dir = tmp_path / "io"
    io_dir.mkdir()
    serial_log, qmp = tmp_path / "serial.log", tmp_path / "qmp.sock"
    append = (
        "console=ttyS0,115200 quiet bench.root=9p:live bench.io=9p:benchio bench.net=0 "
        "bench.screendump=1 bench.lang=fr bench.allow_removable=1"  # docks are USB
    )
    cmd = vbench.qemu_command(machine, live_i686 / "pxe", io_dir, [], serial_log, append, qmp)
    # 640x400 pixels: the console is 80x25 cells of 8x16 (QEMU's EDID says 1280x800 else).
    cmd += ["-global", "VGA.xres=640", "-global", "VGA.yres=400", "-device", "qemu-xhci"]
    images = []
    for index, drive in enumerate(DISKS):
        image = tmp_path / f"dock{index}.img"
        vbench.prepare_disk(image, drive, f"dock{index}")
        images.append(image)

    with vbench.QemuSession(cmd, tmp_path, serial_log, qmp) as session:
        console = Console(session, tmp_path)
        login = console.wait(fr("Who is at the bench? Choose your profile."), timeout_s=300)
        booted_s = time.monotonic() - started
        # The default operator's keys (QEMU key codes below), as the key line says them.
        keys = {"left": "←", "right": "→", "enter": fr("Enter"), "escape": fr("Esc")}
        assert login.split("\n")[-1].strip() == fr(
            "{prev} {next}: move · {choose}: choose",
            prev=keys["left"], next=keys["right"], choose=keys["enter"],
        ), login  # fmt: skip
        console.press("ret", expect=fr("New machine: scan its asset tag"))
        console.press("right", "right", "right", expect="» " + fr("Disk station"))
        opened = console.press(
            "ret", expect=fr("Watching for disks. Plug a disk into a dock or bay.")
        )
        assert "» " not in opened, f"a choice was made for the operator:\n{opened}"

        # Docked one after the other (plugged together, either may get its tile first).
        for index, (image, drive) in enumerate(zip(images, DISKS, strict=True)):
            seen = len(console.screens())
            plug_usb_disk(qmp, index, image, drive, bridge_serial=DOCK_SERIAL)
            tiles = console.wait(drive.model, after=seen)
        console.shot("tiles", tiles)

        # The first → goes to the first tile's choice; the next to the second tile's, which
        # lies below the first at 80x25: it comes into view with its whole tile.
        tie = fr("Tie to…")
        first = console.press("right", expect=f"» {tie}", where=DISKS[0].model)
        console.shot("focus-first-tile", first)
        assert_focus_whole(first, tie)
        second = console.press("right", expect=f"» {tie}", where=DISKS[1].model)
        console.shot("focus-second-tile", second)
        assert_focus_whole(second, tie)
        for screen, drive in ((first, DISKS[0]), (second, DISKS[1])):
            tile = tile_of(screen, drive.model)
            for fact in tile_facts(drive, drive.size_mib * MiB):
                assert fact in tile, f"{fact!r} not on the tile of {drive.model}:\n{screen}"
            assert DOCK_SERIAL not in tile, f"the dock's serial names the disk:\n{screen}"

        # Tie the second disk to a lot (typed as a barcode reader would) and erase it: the
        # label field has the focus in the dialog, Enter moves on to what the label is.
        console.press("ret", expect=fr("or scan or type a label"))
        for letter in LOT.lower():
            send_chord(qmp, "shift", letter)
        console.press("ret", expect="» " + fr("The label is a machine"))
        dialog = console.press("right", expect="» " + fr("The label is a lot"))
        assert LOT in dialog, dialog
        console.shot("tie-dialog", dialog, modal=True)
        assert_focus_whole(dialog, fr("The label is a lot"))
        console.press("ret", expect=fr("○ READY TO ERASE"), where=DISKS[1].model)
        erase = fr("Erase… (two inputs)")
        ready = console.press("right", expect=f"» {erase}", where=DISKS[1].model)
        assert fr("lot {lot}", lot=LOT) in tile_of(ready, DISKS[1].model), ready
        confirm = console.press("ret", expect=fr("○ Not armed."))
        console.shot("confirm", confirm, modal=True)
        how = fr(
            "To confirm press {first}, then {second}. {back} cancels.",
            first=keys["right"], second=keys["enter"], back=keys["escape"],
        )  # fmt: skip
        assert how in dialog_text(confirm), f"the instructions are cut:\n{confirm}"
        console.press("right", expect=fr("▶ ARMED: press {second} to confirm.",
                                         second=keys["enter"]))  # fmt: skip
        with scoped_language("fr"):
            erased = status_text("erased")
        done = console.press("ret", expect=erased, where=DISKS[1].model, timeout_s=180)
        console.shot("erased", done)
        tile = tile_of(done, DISKS[1].model)
        assert fr("Serial {serial}", serial=DISKS[1].serial) in tile, done
        assert fr("certificate {id}", id="") in tile and DOCK_SERIAL not in tile, done
        whole_s = time.monotonic() - started

    keep = Path(__file__).resolve().parents[1] / "build" / "live-station-console"
    keep.mkdir(parents=True, exist_ok=True)
    for ppm in tmp_path.glob("*.ppm"):
        shutil.copy2(ppm, keep / ppm.name)
    print(
        f"boot to login {booted_s:.0f} s, whole test {whole_s:.0f} s; min contrast: "
        + ", ".join(f"{s.name} {s.contrast:.2f}" for s in console.shots.values())
    )
    for shot in console.shots.values():
        assert shot.contrast >= 7.0, f"{shot.name}: a text cell below 7:1\n{shot.report}"
        assert not shot.missing_glyphs, (
            f"{shot.name}: not in the console font: {shot.missing_glyphs}"
        )
        assert not shot.invisible, f"{shot.name}: drawn in the background colour: {shot.invisible}"
    assert vbench.marker_offsets(images[1]) == []  # the erased disk's donor data is gone
    assert vbench.marker_offsets(images[0]), "the disk never confirmed was written to"
