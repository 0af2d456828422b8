"""Disk sanitization to NIST SP 800-88: method plan, overwrite and firmware engines, verification, certificates.

Public API (for the CLI, the workflow and the TUI)::

    plans = plan_wipes(["/dev/sdb"], method="auto", verify="sample", allowed_methods=None)
    results = run_wipes(plans, context=CertificateContext(...), progress=callback)
    interrupted(home)            # wipes cut short by a crash or power cut
    verify_certificate(path_or_dict, public_key=None)
"""

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
