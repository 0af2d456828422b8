"""Every string the dashboard shows: template texts and the words for codes stored in the ledger.

Templates call ``_("…")`` with the same literals listed in ``TEMPLATE_STRINGS`` below, so the
i18n test (which reads Python files) sees them; ``tests/test_dashboard.py`` checks both agree.
"""

from __future__ import annotations

from bench_agent.i18n import N_

# A station's status: the same words on the web board and the terminal board.
from bench_agent.models.heartbeat import STATUS_WORDS as STATUS_WORDS

# States a bench reports in its heartbeats besides its workflow step.
STATE_WORDS = {
    "wiping": N_("wiping"),
    "imaging": N_("imaging"),
    "testing": N_("testing"),
    "busy": N_("busy"),
    "done": N_("done"),
    "error": N_("error"),
}

OUTCOME_WORDS = {
    "kept": N_("kept"),
    "remediate": N_("to repair"),
    "rejected": N_("rejected"),
}

EVENT_WORDS = {
    "record": N_("bench run"),
    "training": N_("training run"),
    "received": N_("received"),
    "tested": N_("tested"),
    "wiped": N_("wiped"),
    "imaged": N_("imaged"),
    "packed": N_("packed"),
    "given": N_("delivered"),
    "returned": N_("returned"),
    "recycled": N_("recycled"),
}

CATEGORY_WORDS = {
    "family": N_("family"),
    "job_seeker": N_("job seeker"),
    "student": N_("student"),
    "association": N_("association"),
    "school": N_("school"),
    "unknown": N_("not given"),
}

WIPE_STATUS_WORDS = {
    "erased": N_("erased"),
    "erased_with_exceptions": N_("erased with exceptions"),
    "failed": N_("failed"),
    "aborted": N_("aborted"),
    "failed_validation": N_("failed validation"),  # revoked by a failed validation
}

NAV_WORDS = {
    "board": N_("Station board"),
    "lots": N_("Donor lots"),
    "assets": N_("Machines"),
    "distribution": N_("Distribution"),
    "report": N_("Report"),
}


def reason_text(key: str) -> str:
    """A rejection reason in words; profile criterion ids are shown as they are."""
    from bench_agent.ledger.reports import label

    return label(key)


TEMPLATE_STRINGS = (
    N_(
        "A station is offline after {offline} s without a heartbeat, stuck when its progress has not moved for {stuck} s."
    ),
    N_("Asset"),
    N_("Asset tag, serial number or UUID"),
    N_("Back to the station board"),
    N_("Bench ledger"),
    N_("Bench record of {date} (JSON)"),
    N_("Beneficiary"),
    N_("CPU"),
    N_("Certificate"),
    N_("Date"),
    N_("Delivered"),
    N_("Delivered on"),
    N_("Disk"),
    N_("Disks wiped"),
    N_("Distribution"),
    N_("Documents"),
    N_("Donor"),
    N_("Donor lots"),
    N_("Donor: {donor}"),
    N_("Download ({format})"),
    N_("Download all certificates (zip)"),
    N_("Export all machines (CSV)"),
    N_("Figure"),
    N_("From"),
    N_("Imaged"),
    N_("Inventory for GLPI (JSON)"),
    N_("Kept"),
    N_("Label (PDF, 62 × 100 mm)"),
    N_("Label (PDF, A4 sheet)"),
    N_("Last heartbeat"),
    N_("Last step"),
    N_("Latest deliveries"),
    N_("Live updates on."),
    N_("Live updates paused: reconnecting…"),
    N_("Log in"),
    N_("Log out"),
    N_("Lot"),
    N_("Lot (optional)"),
    N_("Site"),
    N_("Every site (the programme)"),
    N_("Lot {lot}"),
    N_("Machine {asset}"),
    N_("Machines"),
    N_("Machines refurbished"),
    N_("Machines tested"),
    N_("Machines with a beneficiary, by category"),
    N_("Main menu"),
    N_("Maintenance ending within 90 days"),
    N_("Maintenance until"),
    N_("Method"),
    N_("Model"),
    N_("No lot yet."),
    N_("No machine delivered yet."),
    N_("No machine found."),
    N_("No machine in this lot yet."),
    N_("No station yet: add one with bench-ledger station add."),
    N_("None."),
    N_("Nothing yet."),
    N_("Operator"),
    N_("Packed"),
    N_("Packed machines"),
    N_("Password"),
    N_("Programme report"),
    N_("Progress"),
    N_("Progress of {station}"),
    N_("RAM"),
    N_("Rate"),
    N_("Received"),
    N_("Received on"),
    N_("Rejected"),
    N_("Rejection reasons this week"),
    N_("Report for this lot"),
    N_("Result"),
    N_("Returned on"),
    N_("Returned under maintenance, not yet dealt with"),
    N_("Sanitization certificates"),
    N_("Search"),
    N_("Serial"),
    N_("Show"),
    N_("Signature"),
    N_("Skip to content"),
    N_("State"),
    N_("Station"),
    N_("Station board"),
    N_("Stations, their current machine and progress"),
    N_("Step"),
    N_("Supervisor log in"),
    N_("System"),
    N_(
        "This machine was refurbished by the workshop. Its disks were sanitized following NIST SP 800-88; each certificate below is signed by the bench that did the work."
    ),
    N_("This week"),
    N_("Throughput"),
    N_("Time left"),
    N_("Timeline"),
    N_("To"),
    N_("Today"),
    N_("User name"),
    N_("Verdict"),
    N_("Wipe certificate {id}"),
    N_("Wipe methods this week"),
    N_("never"),
    N_("training"),
    N_("valid, station {station}"),
    # Calls for help (bench_agent/ledger/help.py).
    N_("HELP ASKED: answer"),
    N_("help on its way"),
    N_("Call for help"),
    N_("{station} asks for the supervisor since {time}."),
    N_("Answered by {name} at {time}: the bench says help is coming."),
    N_("I am coming: tell the bench"),
    N_("Back to the board"),
    # What a record does not prove (bench_agent/workflow/caveats.py).
    N_("What the bench record does not prove"),
    # The validation programme on the report page (issue 15).
    N_("Validation of wiped disks"),
    N_("Validated"),
    N_("{validated} of {certified} disks ({percent} %)"),
    N_("Passed"),
    N_("Failed"),
    N_("Drawn for validation"),
    N_("Drawn, not checked"),
    N_("Checked by another operator"),
    N_(
        "Published rate: {rate} % of wiped disks, drawn at random when each wipe ends "
        "({offline} drawn offline, at the rate the bench last received)."
    ),
    N_("Coverage is below the published rate."),
    N_("Validation results whose signature does not verify: {count}."),
    N_(
        "Failed validations: these disks were not sanitized; their certificates are revoked "
        "and the machines go back to be wiped."
    ),
    N_("Disk serial"),
    N_("Wiped by"),
    N_("Checked by"),
    N_("What the check found"),
    N_("Disks validated"),
    N_("Validations failed"),
)
