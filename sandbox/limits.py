"""The services' rate limits, enforced per credential, on a monotonic clock.

HubSpot (private app): `burst` requests per rolling 10 s per token, i.e. per private app (100 Starter, 190
Professional and Enterprise, 250 with the limit-increase pack); search endpoints 4 requests/s per token on
top; the daily count is per account, shared by every private app ("100 / private app", "250,000 / account":
HubSpot's private apps guide).
Mailchimp: 10 simultaneous connections per API key.
`scale` multiplies every limit, the same for every client, so benchmarks finish in minutes.

Every window, and every figure derived from one (X-HubSpot-RateLimit-Remaining, a refusal's
retry_after_s), reads the limiter's `now`: time.monotonic unless a test passes its own clock
(World(limits_clock=...)).
"""
from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

HUBSPOT_WINDOW_S = 10.0     # rolling window of the burst limit
HUBSPOT_TIERS = (100, 190, 250)
SEARCH_PER_S = 4            # search: 4 requests/s per token
MAILCHIMP_IN_FLIGHT = 10    # 10 simultaneous connections per key
HUBSPOT_DAILY = 650_000     # Professional tier; reported in the Daily headers


@dataclass
class Verdict:
    allowed: bool
    policy: str = ""            # TEN_SECONDLY_ROLLING | SECONDLY
    retry_after_s: float = 0.0
    max: int = 0
    remaining: int = 0


class RollingWindow:
    """At most `limit` events in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self._now = max(1, int(limit)), window_s, now
        self._events: collections.deque[float] = collections.deque()

    def _trim(self, t: float) -> None:
        while self._events and self._events[0] <= t - self.window_s:
            self._events.popleft()

    def try_acquire(self) -> tuple[bool, float, int]:
        """(allowed, seconds until a slot frees, remaining after this request)."""
        t = self._now()
        self._trim(t)
        if len(self._events) >= self.limit:
            return False, max(0.0, self._events[0] + self.window_s - t), 0
        self._events.append(t)
        return True, 0.0, self.limit - len(self._events)


class HubSpotLimiter:
    """The burst and search windows per token, on `now` (seconds, monotonic)."""

    def __init__(self, burst: int = 190, scale: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        self.max = max(1, int(round(burst * scale)))
        self.search_max = max(1, int(round(SEARCH_PER_S * scale)))
        self.daily = HUBSPOT_DAILY
        self._now = now
        self._burst: dict[str, RollingWindow] = {}
        self._search: dict[str, RollingWindow] = {}
        self._daily_used = 0        # per account: every token counts against one daily limit
        self._lock = threading.Lock()

    def check(self, token: str, is_search: bool) -> Verdict:
        with self._lock:
            burst = self._burst.setdefault(token, RollingWindow(self.max, HUBSPOT_WINDOW_S, self._now))
            if is_search:
                search = self._search.setdefault(token, RollingWindow(self.search_max, 1.0, self._now))
                ok, wait, _ = search.try_acquire()
                if not ok:
                    return Verdict(False, "SECONDLY", wait, self.max, 0)
            ok, wait, remaining = burst.try_acquire()
            if not ok:
                return Verdict(False, "TEN_SECONDLY_ROLLING", wait, self.max, 0)
            self._daily_used += 1
            return Verdict(True, "", 0.0, self.max, remaining)

    def daily_remaining(self, token: str) -> int:
        return max(0, self.daily - self._daily_used)

    def headers(self, token: str, verdict: Verdict) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining(token)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(HUBSPOT_WINDOW_S * 1000)),
            "X-HubSpot-RateLimit-Max": str(verdict.max),
            "X-HubSpot-RateLimit-Remaining": str(verdict.remaining),
        }


class InFlightLimiter:
    """Mailchimp: at most `limit` requests being served at once per key."""

    def __init__(self, limit: int = MAILCHIMP_IN_FLIGHT, scale: float = 1.0) -> None:
        self.limit = max(1, int(math.floor(limit * scale)))
        self._in_flight: dict[str, int] = collections.Counter()
        self._lock = threading.Lock()
        self.peak = 0

    def enter(self, key: str) -> bool:
        with self._lock:
            if self._in_flight[key] >= self.limit:
                return False
            self._in_flight[key] += 1
            self.peak = max(self.peak, self._in_flight[key])
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._in_flight[key] -= 1
