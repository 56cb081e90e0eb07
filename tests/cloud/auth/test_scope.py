"""`cloud.auth.scope`: the one rule of which stations an account sees, in Python and in SQL
(the two must agree), stored per account, and refused for admins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select
from sqlmodel import Session

from cloud.auth import Role
from cloud.auth.scope import ALL, STATION, Scope, ScopeError, load_scope, load_scopes, make_scope
from cloud.auth.users import AccountError, add_user, set_role, set_scope
from cloud.clock import utcnow

STATIONS = {
    "a-1": ("甲银行", "滨州"),
    "a-2": ("甲银行", "济南"),
    "b-1": ("乙邮政", "滨州"),
    "n-1": ("", ""),  # no operator or city recorded
}


@pytest.fixture
def stations(db: Connection, put_station: Callable[..., str]) -> Connection:
    for sid, (operator, city) in STATIONS.items():
        put_station(sid, operator=operator, city=city)
    return db


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (ALL, {"a-1", "a-2", "b-1", "n-1"}),
        (make_scope(["甲银行"]), {"a-1", "a-2"}),
        (make_scope(cities=["滨州"]), {"a-1", "b-1"}),
        (make_scope(["甲银行", "乙邮政"]), {"a-1", "a-2", "b-1"}),
        (make_scope(["甲银行"], ["滨州"]), {"a-1"}),  # both must hold
        (make_scope(["丙电信"]), set()),
    ],
)
def test_python_and_sql_agree_on_which_stations_are_in_scope(
    stations: Connection, scope: Scope, expected: set[str]
) -> None:
    in_python = {sid for sid, (op, city) in STATIONS.items() if scope.allows(op, city)}
    where = scope.where()
    query = select(STATION.c.id) if where is None else select(STATION.c.id).where(where)
    in_sql = set(stations.execute(query).scalars())
    assert in_python == expected
    assert in_sql == expected


def test_values_are_trimmed_and_checked() -> None:
    assert make_scope([" 甲银行 ", "甲银行"], ["滨州"]) == Scope(
        frozenset({"甲银行"}), frozenset({"滨州"})
    )
    assert make_scope().everything
    assert make_scope(["甲银行"]).describe() == "operator=甲银行"
    assert make_scope(["b", "a"], ["x"]).describe() == "operator=a,b city=x"
    with pytest.raises(ScopeError, match="empty operator"):
        make_scope(["  "])
    with pytest.raises(ScopeError, match="longer than"):
        make_scope(cities=["x" * 121])
    # a scope matches the registry's text exactly (after trimming), not a prefix
    assert not make_scope(["甲银行"]).allows("甲银行滨州分行", "滨州")
    assert make_scope(["甲银行"]).allows(" 甲银行 ", None)


def test_scopes_are_stored_per_account_and_refused_for_admins(engine: Engine) -> None:
    now = utcnow()
    with Session(engine) as s:
        add_user(s, "partner", Role.OPERATOR, "pw", now=now, scope=make_scope(["甲银行"]))
        add_user(s, "union", Role.VIEWER, "pw", now=now)
        add_user(s, "root", Role.ADMIN, "pw", now=now)
        with pytest.raises(AccountError, match="union-wide"):
            add_user(s, "boss", Role.ADMIN, "pw", now=now, scope=make_scope(cities=["滨州"]))
        s.commit()
    with Session(engine) as s:
        assert load_scope(s, "partner") == make_scope(["甲银行"])
        assert load_scope(s, "union").everything
        before, _ = set_scope(s, "union", make_scope(["乙邮政"], ["滨州", "济南"]))
        assert before == ALL
        with pytest.raises(AccountError, match="union-wide"):
            set_scope(s, "root", make_scope(["甲银行"]))
        with pytest.raises(AccountError, match="union-wide"):
            set_role(s, "partner", Role.ADMIN)  # clear the scope first
        s.commit()
    with Session(engine) as s:
        scopes: dict[str, Any] = load_scopes(s)
        assert set(scopes) == {"partner", "union"}
        assert scopes["union"] == make_scope(["乙邮政"], ["济南", "滨州"])
        set_scope(s, "partner", ALL)
        set_role(s, "partner", Role.ADMIN)  # union-wide now: allowed
        s.commit()
    with Session(engine) as s:
        assert load_scope(s, "partner").everything
