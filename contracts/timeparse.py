"""Timestamps as the vendors write them, read once: ISO 8601 (with Z or an offset) or epoch milliseconds
(as a number or as text). Everything inside syncd is epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def epoch_ms(value: Any) -> int | None:
    """Epoch ms of an API timestamp; None when absent or unreadable. A naive ISO time is taken as UTC."""
    if value in (None, "") or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def iso(ms: int) -> str:
    """ISO 8601 in UTC to the second ("2026-01-01T00:00:00+00:00"), as Mailchimp's `since_*` filters take."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def utc_datetime(value: Any) -> datetime | None:
    """`value` (as `epoch_ms` reads it) as an aware UTC datetime; None when absent or unreadable."""
    ms = epoch_ms(value)
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
