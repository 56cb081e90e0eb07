"""Stations as GeoJSON (RFC 7946): Point features, `[lon, lat]` in WGS-84, the registry
fields as properties. Read back with every error naming the feature and its line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from protocol.registry import CSV_COLUMNS

PROPERTIES = tuple(c for c in CSV_COLUMNS if c not in ("id", "lat", "lon"))
Coords = Callable[[float, float], tuple[float, float]]


def feature(record: dict[str, Any], *, coords: Coords | None = None) -> dict[str, Any]:
    """One station (a dict with the registry columns) as a Feature; `coords` maps (lat, lon)
    for output in another datum (GCJ-02)."""
    lat, lon = record["lat"], record["lon"]
    if coords is not None:
        lat, lon = coords(lat, lon)
    return {
        "type": "Feature",
        "id": record["id"],
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {k: record[k] for k in PROPERTIES},
    }


def dumps(features: Iterator[dict[str, Any]]) -> bytes:
    """A FeatureCollection with one feature per line, so line numbers name features. Each
    feature is compact UTF-8 JSON by orjson (the stdlib's `json.dumps` took ~9 s for the map
    of 200,000 stations; see docs/benchmarks.md "Whole-fleet views")."""
    body = b",\n".join(orjson.dumps(f) for f in features)
    return b'{"type": "FeatureCollection", "features": [\n' + body + b"\n]}\n"


class GeoJSONError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def features_with_lines(text: str) -> Iterator[tuple[int, Any]]:
    """Each element of the top-level `features` array with the line it starts on.

    The array is decoded element by element (`raw_decode`), so offsets are known without a
    second parser; errors say where the JSON broke.
    """
    decoder = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeoJSONError([f"line {exc.lineno}: not JSON: {exc.msg}"]) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise GeoJSONError(['line 1: expected {"type": "FeatureCollection", "features": [...]}'])
    if not isinstance(doc.get("features"), list):
        raise GeoJSONError(["line 1: `features` must be a list"])
    # find the array: the first '[' after the "features" key that decodes to the same list
    pos = 0
    while True:
        key = text.find('"features"', pos)
        colon = text.find(":", key)
        start = text.find("[", colon)
        if key < 0 or start < 0:
            yield from ((1, f) for f in doc["features"])  # unusual layout: no line numbers
            return
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pos = key + 1
            continue
        if value == doc["features"]:
            break
        pos = key + 1
    i = start + 1
    for _ in doc["features"]:
        while text[i] in " \t\r\n,":
            i += 1
        element, end = decoder.raw_decode(text, i)
        yield _line(text, i), element
        i = end
