"""Every retry policy of the bench, in one place, through tenacity.

- ``STREAM``: an image streamed from the ledger reconnects after a cut, pausing 0.5, 1, 2, 4,
  8 and 8 s between reconnections in a row that bring no new byte, then gives up (the reader
  makes a fresh attempt series after each piece received).
- ``outbox_delay``: after the n-th pass in a row that could not reach the ledger, the sender
  waits a random time in [c/2, c] with c = min(300 s, 2^(n-1) s) ("equal jitter": never a
  burst of stations retrying together, never a retry sooner than half the step). The sender
  sleeps in its own loop (it keeps polling for a stop), so this is a schedule, not a sleep.
- ``FETCH``: a master downloaded into the image cache tries five times in all, pausing 0.2,
  0.4, 0.6 and 0.8 s between tries (each try resumes where the last one stopped); no pause
  after the last failure: the error is raised at once.
"""

from __future__ import annotations

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_incrementing,
    wait_random_exponential,
)


class Transient(Exception):
    """A failure that another try may cure; its message says what happened."""


STREAM = Retrying(
    wait=wait_exponential(multiplier=0.5, max=8.0),
    stop=stop_after_attempt(7),
    retry=retry_if_exception_type(Transient),
    reraise=True,
)

FETCH = Retrying(
    wait=wait_incrementing(start=0.2, increment=0.2, max=2.0),
    stop=stop_after_attempt(5),
    retry=retry_if_exception_type(Transient),
    reraise=True,
)

OUTBOX_MAX_S = 300.0
# The fixed half of the step plus a uniform random half: [c/2, c].
OUTBOX_WAIT = wait_exponential(multiplier=0.5, max=OUTBOX_MAX_S / 2) + wait_random_exponential(
    multiplier=0.5, max=OUTBOX_MAX_S / 2
)


def outbox_delay(failures: int) -> float:
    """Seconds before the next delivery pass after ``failures`` failed passes in a row."""
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = max(1, failures)
    return float(OUTBOX_WAIT(state))
