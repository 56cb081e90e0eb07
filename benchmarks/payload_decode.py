"""Ingest's per-message parse: `protocol.messages.decode` on an access event, against the
two-step parse it replaced (json.loads, then validating the dict), in the same run.

Run: .venv/bin/python benchmarks/payload_decode.py [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import timeit

import uuid6

from protocol import messages
from protocol.topics import Kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n
    raw = messages.AccessEvent(
        sid="sz-0001", event_id=uuid6.uuid7(), seq=1, granted=True, reason="granted",
        serial="00" * 12,
    ).to_bytes()  # fmt: skip

    def two_step() -> object:
        return messages._EVENT.validate_python(json.loads(raw))

    one = min(timeit.repeat(lambda: messages.decode(Kind.EVENTS, raw), number=n, repeat=3)) / n
    two = min(timeit.repeat(two_step, number=n, repeat=3)) / n
    print(f"access event, {len(raw)} bytes, best of 3 × {n:,}")
    print(f"decode (one-pass validate_json)        {one * 1e6:6.2f} µs")
    print(f"baseline: json.loads + validate_python {two * 1e6:6.2f} µs")
    print(f"ratio {one / two:.2f}×")


if __name__ == "__main__":
    main()
