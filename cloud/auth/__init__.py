"""Ops authentication: accounts with roles, browser sessions with CSRF, API tokens, and the
audit log of ops actions.

Route protection: `Depends(require_role(Role.OPERATOR))` (see `cloud.auth.deps` for what a
request must carry); ops routes about stations also apply the account's scope
(`cloud.auth.scope`) through `cloud.api.scoping`. Record an ops action with
`audit(session, principal, action, target, detail)` in the same transaction as the action.
`create_user` and `issue_token` are for the command line (`waystation cloud users`) and tests.
"""

from __future__ import annotations

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
