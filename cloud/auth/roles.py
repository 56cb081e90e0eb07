"""Ops roles and the authenticated caller. Roles are ordered: viewer < operator < admin."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from cloud.auth.scope import ALL, Scope

Via = Literal["session", "token", "cli"]


class Role(StrEnum):
    """What an ops account may do: look (viewer), act on stations (operator), manage (admin).

    Comparisons follow the rank, not the spelling: `Role.ADMIN > Role.OPERATOR` holds (as
    plain strings "admin" < "operator").
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= Role(other).rank

    def __lt__(self, other: object) -> bool:
        return self.rank < Role(other).rank  # type: ignore[arg-type]

    def __le__(self, other: object) -> bool:
        return self.rank <= Role(other).rank  # type: ignore[arg-type]

    def __gt__(self, other: object) -> bool:
        return self.rank > Role(other).rank  # type: ignore[arg-type]

    def __ge__(self, other: object) -> bool:
        return self.rank >= Role(other).rank  # type: ignore[arg-type]


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account, its role at request time, how it authenticated, from
    where (`ip` is what the audit log records; None outside HTTP) and which stations it may
    see (`scope`, read with the role on every request)."""

    username: str
    role: Role
    via: Via
    ip: str | None = None
    scope: Scope = ALL
