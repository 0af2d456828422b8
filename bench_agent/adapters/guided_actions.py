"""The guided checks' actions on this computer: a tone on each sound card (speaker-test or
aplay), the optical drive's tray (eject) and a read of the disc. ``SYSTEM_ACTIONS`` is the
:class:`~bench_agent.workflow.guided.GuidedActions` the bench app uses."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench_agent.i18n import _
from bench_agent.models.inventory import Inventory
from bench_agent.workflow.guided import ActionResult, GuidedActions, tone_wav, tool_problem


def _run(cmd: list[str], timeout: float) -> ActionResult:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return ActionResult(False, _("{tool} is not installed.", tool=cmd[0]))
    except subprocess.TimeoutExpired:
        return ActionResult(False, _("{tool} did not finish in time.", tool=cmd[0]))
    detail = (done.stderr or done.stdout).strip().splitlines()
    return ActionResult(done.returncode == 0, "", detail[-1] if detail else "")


def play_tone(card: int, *, seconds: float = 1.5) -> ActionResult:
    """Play a 440 Hz tone on ALSA card ``card`` (speaker-test, else aplay of a generated WAV)."""
    device = f"plughw:{card}"
    if shutil.which("speaker-test"):
        result = _run(
            ["speaker-test", "-D", device, "-c", "2", "-t", "sine", "-f", "440", "-l", "1"],
            timeout=seconds + 20,
        )
        if result.ok:
            return ActionResult(True, _("Tone played on card {card}.", card=card))
    if shutil.which("aplay"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = tone_wav(Path(tmp) / "tone.wav", seconds=seconds)
            result = _run(["aplay", "-q", "-D", device, str(wav)], timeout=seconds + 20)
        if result.ok:
            return ActionResult(True, _("Tone played on card {card}.", card=card))
        return ActionResult(
            False,
            _(
                "Card {card} could not play: {detail}",
                card=card,
                detail=tool_problem(result.detail),
            ),
            result.detail,
        )
    return ActionResult(False, _("{tool} is not installed.", tool="alsa-utils"))


def play_tones(inventory: Inventory) -> list[ActionResult]:
    if not inventory.sound:
        return [ActionResult(False, _("No sound card was detected."))]
    return [play_tone(card.card) for card in inventory.sound]


def eject(device: str) -> ActionResult:
    result = _run(["eject", device], timeout=30)
    if result.ok:
        return ActionResult(True, _("Tray of {device} opened.", device=device))
    return ActionResult(
        False,
        _("Eject failed on {device}: {detail}", device=device, detail=tool_problem(result.detail)),
        result.detail,
    )


def close_tray(device: str) -> ActionResult:
    result = _run(["eject", "-t", device], timeout=30)
    if result.ok:
        return ActionResult(True, _("Tray of {device} closed.", device=device))
    return ActionResult(
        False,
        _("Eject failed on {device}: {detail}", device=device, detail=tool_problem(result.detail)),
        result.detail,
    )


def read_test(device: str, *, limit_bytes: int = 32 << 20, chunk: int = 1 << 20) -> ActionResult:
    """Read the start of the disc; a drive that reads 32 MB cleanly reads discs."""
    started = time.monotonic()
    done = 0
    try:
        fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
        try:
            while done < limit_bytes:
                data = os.read(fd, chunk)
                if not data:
                    break
                done += len(data)
        finally:
            os.close(fd)
    except OSError as exc:
        return ActionResult(
            False,
            _(
                "Cannot read {device}: {error}",
                device=device,
                error=tool_problem(exc.strerror or ""),
            ),
        )
    if done == 0:
        return ActionResult(False, _("No disc in {device}.", device=device))
    seconds = max(time.monotonic() - started, 1e-6)
    return ActionResult(
        True,
        _(
            "{mb} MB read from {device} at {rate} MB/s.",
            mb=done >> 20,
            device=device,
            rate=f"{done / seconds / 1e6:.1f}",
        ),
    )


class SystemActions:
    """The real tools, as the bench app runs them."""

    def play_tones(self, inventory: Inventory) -> list[ActionResult]:
        return play_tones(inventory)

    def eject(self, device: str) -> ActionResult:
        return eject(device)

    def close_tray(self, device: str) -> ActionResult:
        return close_tray(device)

    def read_test(self, device: str) -> ActionResult:
        return read_test(device)


SYSTEM_ACTIONS: GuidedActions = SystemActions()
