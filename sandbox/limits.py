"""The services' rate limits, enforced per credential, on a monotonic clock.

HubSpot (private app): `burst` requests per rolling 10 s per token, i.e. per private app (100 Starter, 190
Professional and Enterprise, 250 with the limit-increase pack); search endpoints 4 requests/s per token on
top; the daily count is per account, shared by every private app ("100 / private app", "250,000 / account":
HubSpot's private apps guide).
Mailchimp: 10 simultaneous connections per API key.
`scale` multiplies every limit, the same for every client, so benchmarks finish in minutes.

Every window, and every figure derived from one (X-HubSpot-RateLimit-Remaining, a refusal's
retry_after_s), reads the limiter's `now`: time.monotonic unless a test passes its own clock
(World(limits_clock=...)). A RequestGate (World(mailchimp_gate=...)) holds admitted Mailchimp requests,
each in its connection slot, until a test releases them.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

HUBSPOT_WINDOW_S = 10.0  # rolling window of the burst limit
HUBSPOT_TIERS = (100, 190, 250)
SEARCH_PER_S = 4  # search: 4 requests/s per token
MAILCHIMP_IN_FLIGHT = 10  # 10 simultaneous connections per key
HUBSPOT_DAILY = 650_000  # Professional tier; reported in the Daily headers


@dataclass
class Verdict:
    allowed: bool
    policy: str = ""  # TEN_SECONDLY_ROLLING | SECONDLY
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

    def room(self, t: float) -> tuple[bool, float]:
        """(whether an event at `t` fits, seconds from `t` until one would); records nothing."""
        self._trim(t)
        if len(self._events) >= self.limit:
            return False, max(0.0, self._events[0] + self.window_s - t)
        return True, 0.0

    def record(self, t: float) -> int:
        """Count an event at `t` (after `room(t)` said it fits); the room left."""
        self._events.append(t)
        return self.limit - len(self._events)

    def try_acquire(self) -> tuple[bool, float, int]:
        """(allowed, seconds until a slot frees, remaining after this request)."""
        t = self._now()
        ok, wait = self.room(t)
        if not ok:
            return False, wait, 0
        return True, 0.0, self.record(t)


class HubSpotLimiter:
    """The burst and search windows per token, on `now` (seconds, monotonic)."""

    def __init__(self, burst: int = 190, scale: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        self.max = max(1, int(round(burst * scale)))
        self.search_max = max(1, int(round(SEARCH_PER_S * scale)))
        self.daily = HUBSPOT_DAILY
        self._now = now
        self._burst: dict[str, RollingWindow] = {}
        self._search: dict[str, RollingWindow] = {}
        self._daily_used = 0  # per account: every token counts against one daily limit
        self._lock = threading.Lock()

    def check(self, token: str, is_search: bool) -> Verdict:
        """Count the request when both its windows have room; a refused one uses up neither. A refusal
        names the search limit first; its retry_after_s is when every window it needs has room."""
        with self._lock:
            t = self._now()
            burst = self._burst.setdefault(token, RollingWindow(self.max, HUBSPOT_WINDOW_S, self._now))
            burst_ok, burst_wait = burst.room(t)
            search = None
            if is_search:
                search = self._search.setdefault(token, RollingWindow(self.search_max, 1.0, self._now))
                search_ok, search_wait = search.room(t)
                if not search_ok:
                    return Verdict(False, "SECONDLY", max(search_wait, burst_wait), self.max, 0)
            if not burst_ok:
                return Verdict(False, "TEN_SECONDLY_ROLLING", burst_wait, self.max, 0)
            if search is not None:
                search.record(t)
            remaining = burst.record(t)
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
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.peak = 0

    def in_flight(self, key: str) -> int:
        """Requests of `key` being served now."""
        with self._lock:
            return self._in_flight[key]

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


class RequestGate:
    """A test hook: admitted requests wait here, each keeping its slot, until the test lets them go.

    The sandbox awaits `passage()` in its event loop for every request the limit admitted, and calls
    `finish()` once that request is over (answered, or cancelled) and has given its slot back. A test's thread
    uses the rest: `held` and `wait_held(n)` (until n requests are waiting), `release(n)` (lets the n
    oldest go, all of them when n is None; returns how many went), `finished` and `wait_finished(n)`
    (until n requests in all have given their slots back). A release lets go of the requests held at
    that moment only: later arrivals are held in turn. The waits return False when `timeout` seconds pass
    first, a guard against a hung test that no outcome depends on.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = collections.deque()
        self._finished = 0

    @property
    def held(self) -> int:
        """Requests waiting at the gate now."""
        with self._changed:
            return len(self._waiting)

    @property
    def finished(self) -> int:
        """Requests that reached the gate and have since given their slot back (since the gate was made)."""
        with self._changed:
            return self._finished

    async def passage(self) -> None:
        """Wait (in the server's event loop) until `release` lets this request go."""
        loop = asyncio.get_running_loop()
        entry = (loop, loop.create_future())
        with self._changed:
            self._waiting.append(entry)
            self._changed.notify_all()
        try:
            await entry[1]
        finally:
            with self._changed:
                if entry in self._waiting:  # cancelled while held: no longer waiting
                    self._waiting.remove(entry)
                    self._changed.notify_all()

    def finish(self) -> None:
        """A request that reached the gate is over and has given its slot back."""
        with self._changed:
            self._finished += 1
            self._changed.notify_all()

    def release(self, n: int | None = None) -> int:
        with self._changed:
            count = len(self._waiting) if n is None else max(0, min(int(n), len(self._waiting)))
            going = [self._waiting.popleft() for _ in range(count)]
            self._changed.notify_all()
        for loop, future in going:
            try:
                loop.call_soon_threadsafe(_open, future)
            except RuntimeError:  # the server has stopped: nobody is waiting any more
                pass
        return count

    def wait_held(self, n: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self._waiting) >= n, timeout)

    def wait_finished(self, n: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._finished >= n, timeout)


def _open(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
