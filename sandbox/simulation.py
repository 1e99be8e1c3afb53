"""Campaign calendar and lead engagement over simulated time (PLACEHOLDER: interface only).

    sim = Simulator(world)
    sim.advance(from_ms, to_ms) -> dict   # sends the campaigns due in (from, to], generates the
                                          # opens/clicks/bounces/unsubscribes of those days, drifts interest;
                                          # returns counts, e.g. {"campaigns": 2, "open": 310, ...}
"""
from __future__ import annotations

from typing import Any


class Simulator:
    def __init__(self, world: Any) -> None:
        self.world = world

    def advance(self, from_ms: int, to_ms: int) -> dict[str, int]:
        return {"campaigns": 0, "open": 0, "click": 0, "bounce": 0, "unsubscribe": 0}
