"""Tags and static segments: one model, as in Mailchimp, where a tag *is* a static segment.

A `Segment` holds its members as slot -> date added (ms), in added order: membership lives per tag,
not per member, so tagging a persona-backed member never materializes a member record, and a world of
1,000,000 members costs nothing until members are tagged. The tag id and the segment id are the same
integer. Names are unique case-insensitively (creating "Hot" when "hot" exists is a duplicate).

Tag and segment membership changes move the segment's `updated_at`, never a member's `last_changed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_ID = 100_001


@dataclass
class Segment:
    id: int
    name: str
    created_ms: int
    updated_ms: int
    members: dict[int, int] = field(default_factory=dict)  # slot -> date added (ms), in added order


class SegmentBook:
    """Every static segment (tag) of one audience."""

    def __init__(self) -> None:
        self._by_id: dict[int, Segment] = {}
        self._by_key: dict[str, int] = {}

    @staticmethod
    def key(name: str) -> str:
        return name.strip().lower()

    def __iter__(self):
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, segment_id: int) -> Segment | None:
        return self._by_id.get(segment_id)

    def named(self, name: str) -> Segment | None:
        sid = self._by_key.get(self.key(name))
        return None if sid is None else self._by_id[sid]

    def create(self, name: str, now_ms: int) -> Segment:
        """A new empty static segment. Raises ValueError when the name is taken or blank."""
        if not name.strip():
            raise ValueError("The segment name may not be blank.")
        if self.key(name) in self._by_key:
            raise ValueError(f"Sorry, a segment named '{name.strip()}' already exists.")
        seg = Segment(FIRST_ID + len(self._by_id), name.strip(), now_ms, now_ms)
        self._by_id[seg.id], self._by_key[self.key(name)] = seg, seg.id
        return seg

    def ensure(self, name: str, now_ms: int) -> Segment:
        return self.named(name) or self.create(name, now_ms)

    @staticmethod
    def add(seg: Segment, slot: int, now_ms: int) -> bool:
        """Put `slot` in `seg`; False when it was already there (its date added is kept)."""
        if slot in seg.members:
            return False
        seg.members[slot] = now_ms
        seg.updated_ms = now_ms
        return True

    @staticmethod
    def remove(seg: Segment, slot: int, now_ms: int) -> bool:
        if seg.members.pop(slot, None) is None:
            return False
        seg.updated_ms = now_ms
        return True

    def of_slot(self, slot: int) -> list[tuple[Segment, int]]:
        """(segment, date added ms) for every segment holding `slot`, oldest first (ties: segment id)."""
        found = [(seg, seg.members[slot]) for seg in self._by_id.values() if slot in seg.members]
        found.sort(key=_added_order)
        return found

    def by_slot(self) -> dict[int, list[tuple[Segment, int]]]:
        """`of_slot` for every tagged slot at once (one pass over the memberships)."""
        out: dict[int, list[tuple[Segment, int]]] = {}
        for seg in self._by_id.values():
            for slot, ms in seg.members.items():
                out.setdefault(slot, []).append((seg, ms))
        for tags in out.values():
            tags.sort(key=_added_order)
        return out


def _added_order(pair: tuple[Segment, int]) -> tuple[int, int]:
    return pair[1], pair[0].id
