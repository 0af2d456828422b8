"""The engines the workflow drives, gathered in one injectable bundle.

The real engines (inventory, sanitize, imaging, sync) are imported lazily, on first use, so
starting the bench stays fast on old machines and a missing optional part fails with a clear
message at the step that needs it rather than at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench_agent.errors import ToolMissing
from bench_agent.i18n import _


def _lazy(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            target = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ToolMissing(
                _(
                    "The bench part {name} is not available: {error}",
                    name=f"{module}.{name}",
                    error=exc,
                ),
                _("Reinstall Bench Agent with scripts/setup."),
            ) from exc
        return target(*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = f"{module}.{name}"
    return call


@dataclass
class Engines:
    """Callables with the agreed signatures of the engine packages (see their modules)."""

    collect_inventory: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.inventory", "collect_inventory")
    )
    load_profile: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.inventory.profiles", "load_profile")
    )
    grade_inventory: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.inventory.profiles", "grade_inventory")
    )
    run_auto_checks: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.inventory.checks", "run_auto_checks")
    )
    self_test: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.inventory.selftest", "run_short_self_test")
    )
    check_target: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.devices.guard", "check_target")
    )
    guard_policy: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.devices.guard", "GuardPolicy")
    )
    plan_wipes: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.sanitize", "plan_wipes")
    )
    run_wipes: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.sanitize", "run_wipes")
    )
    certificate_context: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.sanitize", "CertificateContext")
    )
    load_catalogue: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.imaging", "load_catalogue")
    )
    choose_image: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.imaging", "choose_image")
    )
    write_image: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.imaging", "write_image")
    )
    submit_record: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.sync", "submit_record")
    )
    post_heartbeat: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.sync", "post_heartbeat")
    )
    ledger_status: Callable[..., Any] = field(
        default_factory=lambda: _lazy("bench_agent.sync", "ledger_status")
    )
