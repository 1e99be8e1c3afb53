"""Simulated time: real time flows, and `advance_days` jumps ahead."""

from __future__ import annotations

import threading
import time

from sandbox.timefmt import DAY_MS


class SimClock:
    """now = start + time elapsed since creation + every jump made with `advance`.

    Real time keeps flowing so that successive writes get increasing `lastmodifieddate`s, as on the
    real services; `advance_days` moves the whole world forward for simulations.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        self._t0 = time.monotonic()
        self.start_ms = int(time.time() * 1000) if start_ms is None else int(start_ms)
        self._offset_ms = 0
        self._last = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """Current simulated epoch milliseconds; strictly increasing between calls."""
        with self._lock:
            t = self.start_ms + self._offset_ms + int((time.monotonic() - self._t0) * 1000)
            if t <= self._last:
                t = self._last + 1
            self._last = t
            return t

    def advance_ms(self, ms: int) -> tuple[int, int]:
        """Jump forward; returns (from_ms, to_ms)."""
        if ms < 0:
            raise ValueError("the clock only moves forward")
        before = self.now_ms()
        with self._lock:
            self._offset_ms += int(ms)
            # never answer less than the jump's end, even if `before` was nudged up for strictness
            self._last = max(self._last, before + int(ms) - 1)
        return before, before + int(ms)

    def advance_days(self, days: float) -> tuple[int, int]:
        return self.advance_ms(int(days * DAY_MS))
