"""The one error hierarchy: every error a user can meet carries a message and a hint.

Messages and hints are already translated (built with ``i18n._``) when raised; the CLI prints
them as one line each and exits with ``exit_code``; the TUI shows them in a dialog.
"""

from __future__ import annotations

# Documented exit codes (README "Exit codes").
EXIT_OK = 0
EXIT_FAILURE = 1  # the job ran and did not succeed (wipe not erased, image not verified, ...)
EXIT_USAGE = 2  # bad command line or bad input file
EXIT_REMEDIATE = 3  # check: kept after remediation
EXIT_REJECTED = 4  # check: rejected
EXIT_REFUSED = 5  # the device guard refused a target
EXIT_UNAVAILABLE = 6  # a required tool, permission or service is missing


class BenchError(Exception):
    """An error with a user-facing message and an actionable hint."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, hint: str = "", *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class InputError(BenchError):
    """A file, argument or record is malformed (which file, which field, what is expected)."""

    exit_code = EXIT_USAGE


class DeviceRefused(BenchError):
    """The device guard refused a destructive operation on a device."""

    exit_code = EXIT_REFUSED

    def __init__(self, device: str, rule: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.device = device
        self.rule = rule


class ToolMissing(BenchError):
    """A system tool or permission the operation needs is not available."""

    exit_code = EXIT_UNAVAILABLE
