"""`cloud.auth.roles.Role`: roles compare by rank (viewer < operator < admin), not spelling."""

from __future__ import annotations

import pytest

from cloud.auth.roles import Principal, Role


def test_roles_compare_by_rank_not_by_spelling() -> None:
    assert "admin" < "operator"  # the spelling would put admin below operator
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert Role.ADMIN > Role.OPERATOR > Role.VIEWER
    assert Role.ADMIN >= Role.ADMIN
    assert Role.OPERATOR <= Role.ADMIN
    assert not Role.ADMIN < Role.OPERATOR
    assert sorted([Role.ADMIN, Role.VIEWER, Role.OPERATOR]) == [
        Role.VIEWER,
        Role.OPERATOR,
        Role.ADMIN,
    ]
    assert max(Role) is Role.ADMIN


def test_at_least_and_comparisons_accept_the_plain_names() -> None:
    assert Role.ADMIN.at_least(Role.OPERATOR)
    assert Role.OPERATOR.at_least("operator")  # type: ignore[arg-type]
    assert not Role.VIEWER.at_least("operator")  # type: ignore[arg-type]
    assert Role.ADMIN > "operator"
    assert [r.rank for r in Role] == [0, 1, 2]


def test_an_unknown_role_is_refused_not_ranked() -> None:
    with pytest.raises(ValueError, match="superuser"):
        Role.ADMIN.at_least("superuser")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="root"):
        _ = Role.VIEWER < "root"
    with pytest.raises(ValueError, match="owner"):
        Role("owner")


def test_a_principal_is_a_frozen_record() -> None:
    who = Principal("li", Role.OPERATOR, "token")
    assert who.ip is None
    with pytest.raises(AttributeError):
        who.role = Role.ADMIN  # type: ignore[misc]
