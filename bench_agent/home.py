"""The station's default home, with the standard library only: the settings (``config``) and
the wipe-only path of CPUs without SSE2 (``sanitize.lite``, no pydantic) read it alike.

``BENCH_AGENT_HOME`` when set (tests use a temporary one); else ``/var/lib/bench-agent`` as root,
else ``~/.local/share/bench-agent``. Read at the edges only: a settings object carries its home.
"""

from __future__ import annotations

import os
from pathlib import Path


def agent_home() -> Path:
    env = os.environ.get("BENCH_AGENT_HOME")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/bench-agent")
    return Path.home() / ".local" / "share" / "bench-agent"
