"""Registry records and broker URLs: the two small shared parsers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from protocol.broker import BrokerUrl
from protocol.registry import CSV_COLUMNS, StationRecord


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
