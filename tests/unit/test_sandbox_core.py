"""The sandbox's own machinery: rolling windows, in-flight limits, seeded faults, the clock."""

from __future__ import annotations

import pytest

from sandbox.clock import SimClock
from sandbox.faults import FaultInjector
from sandbox.limits import HubSpotLimiter, InFlightLimiter, RollingWindow
from sandbox.timefmt import hubspot_ts, mailchimp_ts, parse_ts_ms


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_rolling_window_allows_limit_then_refuses_until_oldest_expires():
    now = FakeTime()
    w = RollingWindow(3, 10.0, now)
    assert [w.try_acquire()[0] for _ in range(3)] == [True, True, True]
    ok, wait, remaining = w.try_acquire()
    assert (ok, wait, remaining) == (False, 10.0, 0)
    now.t += 9.99
    assert w.try_acquire()[0] is False
    now.t += 0.02
    assert w.try_acquire()[0] is True


def test_hubspot_limiter_search_is_limited_per_second_and_counts_toward_burst():
    now = FakeTime()
    lim = HubSpotLimiter(burst=100, now=now)
    verdicts = [lim.check("t", is_search=True) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True] * 4 + [False]
    assert verdicts[-1].policy == "SECONDLY"
    now.t += 1.0
    assert lim.check("t", is_search=True).allowed
    assert lim.check("t", is_search=False).remaining == 100 - 6


def test_hubspot_limiter_is_per_token_and_scaled():
    lim = HubSpotLimiter(burst=190, scale=0.1, now=FakeTime())
    assert lim.max == 19
    assert all(lim.check("a", False).allowed for _ in range(19))
    assert not lim.check("a", False).allowed
    assert lim.check("b", False).allowed


def test_in_flight_limiter():
    lim = InFlightLimiter(limit=10)
    assert all(lim.enter("k") for _ in range(10))
    assert not lim.enter("k")
    lim.leave("k")
    assert lim.enter("k") and lim.peak == 10


def test_faults_are_reproducible_for_a_seed_and_respect_rate():
    a = FaultInjector(0.3, seed=42)
    b = FaultInjector(0.3, seed=42)
    seq_a = [f.kind if f else None for f in (a.draw() for _ in range(2000))]
    seq_b = [f.kind if f else None for f in (b.draw() for _ in range(2000))]
    assert seq_a == seq_b
    share = sum(k is not None for k in seq_a) / len(seq_a)
    assert 0.25 < share < 0.35
    assert set(filter(None, seq_a)) == {"429", "500", "502", "503", "slow", "drop"}


def test_faults_reject_bad_configuration():
    f = FaultInjector()
    with pytest.raises(ValueError, match="rate"):
        f.configure(1.5)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        f.configure(0.1, ["teapot"])
    assert f.draw() is None


def test_clock_is_strictly_increasing_and_advances():
    c = SimClock(start_ms=1_700_000_000_000)
    a, b = c.now_ms(), c.now_ms()
    assert b > a
    before, after = c.advance_days(2)
    assert after - before == 2 * 86_400_000
    assert c.now_ms() >= after
    with pytest.raises(ValueError):
        c.advance_ms(-1)


def test_timestamp_formats():
    ms = 1_767_225_600_123
    assert hubspot_ts(ms) == "2026-01-01T00:00:00.123Z"
    assert mailchimp_ts(ms) == "2026-01-01T00:00:00+00:00"
    assert parse_ts_ms("2026-01-01T00:00:00.123Z") == ms
    assert parse_ts_ms(str(ms)) == ms
    assert parse_ts_ms("2026-01-01T01:00:00+01:00") == ms - 123
    with pytest.raises(ValueError):
        parse_ts_ms("yesterday")
