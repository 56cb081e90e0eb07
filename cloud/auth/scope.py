"""Which stations an ops account may see and act on: the one scope rule.

An account belongs to the union (no scope rows: every station, and the alarms about the
cloud itself) or is limited to some operators/partners (`station.operator`) and/or some
cities (`station.city`). Within a dimension the values are alternatives (partner A or B);
across dimensions both must hold (`--operator 建设银行 --city 滨州`: that partner's stations
in that city). Values match the registry's fields exactly, after trimming spaces.

Admins are always union-wide (an admin manages accounts, so a scoped admin could widen its
own scope): `cloud.auth.users` refuses scope rows for them.

Every ops route applies this through the dependencies in `cloud.api.scoping`: `allows` for
one station, `where` as a SQL condition on the `station` table for lists, `owns` for tables
that carry a station id. Out-of-scope single-station requests answer 404, like an unknown
station, so an account cannot learn which stations exist outside its scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, false
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from cloud.auth.models import OpsUserScope
from cloud.models import Station, table

STATION = table(Station)
OPERATOR, CITY = "operator", "city"
KINDS = (OPERATOR, CITY)
MAX_VALUE = 120  # station.operator's length; a city is at most 60


@dataclass(frozen=True, slots=True)
class Scope:
    """An account's stations. Empty (`ALL`): the whole union. Hashable, so the live stream
    can group its listeners by scope."""

    operators: frozenset[str] = field(default_factory=frozenset)
    cities: frozenset[str] = field(default_factory=frozenset)

    @property
    def everything(self) -> bool:
        """Union-wide: every station, and alarms that belong to no station."""
        return not self.operators and not self.cities

    def allows(self, operator: str | None, city: str | None) -> bool:
        """Whether a station with this operator and city is in scope."""
        if self.operators and (operator or "").strip() not in self.operators:
            return False
        return not self.cities or (city or "").strip() in self.cities

    def where(self) -> ColumnElement[bool] | None:
        """A condition on the `station` table selecting the stations in scope; None for the
        whole union (add nothing to the query)."""
        if self.everything:
            return None
        parts = []
        if self.operators:
            parts.append(STATION.c.operator.in_(sorted(self.operators)))
        if self.cities:
            parts.append(STATION.c.city.in_(sorted(self.cities)))
        return and_(*parts)

    def owns(self, station_id: Any) -> ColumnElement[bool] | None:
        """A condition on a column holding a station id (alarms, reports, commands): the row
        is about a station in scope. Rows about no station (NULL) are union-only."""
        within = self.where()
        if within is None:
            return None
        return station_id.in_(sql_select(STATION.c.id).where(within))  # type: ignore[no-any-return]

    def allows_place(self, city: str | None) -> bool:
        """Whether a row with a city but no operator/partner (a suggested station,
        `cloud.feedback.city`) is in scope: union accounts, and city accounts for its city;
        never an account limited to partners (the place belongs to none yet)."""
        return self.allows(None, city)

    def places(self, city: Any) -> ColumnElement[bool] | None:
        """`allows_place` as a condition on a column holding such a row's city."""
        if self.everything:
            return None
        if self.operators:
            return false()
        return city.in_(sorted(self.cities))  # type: ignore[no-any-return]

    def as_dict(self) -> dict[str, Any]:
        return {
            "everything": self.everything,
            "operators": sorted(self.operators),
            "cities": sorted(self.cities),
        }

    def describe(self) -> str:
        """One line for the shell and the audit log: `all`, or `operator=A,B city=X`."""
        if self.everything:
            return "all"
        parts = []
        if self.operators:
            parts.append("operator=" + ",".join(sorted(self.operators)))
        if self.cities:
            parts.append("city=" + ",".join(sorted(self.cities)))
        return " ".join(parts)


ALL = Scope()


class ScopeError(ValueError):
    """A scope value the registry could never match (empty, too long)."""


def make_scope(operators: Iterable[str] = (), cities: Iterable[str] = ()) -> Scope:
    """A Scope from command-line or API values: trimmed, de-duplicated, checked."""

    def clean(values: Iterable[str], kind: str) -> frozenset[str]:
        out = set()
        for value in values:
            text = value.strip()
            if not text:
                raise ScopeError(f"an empty {kind} in the scope")
            if len(text) > MAX_VALUE:
                raise ScopeError(f"{kind} {text[:20]!r}… is longer than {MAX_VALUE} characters")
            out.add(text)
        return frozenset(out)

    return Scope(clean(operators, OPERATOR), clean(cities, CITY))


def load_scope(s: Session, username: str) -> Scope:
    """The account's scope as stored (no rows: ALL)."""
    query = select(OpsUserScope).where(col(OpsUserScope.username) == username)
    return _from_rows((r.kind, r.value) for r in s.exec(query))


def load_scopes(s: Session) -> dict[str, Scope]:
    """Every scoped account's scope (accounts without rows are union-wide, absent here)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for r in s.exec(select(OpsUserScope)):
        found.setdefault(r.username, []).append((r.kind, r.value))
    return {name: _from_rows(rows) for name, rows in found.items()}


def store_scope(s: Session, username: str, scope: Scope) -> None:
    """Replace the account's scope rows (in the caller's transaction)."""
    query = select(OpsUserScope).where(col(OpsUserScope.username) == username)
    for row in s.exec(query).all():
        s.delete(row)
    s.flush()
    for kind, values in ((OPERATOR, scope.operators), (CITY, scope.cities)):
        for value in sorted(values):
            s.add(OpsUserScope(username=username, kind=kind, value=value))
    s.flush()


def _from_rows(rows: Iterable[tuple[str, str]]) -> Scope:
    operators, cities = set(), set()
    for kind, value in rows:
        (operators if kind == OPERATOR else cities).add(value)
    return Scope(frozenset(operators), frozenset(cities))
