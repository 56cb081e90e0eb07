"""Registry records and broker URLs: the two small shared parsers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from protocol.broker import BrokerUrl
from protocol.registry import CSV_COLUMNS, StationRecord, amenity_name, canonical_column


def test_record_from_csv_strings_and_back() -> None:
    rec = StationRecord.model_validate(
        {"id": "sz-0001", "name": "福田驿站", "lat": "22.54", "lon": "114.05",
         "amenities": "water; toilet;water", "opening_hours": "24/7", "operator": "工会",
         "address": "深南大道", "city": "深圳"}
    )  # fmt: skip
    assert rec.amenities == ["water", "toilet"]
    row = rec.csv_row()
    assert list(row) == list(CSV_COLUMNS)
    assert row["amenities"] == "water;toilet"


@pytest.mark.parametrize(
    ("field", "value"), [("lat", "91"), ("id", "Bad Id"), ("amenities", "water;sauna")]
)
def test_record_refuses_bad_values(field: str, value: str) -> None:
    data = {"id": "sz-0001", "name": "x", "lat": "22", "lon": "114", field: value}
    with pytest.raises(ValidationError, match=field):
        StationRecord.model_validate(data)


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("站点名称", "name"), (" 名称 ", "name"), ("纬度（WGS-84）", "lat"), ("Longitude", "lon"),
        ("站点ID", "id"), ("Opening Hours", "opening_hours"), ("容量(人)", "capacity"),
        ("运营单位", "operator"), ("备注", None), ("colour", None),
    ],
)  # fmt: skip
def test_headers_name_columns_in_english_or_chinese(header: str, column: str | None) -> None:
    assert canonical_column(header) == column


def test_amenities_by_code_or_label_with_any_separator() -> None:
    rec = StationRecord.model_validate(
        {"id": "sz-0001", "name": "x", "lat": "22", "lon": "114",
         "amenities": "母婴室，饮用水、Toilet;rest_seats；空调|充电,water"}
    )  # fmt: skip
    assert rec.amenities == [
        "water", "charging", "toilet", "mother_baby", "rest_seats", "air_conditioning",
    ]  # fmt: skip
    assert amenity_name("Mother and baby room") == "mother_baby"
    assert amenity_name("桑拿") is None


def test_broker_url_parsing_and_printing_hides_password() -> None:
    url = BrokerUrl.parse("mqtt://cloud:s%40cret@broker.local:1884")
    assert (url.host, url.port, url.username, url.password, url.tls) == (
        "broker.local", 1884, "cloud", "s@cret", False,
    )  # fmt: skip
    assert "s@cret" not in str(url)
    assert BrokerUrl.parse("mqtts://h").port == 8883
    assert BrokerUrl.parse("127.0.0.1:1883").host == "127.0.0.1"
    with pytest.raises(ValueError, match="scheme"):
        BrokerUrl.parse("http://h")
