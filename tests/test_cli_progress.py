"""The CLI's progress bars on a terminal stay on one row: on the Linux text console (80
columns) of an old bench a wrapped bar is not redrawn in place, it scrolls stale rows."""

from __future__ import annotations

import io
import re

from bench_agent.progress import ProgressEvent


class Console(io.StringIO):
    """A terminal whose size cannot be asked: the bars assume 80 columns."""

    def isatty(self) -> bool:
        return True


def test_image_progress_fits_an_80_column_console_in_french() -> None:
    from bench_agent.console.output import ConsoleProgress
    from bench_agent.i18n import _, set_language

    screen = Console()
    bar = ConsoleProgress(stream=screen)  # the image command's display
    set_language("fr")
    try:
        message = _("Moving the backup GPT header")
        bar(ProgressEvent("sdb", "grow", 0, 5, message=message))
        bar(ProgressEvent("sdb", "write", 50, 100, rate=61e6, eta_s=100_000))
    finally:
        set_language("en")
    rows = re.split(r"[\r\n]", re.sub(r"\x1b\[\d*[KF]", "", screen.getvalue()))
    assert max(len(row) for row in rows) < 80, rows
    assert any(row.startswith("sdb        grow") for row in rows)
    # The bar gave up room so that the step's French name is read whole, not cut.
    assert any(row.endswith(message) for row in rows), rows


def test_a_message_is_a_line_above_the_bars_and_a_phase_ends_once() -> None:
    """The one display of wipe, image, check and station: a message with nothing to count (the
    image's "interrupted imaging found") is said once, above the bars, which are then drawn
    again below it; in a log, a phase's 100 % line is written once however often it comes."""
    from bench_agent.console.output import ConsoleProgress

    screen = Console()
    bars = ConsoleProgress(["sdb", "sdc"], stream=screen)
    bars(ProgressEvent("sdb", "write", 10, 100))
    bars(ProgressEvent("sdc", "write", 0, 0, message="An interrupted imaging was found"))
    bars(ProgressEvent("sdb", "write", 20, 100))
    # Each redraw goes back up over the two bars only, never over the message.
    text = screen.getvalue()
    assert text.count("An interrupted imaging was found") == 1
    assert "\x1b[2F\x1b[JAn interrupted imaging was found\n" in text
    final = text.rsplit("\x1b[2F", 1)[-1]
    assert re.findall(r"\x1b\[2K(\w+)", final) == ["sdb", "sdc"]
    assert "20.0%" in final and "sdc: waiting" in final

    log = io.StringIO()
    lines = ConsoleProgress(stream=log)
    for _n in range(3):
        lines(ProgressEvent("sdb", "verify", 100, 100))
    lines(ProgressEvent("sdb", "grow", 5, 5, message="The disk is ready"))
    out = log.getvalue().splitlines()
    assert [row.split()[:2] for row in out] == [["sdb", "verify"], ["sdb", "grow"]], out
    assert out[-1].endswith("The disk is ready") and "\x1b" not in log.getvalue()


def finished(job: str, phase: str) -> str:
    """The one console renderer's line for ``job``'s finished ``phase``, up to its percentage
    (the rate and the time left vary): what ``wipe``, ``image``, ``check`` and ``run`` write in
    a log. tests/test_wipe_cli.py and tests/test_run_headless.py look for it on real disks."""
    from bench_agent.console.output import ConsoleProgress

    line = ConsoleProgress.line(ProgressEvent(job, phase, 1, 1))
    return line[: line.index("100.0%") + len("100.0%")]


def finished_phases(log: str, job: str, drawn: tuple[str, ...] = ("validate",)) -> list[str]:
    """The phases of ``job`` whose 100 % line, as the renderer draws it, is in ``log``.

    Phases in ``drawn`` are left out: the independent validation read follows a wipe only when
    the sampling draw picks it (issue 15), so whether it appears is chance, not behaviour.
    """
    phases = []
    for row in log.splitlines():
        words = row.split()
        if len(words) > 1 and words[0] == job and row.startswith(finished(job, words[1])):
            phases.append(words[1])
    return [phase for phase in phases if phase not in drawn]
