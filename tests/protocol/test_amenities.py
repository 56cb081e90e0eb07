"""The amenity vocabulary: big enough for the field, one meaning per word, fits the index."""

from __future__ import annotations

import pytest

from cloud.stations.index import AMENITY_BIT, MAINTENANCE_BIT, amenity_mask
from protocol.amenities import GROUPS, VOCABULARY, WORDS
from protocol.registry import AMENITIES, StationRecord, amenity_name


def test_vocabulary_is_field_sized_grouped_and_keeps_the_old_bits() -> None:
    assert 33 <= len(VOCABULARY) <= 50
    # The nine original names keep their bits (stored masks and URLs stay valid).
    assert AMENITIES[:9] == (
        "water", "microwave", "fridge", "charging", "toilet", "mother_baby", "first_aid",
        "rest_seats", "air_conditioning",
    )  # fmt: skip
    assert len(set(AMENITIES)) == len(AMENITIES)
    assert {a.group for a in VOCABULARY} == set(GROUPS)
    for a in VOCABULARY:
        assert a.zh
        assert a.en
        assert a.zh != a.en
    # Every amenity's bit is below the maintenance bit, and all of them fit one uint64.
    everything = amenity_mask(AMENITIES)
    assert everything & MAINTENANCE_BIT == 0
    assert everything < 2**64
    assert bin(everything).count("1") == len(AMENITIES)
    assert max(AMENITY_BIT.values()) < MAINTENANCE_BIT


@pytest.mark.parametrize(
    ("word", "name"),
    [
        ("母婴室", "mother_baby"), ("哺乳室", "mother_baby"), ("热水", "hot_water"),
        ("开水", "hot_water"), ("电动车充电", "ebike_charging"), ("充电", "charging"),
        ("wifi", "wifi"), ("Wi-Fi", "wifi"), ("药箱", "first_aid"), ("雨伞", "umbrella"),
        ("打气筒", "tyre_pump"), ("图书", "books"), ("洗手", "hand_washing"), ("AED", "aed"),
        ("卫生巾", "sanitary_products"), ("厕所", "toilet"), ("换电柜", "battery_swap"),
    ],
)  # fmt: skip
def test_import_accepts_labels_and_synonyms(word: str, name: str) -> None:
    assert amenity_name(word) == name
    assert WORDS[word.casefold()] == name


def test_unknown_amenity_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="桑拿"):
        StationRecord.model_validate(
            {"id": "sz-0001", "name": "x", "lat": 22, "lon": 114, "amenities": "热水、桑拿"}
        )
    rec = StationRecord.model_validate(
        {"id": "sz-0001", "name": "x", "lat": 22, "lon": 114, "amenities": "开水，哺乳室、WiFi"}
    )
    assert rec.amenities == ["mother_baby", "hot_water", "wifi"]


def test_operations_doc_lists_the_vocabulary() -> None:
    """docs/operations.md's amenity table is the vocabulary, row for row."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text("utf-8")
    rows = [line for line in doc.splitlines() if line.strip().startswith("| ") and "| `" in line]
    names = [row.split("`")[1] for row in rows if row.count("|") == 6]
    assert names == list(AMENITIES)
    for a in VOCABULARY:
        assert f"| `{a.name}` | {a.zh} | {a.en} | {'、'.join(a.synonyms)} |" in doc
