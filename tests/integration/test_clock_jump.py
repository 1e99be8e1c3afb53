"""An event dated after the job's tick is judged against the clock read again: a sandbox clock that jumped a
week since the tick (`syncd sandbox`'s clock advanced while a daemon job ran) makes the new week's events
present, not future; an event a year ahead is still quarantined. The daemon test that advances the sandbox
clock saw such an event quarantined."""

from __future__ import annotations

import sqlalchemy as sa
from test_rescore_changes import _click
from test_score_threshold import DAY, NOW, _setup

from syncd import pull
from syncd.store import schema as t


class _JumpingClock:
    """A sandbox-like clock: `tick()` reads the simulated time again, which jumped a week since the job's
    tick; in between it reports the time of the last tick."""

    def __init__(self, start: int, jumped: int) -> None:
        self.now, self.jumped, self.ticks = start, jumped, 0

    def tick(self) -> None:
        self.ticks += 1
        self.now = self.jumped

    def __call__(self) -> int:
        return self.now


def test_an_event_after_a_clock_jump_is_stored_and_a_truly_future_one_quarantined(tmp_path):
    clock = [NOW]
    _, ctx = _setup(tmp_path, clock)
    week = NOW + 7 * DAY
    ctx.clock = _JumpingClock(NOW, week)
    with ctx.store.begin() as conn:  # the sandbox's clock jumped after this job's tick: read it again
        assert pull.store_events(ctx, conn, "mailchimp", [_click("after-jump", week - 120_000)]) == 1
    assert ctx.clock.ticks == 1
    with ctx.store.begin() as conn:  # a year ahead of the clock, read again or not: quarantined
        assert pull.store_events(ctx, conn, "mailchimp", [_click("next-year", week + 365 * DAY)]) == 0
        reasons = [r.reason for r in conn.execute(sa.select(t.quarantine.c.reason))]
    assert len(reasons) == 1 and "is in the future" in reasons[0]
    assert ctx.clock.ticks == 2
