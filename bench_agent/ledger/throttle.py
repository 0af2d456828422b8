"""Login throttling: growing delays per account and per client address, and few hashes at once.

A password check costs an argon2 hash (~200 ms of one core). Two rules keep a flood of wrong
passwords from stalling records and heartbeats:

- at most :data:`HASH_SLOTS` hashes run at once (the others wait their turn, holding no
  database lock: users are read, the hash is checked, then the session is written);
- after :data:`FREE_FAILURES` consecutive failures for an account or from an address, each
  further attempt must wait ``2 ** (failures - FREE_FAILURES)`` seconds (at most
  :data:`MAX_DELAY_S`) after the last failure; an attempt inside that delay is refused at once
  (HTTP 429 with ``Retry-After``) without computing any hash. After
  :data:`LOCKOUT_FAILURES` consecutive failures the account itself is locked in the database
  until an admin unlocks it (``bench-ledger user unlock NAME``), even for the right password.
- an address inside its delay is refused before its request body is read, after a pause of up
  to :data:`TARPIT_S` (an asynchronous wait that costs the server nothing), so a flood from one
  client slows itself down instead of taking the CPU from records and heartbeats.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

HASH_SLOTS = 1
FREE_FAILURES = 5
LOCKOUT_FAILURES = 20
MAX_DELAY_S = 900.0
MAX_ENTRIES = 100_000
# A refused attempt is answered after this pause (at most): a flood paces itself on it.
TARPIT_S = 1.0

hash_slots = threading.BoundedSemaphore(HASH_SLOTS)


class LoginThrottle:
    """Consecutive failures per account name and per client address (in memory)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}
        self._pending: dict[str, int] = {}

    @staticmethod
    def _keys(name: str, address: str) -> list[str]:
        keys = ["user:" + name.lower()]
        if address:
            keys.append("addr:" + address)
        return keys

    @staticmethod
    def delay(failures: int) -> float:
        if failures < FREE_FAILURES:
            return 0.0
        return float(min(MAX_DELAY_S, 2.0 ** (failures - FREE_FAILURES)))

    def retry_after(self, name: str, address: str) -> float:
        """Seconds to wait before this attempt may be checked (0: check it now)."""
        return self._wait(name, address, self._clock())

    def _wait(self, name: str, address: str, now: float) -> float:
        wait = 0.0
        for key in self._keys(name, address):
            count, last = self._failures.get(key, (0, now))
            # Checks still running count as failures: a burst cannot slip past the limit.
            count += self._pending.get(key, 0)
            if count >= FREE_FAILURES:
                wait = max(wait, last + self.delay(count) - now)
        return max(0.0, wait)

    def address_wait(self, address: str) -> float:
        """Seconds this client address must wait (checked before the body is even read)."""
        now = self._clock()
        with self._lock:
            key = "addr:" + address
            count, last = self._failures.get(key, (0, now))
            count += self._pending.get(key, 0)
            return max(0.0, last + self.delay(count) - now) if count >= FREE_FAILURES else 0.0

    def begin(self, name: str, address: str) -> float:
        """Start checking an attempt: 0 when it may be checked now (then call ``failed``,
        ``succeeded`` or ``abandon``), else the seconds to wait (nothing to call)."""
        now = self._clock()
        with self._lock:
            wait = self._wait(name, address, now)
            if wait <= 0:
                for key in self._keys(name, address):
                    self._pending[key] = self._pending.get(key, 0) + 1
            return wait

    def _end(self, key: str) -> None:
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > MAX_ENTRIES:
                self._failures.clear()
            for key in self._keys(name, address):
                self._end(key)
                count = self._failures.get(key, (0, now))[0] + 1
                if key.startswith("user:") and count >= LOCKOUT_FAILURES:
                    # The account is locked in the database now, which refuses it until an
                    # admin unlocks it (another process): no delay here may outlive that.
                    self._failures.pop(key, None)
                else:
                    self._failures[key] = (count, now)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            for key in self._keys(name, address):
                self._end(key)
                self._failures.pop(key, None)

    def abandon(self, name: str, address: str) -> None:
        with self._lock:
            for key in self._keys(name, address):
                self._end(key)


# ------------------------------------------------------------------------------ password policy
MIN_PASSWORD_LENGTH = 10
# The most common passwords and keyboard walks (lower case, compared without spaces).
COMMON_PASSWORDS = frozenset(
    [
        "password",
        "password1",
        "password123",
        "passw0rd",
        "motdepasse",
        "motdepasse1",
        "azerty",
        "azertyuiop",
        "azerty123",
        "qwerty",
        "qwertyuiop",
        "qwerty123",
        "123456789",
        "1234567890",
        "0123456789",
        "12345678910",
        "iloveyou",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "welcome",
        "welcome1",
        "admin",
        "admin123",
        "administrateur",
        "administrator",
        "letmein",
        "trustno1",
        "dragon",
        "monkey",
        "superman",
        "soleil",
        "bonjour",
        "doudou",
        "loulou",
        "chouchou",
        "marseille",
        "liverpool",
        "changeme",
        "changeit",
        "secret",
        "secret123",
    ]
)


def password_problem(password: str, name: str = "") -> str:
    """Why this password is refused ("" when acceptable): short, common or trivial."""
    from bench_agent.i18n import _

    folded = "".join(password.lower().split())
    if len(password) < MIN_PASSWORD_LENGTH:
        return _(
            "The password is too short (at least {length} characters).",
            length=MIN_PASSWORD_LENGTH,
        )
    if (
        folded in COMMON_PASSWORDS
        or len(set(folded)) <= 2
        or (name and folded == name.lower())
        or folded.rstrip("0123456789!.") in COMMON_PASSWORDS
    ):
        return _("The password is too common or too easy to guess.")
    return ""
