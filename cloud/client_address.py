"""The unit an HTTP client is counted by, for rate limits and login throttling.

Both the API's rate limiter (`cloud.api.ratelimit`) and the login throttle
(`cloud.auth.throttle`) count clients the same way, so the rule lives below both."""

from __future__ import annotations

import ipaddress


def address_key(host: str | None) -> str:
    """The unit a client is counted by: an IPv4 address as is, an IPv6 address by its /64
    (one subscriber usually holds a whole /64, so counting single addresses would give one
    attacker 2^64 budgets), an IPv4-mapped IPv6 address as the IPv4 one; anything else
    (a test client's name) as given, and no client at all as "unknown"."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
