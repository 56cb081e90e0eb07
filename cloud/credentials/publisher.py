"""Publish the signed lists retained on `ws/v1/trust/keys` and `ws/v1/trust/revocations`.

One short connection per publication (`cloud.mqttpub`): lists change rarely (a revocation, a
rotation, a daily re-issue), and a retained QoS 1 message is the broker's job to keep and hand
to every station that (re)subscribes. A publication counts as done only when the broker has
acknowledged both messages; anything less raises, and the caller keeps the list to publish
again.
"""

from __future__ import annotations

from cloud.mqttpub import TIMEOUT_S, PublishError, publish_once
from protocol.broker import BrokerUrl
from protocol.topics import TRUST_KEYS, TRUST_REVOCATIONS

__all__ = ["PublishError", "publish_lists"]


def publish_lists(
    broker: BrokerUrl,
    trust: bytes | None,
    revocations: bytes | None,
    *,
    client_id: str = "",
    timeout_s: float = TIMEOUT_S,
) -> None:
    """Publish whichever lists are given, retained at QoS 1; return once the broker has them."""
    messages = [
        (topic, payload, True)
        for topic, payload in ((TRUST_KEYS, trust), (TRUST_REVOCATIONS, revocations))
        if payload is not None
    ]
    publish_once(broker, messages, client_id=client_id, timeout_s=timeout_s)
