"""Timestamps formatted the way each service formats them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1)


def _hubspot_ts_slow(ms: int | float) -> str:
    # naive arithmetic is twice as fast as strftime on an aware datetime
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


_DAYS: dict[int, str] = {}  # day number since the epoch -> "YYYY-MM-DDT" (a few hundred entries in practice)
_MINUTES = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]  # minute of the day -> "HH:MM:"
_SECONDS = [f"{s:02d}" for s in range(60)]
_MILLIS = [f".{m:03d}Z" for m in range(1000)]


def hubspot_ts(ms: int) -> str:
    """HubSpot: ISO 8601 UTC with milliseconds and a Z, e.g. ``2026-11-22T15:49:56.123Z``."""
    # the hot path of every contact page (two per contact): the date part is cached per day and the time of
    # day assembled from small tables, about twice as fast as formatting a datetime
    if type(ms) is not int:
        return _hubspot_ts_slow(ms)
    day, rest = divmod(ms, DAY_MS)
    date = _DAYS.get(day)
    if date is None:
        date = _hubspot_ts_slow(day * DAY_MS)[:11]  # raises OverflowError outside years 1..9999, as before
        if len(_DAYS) < 100_000:
            _DAYS[day] = date
    minute, rest = divmod(rest, 60_000)
    second, milli = divmod(rest, 1000)
    return date + _MINUTES[minute] + _SECONDS[second] + _MILLIS[milli]


def mailchimp_ts(ms: int) -> str:
    """Mailchimp: ISO 8601 with a numeric offset and no fraction, e.g. ``2026-11-22T15:49:56+00:00``."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).isoformat()


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
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
