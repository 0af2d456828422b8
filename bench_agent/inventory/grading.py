"""Grading: inventory (+ guided and automatic check results) and a profile in, a
:class:`Verdict` out (pure: no I/O). Each criterion says pass / remediate (with the action to
do) / fail, with the measured value and the limit, in English and French; the hardware
criteria are in ``criteria``."""

from __future__ import annotations

from typing import Literal

from bench_agent.i18n import N_, SUPPORTED, _, both, get_language
from bench_agent.inventory.criteria import (
    Grader,
    eligible_disks,
    grade_cpu,
    grade_device,
    grade_disks,
    grade_memory,
    grade_optical,
)
from bench_agent.inventory.health import assess_disk_i18n
from bench_agent.inventory.profile_rules import Profile
from bench_agent.models.inventory import Inventory
from bench_agent.models.record import AutoCheck, GuidedCheck
from bench_agent.models.verdict import Outcome, Verdict

# What the workshop does about a part whose guided or automatic check failed: replace it.
_REPLACE_ACTIONS = {
    "sound": N_("replace the sound card or the speakers"),
    "optical": N_("replace the optical drive"),
    "keyboard": N_("replace the keyboard"),
    "screen": N_("replace the screen"),
    "mouse": N_("replace the mouse"),
    "ram": N_("replace the faulty RAM module"),
}
# Automatic checks of these areas that fail ask for the part to be replaced; others reject.
_AUTO_REPLACEABLE = ("ram", "optical", "sound")


def _grade_not_applicable(g: Grader, profile: Profile, inventory: Inventory, ident: str) -> None:
    """A guided check answered "not applicable" never counts as met (a workshop's view).

    Where the profile requires the part (the optical drive or the sound card it names), the
    answer does not excuse it: a drive the inventory found must be tested before the machine is
    kept (a remediation: test it), and a missing one is already a remediation or a failure of
    the inventory's own criterion. Elsewhere (no such part on this machine, a tower without its
    own screen or keyboard) the criterion stays "not checked": never "pass".
    """
    required = (ident == "optical" and profile.optical.required != "none") or (
        ident == "sound" and profile.sound.required
    )
    present = bool(
        inventory.optical if ident == "optical" else inventory.sound if ident == "sound" else False
    )
    if required:
        message = both(
            "guided check '{name}' answered not applicable, but the profile requires it",
            name=ident,
        )
        if present:
            g.add(
                f"guided.{ident}",
                "remediate",
                _("not applicable"),
                _("pass"),
                message,
                both("test it: guided check '{name}'", name=ident),
            )
        else:
            g.add(f"guided.{ident}", "unknown", _("not applicable"), _("pass"), message)
        return
    g.add(
        f"guided.{ident}",
        "unknown",
        _("not applicable"),
        _("pass"),
        both("guided check '{name}' not applicable: not counted as met", name=ident),
    )


def _grade_guided(
    g: Grader, profile: Profile, guided: list[GuidedCheck], inventory: Inventory
) -> None:
    by_id = {c.id: c for c in guided}
    for ident in profile.guided_checks:
        check = by_id.get(ident)
        name = ident
        if check is None or check.status == "not_done":
            g.add(
                f"guided.{ident}",
                "unknown",
                _("not done"),
                _("pass"),
                both("guided check '{name}' not done yet", name=name),
            )
        elif check.status == "pass":
            g.add(
                f"guided.{ident}",
                "pass",
                _("pass"),
                _("pass"),
                both("guided check '{name}' passed", name=name),
            )
        elif check.status == "not_applicable":
            _grade_not_applicable(g, profile, inventory, ident)
        else:
            on_fail = profile.guided_on_fail.get(ident, "remediate")
            note = f" ({check.note})" if check.note else ""
            message = both("guided check '{name}' failed{note}", name=name, note=note)
            if on_fail == "reject":
                g.add(f"guided.{ident}", "fail", _("fail"), _("pass"), message)
            else:
                g.add(
                    f"guided.{ident}",
                    "remediate",
                    _("fail"),
                    _("pass"),
                    message,
                    both(_REPLACE_ACTIONS[ident]),
                )


def _grade_auto(g: Grader, checks: list[AutoCheck]) -> None:
    for check in checks:
        ident = f"auto.{check.id}"
        text = check.message or check.measured
        if check.status in ("pass", "skipped"):
            continue
        if check.status == "warn":
            g.add(
                ident,
                "pass",
                check.measured,
                "",
                both("automatic check {name}: warning: {text}", name=check.id, text=text),
            )
            continue
        area = check.id.split(".", 1)[0]
        message = both("automatic check {name} failed: {text}", name=check.id, text=text)
        if area in _AUTO_REPLACEABLE:
            action = both(_REPLACE_ACTIONS[area])
            g.add(ident, "remediate", check.measured, "", message, action)
        else:
            g.add(ident, "fail", check.measured, "", message)


def _destination(inventory: Inventory, profile: Profile) -> Literal["parts", "recycling"]:
    reusable_disk = any(
        assess_disk_i18n(d.smart, profile.health)[0] in ("pass", "warn")
        for d in eligible_disks(inventory, profile)
    )
    reusable_parts = reusable_disk or bool(inventory.optical) or bool(inventory.memory.modules)
    return "parts" if reusable_parts else "recycling"


def grade_inventory(
    inventory: Inventory,
    profile: Profile,
    guided: list[GuidedCheck] | None = None,
    auto_checks: list[AutoCheck] | None = None,
) -> Verdict:
    """Grade ``inventory`` against ``profile`` (pure: no I/O)."""
    g = Grader()
    grade_cpu(g, inventory, profile.cpu)
    grade_memory(g, inventory, profile.memory)
    grade_disks(g, inventory, profile)
    grade_optical(g, inventory, profile.optical)
    grade_device(
        g,
        "sound",
        bool(inventory.sound),
        ", ".join(c.name or c.id for c in inventory.sound),
        profile.sound,
        both("no sound card"),
        both("install a sound card"),
        both("sound card present"),
    )
    physical_net = [n for n in inventory.network if n.mac]
    grade_device(
        g,
        "network",
        bool(physical_net),
        ", ".join(n.name for n in physical_net),
        profile.network,
        both("no network interface"),
        both("install a network card"),
        both("network interface present"),
    )
    if guided is not None:
        _grade_guided(g, profile, guided, inventory)
    if auto_checks:
        _grade_auto(g, auto_checks)

    statuses = [c.status for c in g.criteria]
    actions = [c for c in g.criteria if c.status == "remediate" and c.action]
    outcome: Outcome
    if "fail" in statuses:
        outcome = "rejected"
        failed = [c for c in g.criteria if c.status == "fail"]
        summary = {
            lang: both(
                "rejected: {reasons}",
                reasons="; ".join(c.messages.get(lang, c.message) for c in failed),
            )[lang]
            for lang in SUPPORTED
        }
    elif len(actions) > profile.max_actions:
        outcome = "rejected"
        summary = both(
            "rejected: {count} repairs needed (more than {limit})",
            count=len(actions),
            limit=profile.max_actions,
        )
    elif actions or "remediate" in statuses:
        outcome = "remediate"
        summary = {
            lang: both(
                "kept after: {actions}",
                actions="; ".join(c.actions.get(lang, c.action) for c in actions),
            )[lang]
            for lang in SUPPORTED
        }
    else:
        outcome = "kept"
        unknown = statuses.count("unknown")
        summary = (
            both("kept: meets every criterion of {profile}", profile=profile.name)
            if not unknown
            else both(
                "kept: meets the criteria of {profile} ({count} not checked)",
                profile=profile.name,
                count=unknown,
            )
        )
    lang = get_language()
    return Verdict(
        profile=profile.name,
        outcome=outcome,
        criteria=g.criteria,
        destination="reuse" if outcome != "rejected" else _destination(inventory, profile),
        summary=summary.get(lang, summary["en"]),
        summaries=summary,
        actions=[c.action for c in actions],
    )
