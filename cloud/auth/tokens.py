"""Random secrets for session cookies and API tokens, and the digest stored in their place."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "wst_"  # noqa: S105 - lets secret scanners and people recognise a Waystation API token


def new_secret() -> str:
    """32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return TOKEN_PREFIX + new_secret()


def digest(secret: str) -> str:
    """SHA-256 hex: what the database holds instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())
