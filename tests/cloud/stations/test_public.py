"""The public shape of a station (cloud.stations.public) documents what the open-now rule
can say: a reason or basis the rule gains must reach the schema third parties read."""

from __future__ import annotations

from cloud.stations.opennow import Basis, Reason
from cloud.stations.public import StationPublic


def test_the_schema_names_every_reason_and_basis_of_the_open_now_rule() -> None:
    fields = StationPublic.model_json_schema()["properties"]
    for reason in Reason:
        assert reason.value in fields["reason"]["description"], reason
    for basis in Basis:
        assert basis.value in fields["basis"]["description"], basis


def test_maintenance_notices_are_part_of_the_schema() -> None:
    schema = StationPublic.model_json_schema()
    notice = schema["$defs"]["MaintenanceNotice"]["properties"]
    assert set(notice) == {"starts_at", "ends_at", "reason"}
    for name in ("maintenance_window", "next_maintenance"):
        assert name in schema["properties"]
