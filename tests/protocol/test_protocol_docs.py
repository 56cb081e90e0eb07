"""The wire reference (docs/protocol.md + docs/asyncapi.json) cannot drift from `protocol/`.

Story: a third party wrote a station from the docs alone and every message was dead-lettered:
payloads must repeat `sid`, events are split by `type`, telemetry needs `uptime_s` — none of it
was written down. Now the reference is generated from the models and checked here.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from protocol import messages, topics
from protocol.topics import Kind

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
ASYNCAPI = ROOT / "docs" / "asyncapi.json"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "protocol_docs", ROOT / "scripts" / "protocol_docs.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _payload_models() -> list[type[BaseModel]]:
    """Every concrete payload model in protocol.messages (found, not listed by hand)."""
    found = []
    for value in vars(messages).values():
        if (
            isinstance(value, type)
            and issubclass(value, messages.Payload)
            and value not in (messages.Payload, messages.StationPayload, messages.EventBase)
        ):
            found.append(value)
    return found


def test_generated_parts_are_current() -> None:
    assert _script().main(["--check"]) == 0, "run scripts/protocol_docs.py --write"


@pytest.mark.parametrize("model", _payload_models(), ids=lambda m: m.__name__)
def test_every_field_is_documented_in_both(model: type[BaseModel]) -> None:
    doc = DOC.read_text(encoding="utf-8")
    schemas = json.loads(ASYNCAPI.read_text(encoding="utf-8"))["components"]["schemas"]
    assert model.__name__ in schemas, f"{model.__name__} missing from asyncapi.json"
    for field, info in model.model_fields.items():
        assert re.search(rf"^\| `{field}` \|", doc, re.M), f"{model.__name__}.{field} not in doc"
        assert field in schemas[model.__name__]["properties"]
        assert info.description, f"{model.__name__}.{field} has no description"


def test_every_topic_kind_has_a_channel_and_a_row() -> None:
    doc = DOC.read_text(encoding="utf-8")
    api = json.loads(ASYNCAPI.read_text(encoding="utf-8"))
    addresses = {c["address"] for c in api["channels"].values()}
    for kind in Kind:
        address = topics.station("sid-x", kind, "unlock" if kind is Kind.CMD else None)
        templated = address.replace("sid-x", "{sid}").replace("/cmd/unlock", "/cmd/{name}")
        assert templated in addresses, kind
        assert f"`{templated}`" in doc, kind
    for global_topic in (topics.TRUST_KEYS, topics.TRUST_REVOCATIONS, topics.CLOUD_STATE):
        assert global_topic in addresses
        assert f"`{global_topic}`" in doc


def _resolve(api: dict[str, Any], ref: str) -> Any:
    node: Any = api
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_asyncapi_refs_resolve_and_examples_are_valid_payloads() -> None:
    api = json.loads(ASYNCAPI.read_text(encoding="utf-8"))
    assert api["asyncapi"].startswith("3.")
    refs = re.findall(r'"\$ref": "([^"]+)"', ASYNCAPI.read_text(encoding="utf-8"))
    assert refs
    for ref in refs:
        _resolve(api, ref)  # KeyError if dangling
    checked = 0
    for cid, channel in api["channels"].items():
        for msg_ref in channel["messages"].values():
            message = _resolve(api, msg_ref["$ref"])
            model = getattr(messages, message["name"], None)
            if model is None:  # the signed lists: protocol.trust, checked in credential.md
                continue
            example = json.dumps(message["examples"][0]["payload"])
            if "{sid}" in channel["address"]:  # what ingest / the station would decode
                address = channel["address"].replace("{sid}", "sz-0001")
                kind = topics.parse(address.replace("{name}", "unlock")).kind
                assert type(messages.decode(kind, example)) is model, cid
            else:
                model.model_validate_json(example)
            checked += 1
    assert checked == len(_payload_models())


def test_a_station_written_from_the_tables_is_stored() -> None:
    """Build each station→cloud payload from the documented required fields only."""
    doc = DOC.read_text(encoding="utf-8")
    assert "equal to the topic's {sid}" in doc  # payloads repeat the station id
    for name in ("TelemetryPayload", "AccessEvent", "FootfallPayload", "StatePayload"):
        example = _script().EXAMPLES[name]
        model = getattr(messages, name)
        required = {f for f, info in model.model_fields.items() if info.is_required()}
        minimal = {k: v for k, v in example.items() if k in required | {"v", "type"}}
        model.model_validate(minimal)
