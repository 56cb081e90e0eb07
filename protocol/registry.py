"""The station registry record: what `sim fleet --registry` writes and `stations import` reads.

CSV columns are fixed (`CSV_COLUMNS`, plus the optional `OPTIONAL_COLUMNS`); a header may
use the Chinese names of `COLUMN_ALIASES` instead. Amenities are names from `AMENITIES`, their
labels as the finder shows them (`AMENITY_LABELS`) or a synonym (`protocol.amenities`),
separated by any of `,，、;；|`.
Parsing a row is pure; reading the file is the caller's job.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.amenities import VOCABULARY, WORDS
from protocol.topics import SID_RE

CSV_COLUMNS = (
    "id",
    "name",
    "lat",
    "lon",
    "amenities",
    "opening_hours",
    "operator",
    "address",
    "city",
)
# Columns a file may leave out; a station keeps its stored value for a column not in the file.
OPTIONAL_COLUMNS = ("capacity", "entrance_hint", "contact_phone")
# A contact phone as people write one: digits, `+`, `-` and spaces (`0543-3211234`,
# `+86 138 0000 0000`); at least one digit, at most `PHONE_MAX` characters.
PHONE_RE = re.compile(r"^[0-9+\- ]*[0-9][0-9+\- ]*$")
PHONE_MAX = 32
HINT_MAX = 200  # characters of an entrance hint (`东门进，按门铃`)

# The amenities a worker can filter on, with the labels the finder shows for each
# (zh-CN, en); the vocabulary, its groups and the synonyms import accepts are in
# `protocol.amenities`; the finder page gets them from there (`cloud.web.finder.page`).
AMENITY_LABELS: dict[str, tuple[str, str]] = {a.name: (a.zh, a.en) for a in VOCABULARY}
AMENITIES = tuple(AMENITY_LABELS)
AMENITY_SEPARATORS = re.compile(r"[,，、;；|]")

# Columns a sheet may carry that are not registry data (a row number, remarks): skipped.
IGNORED_COLUMNS = ("序号", "备注")
# Header names people give the columns (compared after `_header_key`), mostly Chinese.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("编号", "站点编号", "驿站编号", "站点id"),
    "name": ("名称", "站点名称", "驿站名称", "站名"),
    "lat": ("latitude", "纬度"),
    "lon": ("lng", "longitude", "经度"),
    "amenities": ("设施", "服务设施", "配套设施"),
    "opening_hours": ("hours", "营业时间", "开放时间"),
    "operator": ("运营方", "运营单位", "管理单位"),
    "address": ("地址", "详细地址", "站点地址"),
    "city": ("城市", "所在城市"),
    "capacity": ("容量", "可容纳人数"),
    "entrance_hint": ("入口提示", "入口说明", "入口"),
    "contact_phone": ("phone", "联系电话", "电话", "联系方式"),
}


def _header_key(text: str) -> str:
    """`纬度（WGS-84）`, ` Opening Hours ` → `纬度`, `openinghours`: case, spaces, `_`/`-` and a
    trailing bracketed note (a unit, a datum) do not matter."""
    text = re.sub(r"\s*[(（\[【].*[)）\]】]\s*$", "", text.strip())
    return re.sub(r"[\s_\-]+", "", text).casefold()


_COLUMNS_BY_KEY = {
    _header_key(word): column
    for column in (*CSV_COLUMNS, *OPTIONAL_COLUMNS)
    for word in (column, *COLUMN_ALIASES.get(column, ()))
}


def canonical_column(header: str) -> str | None:
    """The registry column a header cell names (`站点名称` → `name`), or None if none."""
    return _COLUMNS_BY_KEY.get(_header_key(header))


_IGNORED_KEYS = frozenset(_header_key(h) for h in IGNORED_COLUMNS)


def ignored_column(header: str) -> bool:
    """A header cell naming a column that is not registry data (`序号`, `备注`)."""
    return _header_key(header) in _IGNORED_KEYS


def amenity_name(word: str) -> str | None:
    """`mother_baby`, `母婴室`, `哺乳室` or `Mother and baby room` → `mother_baby`; None if
    unknown."""
    return WORDS.get(word.strip().casefold())


class StationRecord(BaseModel):
    """One registered station; coordinates are WGS-84 degrees, capacity in people."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Annotated[str, Field(pattern=SID_RE.pattern)]
    name: str = Field(min_length=1, max_length=120)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    amenities: list[str] = Field(default_factory=list)
    opening_hours: str = Field(default="24/7", min_length=1, max_length=255)
    operator: str = Field(default="", max_length=120)
    address: str = Field(default="", max_length=255)
    city: str = Field(default="", max_length=60)
    capacity: int | None = Field(default=None, ge=0, le=100_000)
    entrance_hint: str = Field(default="", max_length=HINT_MAX, description="how to find the door")
    contact_phone: str = Field(default="", max_length=PHONE_MAX, description="PHONE_RE, or blank")

    @field_validator("amenities", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [a.strip() for a in AMENITY_SEPARATORS.split(value) if a.strip()]
        return value

    @field_validator("amenities")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        names = [amenity_name(a) for a in value]
        unknown = [a for a, n in zip(value, names, strict=True) if n is None]
        if unknown:
            known = ", ".join(f"{n} ({zh})" for n, (zh, _) in AMENITY_LABELS.items())
            raise ValueError(
                f"unknown amenities {unknown} (not a name, label or synonym); known: {known}"
            )
        return sorted({n for n in names if n is not None}, key=AMENITIES.index)

    @field_validator("capacity", mode="before")
    @classmethod
    def _blank_capacity(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("contact_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and not PHONE_RE.match(value):
            raise ValueError("a phone number is digits, +, - and spaces (e.g. 0543-3211234)")
        return value

    def csv_row(self, columns: tuple[str, ...] = CSV_COLUMNS) -> dict[str, str]:
        """The row as CSV text; amenities `;`-separated, an unknown capacity blank."""
        row = self.model_dump()
        row["amenities"] = ";".join(self.amenities)
        return {k: "" if row[k] is None else str(row[k]) for k in columns}
