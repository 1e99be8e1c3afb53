"""Segments: cold / warm / hot by score band, with hysteresis, and a re-engagement segment.

Against flapping, moving up a band is immediate (a lead that just went hot must reach sales at once),
while moving down needs both:
- the score below the current band's floor by more than `margin` points, and
- at least `min_dwell_days` spent in the current segment.
A lead that was once in an engaged segment (warm, hot by default) and has been silent for
`silent_days` is put in the re-engagement segment for `window_days`; after that it falls back to its
band, so a lead that never answers ends up cold.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from syncd.domain.models import ScoreResult, SegmentState

if TYPE_CHECKING:
    from syncd.rules import Band, Rules

DAY = timedelta(days=1)


def band_of(rules: Rules, score: int) -> Band:
    """Return the band holding `score`; below the lowest band is the lowest, above the highest the highest."""
    bands = rules.segments.bands
    for band in bands:
        if score >= band.min and (band.max is None or score <= band.max):
            return band
    return bands[0] if score < bands[0].min else bands[-1]


def assign(
    rules: Rules, score: int, previous: SegmentState | None, now: datetime, last_engaged_at: datetime | None
) -> tuple[str, bool]:
    """Return (segment, changed) for a lead scoring `score` at `now`.

    `previous` is the state left by the last scoring (None for a new lead, which always counts as
    changed); `last_engaged_at` is the time of its latest engagement event, if any.
    """
    if _in_reengagement(rules, previous, now, last_engaged_at):
        segment = rules.segments.reengagement.name
    else:
        segment = _with_hysteresis(rules, score, previous, now)
    return segment, previous is None or segment != previous.segment


def next_state(
    rules: Rules, previous: SegmentState | None, result: ScoreResult, now: datetime, hot_task_created: bool = False
) -> SegmentState:
    """Return the SegmentState to keep after `result` (the engine stores it for the next scoring).

    `since` moves to `now` only when the segment changed; `was_engaged` sticks once the lead has been
    in one of the re-engagement `from` segments; `last_hot_task_at` becomes `now` when the engine
    created a hot-lead task for this result.
    """
    engaged_segments = rules.segments.reengagement.from_segments
    was_engaged = result.segment in engaged_segments or (
        previous is not None and (previous.was_engaged or previous.segment in engaged_segments)
    )
    since = now if result.segment_changed or previous is None else previous.since
    last_task = now if hot_task_created else (previous.last_hot_task_at if previous else None)
    return SegmentState(segment=result.segment, since=since, was_engaged=was_engaged, last_hot_task_at=last_task)


def _with_hysteresis(rules: Rules, score: int, previous: SegmentState | None, now: datetime) -> str:
    raw = band_of(rules, score)
    current = rules.segments.band_named(previous.segment) if previous else None
    if current is None:
        return raw.name  # new lead, re-engagement ending, or a band renamed in the rules
    bands = rules.segments.bands
    if bands.index(raw) >= bands.index(current):
        return raw.name
    hyst = rules.segments.hysteresis
    since = previous.since if previous is not None else None
    dwelt = since is None or (now - since) >= hyst.min_dwell_days * DAY
    fell_through = score < current.min - hyst.margin
    return raw.name if dwelt and fell_through else current.name


def _in_reengagement(
    rules: Rules, previous: SegmentState | None, now: datetime, last_engaged_at: datetime | None
) -> bool:
    cfg = rules.segments.reengagement
    if not cfg.enabled or previous is None or last_engaged_at is None:
        return False
    if not (previous.was_engaged or previous.segment in cfg.from_segments or previous.segment == cfg.name):
        return False
    silent = (now - last_engaged_at) / DAY
    return cfg.silent_days <= silent < cfg.silent_days + cfg.window_days
