"""Disk sanitization to NIST SP 800-88: method plan, overwrite and firmware engines, verification, certificates.

Public API (for the CLI, the workflow and the TUI)::

    plans = plan_wipes(["/dev/sdb"], method="auto", verify="sample", allowed_methods=None)
    results = run_wipes(plans, context=CertificateContext(...), progress=callback)
    interrupted(home)            # wipes cut short by a crash or power cut
    verify_certificate(path_or_dict, public_key=None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench_agent.sanitize.certificate import CertificateContext, verify_certificate
    from bench_agent.sanitize.engine import WipeHooks, run_wipes
    from bench_agent.sanitize.journal import JournalEntry, interrupted
    from bench_agent.sanitize.plan import (
        ALL_METHODS,
        FIRMWARE_METHODS,
        OVERWRITE_METHODS,
        MethodOption,
        WipePlan,
        plan_wipes,
    )


# Imported on first use (PEP 562): ``bench_agent.sanitize.lite``, the wipe-only path of CPUs
# without SSE2, imports modules of this package that must not pull pydantic in with it. Plain
# imports, so import-linter and readers see the package's graph.
def __getattr__(name: str) -> Any:
    module: Any
    if name in ("CertificateContext", "verify_certificate"):
        from bench_agent.sanitize import certificate as module
    elif name in ("WipeHooks", "run_wipes"):
        from bench_agent.sanitize import engine as module
    elif name in ("JournalEntry", "interrupted"):
        from bench_agent.sanitize import journal as module
    elif name in (
        "ALL_METHODS",
        "FIRMWARE_METHODS",
        "OVERWRITE_METHODS",
        "MethodOption",
        "WipePlan",
        "plan_wipes",
    ):
        from bench_agent.sanitize import plan as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "ALL_METHODS",
    "FIRMWARE_METHODS",
    "OVERWRITE_METHODS",
    "CertificateContext",
    "JournalEntry",
    "MethodOption",
    "WipeHooks",
    "WipePlan",
    "interrupted",
    "plan_wipes",
    "run_wipes",
    "verify_certificate",
]
