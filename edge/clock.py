"""The real clock adapter."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    """System wall clock (UTC) and `time.monotonic`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
