"""What time it is for syncd: the machine's clock, or a sandbox's simulated one.

When `SYNCD_CLOCK_URL` is set (`syncd sandbox` prints it: its `/_sandbox/clock`), syncd reads the simulated
time from it at every tick (the start of a cycle, or of a daemon job), so it follows every advance of the
sandbox's clock; in between, time flows at the machine's pace from the last reading. Without it, the
system clock. Nothing depends on what the vendor URLs look like.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable


class ClockError(Exception):
    """The clock URL could not be read."""


class Clock:
    """`clock()` is now in epoch ms; `clock.tick()` reads the clock URL again (no-op without one)."""

    def __init__(self, url: str | None = None, wall: Callable[[], float] = time.time) -> None:
        self.url = url
        self._wall = wall
        self._offset_ms = 0
        self._lock = threading.Lock()
        if url:
            self.tick()

    def tick(self) -> None:
        """Follow the clock URL's time from now on. Raises ClockError when it cannot be read."""
        if not self.url:
            return
        try:
            with urllib.request.urlopen(self.url, timeout=10) as answer:
                now_ms = int(json.load(answer)["now_ms"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ClockError(f"cannot read the clock at {self.url}: {exc}; check SYNCD_CLOCK_URL") from None
        with self._lock:
            self._offset_ms = now_ms - int(self._wall() * 1000)

    def __call__(self) -> int:
        return int(self._wall() * 1000) + self._offset_ms
