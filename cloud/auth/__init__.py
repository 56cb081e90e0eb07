"""Ops authentication: accounts with roles, browser sessions with CSRF, API tokens, and the
audit log of ops actions.

Route protection: `Depends(require_role(Role.OPERATOR))` (see `cloud.auth.deps` for what a
request must carry). Record an ops action with `audit(session, principal, action, target,
detail)` in the same transaction as the action. `create_user` and `issue_token` are for the
CLI and tests.

The names below load on first use, so `cloud.auth.cli` (imported by `waystation --help`)
does not pull in FastAPI and SQLModel.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloud.auth.auditlog import audit
    from cloud.auth.deps import (
        CSRF_HEADER,
        SESSION_COOKIE,
        authenticate,
        optional_principal,
        require_role,
    )
    from cloud.auth.models import TABLES
    from cloud.auth.roles import Principal, Role
    from cloud.auth.users import create_user, issue_token

_WHERE = {
    "audit": "cloud.auth.auditlog",
    "CSRF_HEADER": "cloud.auth.deps",
    "SESSION_COOKIE": "cloud.auth.deps",
    "authenticate": "cloud.auth.deps",
    "optional_principal": "cloud.auth.deps",
    "require_role": "cloud.auth.deps",
    "TABLES": "cloud.auth.models",
    "Principal": "cloud.auth.roles",
    "Role": "cloud.auth.roles",
    "create_user": "cloud.auth.users",
    "issue_token": "cloud.auth.users",
}
__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "TABLES",
    "Principal",
    "Role",
    "audit",
    "authenticate",
    "create_user",
    "issue_token",
    "optional_principal",
    "require_role",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'cloud.auth' has no attribute {name!r}")
    return getattr(import_module(module), name)
