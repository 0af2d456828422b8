"""The live console as the bench's real screen (issue 11): contrast, font, text size.

The vm test boots the i686 ISO as a CD in QEMU (Atom N270, 512 MB, standard VGA: the kernel's
1280x800 framebuffer console, an empty floppy drive as on the issue's machine), drives the first
screens with keys sent through the QEMU monitor, saves screendumps and measures every text cell
with tests/cell_contrast.py (a copy of the project's shared tool): none may be below 7:1. The
workshop default operator (dark theme, 8x16 cells) and the four-keys operator (large text,
16x32 cells, light theme) each go through the login, asset-tag and inventory screens.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rich.color import Color, ColorSystem

from bench_agent.tui import console
from bench_agent.tui.themes import BENCH_THEMES, CONSOLE_PALETTES, contrast_ratio
from tests.conftest import require_tool
from tests.vm_support import vbench

CELL_CONTRAST = Path(__file__).parent / "cell_contrast.py"
LOGIN = ("Qui est au banc", "Who is at the bench")


# ------------------------------------------------------------------------ palettes (static)
def _console_index(colour: str) -> int:
    """The console colour Textual sends for a theme colour with TERM=linux (16 colours)."""
    number = Color.parse(colour).downgrade(ColorSystem.STANDARD).number
    assert number is not None
    return number


@pytest.mark.parametrize("theme", BENCH_THEMES, ids=lambda t: t.name)
def test_console_palette_keeps_7_to_1_whatever_bold_does(theme: object) -> None:
    """The Linux console draws bold text with colour n XOR 8 and a bright background with its
    dark partner: so both members of each pair are the same colour, and every theme colour that
    carries text is ≥ 7:1 against the background and the panel as the console shows them."""
    palette = CONSOLE_PALETTES[theme.name]  # type: ignore[attr-defined]
    assert len(palette) == 16
    assert all(palette[n] == palette[n + 8] for n in range(8))
    background = palette[_console_index(theme.background) & 7]  # type: ignore[attr-defined]
    panel = palette[_console_index(theme.panel) & 7]  # type: ignore[attr-defined]
    for role in ("foreground", "primary", "secondary", "accent", "success", "warning", "error"):
        text = palette[_console_index(getattr(theme, role))]
        for ground in (background, panel):
            assert contrast_ratio(text, ground) >= 7.0, (role, text, ground)
    # The focused button swaps them: text in the background colour on the foreground colour.
    foreground = palette[_console_index(theme.foreground) & 7]  # type: ignore[attr-defined]
    assert contrast_ratio(background, foreground) >= 7.0


def test_palette_sequence_sets_all_16_colours() -> None:
    sequence = console.palette_sequence("bench-contrast-dark")
    assert sequence.count("\x1b]P") == 16
    assert "\x1b]P7FFFFFF" in sequence and "\x1b]P8000000" in sequence
    assert console.palette_sequence("ansi-dark") == "\x1b]R"  # the console's own palette


def test_console_adapter_does_nothing_off_the_live_console(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BENCH_LIVE_CONSOLE", raising=False)
    monkeypatch.setenv("TERM", "linux")
    assert console.apply("large", "bench-contrast-dark") == ""
    assert capsys.readouterr().out == ""


def test_operator_text_size_is_remembered_in_the_profile(tmp_path: Path) -> None:
    from bench_agent.errors import InputError
    from bench_agent.tui.operators import load_operator, parse_operator

    assert load_operator("four-keys").text_size == "large"
    assert load_operator("default").text_size == "normal"
    bad = tmp_path / "huge.toml"
    bad.write_text('text_size = "huge"\n')
    with pytest.raises(InputError, match="text_size"):
        parse_operator(bad)


# --------------------------------------------------------------------------- QEMU screendumps
def measure(image: Path, cell: str) -> tuple[float, str]:
    """(min contrast, report) of a screendump, by tests/cell_contrast.py."""
    done = subprocess.run(
        [sys.executable, str(CELL_CONTRAST), str(image), "--cell", cell, "--min", "7"],
        capture_output=True,
        text=True,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("min_contrast="), done.stdout + done.stderr
    return float(last.split()[0].split("=")[1]), done.stdout


def _screendump(session: vbench.QemuSession, path: Path) -> Path:
    vbench.qmp(session.qmp_sock, {"execute": "screendump", "arguments": {"filename": str(path)}})
    return path


def _wait_text(session: vbench.QemuSession, text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        screens = vbench.screens_in(session.text())
        if screens and text in screens[-1]:
            time.sleep(2)  # the screen copy is taken once it holds still; let it settle
            return screens[-1]
        time.sleep(2)
    last = vbench.screens_in(session.text())
    raise AssertionError(
        f"no screen with {text!r}; last:\n{last[-1] if last else session.text()[-2000:]}"
    )


def drive_live_console(
    iso: Path, workdir: Path, *, operator: str = "", cell: str = "8x16", stick: bool = False
) -> dict[str, tuple[float, str, str]]:
    """Boot ``iso`` as a CD (or as a USB stick), the station's operator preselected if given,
    then the login, asset-tag and inventory screens: {name: (min contrast, report, screen
    text)} of their screendumps."""
    workdir.mkdir(parents=True, exist_ok=True)
    serial = workdir / "serial.log"
    qmp = workdir / "qmp.sock"
    serial.unlink(missing_ok=True)
    qmp.unlink(missing_ok=True)
    cmd = [
        "qemu-system-i386", "-M", "pc", "-accel", "tcg", "-cpu", "n270", "-m", "512",
        "-smp", "1", "-nic", "none", "-display", "none", "-vga", "std", "-no-reboot",
        "-monitor", "none", "-serial", f"file:{serial}",
        "-qmp", f"unix:{qmp},server=on,wait=off",
    ]  # fmt: skip
    if stick:  # the workshop's stick: ISO and BENCHCFG partitions on one USB disk
        cmd += [
            "-drive", f"if=none,id=stick,file={iso},format=raw,snapshot=on",
            "-device", "qemu-xhci", "-device", "usb-storage,drive=stick,bootindex=0",
        ]  # fmt: skip
    else:
        cmd += ["-drive", f"file={iso},media=cdrom,readonly=on"]
    params = ["bench.screendump=1", "bench.lang=fr", "bench.net=0"]
    if operator:
        params.append(f"bench.operator={operator}")
    for param in params:
        cmd += ["-smbios", f"type=11,value={param}"]
    results: dict[str, tuple[float, str, str]] = {}

    def shot(session: vbench.QemuSession, name: str, text: str) -> None:
        image = _screendump(session, workdir / f"{name}-{cell}.ppm")
        results[f"{name}-{cell}"] = (*measure(image, cell), text)

    with vbench.QemuSession(cmd, workdir, serial, qmp) as session:
        shot(session, "login", _wait_text(session, LOGIN[0], 420))
        session.keys("ret")  # the preselected profile
        shot(session, "intake", _wait_text(session, "numéro d'inventaire", 90))
        session.keys("ret")  # Enter alone: a new tag, then the inventory
        shot(session, "inventory", _wait_text(session, "Ce que le banc a trouvé", 240))
    return results


@pytest.mark.vm
@pytest.mark.slow
def test_live_console_text_cells_are_7_to_1(live_i686: Path, tmp_path: Path) -> None:
    """Two machines side by side: the workshop default booted from a CD (dark theme, 8x16
    cells) and the four-keys operator preselected on one booted from the USB stick (light
    theme, large text: 16x32 cells)."""
    require_tool("qemu-system-i386")
    iso = live_i686 / "bench-live-i686.iso"
    with ThreadPoolExecutor(max_workers=2) as pool:
        normal = pool.submit(drive_live_console, iso, tmp_path / "normal")
        large = pool.submit(
            drive_live_console,
            iso,
            tmp_path / "large",
            operator="four-keys",
            cell="16x32",
            stick=True,
        )
        results = {**normal.result(), **large.result()}
    keep = Path(__file__).resolve().parents[1] / "build" / "live-console"
    keep.mkdir(parents=True, exist_ok=True)
    for ppm in tmp_path.glob("*/*.ppm"):
        shutil.copy2(ppm, keep / ppm.name)
    for name, (worst, report, _text) in results.items():
        assert worst >= 7.0, f"{name}: a text cell below 7:1\n{report}"
    # Large text really is 16x32 cells: 1280x800 pixels hold 80x25 of them (160x50 at 8x16).
    assert max(len(line) for line in results["inventory-16x32"][2].splitlines()) <= 80
    assert max(len(line) for line in results["inventory-8x16"][2].splitlines()) > 80
    # Issue 11, item 7: neither the squashfs root's loop device, nor the empty floppy drive,
    # nor the boot stick is one of the machine's disks (these machines have none).
    for name in ("inventory-8x16", "inventory-16x32"):
        text = results[name][2]
        assert "Disque\n" in text.replace(" ", "").replace("│", ""), text  # "Disque", no name
        assert re.search(r"Disque (sd|loop|fd|sr|zram)", text) is None, text
