"""Generate the machine-readable wire contract from the `protocol` models, so docs cannot drift.

    .venv/bin/python scripts/protocol_docs.py            # print the AsyncAPI document
    .venv/bin/python scripts/protocol_docs.py --write    # refresh docs/asyncapi.json and the
                                                          # field tables in docs/protocol.md
    .venv/bin/python scripts/protocol_docs.py --check    # exit 1 if either is stale

`docs/asyncapi.json` is an AsyncAPI 3.0 document of the MQTT interface, written from the
station's side (what a station sends and receives). Every payload schema is the pydantic
model's own JSON Schema. The field tables between the `<!-- fields:KIND -->` markers of
docs/protocol.md are made from the same models; the prose around them is written by hand.
tests/protocol/test_protocol_docs.py fails when either file is stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from protocol import messages as m
from protocol import topics
from protocol.trust import RevocationList, TrustList

ROOT = Path(__file__).resolve().parents[1]
ASYNCAPI = ROOT / "docs" / "asyncapi.json"
PROTOCOL = ROOT / "docs" / "protocol.md"
REF = "#/components/schemas/{model}"


# (channel id, address, direction seen from the station, QoS, retained, title, payload models)
CHANNELS: list[tuple[str, str, str, int, bool, str, list[Any]]] = [
    ("state", "ws/v1/{sid}/state", "send", 1, True,
     "Birth, clean stop and last will (retained)", [m.StatePayload]),
    ("meta", "ws/v1/{sid}/meta", "send", 1, True,
     "What the station runs, published on every connect before state (retained)",
     [m.MetaPayload]),
    ("telemetry", "ws/v1/{sid}/telemetry", "send", 0, False,
     "Heartbeat with device and sensor readings", [m.TelemetryPayload]),
    ("events", "ws/v1/{sid}/events", "send", 1, False,
     "Journaled access decisions, door events and alarms",
     [m.AccessEvent, m.DoorEvent, m.AlarmEvent]),
    ("footfall", "ws/v1/{sid}/footfall", "send", 1, False,
     "Journaled people counts per interval", [m.FootfallPayload]),
    ("cmdResult", "ws/v1/{sid}/cmd_result", "send", 1, False,
     "The answer to a command", [m.CmdResultPayload]),
    ("ack", "ws/v1/{sid}/ack", "receive", 1, False,
     "The cloud has committed every journal item up to a seq, naming the ones it refused",
     [m.AckPayload]),
    ("command", "ws/v1/{sid}/cmd/{name}", "receive", 1, False,
     "A command: unlock, rebirth, sync or reboot (never retained)", [m.CommandPayload]),
    ("config", "ws/v1/{sid}/config", "receive", 1, True,
     "The desired config (retained), published by the cloud API", [m.ConfigPayload]),
    ("trustKeys", topics.TRUST_KEYS, "receive", 1, True,
     "The signed trust list (issuer public keys)", [TrustList]),
    ("trustRevocations", topics.TRUST_REVOCATIONS, "receive", 1, True,
     "The signed revocation list", [RevocationList]),
    ("cloudState", topics.CLOUD_STATE, "receive", 1, True,
     "Whether some cloud ingest worker is up (retained; its will says false)",
     [m.CloudStatePayload]),
]  # fmt: skip

# The field tables of docs/protocol.md: marker name → models, in order.
TABLES: dict[str, list[type[BaseModel]]] = {
    "state": [m.StatePayload],
    "meta": [m.MetaPayload],
    "telemetry": [m.TelemetryPayload],
    "access": [m.AccessEvent],
    "door": [m.DoorEvent],
    "alarm": [m.AlarmEvent],
    "footfall": [m.FootfallPayload],
    "ack": [m.AckPayload],
    "command": [m.CommandPayload],
    "cmd_result": [m.CmdResultPayload],
    "config": [m.ConfigPayload],
    "cloud_state": [m.CloudStatePayload],
}


# One realistic payload per message, checked by the tests against the models.
TS = "2026-11-21T19:00:00Z"
SID = "sz-0001"
EXAMPLES: dict[str, dict[str, Any]] = {
    "StatePayload": {"v": 1, "ts": TS, "sid": SID, "status": "online", "sess": 42,
                     "config_version": 3},
    "MetaPayload": {"v": 1, "ts": TS, "sid": SID, "agent_version": "0.1.0",
                    "capabilities": ["access", "ws1", "ws2", "journal"], "config_version": 3,
                    "trust_version": 5, "revocation_version": 88},
    "TelemetryPayload": {"v": 1, "ts": TS, "sid": SID, "uptime_s": 86400.5, "interval_s": 30,
                         "config_version": 3, "journal_backlog": 0, "door": "closed",
                         "lock": "locked", "occupancy": 4, "trust_version": 5,
                         "revocation_version": 88, "revocation_age_s": 3600.0,
                         "clock_synced": True, "camera_fps": 14.8, "cpu_temp_c": 51.2,
                         "sensors": {"fridge_c": 4.5, "ambient_c": 27.0}},
    "AccessEvent": {"v": 1, "ts": TS, "sid": SID, "type": "access",
                    "event_id": "019a8f3c-1d2e-7a6b-9c4d-5e6f7a8b9c0d", "seq": 1201,
                    "granted": True, "reason": "granted", "credential": "ws1", "kid": "union-26",
                    "serial": "0f1e2d3c4b5a69788796a5b4"},
    "DoorEvent": {"v": 1, "ts": TS, "sid": SID, "type": "door",
                  "event_id": "019a8f3c-1d2f-7a6b-9c4d-5e6f7a8b9c0e", "seq": 1202,
                  "action": "unlocked", "cause": "grant"},
    "AlarmEvent": {"v": 1, "ts": TS, "sid": SID, "type": "alarm",
                   "event_id": "019a8f3c-1d30-7a6b-9c4d-5e6f7a8b9c0f", "seq": 1203,
                   "alarm": "camera_down", "state": "raised", "detail": "no usable frame"},
    "FootfallPayload": {"v": 1, "ts": TS, "sid": SID, "seq": 1204,
                        "interval_start": "2026-11-21T18:55:00Z", "seconds": 300, "entries": 3,
                        "exits": 2, "occupancy": 4},
    "CmdResultPayload": {"v": 1, "ts": TS, "sid": SID, "cmd_id": "c-7f3a", "ok": True,
                         "detail": "released for 1.5 s"},
    "AckPayload": {"v": 1, "ts": TS, "upto_seq": 1204,
                   "refused": [{"seq": 1198, "reason": "schema"}]},
    "CommandPayload": {"v": 1, "ts": TS, "cmd_id": "c-7f3a",
                       "expires_at": "2026-11-21T19:00:30Z", "args": {}},
    "ConfigPayload": {"v": 1, "ts": TS, "config_version": 4,
                      "config": {"door": {"pulse_s": 2.0},
                                 "schedule": {"members": "Mo-Su 07:00-23:00; PH off"},
                                 "holidays": {"holidays": ["2026-10-01", "2026-10-02"],
                                              "workdays": ["2026-10-10"]}}},
    "CloudStatePayload": {"v": 1, "ts": TS, "online": True},
}  # fmt: skip


def _schemas(models: list[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each model's JSON Schema (refs into components) and the shared definitions."""
    defs: dict[str, Any] = {}
    out = []
    for model in models:
        schema = TypeAdapter(model).json_schema(ref_template=REF)
        defs.update(schema.pop("$defs", {}))
        out.append(schema)
    return out, defs


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (a plain dict, stable order)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for cid, address, action, qos, retain, title, models in CHANNELS:
        payloads, defs = _schemas(models)
        schemas.update(defs)
        refs = {}
        for model, schema in zip(models, payloads, strict=True):
            name = model.__name__
            schemas[name] = schema
            messages[name] = {
                "name": name,
                "title": title if len(models) == 1 else f"{title}: {name}",
                "contentType": "application/json",
                "payload": {"$ref": REF.format(model=name)},
            }
            if name in EXAMPLES:
                messages[name]["examples"] = [{"name": "example", "payload": EXAMPLES[name]}]
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        params = {p: {"description": PARAMETERS[p]} for p in re.findall(r"\{(\w+)\}", address)}
        channels[cid] = {"address": address, "title": title, "messages": refs}
        if params:
            channels[cid]["parameters"] = params
        operations[f"{action}{cid[0].upper()}{cid[1:]}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{n}"} for n in refs],
            "bindings": {"mqtt": {"qos": qos, "retain": retain, "bindingVersion": "0.2.0"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Waystation station contract",
            "version": f"v{m.SCHEMA_VERSION}",
            "description": (
                "The MQTT interface between a Waystation station (door scanner, counter, "
                "sensors) and the cloud, seen from the station. Prose, delivery and liveness "
                "rules: docs/protocol.md. Member credentials (the QR codes): docs/credential.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "mqtt.example.org:8883",
                "protocol": "mqtts",
                "protocolVersion": "5.0",
                "description": "TLS; the station logs in with its station id and password.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.items())),
        },
    }


PARAMETERS = {
    "sid": "the station id, [a-z0-9-]{3,40}; also the station's MQTT username and client id",
    "name": "the command: unlock, rebirth, sync or reboot",
}


# --- field tables --------------------------------------------------------------------------------


def _type(schema: dict[str, Any] | bool, defs: dict[str, Any]) -> str:
    if not isinstance(schema, dict) or not schema:  # `true` / `{}`: any JSON value
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        return _type(target, defs) if "enum" in target else name
    if "anyOf" in schema:
        kinds = [_type(s, defs) for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = any(s.get("type") == "null" for s in schema["anyOf"])
        return " \\| ".join(kinds) + (" \\| null" if nullable else "")
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    fmt = schema.get("format")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}), defs)}"
    if kind == "object" and "patternProperties" in schema:
        [(pattern, value)] = schema["patternProperties"].items()
        key = "names" if pattern == m.NAME_PATTERN else f"keys matching `{pattern}`"
        return f"object: {key} → {_type(value, defs)}"
    if kind == "object" and "additionalProperties" in schema:
        keys = schema.get("propertyNames", {})
        key = "names" if keys.get("pattern") == m.NAME_PATTERN else "keys"
        return f"object: {key} → {_type(schema['additionalProperties'], defs)}"
    return f"{kind} ({fmt})" if fmt else str(kind)


def _limits(schema: dict[str, Any]) -> str:
    parts = []
    for s in [schema, *schema.get("anyOf", [])]:
        for key, label in (
            ("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
            ("exclusiveMaximum", "<"), ("minLength", "length ≥"), ("maxLength", "length ≤"),
            ("maxItems", "items ≤"), ("maxProperties", "keys ≤"),
        ):  # fmt: skip
            if key in s:
                value = s[key]
                shown = "2⁶³ − 1" if value == m.MAX_INT else f"{value:,}"
                parts.append(f"{label} {shown}" if isinstance(value, int) else f"{label} {value}")
        pattern = s.get("pattern")
        if pattern == m.NAME_PATTERN:
            parts.append("no control characters")
        elif pattern == m.TEXT_PATTERN:
            parts.append("no control characters but tab, LF, CR")
        elif pattern:
            parts.append(f"pattern `{pattern}`")
    return "; ".join(parts)


def table(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = ["| field | type | required | limits | meaning |", "|---|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        if name in required:
            req = "yes"
        elif "default" in prop:
            req = f"no (default `{json.dumps(prop['default'])}`)"
        else:  # a default made at validation, e.g. `ts`: the receiver's clock
            req = "no"
        desc = prop.get("description", "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_type(prop, defs)} | {req} | {_limits(prop)} | {desc} |")
    return "\n".join(rows)


def render_tables(text: str) -> str:
    for marker, models in TABLES.items():
        begin, end = f"<!-- fields:{marker} -->", f"<!-- /fields:{marker} -->"
        if begin not in text or end not in text:
            raise SystemExit(f"{PROTOCOL} lacks the markers {begin} … {end}")
        start, stop = text.index(begin) + len(begin), text.index(end)
        body = "\n\n".join(table(model) for model in models)
        text = text[:start] + "\n" + body + "\n" + text[stop:]
    return text


def main(argv: list[str]) -> int:
    document = json.dumps(asyncapi(), indent=2, ensure_ascii=False) + "\n"
    if not argv:
        sys.stdout.write(document)
        return 0
    doc_text = PROTOCOL.read_text(encoding="utf-8")
    fresh = render_tables(doc_text)
    if argv == ["--check"]:
        stale = [p.name for p, ok in ((ASYNCAPI, ASYNCAPI.exists() and
                 ASYNCAPI.read_text(encoding="utf-8") == document), (PROTOCOL, fresh == doc_text))
                 if not ok]  # fmt: skip
        if stale:
            print(f"stale: {', '.join(stale)}: run scripts/protocol_docs.py --write")
            return 1
        return 0
    if argv == ["--write"]:
        ASYNCAPI.write_text(document, encoding="utf-8")
        PROTOCOL.write_text(fresh, encoding="utf-8")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
