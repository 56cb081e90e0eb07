"""The station registry record: what `sim fleet --registry` writes and `stations import` reads.

CSV columns are fixed (`CSV_COLUMNS`); amenities are `;`-separated names from `AMENITIES`.
Parsing a row is pure; reading the file is the caller's job.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

# The amenities a worker can filter on; the finder shows one icon per name.
AMENITIES = (
    "water",  # 饮水
    "microwave",  # 微波炉
    "fridge",  # 冰箱 / 冷鲜柜
    "charging",  # 充电
    "toilet",  # 卫生间
    "mother_baby",  # 母婴室
    "first_aid",  # 急救药箱
    "rest_seats",  # 休息座椅
    "air_conditioning",  # 空调
)


class StationRecord(BaseModel):
    """One registered station; coordinates are WGS-84 degrees."""

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

    @field_validator("amenities", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [a.strip() for a in value.split(";") if a.strip()]
        return value

    @field_validator("amenities")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(AMENITIES))
        if unknown:
            raise ValueError(f"unknown amenities {unknown}; known: {', '.join(AMENITIES)}")
        return sorted(set(value), key=AMENITIES.index)

    def csv_row(self) -> dict[str, str]:
        row = self.model_dump()
        row["amenities"] = ";".join(self.amenities)
        return {k: str(row[k]) for k in CSV_COLUMNS}
