"""Login throttling: growing delays per account and per client address, and few hashes at once.

A password check costs an argon2 hash (~200 ms of one core). Two rules keep a flood of wrong
passwords from stalling records and heartbeats:

- at most :data:`HASH_SLOTS` hashes run at once in each server process (the others wait their
  turn, holding no database lock: users are read, the hash is checked, then the session is
  written); this limit is per process on purpose: it shares out that process's CPU;
- after :data:`FREE_FAILURES` consecutive failures for an account or from an address, each
  further attempt must wait ``2 ** (failures - FREE_FAILURES)`` seconds (at most
  :data:`MAX_DELAY_S`) after the last failure; an attempt inside that delay is refused at once
  (HTTP 429 with ``Retry-After``) without computing any hash. After
  :data:`LOCKOUT_FAILURES` consecutive failures the account itself is locked in the database
  until an admin unlocks it (``bench-ledger user unlock NAME``), even for the right password.
- an address inside its delay is refused before its request body is read, after a pause of up
  to :data:`TARPIT_S` (an asynchronous wait that costs the server nothing), so a flood from one
  client slows itself down instead of taking the CPU from records and heartbeats.

The failure counts live in the database (table ``login_failures``) when the throttle is given
the ledger's store, so every server process (``bench-ledger serve --workers N``) sees the same
counts and delays: a flood spread over N workers gets no more attempts than against one. An
attempt counts as a failure from the moment its check starts (a success or an abandoned check
takes it back), so concurrent attempts in several processes cannot slip past the limit. Times
are wall-clock seconds (shared by processes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

HASH_SLOTS = 1
FREE_FAILURES = 5
LOCKOUT_FAILURES = 20
MAX_DELAY_S = 900.0
MAX_ENTRIES = 100_000
# A failure count older than this is forgotten (the database keeps no row forever).
FORGET_AFTER_S = 86_400.0
# A refused attempt is answered after this pause (at most): a flood paces itself on it.
TARPIT_S = 1.0

hash_slots = threading.BoundedSemaphore(HASH_SLOTS)

# key ("user:NAME" or "addr:ADDRESS") -> (consecutive failures, time of the last one)
Counts = dict[str, tuple[int, float]]


class CountStore(Protocol):
    def read(self, keys: list[str]) -> Counts: ...

    def change(self, keys: list[str], update: Callable[[Counts], Counts], now: float) -> None:
        """Apply ``update`` to the keys' counts atomically (a key it leaves out is deleted)."""


class MemoryCounts:
    """The counts in this process only (tests, one-process tools)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: Counts = {}

    def read(self, keys: list[str]) -> Counts:
        with self._lock:
            return {key: self._rows[key] for key in keys if key in self._rows}

    def change(self, keys: list[str], update: Callable[[Counts], Counts], now: float) -> None:
        with self._lock:
            if len(self._rows) > MAX_ENTRIES:
                self._rows.clear()
            new = update({key: self._rows[key] for key in keys if key in self._rows})
            for key in keys:
                if key in new:
                    self._rows[key] = new[key]
                else:
                    self._rows.pop(key, None)


class DatabaseCounts:
    """The counts in the ledger's database: shared by every server process."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._writes = 0

    def read(self, keys: list[str]) -> Counts:
        from sqlalchemy import select

        from bench_agent.ledger.models import LoginFailure

        with self.store.session() as session:
            rows = session.execute(
                select(LoginFailure.key, LoginFailure.count, LoginFailure.last_at).where(
                    LoginFailure.key.in_(keys)
                )
            )
            return {row.key: (int(row.count), float(row.last_at)) for row in rows}

    def change(self, keys: list[str], update: Callable[[Counts], Counts], now: float) -> None:
        from sqlalchemy.exc import IntegrityError

        for attempt in range(3):
            try:
                self._change(keys, update, now)
                return
            except IntegrityError:  # two processes inserted the same new key: once more
                if attempt == 2:
                    raise

    def _change(self, keys: list[str], update: Callable[[Counts], Counts], now: float) -> None:
        from sqlalchemy import delete, insert, select
        from sqlalchemy import update as sql_update

        from bench_agent.ledger.models import LoginFailure

        with self.store.write() as session:
            rows = session.execute(
                select(LoginFailure.key, LoginFailure.count, LoginFailure.last_at)
                .where(LoginFailure.key.in_(keys))
                .with_for_update()
            )
            current = {row.key: (int(row.count), float(row.last_at)) for row in rows}
            new = update(dict(current))
            for key in keys:
                if key in new:
                    count, last = new[key]
                    if key in current:
                        session.execute(
                            sql_update(LoginFailure)
                            .where(LoginFailure.key == key)
                            .values(count=count, last_at=last)
                        )
                    else:
                        session.execute(
                            insert(LoginFailure).values(key=key, count=count, last_at=last)
                        )
                elif key in current:
                    session.execute(delete(LoginFailure).where(LoginFailure.key == key))
            self._writes += 1
            if self._writes % 1000 == 1:
                session.execute(
                    delete(LoginFailure).where(LoginFailure.last_at < now - FORGET_AFTER_S)
                )


class LoginThrottle:
    """Consecutive failures per account name and per client address.

    ``LoginThrottle(store)`` keeps them in the ledger's database (every server process sees
    them); ``LoginThrottle()`` in this process's memory.
    """

    def __init__(self, store: Any = None, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.counts: CountStore = DatabaseCounts(store) if store is not None else MemoryCounts()

    @staticmethod
    def _keys(name: str, address: str) -> list[str]:
        keys = ["user:" + name.lower()[:100]]
        if address:
            keys.append("addr:" + address[:100])
        return keys

    @staticmethod
    def delay(failures: int) -> float:
        if failures < FREE_FAILURES:
            return 0.0
        return float(min(MAX_DELAY_S, 2.0 ** (failures - FREE_FAILURES)))

    @classmethod
    def _wait(cls, counts: Counts, now: float) -> float:
        wait = 0.0
        for count, last in counts.values():
            if count >= FREE_FAILURES:
                wait = max(wait, last + cls.delay(count) - now)
        return max(0.0, wait)

    def retry_after(self, name: str, address: str) -> float:
        """Seconds to wait before this attempt may be checked (0: check it now)."""
        return self._wait(self.counts.read(self._keys(name, address)), self._clock())

    def address_wait(self, address: str) -> float:
        """Seconds this client address must wait (checked before the body is even read)."""
        return self._wait(self.counts.read(["addr:" + address[:100]]), self._clock())

    def begin(self, name: str, address: str) -> float:
        """Start checking an attempt: 0 when it may be checked now (then call ``failed``,
        ``succeeded`` or ``abandon``), else the seconds to wait (nothing to call)."""
        now = self._clock()
        waited = [0.0]

        def update(counts: Counts) -> Counts:
            waited[0] = self._wait(counts, now)
            if waited[0] > 0:
                return counts
            # Counted as a failure from now on: a burst cannot slip past the limit.
            return {key: (counts.get(key, (0, now))[0] + 1, now) for key in keys}

        keys = self._keys(name, address)
        self.counts.change(keys, update, now)
        return waited[0]

    def failed(self, name: str, address: str) -> None:
        now = self._clock()

        def update(counts: Counts) -> Counts:
            new: Counts = {}
            for key in keys:
                count = max(1, counts.get(key, (0, now))[0])
                if key.startswith("user:") and count >= LOCKOUT_FAILURES:
                    # The account is locked in the database now, which refuses it until an
                    # admin unlocks it (another process): no delay here may outlive that.
                    continue
                new[key] = (count, now)
            return new

        keys = self._keys(name, address)
        self.counts.change(keys, update, now)

    def succeeded(self, name: str, address: str) -> None:
        self.counts.change(self._keys(name, address), lambda counts: {}, self._clock())

    def abandon(self, name: str, address: str) -> None:
        def update(counts: Counts) -> Counts:
            return {key: (c - 1, last) for key, (c, last) in counts.items() if c > 1}

        self.counts.change(self._keys(name, address), update, self._clock())


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
