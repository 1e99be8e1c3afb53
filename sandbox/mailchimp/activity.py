"""Sent campaigns and their recipient activity, stored column-wise.

A 1,000,000-member audience gets ~200k opens per campaign, so events are appended to typed
`array.array` columns (about 21 bytes an event) instead of one object per event, and recipients are
one sorted int64 numpy array per campaign. Members are identified by their *slot* (see store.py).
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field

import numpy as np

OPEN, CLICK, BOUNCE = 0, 1, 2
ACTION_NAMES = ("open", "click", "bounce")
UNSUBSCRIBE = 3  # in MailchimpStore.record_activity only: unsubscribes are listed apart, not as email activity
BOUNCE_TYPES = {"hard": 1, "soft": 2}
BOUNCE_NAMES = {1: "hard", 2: "soft"}


def _dedup_sorted(a: np.ndarray) -> np.ndarray:
    """Distinct values of a sorted array (np.unique hashes and re-sorts, far slower here)."""
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def _merge_sorted(base: np.ndarray, more: np.ndarray) -> np.ndarray:
    """Sorted distinct union of a sorted distinct `base` and a sorted `more` (mostly inside base)."""
    pos = np.minimum(np.searchsorted(base, more), max(base.size - 1, 0))
    outside = more[base[pos] != more] if base.size else more
    if not outside.size:
        return base
    return _dedup_sorted(np.sort(np.concatenate((base, outside))))


def _flags(size: int) -> np.ndarray:
    return np.zeros(max(size, 1), dtype=bool)


@dataclass
class Campaign:
    id: str
    web_id: int
    create_ms: int
    send_ms: int
    subject: str
    recipients: np.ndarray  # sorted int64 slots subscribed at send time
    links: list[str] = field(default_factory=list)
    slot: array = field(default_factory=lambda: array("q"))
    ts_ms: array = field(default_factory=lambda: array("q"))
    action: array = field(default_factory=lambda: array("b"))
    url: array = field(default_factory=lambda: array("i"))  # index into `links`, -1 for none
    bounce: array = field(default_factory=lambda: array("b"))  # 0, or BOUNCE_TYPES value
    unsubscribes: list[tuple[int, int, str]] = field(default_factory=list)  # (slot, ts_ms, reason)
    opens: int = 0
    clicks: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    _opened: np.ndarray = field(default_factory=lambda: _flags(1))
    _clicked: np.ndarray = field(default_factory=lambda: _flags(1))
    _index: _Index | None = None

    @staticmethod
    def make_id(list_id: str, seq: int) -> str:
        """Campaign ids are 10 hex characters, like Mailchimp's."""
        return hashlib.md5(f"{list_id}-campaign-{seq}".encode()).hexdigest()[:10]

    @property
    def title(self) -> str:
        return self.subject

    @property
    def emails_sent(self) -> int:
        return int(self.recipients.size)

    @property
    def unique_opens(self) -> int:
        return int(self._opened.sum())

    @property
    def unique_clicks(self) -> int:
        return int(self._clicked.sum())

    def _url_index(self, url: str | None) -> int:
        if not url:
            return -1
        try:
            return self.links.index(url)
        except ValueError:
            self.links.append(url)
            return len(self.links) - 1

    @staticmethod
    def _mark(flags: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Set flags[slots]; returns the (maybe grown) array and the distinct slots newly flagged."""
        if not slots.size:
            return flags, slots
        top = int(slots.max())
        if top >= flags.size:
            grown = _flags(max(top + 1, flags.size * 2))
            grown[: flags.size] = flags
            flags = grown
        new = _dedup_sorted(np.sort(slots[~flags[slots]]))
        flags[new] = True
        return flags, new

    def record_many(
        self, slots: np.ndarray, ts_ms: np.ndarray, action: np.ndarray, link: np.ndarray, bounce: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Append events in order (open, click or bounce; `link` indexes `links` for clicks, `bounce` is a
        BOUNCE_TYPES value for bounces). Returns the distinct slots whose first open, and first click, of
        this campaign these are."""
        slots, action = np.asarray(slots, dtype=np.int64), np.asarray(action, dtype=np.int8)
        is_click, is_bounce = action == CLICK, action == BOUNCE
        bounce = np.where(is_bounce, bounce, 0).astype(np.int8)
        self.slot.frombytes(slots.tobytes())
        self.ts_ms.frombytes(np.asarray(ts_ms, dtype=np.int64).tobytes())
        self.action.frombytes(action.tobytes())
        self.url.frombytes(np.where(is_click, link, -1).astype(np.int32).tobytes())
        self.bounce.frombytes(bounce.tobytes())
        opened, clicked = slots[action == OPEN], slots[is_click]
        hard = int(np.count_nonzero(bounce == BOUNCE_TYPES["hard"]))
        self.opens, self.clicks = self.opens + int(opened.size), self.clicks + int(clicked.size)
        self.hard_bounces += hard
        self.soft_bounces += int(np.count_nonzero(is_bounce)) - hard
        self._opened, first_open = self._mark(self._opened, opened)
        self._clicked, first_click = self._mark(self._clicked, clicked)
        return first_open, first_click

    def columns(self) -> dict[str, np.ndarray]:
        """Copies of the event columns as numpy arrays (copies, so the arrays can keep growing)."""
        return {
            "slot": np.array(self.slot, dtype=np.int64),
            "ts_ms": np.array(self.ts_ms, dtype=np.int64),
            "action": np.array(self.action, dtype=np.int8),
            "url": np.array(self.url, dtype=np.int32),
            "bounce": np.array(self.bounce, dtype=np.int8),
        }

    def _indexed(self) -> _Index:
        """Events ordered by (slot, time), rebuilt only when events were added since the last build."""
        if self._index is None or self._index.events != len(self.slot):
            cols = self.columns()
            order = np.lexsort((cols["ts_ms"], cols["slot"]))
            slots = cols["slot"][order]
            every = _merge_sorted(self.recipients, slots)
            self._index = _Index(len(self.slot), cols, order, slots, every)
        return self._index

    def drop_index(self) -> None:
        """Free the cached index (the store keeps one campaign's index at a time)."""
        self._index = None

    def received(self, slot: int) -> bool:
        i = int(np.searchsorted(self.recipients, slot))
        return i < self.recipients.size and int(self.recipients[i]) == slot

    def activity_page(
        self, since_ms: int | None, offset: int, count: int
    ) -> tuple[int, list[tuple[int, list[int]]], dict[str, np.ndarray]]:
        """Email-activity page: (total emails, [(slot, [event rows in time order])], event columns).

        Without `since`, every recipient is listed (activity possibly empty), plus anyone with
        activity who was not a recipient. With `since`, only members with an event whose second is
        strictly after since's second, and only those events (the API's timestamps have second
        resolution; a strict bound is the harsher reading for clients, so it is the one we serve).
        """
        ix = self._indexed()
        order, slots, emails = ix.order, ix.slots, ix.every
        if since_ms is not None:
            keep = ix.cols["ts_ms"][order] // 1000 > since_ms // 1000
            order, slots = order[keep], slots[keep]
            emails = _dedup_sorted(slots)
        page = emails[offset : offset + count]
        lo, hi = np.searchsorted(slots, page, "left"), np.searchsorted(slots, page, "right")
        rows = [(int(s), order[a:b].tolist()) for s, a, b in zip(page.tolist(), lo.tolist(), hi.tolist())]
        return int(emails.size), rows, ix.cols

    def events_of(self, slot: int) -> list[tuple[int, int, str | None, str | None]]:
        """One member's events: (ts_ms, action, url, bounce type name)."""
        out = []
        for r in np.flatnonzero(np.array(self.slot, dtype=np.int64) == slot).tolist():
            u = self.url[r]
            out.append(
                (self.ts_ms[r], self.action[r], self.links[u] if u >= 0 else None, BOUNCE_NAMES.get(self.bounce[r]))
            )
        return out


@dataclass
class _Index:
    events: int
    cols: dict[str, np.ndarray]
    order: np.ndarray  # event rows sorted by (slot, ts)
    slots: np.ndarray  # slot of each row in that order
    every: np.ndarray  # recipients plus anyone with activity, sorted
