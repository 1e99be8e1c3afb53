"""Seeded, reproducible fault injection: the n-th API request gets the same fault for the same seed."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

KINDS = ("429", "500", "502", "503", "slow", "drop")


@dataclass(frozen=True)
class Fault:
    kind: str


class FaultInjector:
    def __init__(
        self, rate: float = 0.0, kinds: list[str] | tuple[str, ...] = KINDS, seed: int = 0, slow_s: float = 0.25
    ) -> None:
        self.clear_counts()
        self.configure(rate, kinds, seed)
        self.slow_s = slow_s
        self._lock = threading.Lock()

    def configure(self, rate: float, kinds=KINDS, seed: int | None = None) -> None:
        """Raises ValueError on a rate outside [0, 1] or an unknown kind."""
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        kinds = tuple(kinds) or KINDS
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {list(KINDS)}")
        self.rate, self.kinds = rate, kinds
        if seed is not None:
            self.seed = seed
        self._rng = random.Random(getattr(self, "seed", 0))

    def clear_counts(self) -> None:
        """Forget the faults served so far (they count across configure(), like the other statistics)."""
        self.served: dict[str, int] = {k: 0 for k in KINDS}

    def draw(self) -> Fault | None:
        if self.rate <= 0:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.served[kind] += 1
            return Fault(kind)
