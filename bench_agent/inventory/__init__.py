"""Hardware inventory: probes of the live machine, evidence bundles, parsers, disk health, checks and profiles.

Public entry points: :func:`collect_inventory` (live or replayed from an evidence bundle),
``smartctl.parse_smartctl``, ``health.assess_disk``, ``profiles.load_profile`` /
``profiles.grade_inventory``, ``checks.run_auto_checks``, ``selftest.run_short_self_test``.
"""

from __future__ import annotations

from bench_agent.inventory.collect import collect_inventory

__all__ = ["collect_inventory"]
