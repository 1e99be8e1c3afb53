"""Client-side rate limits, so the vendors' 429s stay rare instead of being the way we learn the limit.

HubSpotBudget keeps a rolling window of our own requests (HubSpot private apps: 100, 190 or 250 requests
per rolling 10 s by tier; search about 4 requests/s per token) and learns from the rate-limit headers
when someone else (another replica, another integration on the same token) spends the same budget.
InFlight caps concurrent Mailchimp calls (10 simultaneous connections per account).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType

_SLACK_S = 0.001


# HubSpot counts a search when it arrives, we when we send it: a request delayed on the way can land in the
# same second as one sent a second later, so the search window is kept a little longer than 1 s.
SEARCH_WINDOW_S = 1.15


class HubSpotBudget:
    """A rolling-window budget for HubSpot calls; `acquire()` blocks until a call may be sent. Thread-safe.

    `burst` requests per `window_s` (tier: 100/190/250 per 10 s), of which `headroom` is used, leaving a
    margin for clock skew between us and HubSpot and for requests we did not see; search calls are also
    limited to `search_per_s` per rolling second (search: 4 requests/s per token) and count as requests.
    `clock` returns seconds (monotonic); `sleep` waits (both injectable so tests never really wait).
    """

    def __init__(
        self,
        burst: int = 190,
        window_s: float = 10.0,
        search_per_s: int = 4,
        headroom: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if burst < 1 or search_per_s < 1 or window_s <= 0 or not 0 < headroom <= 1:
            raise ValueError("burst and search_per_s must be >= 1, window_s > 0 and 0 < headroom <= 1")
        self.burst = burst
        self.window_s = window_s
        self.search_per_s = search_per_s
        self.headroom = headroom
        self.clock = clock
        self.sleep = sleep
        self.daily_remaining: int | None = None
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # send times of requests still inside the rolling window
        self._searches: deque[float] = deque()  # send times of searches inside the last second

    @property
    def capacity(self) -> int:
        """Requests we allow ourselves per window: the burst less the headroom, at least one."""
        return max(1, math.floor(self.burst * self.headroom))

    def acquire(self, search: bool = False) -> float:
        """Block until a request (a search when `search`) may be sent, and count it; return seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                wait = self._wait_needed(now, search)
                if wait <= 0:
                    self._sent.append(now)
                    if search:
                        self._searches.append(now)
                    return waited
            # Sleep outside the lock so other threads can check (and calls finishing can be observed).
            self.sleep(wait)
            waited += wait

    def _wait_needed(self, now: float, search: bool) -> float:
        _expire(self._sent, self.window_s, now)
        _expire(self._searches, SEARCH_WINDOW_S, now)
        wait = 0.0
        if len(self._sent) >= self.capacity:
            wait = self._sent[len(self._sent) - self.capacity] + self.window_s - now
        if search and len(self._searches) >= self.search_per_s:
            wait = max(wait, self._searches[len(self._searches) - self.search_per_s] + SEARCH_WINDOW_S - now)
        # Waking a little past the edge avoids rounds of tiny re-sleeps caused by float rounding.
        return wait + _SLACK_S if wait > 0 else 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's X-HubSpot-RateLimit-* headers (names in any case).

        A smaller -Max lowers the burst for good; a -Remaining below what we believe is left means others
        spend this budget too, so their share is counted as if sent now (it leaves the window with ours).
        """
        values = {k.lower(): v for k, v in headers.items()}
        limit = _int(values.get("x-hubspot-ratelimit-max"))
        remaining = _int(values.get("x-hubspot-ratelimit-remaining"))
        daily = _int(values.get("x-hubspot-ratelimit-daily-remaining"))
        with self._lock:
            if daily is not None:
                self.daily_remaining = daily
            if limit is not None and 0 < limit < self.burst:
                self.burst = limit
            if remaining is None:
                return
            now = self.clock()
            _expire(self._sent, self.window_s, now)
            unseen = (self.burst - len(self._sent)) - remaining
            # `now` is read under the lock, so appending keeps the deque in time order.
            self._sent.extend([now] * max(unseen, 0))


def _expire(stamps: deque[float], width: float, now: float) -> None:
    # A request sent at t counts during [t, t + width); the same expression as the wait, so a computed
    # wait of zero always means the entry has left.
    while stamps and stamps[0] + width <= now:
        stamps.popleft()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class InFlight:
    """Caps calls running at once (Mailchimp: 10 simultaneous connections per account, else 429).

    Use as `with in_flight:` around each call; blocks while `limit` calls are under way.
    """

    def __init__(self, limit: int = 10) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def __enter__(self) -> InFlight:
        self._slots.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._slots.release()
