"""Timestamps formatted the way each service formats them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1)


def hubspot_ts(ms: int) -> str:
    """HubSpot: ISO 8601 UTC with milliseconds and a Z, e.g. ``2026-11-22T15:49:56.123Z``."""
    # the hot path of every contact page: naive arithmetic is twice as fast as strftime on an aware datetime
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def mailchimp_ts(ms: int) -> str:
    """Mailchimp: ISO 8601 with a numeric offset and no fraction, e.g. ``2026-11-22T15:49:56+00:00``."""
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).isoformat()


def parse_ts_ms(value: str | int | float) -> int:
    """Parse what clients send (epoch ms as number or string, or ISO 8601 with Z/offset) to epoch ms.

    Raises ValueError on anything else.
    """
    if isinstance(value, (int, float)):
        return int(value)
    s = str(value).strip()
    if s.lstrip("-").isdigit():
        return int(s)
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)
