"""The sandbox's Mailchimp audience: members, merge fields, tags, sent campaigns and their activity.

Members are lazily backed by the population: persona `i` in `pop.mailchimp_indices` is a member whose
record is built on demand. Anything written through the API (or by simulated events) lives in an
overlay of `Member` records. Every member has a *slot*: the persona index for persona-backed members,
`pop.n + k` for the k-th address added through the API that matches no persona.

Per-member columns (slot, status, last_changed, timestamp_opt, timestamp_signup) are numpy arrays,
built once from the population on first need and kept up to date on every write, so filtering,
sorting and counting 1,000,000 members is vectorized.

Choices where the docs are silent (the harsher reading for a client, so syncd copes with either):
- `last_changed` moves on every status change (API writes, hard bounces, unsubscribes) and on every
  PUT/PATCH that updates an existing member; opens, clicks, soft bounces and tag changes do not move
  it (they update member stats, member_rating and the activity feed).
- Tags are static segments (sandbox/mailchimp/segments.py): membership is kept per tag, so tagging
  never materializes a member record and never moves `last_changed`.
- `since_*` / `before_*` filters are strict and compare whole seconds (the API's resolution).

Who unsubscribed matters, as in Mailchimp: a member who unsubscribed themselves (a campaign's unsubscribe
link: the simulation's and `/_sandbox/events` unsubscribes) is in compliance state and cannot be set back
to `subscribed` through the API; one unsubscribed by an admin or through the API (any `status:
unsubscribed` write) can be, by a plain `status: subscribed` write. `unsubscribe_reason` tells which:
`N/A (Unsubscribed by admin)` for those, the survey answer or `Unspecified` for a self-unsubscribe.
Cleaned members are always refused. In the initial population one unsubscribed member in
`ADMIN_UNSUB_ONE_IN` (at least one when any) was unsubscribed by an admin, drawn from the seed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sandbox.mailchimp.activity import ACTION_NAMES, BOUNCE, BOUNCE_TYPES, CLICK, OPEN, UNSUBSCRIBE, Campaign
from sandbox.mailchimp.merge_fields import MergeFieldSet, MergeValueError
from sandbox.mailchimp.segments import Segment, SegmentBook
from sandbox.timefmt import DAY_MS, mailchimp_ts

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
CODE = {s: i for i, s in enumerate(STATUSES)}
BY_SUBSCRIBER, BY_ADMIN = "subscriber", "admin"  # who unsubscribed a member
ADMIN_REASON = "N/A (Unsubscribed by admin)"
SELF_REASON = "Unspecified"  # a self-unsubscribe without a survey answer
ADMIN_UNSUB_ONE_IN = 8  # initial population: share unsubscribed by an admin
SORT_FIELDS = {"timestamp_opt": "opt", "timestamp_signup": "signup", "last_changed": "changed"}
_EMAIL = re.compile(
    r"^[^@\s\"(),:;<>\[\\\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
)
_HASH = re.compile(r"^[0-9a-f]{32}$")
NOT_IN_LIST = "Email addresses are not members of this list."  # the sandbox's wording


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: md5 of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def valid_email(email: str) -> bool:
    return bool(_EMAIL.match(email)) and len(email) <= 254  # addresses: at most 254 characters


class MemberError(Exception):
    """A member write Mailchimp refuses with 400: `title`, `detail`, optional `errors`, batch `code`."""

    def __init__(
        self,
        title: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        code: str = "ERROR_GENERIC",
        field: str = "",
        field_message: str = "",
    ) -> None:
        super().__init__(detail)
        self.title, self.detail, self.errors, self.code = title, detail, errors, code
        self.field, self.field_message = field, field_message


def compliance_error(email: str) -> MemberError:
    return MemberError(
        "Member In Compliance State",
        f"{email} is already a list member in compliance state due to unsubscribe, bounce, "
        "or compliance review and cannot be subscribed.",
    )


def invalid_email_error(email: str) -> MemberError:
    msg = "Please provide a valid email address."
    return MemberError(
        "Invalid Resource", msg, [{"field": "email_address", "message": msg}], field="email_address", field_message=msg
    )


@dataclass
class Member:
    slot: int
    email: str
    status: str
    merge: dict[str, Any]
    signup_ms: int
    opt_ms: int
    last_changed_ms: int
    unsubscribe_reason: str = ""
    vip: bool = False
    language: str = ""
    email_type: str = "html"
    source: str = "Import"
    ip_signup: str = ""
    prior_status: str = ""  # status before archiving: compliance survives an archive
    unsubscribed_by: str = ""  # BY_SUBSCRIBER | BY_ADMIN while unsubscribed (kept across an archive)

    @property
    def hash(self) -> str:
        return subscriber_hash(self.email)


class _Columns:
    """Growable per-member numpy columns, indexed by position (base members first, then added ones)."""

    NAMES = ("slot", "status", "changed", "opt", "signup")

    def __init__(self, size: int) -> None:
        self.size = size
        self.times_ready = False
        cap = max(16, size * 5 // 4)
        self.slot = np.zeros(cap, dtype=np.int64)
        self.status = np.zeros(cap, dtype=np.int8)
        self.changed = np.zeros(cap, dtype=np.int64)
        self.opt = np.zeros(cap, dtype=np.int64)
        self.signup = np.zeros(cap, dtype=np.int64)

    def append(self) -> int:
        if self.size == self.slot.size:
            for name in self.NAMES:
                old = getattr(self, name)
                grown = np.zeros(old.size * 2, dtype=old.dtype)
                grown[: old.size] = old
                setattr(self, name, grown)
        self.size += 1
        return self.size - 1

    def set(self, pos: int, m: Member) -> None:
        self.slot[pos], self.status[pos], self.changed[pos] = m.slot, CODE[m.status], m.last_changed_ms
        self.opt[pos], self.signup[pos] = m.opt_ms, m.signup_ms

    def view(self, name: str) -> np.ndarray:
        return getattr(self, name)[: self.size]


class MailchimpStore:
    """The audience of one world; see the module docstring for the model."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.pop = world.population
        self.list_id: str = world.list_id
        self.created_ms = int(self.pop.start_ms) - 400 * DAY_MS
        self.merge_fields = MergeFieldSet()
        self.campaigns: list[Campaign] = []
        self._campaign_by_id: dict[str, Campaign] = {}
        self._base = np.asarray(self.pop.mailchimp_indices, dtype=np.int64)
        self._overlay: dict[int, Member] = {}
        self._hash_slot: dict[str, int] = {}  # current hash -> slot, overlay members only
        self._extra_emails: list[str] = []  # slot pop.n + k -> address
        self._added_pos: dict[int, int] = {}  # slot -> column position, members added via the API
        self._cols: _Columns | None = None
        self.segments = SegmentBook()  # tags = static segments, membership per tag
        from sandbox.mailchimp.batches import BatchBook

        self.batches = BatchBook(world)  # batch operations (sandbox/mailchimp/batches.py)
        self._received = np.zeros(0, dtype=np.int32)  # per slot: campaigns received / opened / clicked
        self._opened = np.zeros(0, dtype=np.int32)
        self._clicked = np.zeros(0, dtype=np.int32)
        self._subscribed: np.ndarray | None = None
        self._admin_unsubscribed: np.ndarray | None = None  # sorted persona slots, drawn on first need

    # -- clock ------------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.world.clock.now_ms()

    # -- member lookup ----------------------------------------------------------------------------
    def _is_base(self, slot: int) -> bool:
        i = int(np.searchsorted(self._base, slot))
        return i < self._base.size and int(self._base[i]) == slot

    def _base_member(self, slot: int) -> Member:
        p = self.pop.persona(slot)
        signup, changed = int(p.mc_signup_ms), int(p.mc_last_changed_ms)
        merge: dict[str, Any] = {"FNAME": p.firstname, "LNAME": p.lastname, "PHONE": p.phone}
        m = Member(slot, p.mc_email, p.mc_status, merge, signup, signup, changed)
        if p.mc_status == "unsubscribed":
            admin = self._initially_admin_unsubscribed(slot)
            m.unsubscribed_by = BY_ADMIN if admin else BY_SUBSCRIBER
            m.unsubscribe_reason = ADMIN_REASON if admin else SELF_REASON
        return m

    def _initially_admin_unsubscribed(self, slot: int) -> bool:
        """Whether persona `slot`, unsubscribed in the population, was unsubscribed by an admin (by seed)."""
        if self._admin_unsubscribed is None:
            unsubscribed = self.pop.mailchimp_indices_with_status("unsubscribed")
            k = -(-unsubscribed.size // ADMIN_UNSUB_ONE_IN)  # ceil: at least one when any
            picked = self.pop.rng(0x4D43_0ADD).choice(unsubscribed, size=k, replace=False) if k else unsubscribed
            self._admin_unsubscribed = np.sort(picked.astype(np.int64))
        i = int(np.searchsorted(self._admin_unsubscribed, slot))
        return i < self._admin_unsubscribed.size and int(self._admin_unsubscribed[i]) == slot

    def _member(self, slot: int) -> Member:
        m = self._overlay.get(slot)
        return m if m is not None else self._base_member(slot)

    def find_slot(self, slot: int) -> Member:
        """The member in `slot` (which must hold one)."""
        return self._member(slot)

    def email_of(self, slot: int) -> str:
        m = self._overlay.get(slot)
        if m is not None:
            return m.email
        return self.pop.persona(slot).mc_email if slot < self.pop.n else self._extra_emails[slot - self.pop.n]

    def slot_of_hash(self, h: str) -> int | None:
        """The slot of the member whose address hashes to `h`, or None."""
        if h in self._hash_slot:
            return self._hash_slot[h]
        i = self.pop.index_of_subscriber_hash(h)
        if i is not None and i not in self._overlay and self._is_base(int(i)):
            return int(i)
        return None

    def find(self, key: str) -> Member | None:
        """A member by subscriber hash or address (case-insensitive), archived ones included."""
        key = key.strip()
        h = key.lower() if _HASH.match(key.lower()) else subscriber_hash(key)
        slot = self.slot_of_hash(h)
        return None if slot is None else self._member(slot)

    def _require(self, email: str) -> Member:
        m = self.find(email)
        if m is None:
            raise KeyError(email)
        return m

    # -- columns ----------------------------------------------------------------------------------
    def _columns(self, times: bool = False) -> _Columns:
        """The member columns, built on first need and then kept current by `_save`.

        Statuses come vectorized from the population; the time columns (only needed by time filters
        and sorts) are filled on the first such query: one pass over the personas.
        """
        if self._cols is None:
            cols = _Columns(int(self._base.size))
            cols.slot[: self._base.size] = self._base
            for status in ("unsubscribed", "cleaned"):
                where = np.searchsorted(self._base, self.pop.mailchimp_indices_with_status(status))
                cols.status[where] = CODE[status]
            for _ in self._added_pos:
                cols.append()
            self._cols = cols
            self._replay_overlay()
        if times and not self._cols.times_ready:
            self._fill_times()
        return self._cols

    def _fill_times(self) -> None:
        cols, size = self._cols, int(self._base.size)
        base = np.asarray(self._base, dtype=np.int64)  # persona slots, read in bulk from the population
        signup, changed = self.pop.timestamps("mc_signup")[base], self.pop.timestamps("mc_last_changed")[base]
        cols.signup[:size], cols.opt[:size], cols.changed[:size] = signup, signup, changed
        cols.times_ready = True
        self._replay_overlay()

    def _replay_overlay(self) -> None:
        for slot, m in self._overlay.items():
            self._cols.set(self._position(slot), m)

    def _position(self, slot: int) -> int:
        if slot in self._added_pos:
            return self._added_pos[slot]
        return int(np.searchsorted(self._base, slot))

    def _save(self, m: Member, old_hash: str | None = None) -> None:
        """Put a member in the overlay and refresh its hash index, columns and caches."""
        if old_hash is not None and old_hash != m.hash:
            self._hash_slot.pop(old_hash, None)
        self._overlay[m.slot] = m
        self._hash_slot[m.hash] = m.slot
        if m.slot not in self._added_pos and not self._is_base(m.slot):
            self._added_pos[m.slot] = int(self._base.size) + len(self._added_pos)
            if self._cols is not None:
                self._cols.append()
        if self._cols is not None:
            self._cols.set(self._position(m.slot), m)
        self._subscribed = None

    def _new_slot(self, email: str) -> int:
        """A persona index when the address belongs to a persona not yet in the audience, else a new slot."""
        i = self.pop.index_of_email(email)
        if i is not None and int(i) not in self._overlay and not self._is_base(int(i)):
            return int(i)
        self._extra_emails.append(email)
        return self.pop.n + len(self._extra_emails) - 1

    # -- queries ----------------------------------------------------------------------------------
    def list_members(
        self,
        *,
        status: str | None = None,
        since_changed_ms: int | None = None,
        before_changed_ms: int | None = None,
        since_opt_ms: int | None = None,
        before_opt_ms: int | None = None,
        sort_field: str | None = None,
        sort_dir: str = "ASC",
        offset: int = 0,
        count: int = 10,
    ) -> tuple[int, list[Member]]:
        """(total matching, the page). Archived members only show with status="archived"."""
        timed = any(v is not None for v in (since_changed_ms, before_changed_ms, since_opt_ms, before_opt_ms))
        cols = self._columns(times=timed or bool(sort_field))
        st = cols.view("status")
        mask = st == CODE[status] if status else st != CODE["archived"]
        for name, bound, later in (
            ("changed", since_changed_ms, True),
            ("changed", before_changed_ms, False),
            ("opt", since_opt_ms, True),
            ("opt", before_opt_ms, False),
        ):
            if bound is not None:
                secs = cols.view(name) // 1000
                mask &= secs > bound // 1000 if later else secs < bound // 1000
        idx = np.flatnonzero(mask)
        if sort_field:
            order = np.argsort(cols.view(SORT_FIELDS[sort_field])[idx], kind="stable")
            idx = idx[order[::-1] if sort_dir.upper() == "DESC" else order]
        slots = cols.view("slot")[idx[offset : offset + count]]
        return int(idx.size), [self._member(int(s)) for s in slots.tolist()]

    def status_counts(self) -> dict[str, int]:
        counts = np.bincount(self._columns().view("status"), minlength=len(STATUSES))
        return {s: int(counts[CODE[s]]) for s in STATUSES}

    def subscribed_persona_indices(self, at_ms: int | None = None) -> np.ndarray:
        """Sorted persona indices of the members subscribed now (cached until the next write) or at `at_ms`."""
        if at_ms is not None:
            slots = self._subscribed_slots(at_ms)
            return slots[slots < self.pop.n]
        if self._subscribed is None:
            cols = self._columns()
            slots = cols.view("slot")[cols.view("status") == CODE["subscribed"]]
            self._subscribed = np.sort(slots[slots < self.pop.n])
        return self._subscribed

    def _subscribed_slots(self, at_ms: int | None = None) -> np.ndarray:
        """Sorted slots of the members subscribed now, or at `at_ms` as the members' own timestamps tell:
        opted in by then and either still subscribed or unsubscribed/cleaned only later (`last_changed` is
        when they left). A world's history asks about the past this way; at a send during an advance it is
        the same as now, every recorded change being older than the send."""
        cols = self._columns(times=at_ms is not None)
        status = cols.view("status")
        subscribed = status == CODE["subscribed"]
        if at_ms is not None:
            left_later = ((status == CODE["unsubscribed"]) | (status == CODE["cleaned"])) & (
                cols.view("changed") > at_ms
            )
            subscribed = (subscribed | left_later) & (cols.view("opt") <= at_ms)
        return np.sort(cols.view("slot")[subscribed])

    # -- member writes ----------------------------------------------------------------------------
    def _merge(self, given: Any, current: dict[str, Any] | None, skip: bool) -> dict[str, Any]:
        try:
            return self.merge_fields.validate(given, current, skip)
        except MergeValueError as exc:
            first = exc.errors[0]
            raise MemberError(
                "Invalid Resource", exc.detail, exc.errors, field=first["field"], field_message=first["message"]
            ) from None

    def create(
        self,
        email: str,
        status: str,
        fields: dict[str, Any],
        skip_merge_validation: bool = False,
        source: str = "API - Generic",
    ) -> Member:
        """Add a new member. Raises MemberError (invalid address, merge values, member exists)."""
        email = email.strip()
        if not valid_email(email):
            raise invalid_email_error(email)
        existing = self.find(email)
        if existing is not None and existing.status != "archived":
            raise MemberError(
                "Member Exists",
                f"{email} is already a list member. Use PUT to insert or update list members.",
                code="ERROR_CONTACT_EXISTS",
            )
        if existing is not None:
            return self.update(existing, {**fields, "status": status}, skip_merge_validation)
        merge = self._merge(fields.get("merge_fields"), None, skip_merge_validation)
        now = self.now_ms()
        m = Member(
            self._new_slot(email),
            email,
            status,
            merge,
            now,
            now,
            now,
            source=source,
            ip_signup=str(fields.get("ip_signup") or ""),
        )
        if status == "unsubscribed":
            m.unsubscribe_reason, m.unsubscribed_by = ADMIN_REASON, BY_ADMIN
        self._apply_attrs(m, fields)
        self._save(m)
        self._tag(m, [(t, "active") for t in fields.get("tags") or []], now)
        return m

    def update(self, m: Member, fields: dict[str, Any], skip_merge_validation: bool = False) -> Member:
        """Change an existing member (status, address, merge values, attributes); bumps last_changed.

        Raises MemberError: compliance state, invalid or taken address, bad merge values.
        """
        status = fields.get("status")
        if status == "subscribed" and self.in_compliance_state(m):
            raise compliance_error(m.email)
        new_email = str(fields.get("email_address") or m.email).strip()
        if new_email.lower() != m.email.lower():
            if not valid_email(new_email):
                raise invalid_email_error(new_email)
            if self.find(new_email) is not None:
                raise MemberError(
                    "Member Exists", f"{new_email} is already a list member.", code="ERROR_CONTACT_EXISTS"
                )
        merge = self._merge(fields.get("merge_fields"), m.merge, skip_merge_validation)
        now = self.now_ms()
        old_hash = m.hash
        new = replace(m, email=new_email, merge=merge, last_changed_ms=now)
        if status and status != m.status:
            new.status, new.prior_status = status, ""
            if status == "subscribed":
                new.opt_ms = now
            by_api = status == "unsubscribed"  # an API write is an admin's unsubscribe
            new.unsubscribe_reason, new.unsubscribed_by = (ADMIN_REASON, BY_ADMIN) if by_api else ("", "")
        self._apply_attrs(new, fields)
        self._save(new, old_hash)
        return new

    @staticmethod
    def in_compliance_state(m: Member) -> bool:
        """Whether Mailchimp refuses `status: subscribed` for `m`: cleaned, or unsubscribed by themselves.

        An archived member keeps the state it had before the archive. An unsubscribe of unknown origin
        counts as the member's own (the harsher reading).
        """
        was = m.prior_status if m.status == "archived" else m.status
        return was == "cleaned" or (was == "unsubscribed" and m.unsubscribed_by != BY_ADMIN)

    @staticmethod
    def _apply_attrs(m: Member, fields: dict[str, Any]) -> None:
        for name in ("vip", "language", "email_type"):
            if fields.get(name) is not None:
                setattr(m, name, fields[name])

    def upsert(self, key: str, fields: dict[str, Any], skip_merge_validation: bool = False) -> tuple[Member, bool]:
        """PUT semantics: create with `status_if_new`, else update (with `status` when given).

        `key` is the path's subscriber hash or address; it must match `email_address`.
        Returns (member, created). Raises MemberError.
        """
        email = str(fields["email_address"]).strip()
        key_hash = key.lower() if _HASH.match(key.lower()) else subscriber_hash(key)
        if not valid_email(email):
            raise invalid_email_error(email)
        if key_hash != subscriber_hash(email):
            raise MemberError(
                "Invalid Resource",
                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                [
                    {
                        "field": "email_address",
                        "message": "The email address does not match the subscriber hash in the URL.",
                    }
                ],
            )
        existing = self.find(email)
        if existing is None:
            return self.create(email, fields["status_if_new"], fields, skip_merge_validation), True
        return self.update(existing, fields, skip_merge_validation), False

    def archive(self, m: Member) -> None:
        """DELETE: the member is archived (kept, hidden from default listings)."""
        if m.status != "archived":
            self._save(replace(m, status="archived", prior_status=m.status, last_changed_ms=self.now_ms()))

    def batch(
        self, members: list[dict[str, Any]], update_existing: bool, sync_tags: bool, skip_merge_validation: bool = False
    ) -> dict[str, Any]:
        """Batch subscribe: per-member outcomes, never an HTTP error for one bad member."""
        new: list[Member] = []
        updated: list[Member] = []
        errors: list[dict[str, str]] = []
        for item in members:
            email = str(item.get("email_address", "")).strip()
            try:
                existing = self.find(email) if valid_email(email) else None
                if existing is None:
                    if not item.get("status"):
                        raise MemberError(
                            "Invalid Resource",
                            "Required fields were not provided: status",
                            field="status",
                            field_message="Please provide a status.",
                        )
                    m = self.create(
                        email, item["status"], {k: v for k, v in item.items() if k != "tags"}, skip_merge_validation
                    )
                    new.append(m)
                elif not update_existing:
                    raise MemberError(
                        "Member Exists",
                        f"{email} is already a list member, do you want to update? please provide "
                        "update_existing:true in the request body",
                        code="ERROR_CONTACT_EXISTS",
                    )
                else:
                    m = self.update(existing, item, skip_merge_validation)
                    updated.append(m)
                if item.get("tags") is not None:
                    self._sync_tags(m, item["tags"], replace_all=sync_tags)
            except MemberError as exc:
                errors.append(
                    {
                        "email_address": email,
                        "error": exc.detail,
                        "error_code": exc.code,
                        "field": exc.field,
                        "field_message": exc.field_message,
                    }
                )
        return {
            "new_members": [self._member(m.slot) for m in new],
            "updated_members": [self._member(m.slot) for m in updated],
            "errors": errors,
            "total_created": len(new),
            "total_updated": len(updated),
            "error_count": len(errors),
        }

    # -- tags = static segments ------------------------------------------------------------------
    def tag_name(self, tid: int) -> str:
        return self.segments.get(tid).name

    def _tag(self, m: Member, changes: Iterable[tuple[str, str]], now: int) -> Member:
        """Apply [(name, active|inactive)]; blank names are ignored. The member record is untouched."""
        for name, status in changes:
            if not name.strip():
                continue
            if status == "active":
                self.segments.add(self.segments.ensure(name, now), m.slot, now)
            else:
                seg = self.segments.named(name)
                if seg is not None:
                    self.segments.remove(seg, m.slot, now)
        return m

    def update_tags(self, m: Member, changes: Sequence[tuple[str, str]]) -> Member:
        """Apply [(name, active|inactive)]; unknown active tags are created, unknown inactive ignored."""
        return self._tag(m, changes, self.now_ms())

    def _sync_tags(self, m: Member, names: list[str], replace_all: bool) -> None:
        changes = [(n, "active") for n in names]
        if replace_all:
            wanted = {SegmentBook.key(n) for n in names}
            changes += [
                (seg.name, "inactive")
                for seg, _ in self.segments.of_slot(m.slot)
                if SegmentBook.key(seg.name) not in wanted
            ]
        self._tag(m, changes, self.now_ms())

    def search_tags(self, name: str | None) -> list[tuple[int, str]]:
        needle = (name or "").strip().lower()
        return [(seg.id, seg.name) for seg in self.segments if needle in seg.name.lower()]

    def _slot_statuses(self, slots: np.ndarray) -> np.ndarray:
        """Status codes of the members in `slots` (every slot must be a member), vectorized."""
        cols, base = self._columns(), self._base
        pos = np.searchsorted(base, slots)
        in_base = np.zeros(slots.size, dtype=bool)
        if base.size:
            in_base = base[np.minimum(pos, base.size - 1)] == slots
        for i in np.flatnonzero(~in_base).tolist():
            pos[i] = self._added_pos[int(slots[i])]
        return cols.view("status")[pos]

    def segment_slots(self, seg: Segment, statuses: Sequence[str]) -> np.ndarray:
        """The segment's member slots whose status is in `statuses`, in added order."""
        slots = np.fromiter(seg.members.keys(), dtype=np.int64, count=len(seg.members))
        if not slots.size:
            return slots
        return slots[np.isin(self._slot_statuses(slots), [CODE[s] for s in statuses])]

    def list_segments(
        self,
        statuses: Sequence[str],
        since_created_ms: int | None = None,
        before_created_ms: int | None = None,
        since_updated_ms: int | None = None,
        before_updated_ms: int | None = None,
    ) -> list[tuple[Segment, int]]:
        """(segment, member count) for every static segment matching the (strict, whole-second) bounds."""
        out = []
        for seg in self.segments:
            ok = True
            for value, bound, later in (
                (seg.created_ms, since_created_ms, True),
                (seg.created_ms, before_created_ms, False),
                (seg.updated_ms, since_updated_ms, True),
                (seg.updated_ms, before_updated_ms, False),
            ):
                if bound is not None:
                    ok &= value // 1000 > bound // 1000 if later else value // 1000 < bound // 1000
            if ok:
                out.append((seg, int(self.segment_slots(seg, statuses).size)))
        return out

    def _audience_member(self, email: str) -> Member | None:
        """The non-archived member with this address, or None (archived ones have left the audience)."""
        m = self.find(email) if isinstance(email, str) and valid_email(email.strip()) else None
        return m if m is not None and m.status != "archived" else None

    def create_segment(self, name: str, emails: Sequence[str]) -> Segment:
        """A static segment (a tag) holding the listed members; other addresses are ignored.

        Raises ValueError (name taken or blank).
        """
        now = self.now_ms()
        seg = self.segments.create(name, now)
        for email in emails:
            m = self._audience_member(email)
            if m is not None:
                self.segments.add(seg, m.slot, now)
        return seg

    def batch_segment(self, seg: Segment, to_add: Sequence[str], to_remove: Sequence[str]) -> dict[str, Any]:
        """Add and remove members of a static segment by address.

        Addresses that are not audience members (unknown, invalid or archived) are reported in one
        `errors` entry; adding a member already in the segment, or removing one not in it, is neither
        a change nor an error (tags are idempotent).
        """
        now = self.now_ms()
        added: list[Member] = []
        removed: list[Member] = []
        missing: list[str] = []
        for emails, into, op in ((to_add, added, self.segments.add), (to_remove, removed, self.segments.remove)):
            for email in emails:
                m = self._audience_member(email)
                if m is None:
                    if email not in missing:
                        missing.append(email)
                elif op(seg, m.slot, now):
                    into.append(m)
        errors = [{"email_addresses": missing, "error": NOT_IN_LIST}] if missing else []
        return {
            "members_added": added,
            "members_removed": removed,
            "errors": errors,
            "total_added": len(added),
            "total_removed": len(removed),
            "error_count": len(missing),
        }

    # -- campaigns and events (also called by the simulator) --------------------------------------
    def _grow_counters(self, size: int) -> None:
        if size > self._received.size:
            cap = max(size, self.pop.n, self._received.size * 2)
            for name in ("_received", "_opened", "_clicked"):
                old = getattr(self, name)
                grown = np.zeros(cap, dtype=np.int32)
                grown[: old.size] = old
                setattr(self, name, grown)

    def add_campaign(self, send_time_ms: int, subject: str, links: list[str]) -> str:
        """A sent regular campaign to the list; recipients = members subscribed at the send. Returns its id."""
        recipients = self._subscribed_slots(int(send_time_ms))
        seq = len(self.campaigns) + 1
        cid = Campaign.make_id(self.list_id, seq)
        camp = Campaign(
            cid, 100_000 + seq, int(send_time_ms) - 3_600_000, int(send_time_ms), subject, recipients, list(links)
        )
        self.campaigns.append(camp)
        self._campaign_by_id[cid] = camp
        if recipients.size:
            self._grow_counters(int(recipients[-1]) + 1)
            self._received[recipients] += 1
        return cid

    def campaign(self, campaign_id: str) -> Campaign:
        """Raises KeyError for an unknown id."""
        return self._campaign_by_id[campaign_id]

    def _holds_member(self, slots: np.ndarray) -> np.ndarray:
        """Which of `slots` hold a member (archived ones included), vectorized over the population's."""
        base = self._base
        pos = np.minimum(np.searchsorted(base, slots), max(base.size - 1, 0))
        held = base[pos] == slots if base.size else np.zeros(slots.size, dtype=bool)
        for i in np.flatnonzero(~held).tolist():
            held[i] = int(slots[i]) in self._overlay
        return held

    def record_activity(
        self,
        campaign_ids: Sequence[str],
        campaign: np.ndarray,
        slots: np.ndarray,
        ts_ms: np.ndarray,
        action: np.ndarray,
        link: np.ndarray,
        bounce: np.ndarray,
    ) -> np.ndarray:
        """Record a batch of campaign events in their order: the one way opens, clicks, bounces and
        unsubscribes reach the campaigns (the simulator sends batches, the single-event calls below one).

        Row k: campaign_ids[campaign[k]], member slot, time, action (OPEN, CLICK, BOUNCE or UNSUBSCRIBE),
        link (index into the campaign's links, for clicks) and bounce (a BOUNCE_TYPES value, for bounces).
        A hard bounce cleans the member; an unsubscribe goes through record_unsubscribe. Returns the mask of
        rows recorded: a slot that holds no member is left out. Raises KeyError for an unknown campaign id.
        """
        campaign, slots = np.asarray(campaign, dtype=np.int64), np.asarray(slots, dtype=np.int64)
        ts_ms, action = np.asarray(ts_ms, dtype=np.int64), np.asarray(action, dtype=np.int8)
        link, bounce = np.asarray(link, dtype=np.int32), np.asarray(bounce, dtype=np.int8)
        camps = [self.campaign(campaign_ids[k]) for k in range(len(campaign_ids))]
        held = self._holds_member(slots)
        activity = held & (action != UNSUBSCRIBE)
        for k in np.unique(campaign[activity]).tolist():
            rows = np.flatnonzero(activity & (campaign == k))
            first_open, first_click = camps[k].record_many(
                slots[rows], ts_ms[rows], action[rows], link[rows], bounce[rows]
            )
            self._grow_counters(int(slots[rows].max()) + 1)
            self._opened[first_open] += 1  # distinct slots: one count per member and campaign
            self._clicked[first_click] += 1
        hard = (action == BOUNCE) & (bounce == BOUNCE_TYPES["hard"])
        for r in np.flatnonzero(held & (hard | (action == UNSUBSCRIBE))).tolist():
            slot, ts = int(slots[r]), int(ts_ms[r])
            if action[r] == UNSUBSCRIBE:
                self.record_unsubscribe(self.email_of(slot), camps[int(campaign[r])].id, ts)
                continue
            # a member recorded as cleaned only later (a history: the population's cleaned member bounced
            # before the date it was cleaned on) is cleaned as of the bounce
            m = self._member(slot)
            if m.status != "cleaned" or m.last_changed_ms > ts:
                self._save(replace(m, status="cleaned", last_changed_ms=ts))
        return held

    def _record_one(
        self, email: str, campaign_id: str, ts_ms: int, action: int, link: int = -1, bounce: int = 0
    ) -> None:
        m = self._require(email)
        self.campaign(campaign_id)
        self.record_activity(
            [campaign_id],
            np.zeros(1),
            np.array([m.slot]),
            np.array([int(ts_ms)]),
            np.array([action]),
            np.array([link]),
            np.array([bounce]),
        )

    def record_open(self, email: str, campaign_id: str, ts_ms: int) -> None:
        """Raises KeyError for an unknown address or campaign."""
        self._record_one(email, campaign_id, ts_ms, OPEN)

    def record_click(self, email: str, campaign_id: str, ts_ms: int, url: str | None) -> None:
        """Raises KeyError for an unknown address or campaign."""
        self._require(email)
        link = self.campaign(campaign_id)._url_index(url)
        self._record_one(email, campaign_id, ts_ms, CLICK, link)

    def record_bounce(self, email: str, campaign_id: str, ts_ms: int, bounce_type: str = "hard") -> None:
        """A hard bounce cleans the member. Raises KeyError (unknown address or campaign), ValueError (type)."""
        if bounce_type not in BOUNCE_TYPES:
            raise ValueError("bounce_type must be 'hard' or 'soft'")
        self._record_one(email, campaign_id, ts_ms, BOUNCE, bounce=BOUNCE_TYPES[bounce_type])

    def record_unsubscribe(self, email: str, campaign_id: str, ts_ms: int, reason: str | None = None) -> None:
        """The member becomes unsubscribed; listed by reports/{id}/unsubscribed. Raises KeyError."""
        m = self._require(email)
        camp = self.campaign(campaign_id)
        text = reason or SELF_REASON
        camp.unsubscribes.append((m.slot, int(ts_ms), text))
        self._save(
            replace(
                m,
                status="unsubscribed",
                unsubscribe_reason=text,
                unsubscribed_by=BY_SUBSCRIBER,
                last_changed_ms=int(ts_ms),
            )
        )

    def inject_event(
        self,
        email: str,
        action: str,
        url: str | None = None,
        campaign_id: str | None = None,
        ts_ms: int | None = None,
        bounce_type: str = "hard",
    ) -> None:
        """One open|click|bounce|unsubscribe; campaign None = the latest sent (one is created if none).

        Raises KeyError (unknown address or campaign id), ValueError (unknown action).
        """
        ts = self.now_ms() if ts_ms is None else int(ts_ms)
        self._require(email)
        if campaign_id is None:
            campaign_id = (
                max(self.campaigns, key=lambda c: c.send_ms).id
                if self.campaigns
                else self.add_campaign(ts, "Sandbox campaign", [url] if url else [])
            )
        if action == "open":
            self.record_open(email, campaign_id, ts)
        elif action == "click":
            self.record_click(email, campaign_id, ts, url)
        elif action == "bounce":
            self.record_bounce(email, campaign_id, ts, bounce_type)
        elif action == "unsubscribe":
            self.record_unsubscribe(email, campaign_id, ts)
        else:
            raise ValueError(f"unknown action {action!r}")

    # -- API representations ----------------------------------------------------------------------
    def member_stats(self, slot: int) -> tuple[float, float, int]:
        """(avg_open_rate, avg_click_rate, member_rating 1-5) from the campaigns the member got."""
        got = int(self._received[slot]) if slot < self._received.size else 0
        if not got:
            return 0.0, 0.0, 2
        opened, clicked = int(self._opened[slot]) / got, int(self._clicked[slot]) / got
        return round(opened, 4), round(clicked, 4), min(5, 1 + int(opened * 3 + clicked * 4))

    def member_dict(self, m: Member, tags: list[tuple[Segment, int]] | None = None) -> dict[str, Any]:
        """The member as GET /lists/{id}/members/{hash} returns it (without _links).

        `tags`: the member's (segment, date added), when the caller already has them.
        """
        h = m.hash
        tags = self.segments.of_slot(m.slot) if tags is None else tags
        open_rate, click_rate, rating = self.member_stats(m.slot)
        full_name = f"{m.merge.get('FNAME', '')} {m.merge.get('LNAME', '')}".strip()
        body: dict[str, Any] = {
            "id": h,
            "email_address": m.email,
            "unique_email_id": hashlib.md5(f"ueid-{h}".encode()).hexdigest()[:10],
            "contact_id": hashlib.md5(f"contact-{self.list_id}-{h}".encode()).hexdigest(),
            "full_name": full_name,
            "web_id": int(h[:8], 16) % 1_000_000_000,
            "email_type": m.email_type,
            "status": m.status,
            "consents_to_one_to_one_messaging": True,
            "merge_fields": self.merge_fields.render(m.merge),
            "stats": {"avg_open_rate": open_rate, "avg_click_rate": click_rate},
            "ip_signup": m.ip_signup,
            "timestamp_signup": mailchimp_ts(m.signup_ms),
            "ip_opt": f"198.51.100.{m.slot % 254 + 1}",
            "timestamp_opt": mailchimp_ts(m.opt_ms),
            "member_rating": rating,
            "last_changed": mailchimp_ts(m.last_changed_ms),
            "language": m.language,
            "vip": m.vip,
            "email_client": "",
            "location": {
                "latitude": 0,
                "longitude": 0,
                "gmtoff": 0,
                "dstoff": 0,
                "country_code": "",
                "timezone": "",
                "region": "",
            },
            "source": m.source,
            "tags_count": len(tags),
            "tags": [{"id": seg.id, "name": seg.name} for seg, _ in tags],
            "list_id": self.list_id,
        }
        if m.status == "unsubscribed":
            body["unsubscribe_reason"] = m.unsubscribe_reason or "Unspecified"
        return body

    def member_tags(self, m: Member) -> list[dict[str, Any]]:
        return [
            {"id": seg.id, "name": seg.name, "date_added": mailchimp_ts(ms)}
            for seg, ms in self.segments.of_slot(m.slot)
        ]

    def campaign_dict(self, c: Campaign) -> dict[str, Any]:
        """The campaign as GET /campaigns/{id} returns it (without _links)."""
        delivered = max(c.emails_sent - c.hard_bounces - c.soft_bounces, 1)
        archive = f"http://eepurl.com/sandbox{c.web_id}"
        return {
            "id": c.id,
            "web_id": c.web_id,
            "type": "regular",
            "create_time": mailchimp_ts(c.create_ms),
            "archive_url": archive,
            "long_archive_url": f"https://us1.campaign-archive.com/?u=sandbox&id={c.id}",
            "status": "sent",
            "emails_sent": c.emails_sent,
            "send_time": mailchimp_ts(c.send_ms),
            "content_type": "template",
            "needs_block_refresh": False,
            "resendable": False,
            "recipients": {
                "list_id": self.list_id,
                "list_is_active": True,
                "list_name": LIST_NAME,
                "segment_text": "",
                "recipient_count": c.emails_sent,
            },
            "settings": {
                "subject_line": c.subject,
                "preview_text": "",
                "title": c.title,
                "from_name": "Sandbox Marketing",
                "reply_to": "marketing@sandbox.example.com",
                "use_conversation": False,
                "to_name": "*|FNAME|*",
                "folder_id": "",
                "authenticate": True,
                "auto_footer": False,
                "inline_css": False,
                "auto_tweet": False,
                "fb_comments": True,
                "timewarp": False,
                "template_id": 0,
                "drag_and_drop": True,
            },
            "tracking": {
                "opens": True,
                "html_clicks": True,
                "text_clicks": False,
                "goal_tracking": False,
                "ecomm360": False,
                "google_analytics": "",
                "clicktale": "",
            },
            "report_summary": {
                "opens": c.opens,
                "unique_opens": c.unique_opens,
                "open_rate": round(c.unique_opens / delivered, 4),
                "clicks": c.clicks,
                "subscriber_clicks": c.unique_clicks,
                "click_rate": round(c.unique_clicks / delivered, 4),
                "ecommerce": {"total_orders": 0, "total_spent": 0, "total_revenue": 0},
            },
            "delivery_status": {"enabled": False},
        }

    def email_activity(self, c: Campaign, since_ms: int | None, offset: int, count: int) -> tuple[int, list[dict]]:
        """(total emails, page of EmailActivity entries without _links)."""
        for other in self.campaigns:
            if other is not c:
                other.drop_index()  # keep one campaign's index: a 1M-recipient index is ~10 MB
        total, page, cols = c.activity_page(since_ms, offset, count)
        out = []
        for slot, rows in page:
            email = self.email_of(slot)
            activity = []
            for r in rows:
                action = int(cols["action"][r])
                item: dict[str, Any] = {
                    "action": ACTION_NAMES[action],
                    "timestamp": mailchimp_ts(int(cols["ts_ms"][r])),
                    "ip": f"198.51.100.{slot % 254 + 1}",
                }
                if action == CLICK:
                    item["url"] = c.links[int(cols["url"][r])] if int(cols["url"][r]) >= 0 else ""
                if action == BOUNCE:
                    item["type"] = "hard" if int(cols["bounce"][r]) == BOUNCE_TYPES["hard"] else "soft"
                activity.append(item)
            out.append(
                {
                    "campaign_id": c.id,
                    "list_id": self.list_id,
                    "list_is_active": True,
                    "email_id": subscriber_hash(email),
                    "email_address": email,
                    "activity": activity,
                }
            )
        return total, out

    def campaign_report(self, c: Campaign) -> dict[str, Any]:
        """The campaign's report as GET /reports and GET /reports/{id} return it (without _links): its totals
        move with every open, click, bounce and unsubscribe recorded (the activity and unsubscribed reports
        list the same events one by one)."""
        delivered = max(c.emails_sent - c.hard_bounces - c.soft_bounces, 1)
        return {
            "id": c.id,
            "campaign_title": c.title,
            "type": "regular",
            "list_id": self.list_id,
            "list_is_active": True,
            "list_name": LIST_NAME,
            "subject_line": c.subject,
            "preview_text": "",
            "emails_sent": c.emails_sent,
            "abuse_reports": 0,
            "unsubscribed": len(c.unsubscribes),
            "send_time": mailchimp_ts(c.send_ms),
            "bounces": {"hard_bounces": c.hard_bounces, "soft_bounces": c.soft_bounces, "syntax_errors": 0},
            "forwards": {"forwards_count": 0, "forwards_opens": 0},
            "opens": {
                "opens_total": c.opens,
                "unique_opens": c.unique_opens,
                "open_rate": round(c.unique_opens / delivered, 4),
            },
            "clicks": {
                "clicks_total": c.clicks,
                "unique_clicks": c.unique_clicks,
                "unique_subscriber_clicks": c.unique_clicks,
                "click_rate": round(c.unique_clicks / delivered, 4),
            },
        }

    def unsubscribes(self, c: Campaign, offset: int, count: int) -> tuple[int, list[dict]]:
        out = []
        for slot, ts, reason in c.unsubscribes[offset : offset + count]:
            m = self._member(slot)
            out.append(
                {
                    "email_id": m.hash,
                    "email_address": m.email,
                    "merge_fields": self.merge_fields.render(m.merge),
                    "vip": m.vip,
                    "timestamp": mailchimp_ts(ts),
                    "reason": reason,
                    "campaign_id": c.id,
                    "list_id": self.list_id,
                    "list_is_active": True,
                }
            )
        return len(c.unsubscribes), out

    def activity_feed(self, m: Member, filters: set[str] | None, offset: int, count: int) -> tuple[int, list[dict]]:
        """The member's activity, newest first: sent, open, click, bounce, unsub."""
        items: list[tuple[int, dict[str, Any]]] = []
        for c in self.campaigns:
            base = {"campaign_id": c.id, "campaign_title": c.title}
            if c.received(m.slot):
                items.append((c.send_ms, {"activity_type": "sent", **base}))
            for ts, action, url, bounce in c.events_of(m.slot):
                item = {"activity_type": ACTION_NAMES[action], **base}
                if url:
                    item["link_clicked"] = url
                if bounce:
                    item["bounce_type"] = bounce
                items.append((ts, item))
            for slot, ts, reason in c.unsubscribes:
                if slot == m.slot:
                    items.append((ts, {"activity_type": "unsub", "unsubscribe_reason": reason, **base}))
        if filters:
            items = [it for it in items if it[1]["activity_type"] in filters]
        items.sort(key=lambda it: it[0], reverse=True)
        page = [{**item, "created_at_timestamp": mailchimp_ts(ts)} for ts, item in items[offset : offset + count]]
        return len(items), page

    def list_dict(self) -> dict[str, Any]:
        """The audience as GET /lists/{id} returns it (without _links)."""
        counts = self.status_counts()
        last_sent = max((c.send_ms for c in self.campaigns), default=None)
        sent = sum(c.emails_sent for c in self.campaigns)
        stats: dict[str, Any] = {
            "member_count": counts["subscribed"],
            "total_contacts": sum(counts.values()),
            "unsubscribe_count": counts["unsubscribed"],
            "cleaned_count": counts["cleaned"],
            "member_count_since_send": 0,
            "unsubscribe_count_since_send": 0,
            "cleaned_count_since_send": 0,
            "campaign_count": len(self.campaigns),
            "merge_field_count": len(self.merge_fields.fields),
            "avg_sub_rate": 0,
            "avg_unsub_rate": 0,
            "target_sub_rate": 0,
            "open_rate": round(sum(c.unique_opens for c in self.campaigns) / sent, 4) if sent else 0,
            "click_rate": round(sum(c.unique_clicks for c in self.campaigns) / sent, 4) if sent else 0,
        }
        if last_sent is not None:
            stats["campaign_last_sent"] = mailchimp_ts(last_sent)
        return {
            "id": self.list_id,
            "web_id": int(self.list_id, 16) % 1_000_000,
            "name": LIST_NAME,
            "contact": {
                "company": "Sandbox Inc",
                "address1": "1 Loopback Way",
                "address2": "",
                "city": "Atlanta",
                "state": "GA",
                "zip": "30308",
                "country": "US",
                "phone": "",
            },
            "permission_reminder": "You signed up for updates on our website.",
            "use_archive_bar": True,
            "campaign_defaults": {
                "from_name": "Sandbox Marketing",
                "from_email": "marketing@sandbox.example.com",
                "subject": "",
                "language": "en",
            },
            "notify_on_subscribe": "",
            "notify_on_unsubscribe": "",
            "date_created": mailchimp_ts(self.created_ms),
            "list_rating": 3,
            "email_type_option": False,
            "subscribe_url_short": f"http://eepurl.com/sandbox{self.list_id[:4]}",
            "subscribe_url_long": f"https://sandbox.us1.list-manage.com/subscribe?u=sandbox&id={self.list_id}",
            "beamer_address": f"us1-{self.list_id}@inbound.mailchimp.com",
            "visibility": "pub",
            "double_optin": False,
            "has_welcome": False,
            "marketing_permissions": False,
            "modules": [],
            "stats": stats,
        }

    def state(self) -> dict[str, Any]:
        """Every member (archived included) and campaign, as the API shows them."""
        cols = self._columns()
        by_slot = self.segments.by_slot()
        members = [self.member_dict(self._member(s), by_slot.get(s, [])) for s in cols.view("slot").tolist()]
        return {"members": members, "campaigns": [self.campaign_dict(c) for c in self.campaigns]}


LIST_NAME = "Sandbox Leads"
