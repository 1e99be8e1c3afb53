"""Contact cadence, hot-lead task timing: when to write to a lead and when its owner should act.

Cadence: each segment recommends a frequency (hot weekly, warm every two weeks, cold monthly by
default); a lead that opened less than `min_open_rate` of its last `last_sends` campaigns steps down one
level, because mailing people who do not read hurts deliverability for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from syncd.domain.models import EngagementEvent, Send

if TYPE_CHECKING:
    from syncd.rules import Rules

# Same order as syncd.rules.CADENCE_LEVELS (the domain does not import the loader at run time).
LEVELS: tuple[str, ...] = ("weekly", "biweekly", "monthly", "quarterly")
TASK_HOUR = time(9, 0)  # tasks fall due at the start of the sales team's working day


def open_rate(
    events: Iterable[EngagementEvent], sends: Sequence[Send], now: datetime, last_n: int
) -> tuple[float | None, int]:
    """Return (share of the last `last_n` campaigns sent by `now` that the lead opened, sends looked at).

    A click counts as an open (images may be blocked, the click proves the email was read). The rate is
    None when nothing was sent; with fewer than `last_n` sends it is over those sent.
    """
    latest: dict[str, datetime] = {}
    for send in sends:
        if send.sent_at <= now:
            latest[send.campaign_id] = max(send.sent_at, latest.get(send.campaign_id, send.sent_at))
    window = sorted(latest, key=lambda cid: (latest[cid], cid), reverse=True)[:last_n]
    if not window:
        return None, 0
    opened = {e.campaign_id for e in events if e.kind in ("open", "click") and e.campaign_id and e.occurred_at <= now}
    return sum(1 for cid in window if cid in opened) / len(window), len(window)


def recommend(rules: Rules, segment: str, rate: float | None, sends_seen: int) -> str:
    """Return the cadence for a lead in `segment` with open rate `rate` over `sends_seen` sends.

    Steps down one level only on a full window of `last_sends` sends (fewer is not enough evidence).
    """
    band = rules.segments.band_named(segment)
    base = band.cadence if band is not None else rules.segments.reengagement.cadence
    low = rate is not None and sends_seen >= rules.cadence.last_sends and rate < rules.cadence.min_open_rate
    return step_down(base) if low else base


def step_down(level: str) -> str:
    """Return the next less frequent cadence (the least frequent stays). Raises ValueError if unknown."""
    i = LEVELS.index(level)
    return LEVELS[min(i + 1, len(LEVELS) - 1)]


def due_date(now: datetime, business_days: int = 1, tz: str = "Europe/Paris") -> datetime:
    """Return when a task created at `now` falls due: 09:00 local time, `business_days` working days on.

    Working days are Monday to Friday in zone `tz` (public holidays are not known here). With 0, it is
    the next 09:00 on a working day that is not in the past. Returns an aware UTC datetime. Raises
    ValueError on a naive `now` or a negative `business_days`, ZoneInfoNotFoundError on an unknown zone.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if business_days < 0:
        raise ValueError("business_days must be 0 or more")
    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date()
    remaining = business_days
    if remaining == 0 and (day.weekday() >= 5 or _at_nine(day, zone) < now):
        remaining = 1
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return _at_nine(day, zone).astimezone(UTC)


def cooldown_allows(last_task_at: datetime | None, now: datetime, cooldown_days: float) -> bool:
    """Return True if a new task may be created at `now`, `cooldown_days` after the last one.

    No previous task always allows one. Raises ValueError on a negative cooldown.
    """
    if cooldown_days < 0:
        raise ValueError("cooldown_days must be 0 or more")
    return last_task_at is None or now - last_task_at >= timedelta(days=cooldown_days)


def _at_nine(day: date, zone: ZoneInfo) -> datetime:
    # combine() with tzinfo gives the right UTC offset for that date, across daylight-saving changes.
    return datetime.combine(day, TASK_HOUR, tzinfo=zone)
