"""Password hashing (Argon2id via argon2-cffi) and the strength rule for new passwords.

`HASHER` is read at call time, so a deployment (or a test) can swap in other parameters;
hashes made with older parameters are upgraded at the next successful login
(`needs_rehash`).
"""

from __future__ import annotations

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


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; a malformed stored hash is a mismatch, never a crash."""
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
    if _dummy is None or _dummy[0] is not HASHER:
        _dummy = (HASHER, HASHER.hash("waystation-dummy-password"))
    verify_password(_dummy[1], password)


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
