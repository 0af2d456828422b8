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
    from bench_agent.cli.image_cmd import _Progress
    from bench_agent.i18n import _, set_language

    screen = Console()
    bar = _Progress(stream=screen)
    set_language("fr")
    try:
        message = _("Moving the backup GPT header")
        bar(ProgressEvent("sdb", "grow", 0, 5, message=message))
        bar(ProgressEvent("sdb", "write", 50, 100, rate=61e6, eta_s=100_000))
    finally:
        set_language("en")
    rows = re.split(r"[\r\n]", re.sub(r"\x1b\[\d*K", "", screen.getvalue()))
    assert max(len(row) for row in rows) < 80, rows
    assert any(row.startswith("sdb        grow") for row in rows)
