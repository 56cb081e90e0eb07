"""`cloud.auth.tokens`: random secrets, recognisable API tokens, the digest stored instead."""

from __future__ import annotations

import hashlib
import re

from cloud.auth.tokens import TOKEN_PREFIX, digest, new_api_token, new_secret, same


def test_a_secret_is_32_random_bytes_url_safe() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", s) for s in secrets)


def test_an_api_token_carries_the_prefix_secret_scanners_look_for() -> None:
    token = new_api_token()
    assert token.startswith(TOKEN_PREFIX)
    assert TOKEN_PREFIX == "wst_"
    assert len(token) == len(TOKEN_PREFIX) + 43


def test_the_digest_is_sha256_hex_and_not_the_secret() -> None:
    secret = new_secret()
    stored = digest(secret)
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert secret not in stored
    assert digest("密码") == hashlib.sha256("密码".encode()).hexdigest()  # any text


def test_same_compares_whole_strings() -> None:
    assert same("abc", "abc")
    assert not same("abc", "abd")
    assert not same("abc", "abcd")
    assert same("", "")
    assert same("密", "密")  # non-ASCII: compared as UTF-8 bytes
