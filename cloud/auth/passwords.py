"""Password hashing (Argon2id via argon2-cffi) and the strength rule for new passwords.

`HASHER` is read at call time, so a deployment (or a test) can swap in other parameters;
hashes made with older parameters are upgraded at the next successful login
(`needs_rehash`).

Every Argon2 computation (hash, verify, the dummy verification of `burn`) takes a slot of
`GATE`, a process-wide limit on how many run at once (`WAYSTATION_PASSWORD_HASH_SLOTS`, set
by `create_app`). One computation holds 64 MiB and a core for ~0.1 s: without the limit, 48
concurrent anonymous logins held 48 of them, took the server from 133 MiB to 1 GiB and every
other request (the liveness probe, the public nearby search) waited seconds for a thread. A
caller finding every slot taken is refused at once (`HashingBusyError`, a 503 with
Retry-After), never queued: a queue would hold worker threads the other routes need. The
login route takes its slot on the event loop, before it hands the login to a worker thread
(which inherits the slot through a context variable): a refused login costs no thread and no
database read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's low-memory profile (argon2-cffi's default): 64 MiB, t=3, p=4; ~0.1 s here.
HASHER = PasswordHasher()
MIN_LENGTH = 10
MAX_LENGTH = 256  # hashing cost does not grow with length, but bodies should stay small
_COMMON = frozenset(
    {
        "password", "password1", "passw0rd", "123456789", "1234567890", "qwertyuiop",
        "administrator", "letmein123", "iloveyou12", "waystation", "changeme123",
    }
)  # fmt: skip
_dummy: tuple[PasswordHasher, str] | None = None
DEFAULT_SLOTS = 2
RETRY_AFTER_S = 1  # a hash takes ~0.1 s: a slot is free again long before this


class HashingBusyError(Exception):
    """Every hashing slot is taken: try again in `retry_after` seconds (HTTP 503)."""

    retry_after = RETRY_AFTER_S

    def __init__(self) -> None:
        super().__init__("the server is busy checking passwords; try again shortly")


# True inside a `slot()` block, and in worker threads started from one (they copy the
# context): the hashing there runs on the slot already taken.
_HOLDING: ContextVar[bool] = ContextVar("waystation_hash_slot", default=False)


class HashGate:
    """At most `slots` Argon2 computations at once; `slot()` never waits for one."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a hash gate needs at least one slot")
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the block, or raise HashingBusyError at once when none is free.
        Inside a block (or a thread started from one) it holds the slot already taken."""
        if _HOLDING.get():
            yield
            return
        if not self._free.acquire(blocking=False):
            raise HashingBusyError
        held = _HOLDING.set(True)
        try:
            yield
        finally:
            _HOLDING.reset(held)
            self._free.release()


GATE = HashGate(DEFAULT_SLOTS)


def set_slots(slots: int) -> None:
    """Size the process-wide gate (`create_app`; the last app built in a process decides).
    Computations in flight finish on the gate they started with."""
    global GATE
    if GATE.slots != slots:
        GATE = HashGate(slots)


def hash_password(password: str) -> str:
    with GATE.slot():
        return HASHER.hash(password)


def try_hash_password(password: str) -> str | None:
    """A hash, or None when every slot is taken (for optional work: a rehash at login)."""
    try:
        return hash_password(password)
    except HashingBusyError:
        return None


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; a malformed stored hash is a mismatch, never a crash."""
    with GATE.slot():
        return _verify(password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def burn(password: str) -> None:
    """Spend the time of one verification on an unknown user, so a login reply's timing does
    not tell whether the username exists."""
    global _dummy
    with GATE.slot():
        if _dummy is None or _dummy[0] is not HASHER:
            _dummy = (HASHER, HASHER.hash("waystation-dummy-password"))
        _verify(_dummy[1], password)


def weakness(password: str, username: str = "") -> str | None:
    """Why `password` is refused for a new account, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must have at most {MAX_LENGTH} characters"
    if len(set(password)) < 4:
        return "password uses too few different characters"
    lowered = password.lower()
    if lowered in _COMMON or (len(username) >= 3 and username.lower() in lowered):
        return "password is too easy to guess"
    return None
