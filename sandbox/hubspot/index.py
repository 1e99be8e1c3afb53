"""Record ids ordered by a timestamp, so `lastmodifieddate GT x, sorted ASC` is fast on a huge world.

The untouched population contacts live in two numpy arrays sorted by (timestamp, id), built once; the
few records written through the API (the overlay) live in a small sorted list of (timestamp, id). A
base row whose record was since written, archived or merged away is "stale": the owner tells which.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator

import numpy as np

_CHUNK = 1024
NEG_INF = -(2**62)
POS_INF = 2**62


class TimeIndex:
    def __init__(
        self,
        base_ids: np.ndarray,
        base_ts: np.ndarray,
        is_stale: Callable[[int], bool],
        stale_ids: Callable[[], Iterable[int]],
    ) -> None:
        """`base_ids` ascending; `base_ts` aligned with them. `is_stale(id)` / `stale_ids()` come from the owner."""
        self._by_id_ids = np.asarray(base_ids, dtype=np.int64)
        self._by_id_ts = np.asarray(base_ts, dtype=np.int64)
        order = np.lexsort((self._by_id_ids, self._by_id_ts))
        self._ids = self._by_id_ids[order]
        self._ts = self._by_id_ts[order]
        self._is_stale, self._stale_ids = is_stale, stale_ids
        self._overlay: list[tuple[int, int]] = []  # (ts, id), sorted
        self._overlay_ts: dict[int, int] = {}

    # -- overlay maintenance ------------------------------------------------------------------
    def set(self, rid: int, ts: int) -> None:
        """Record that overlay row `rid` now has timestamp `ts`."""
        self.remove(rid)
        bisect.insort(self._overlay, (ts, rid))
        self._overlay_ts[rid] = ts

    def remove(self, rid: int) -> None:
        old = self._overlay_ts.pop(rid, None)
        if old is not None:
            k = bisect.bisect_left(self._overlay, (old, rid))
            del self._overlay[k]

    # -- queries ------------------------------------------------------------------------------------
    def iterate(self, lo: int = NEG_INF, hi: int = POS_INF, reverse: bool = False) -> Iterator[int]:
        """Live ids with lo <= ts < hi, in (ts, id) order (descending when `reverse`)."""
        return (
            rid for _, rid in heapq.merge(self._base(lo, hi, reverse), self._over(lo, hi, reverse), reverse=reverse)
        )

    def count(self, lo: int = NEG_INF, hi: int = POS_INF) -> int:
        """How many live ids have lo <= ts < hi."""
        start, end = np.searchsorted(self._ts, [lo, hi], side="left")
        base = int(end - start)
        for rid in self._stale_ids():
            ts = self._base_ts(rid)
            if ts is not None and lo <= ts < hi:
                base -= 1
        a = bisect.bisect_left(self._overlay, (lo, NEG_INF))
        b = bisect.bisect_left(self._overlay, (hi, NEG_INF))
        return base + (b - a)

    def _base_ts(self, rid: int) -> int | None:
        k = int(np.searchsorted(self._by_id_ids, rid))
        if k < len(self._by_id_ids) and self._by_id_ids[k] == rid:
            return int(self._by_id_ts[k])
        return None

    def _base(self, lo: int, hi: int, reverse: bool) -> Iterator[tuple[int, int]]:
        start, end = (int(x) for x in np.searchsorted(self._ts, [lo, hi], side="left"))
        positions = range(end, start, -_CHUNK) if reverse else range(start, end, _CHUNK)
        for p in positions:
            a, b = (max(start, p - _CHUNK), p) if reverse else (p, min(end, p + _CHUNK))
            pairs = zip(self._ts[a:b].tolist(), self._ids[a:b].tolist())
            for ts, rid in reversed(list(pairs)) if reverse else pairs:
                if not self._is_stale(rid):
                    yield ts, rid

    def _over(self, lo: int, hi: int, reverse: bool) -> Iterator[tuple[int, int]]:
        a = bisect.bisect_left(self._overlay, (lo, NEG_INF))
        b = bisect.bisect_left(self._overlay, (hi, NEG_INF))
        rows = self._overlay[a:b]
        return iter(reversed(rows) if reverse else rows)
