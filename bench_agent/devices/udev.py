"""Whether udevd runs here: the disk station listens to its events when it does, and to the
kernel's own uevents when it does not (a minimal live system)."""

from __future__ import annotations

import socket
from pathlib import Path


def udevd_running(control: Path = Path("/run/udev/control")) -> bool:
    """udevd answers on its control socket (a stale socket file after it died does not)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        try:
            sock.connect(str(control))
        except OSError:
            return False
    return True
