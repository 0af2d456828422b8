"""Disk health from SMART data: pass / warn / fail / unknown, with the reasons in every language.

The rules are the workshop's (issue 2); the limits are defaults a profile may override.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bench_agent.i18n import N_, SUPPORTED, both, get_language, nboth, translate
from bench_agent.models.inventory import Disk, Health, Smart


class HealthThresholds(BaseModel):
    """Limits of the disk-health rules; a profile's ``[health]`` table overrides them."""

    model_config = ConfigDict(extra="forbid")

    reallocated_fail: int = 50  # fail above this many reallocated sectors
    reallocated_warn: int = 0  # warn above this many
    pending_fail: int = 0  # fail above this many pending sectors (197)
    offline_uncorrectable_fail: int = 0  # fail above (198)
    reported_uncorrect_fail: int = 0  # fail above (187)
    power_on_hours_warn: int = 50_000  # warn above
    nvme_media_errors_fail: int = 0  # fail above
    nvme_percentage_used_fail: int = 100  # fail at or above
    nvme_percentage_used_warn: int = 80  # warn at or above


_NO_SMART = N_("no SMART data ({reason})")
_RANK = {"pass": 0, "unknown": 0, "warn": 1, "fail": 2}


def assess_disk_i18n(
    smart: Smart, thresholds: HealthThresholds | None = None
) -> tuple[Health, list[dict[str, str]]]:
    """Like :func:`assess_disk`, with each reason as ``{"en": ..., "fr": ...}``."""
    t = thresholds or HealthThresholds()
    if not smart.available:
        reason = smart.reason or N_("SMART data unavailable")
        return "unknown", [
            {lang: translate(_NO_SMART, lang, reason=translate(reason, lang)) for lang in SUPPORTED}
        ]
    level: Health = "pass"
    reasons: list[dict[str, str]] = []

    def flag(new: Health, message: dict[str, str]) -> None:
        nonlocal level
        if _RANK[new] > _RANK[level]:
            level = new
        reasons.append(message)

    if smart.overall == "FAILED":
        flag("fail", both("the drive's own SMART self-assessment says FAILED"))
    last_test = smart.self_test.lower()
    if "fail" in last_test or ("error" in last_test and "without error" not in last_test):
        flag("fail", both("the drive's last self-test failed: {result}", result=smart.self_test))
    # Sectors the drive could not read back: any above the limit fails it.
    for count, limit, singular, plural in (
        (
            smart.pending_sectors,
            t.pending_fail,
            N_("{count} sector pending reallocation (197)"),
            N_("{count} sectors pending reallocation (197)"),
        ),
        (
            smart.offline_uncorrectable,
            t.offline_uncorrectable_fail,
            N_("{count} offline uncorrectable sector (198)"),
            N_("{count} offline uncorrectable sectors (198)"),
        ),
    ):
        if count is not None and count > limit:
            flag("fail", nboth(singular, plural, count))
    if (
        smart.reported_uncorrect is not None
        and smart.reported_uncorrect > t.reported_uncorrect_fail
    ):
        flag(
            "fail",
            nboth(
                "{count} uncorrectable error reported (187)",
                "{count} uncorrectable errors reported (187)",
                smart.reported_uncorrect,
            ),
        )
    realloc = smart.reallocated_sectors
    if realloc is not None and realloc > t.reallocated_fail:
        flag(
            "fail",
            nboth(
                "{count} reallocated sector (more than {limit})",
                "{count} reallocated sectors (more than {limit})",
                realloc,
                limit=t.reallocated_fail,
            ),
        )
    elif realloc is not None and realloc > t.reallocated_warn:
        flag(
            "warn",
            nboth("{count} reallocated sector", "{count} reallocated sectors", realloc),
        )
    if smart.nvme_critical_warning:
        flag("fail", both("NVMe critical warning 0x{value:02x}", value=smart.nvme_critical_warning))
    if smart.nvme_media_errors is not None and smart.nvme_media_errors > t.nvme_media_errors_fail:
        flag(
            "fail",
            nboth(
                "{count} NVMe media and data integrity error",
                "{count} NVMe media and data integrity errors",
                smart.nvme_media_errors,
            ),
        )
    used = smart.nvme_percentage_used
    if used is not None and used >= t.nvme_percentage_used_fail:
        flag(
            "fail",
            both(
                "NVMe wear {used}% used (limit {limit}%)",
                used=used,
                limit=t.nvme_percentage_used_fail,
            ),
        )
    elif used is not None and used >= t.nvme_percentage_used_warn:
        flag(
            "warn",
            both(
                "NVMe wear {used}% used (warning at {limit}%)",
                used=used,
                limit=t.nvme_percentage_used_warn,
            ),
        )
    if smart.power_on_hours is not None and smart.power_on_hours > t.power_on_hours_warn:
        flag(
            "warn",
            both(
                "{hours} power-on hours (more than {limit})",
                hours=smart.power_on_hours,
                limit=t.power_on_hours_warn,
            ),
        )
    return level, reasons


def assess_disk(
    smart: Smart, thresholds: HealthThresholds | None = None
) -> tuple[Health, list[str]]:
    """Grade one disk's SMART data; the reasons are in the current language."""
    level, reasons = assess_disk_i18n(smart, thresholds)
    lang = get_language()
    return level, [r.get(lang, r["en"]) for r in reasons]


def judge_disk(disk: Disk, thresholds: HealthThresholds | None = None) -> None:
    """Set the disk's health and its reasons from its SMART data with these limits.

    The inventory judges with the defaults; the workflow judges again with the grading
    profile's limits as soon as the machine is inventoried, so each disk carries the one value
    its grading uses (shown, graded, and deciding which disk gets the image)."""
    level, reasons = assess_disk_i18n(disk.smart, thresholds)
    disk.health = level
    disk.health_reasons = [r["en"] for r in reasons]
    disk.health_reasons_i18n = {lang: [r[lang] for r in reasons] for lang in SUPPORTED}
