from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.limiter import SEARCH_WINDOW_S, HubSpotBudget, InFlight


class FakeTime:
    """A clock that only moves when someone sleeps (or the test says so). Thread-safe."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the budget asked to sleep for nothing"
        with self._lock:
            self.now += seconds


def _max_in_window(stamps: list[float], width: float) -> int:
    stamps = sorted(stamps)
    j, best = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] + width <= t:  # the budget's own rule: a call counts during [t, t + width)
            j += 1
        best = max(best, i - j + 1)
    return best


def _budget(t: FakeTime, **kw) -> HubSpotBudget:
    return HubSpotBudget(clock=t.clock, sleep=t.sleep, **kw)


def test_back_to_back_acquires_fill_the_window_then_wait_for_it() -> None:
    t = FakeTime()
    budget = _budget(t)  # 190 * 0.9 = 171 per 10 s
    stamps = []
    for _ in range(200):
        budget.acquire()
        stamps.append(t.now)
    assert budget.capacity == 171
    assert stamps[170] == 0.0 and stamps[171] == pytest.approx(10.0, abs=0.01) and stamps[-1] == stamps[171]
    assert _max_in_window(stamps, 10.0) == 171


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(min_value=0, max_value=0.3), st.booleans()), min_size=200, max_size=200),
    burst=st.sampled_from([100, 190, 250]),
)
def test_no_rolling_window_ever_exceeds_the_budget(steps, burst) -> None:
    t = FakeTime()
    budget = _budget(t, burst=burst)
    stamps, searches = [], []
    for gap, search in steps:
        t.now += gap  # the caller's own work between calls
        budget.acquire(search=search)
        stamps.append(t.now)
        if search:
            searches.append(t.now)
    assert _max_in_window(stamps, 10.0) <= int(burst * 0.9)
    assert not searches or _max_in_window(searches, 1.0) <= 4


def test_searches_are_limited_per_second_and_count_toward_the_burst() -> None:
    t = FakeTime()
    budget = _budget(t)
    waits = [budget.acquire(search=True) for _ in range(9)]
    # a search window of SEARCH_WINDOW_S (a margin over 1 s for arrival jitter)
    assert waits[:4] == [0.0] * 4 and waits[4] == pytest.approx(SEARCH_WINDOW_S, abs=0.01)
    assert t.now == pytest.approx(2 * SEARCH_WINDOW_S, abs=0.02)
    before = t.now
    budget.acquire()  # a plain call is not held back by the search limit
    assert t.now == before


def test_observe_counts_requests_spent_elsewhere() -> None:
    t = FakeTime()
    budget = _budget(t, burst=100)  # capacity 90
    for _ in range(10):
        budget.acquire()
    # We believe 90 remain; HubSpot says 20: others spent 70 in this window.
    budget.observe({"X-HubSpot-RateLimit-Remaining": "20", "X-HubSpot-RateLimit-Max": "100"})
    for _ in range(10):
        assert budget.acquire() == 0.0
    assert budget.acquire() > 0  # the 91st request in the window waits
    assert t.now == pytest.approx(10.0, abs=0.01)


def test_observe_lowers_burst_from_max_and_ignores_bad_headers() -> None:
    t = FakeTime()
    budget = _budget(t, burst=190)
    budget.observe(
        {
            "x-hubspot-ratelimit-max": "100",
            "x-hubspot-ratelimit-daily-remaining": "12345",
            "x-hubspot-ratelimit-remaining": "n/a",
        }
    )
    assert budget.burst == 100 and budget.capacity == 90 and budget.daily_remaining == 12345
    budget.observe({"X-HubSpot-RateLimit-Remaining": "500"})  # more than we think: nothing to learn
    assert [budget.acquire() for _ in range(90)] == [0.0] * 90


def test_threads_share_one_budget() -> None:
    t = FakeTime()
    budget = _budget(t, burst=100)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            budget.acquire()
            with lock:
                stamps.append(t.clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=10)
    assert len(stamps) == 200 and _max_in_window(stamps, 10.0) <= 90


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        HubSpotBudget(burst=0)
    with pytest.raises(ValueError):
        HubSpotBudget(headroom=1.5)
    with pytest.raises(ValueError):
        InFlight(0)


def test_in_flight_caps_concurrent_calls() -> None:
    gate = InFlight(limit=3)
    release = threading.Event()
    changed = threading.Condition()
    arrived, inside, peak = [0], [0], [0]

    def call() -> None:
        with changed:
            arrived[0] += 1
            changed.notify_all()
        with gate:
            with changed:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                changed.notify_all()
            release.wait(30)  # a hang guard: the test sets it
            with changed:
                inside[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for th in threads:
        th.start()
    with changed:  # woken by the workers (no polling): every one has arrived, and the gate is full
        assert changed.wait_for(lambda: arrived[0] == 8 and inside[0] >= 3, timeout=30)
        assert inside[0] == 3
    release.set()
    for th in threads:
        th.join(timeout=30)
    assert peak[0] == 3 and inside[0] == 0
    with gate:  # all slots were given back
        pass
