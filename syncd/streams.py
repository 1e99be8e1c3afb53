"""Streams, declared once: every source of records syncd pulls, and the one loop that pulls them.

A `Stream` says who it is (name, system, the kind of cursor it keeps, its default interval) and does two
things: `fetch` one page after a cursor (returning the records, the cursor after them and whether more
follow), and `rows` (turn a page into rows, inside the transaction that also saves the cursor). `run` owns
paging, commits and stopping, the same for every stream. `REGISTRY` lists them in pull order; the
pipeline, the daemon's jobs, the interval settings and their defaults, `syncd once --json` and the metrics
are all derived from it. A stream may split into partitions (one per campaign, say), each with its own
cursor saved as "<name>:<partition>".

Invariant 5: a cursor only moves with the data it covers (both are committed together), never past the
signpost (tick start minus the lag window, so late-indexed records are not skipped).

Adding a source is a Stream subclass and `REGISTRY.add(...)` (plus its interval in config/syncd.yaml).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from contracts.records import Page
from contracts.timeparse import epoch_ms, iso
from syncd import progress, pull
from syncd.context import Context
from syncd.store import schema as t

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Step:
    """One fetched page: the records to store, the cursor after them, whether more pages follow now."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any]
    more: bool
    # for the progress figures (syncd/progress.py): items the vendor says were left to read from this page
    # on, this page included (None: no total), and the items this page covered when not one per record
    remaining: int | None = None
    units: int | None = None


class Stream:
    """Base class of a stream (see the module docstring). Subclasses set the class attributes and
    implement `start`, `fetch` and `rows`."""

    name: str = ""
    system: str = ""  # "hubspot", "mailchimp" or another source's name
    cursor_kind: str = ""  # what the cursor is, for people ("lastmodifieddate + ids at it")
    default_interval_s: int = 300  # between two runs of the stream's job in the daemon
    progress_unit: str = "records"  # what the progress figures count

    def partitions(self, ctx: Context) -> Sequence[str | None]:
        """The parts pulled separately, each with its own cursor (default: one, None)."""
        return (None,)

    def start(self, ctx: Context, partition: str | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        """The cursor to begin this run with, from the one stored (None the first time)."""
        raise NotImplementedError

    def fetch(self, ctx: Context, partition: str | None, cursor: dict[str, Any]) -> Step:
        """Read one page after `cursor`."""
        raise NotImplementedError

    def rows(self, ctx: Context, conn: sa.Connection, partition: str | None, records: list[dict[str, Any]]) -> None:
        """Store a page's records (snapshots, identities, events) in the caller's transaction."""
        raise NotImplementedError

    def signpost(self, ctx: Context) -> int:
        """Tick start minus the lag window: nothing later is taken in this run."""
        return ctx.clock() - int(ctx.settings.config.lag_window_s * 1000)

    def position(self, cursor: dict[str, Any]) -> int | None:
        """The service time (epoch ms) a stored cursor has caught up to, or None when the cursor is not
        a time (an offset, a page) or not yet one (a backfill under way). For the lag metric."""
        return None

    def watched(self, ctx: Context) -> Sequence[str | None]:
        """The partitions whose cursors the lag is measured on (default: `partitions`). Must not change
        the stream's state: it is called while the stream's job may be running."""
        return self.partitions(ctx)


class Registry:
    """The streams, in pull order. Later streams may read what earlier ones stored (activity is pulled
    for the campaigns the campaign stream found)."""

    def __init__(self, streams: Sequence[Stream] = ()) -> None:
        self._streams: list[Stream] = []
        for stream in streams:
            self.add(stream)

    def add(self, stream: Stream) -> Stream:
        """Register `stream` (after the others). Raises ValueError for a nameless or taken name."""
        if not stream.name or any(s.name == stream.name for s in self._streams):
            raise ValueError(f"a stream needs a unique name, not {stream.name!r}")
        self._streams.append(stream)
        return stream

    def remove(self, name: str) -> None:
        self._streams = [s for s in self._streams if s.name != name]

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self._streams))

    def names(self) -> list[str]:
        return [s.name for s in self._streams]

    def get(self, name: str) -> Stream:
        """The stream called `name`. Raises KeyError."""
        for stream in self._streams:
            if stream.name == name:
                return stream
        raise KeyError(name)


def run(ctx: Context, stream: Stream) -> int:
    """Pull `stream` from its cursors until it has caught up (or the daemon asks to stop), each page's
    rows committed together with the cursor after them. Returns the number of records stored."""
    pulled = 0
    parts = list(stream.partitions(ctx))
    tracker = progress.track(stream.name, len(parts), stream.progress_unit, ctx.settings.config.progress_interval_s)
    ok = False
    try:
        for partition in parts:
            key = stream.name if partition is None else f"{stream.name}:{partition}"
            with ctx.store.begin() as conn:
                cursor = stream.start(ctx, partition, ctx.store.get_cursor(conn, key))
            tracker.begin_partition()
            while True:
                step = stream.fetch(ctx, partition, cursor)
                with ctx.store.begin() as conn:
                    stream.rows(ctx, conn, partition, step.records)
                    # keys beginning with "_" live for this run only (the signpost, the properties asked for)
                    ctx.store.set_cursor(conn, key, {k: v for k, v in step.cursor.items() if not k.startswith("_")})
                pulled += len(step.records)
                cursor = step.cursor
                tracker.advance(len(step.records) if step.units is None else step.units, step.remaining)
                if not step.more or ctx.should_stop():
                    break  # caught up (or SIGTERM / a lost lease: the committed cursor resumes)
            if ctx.should_stop():
                break
            tracker.end_partition()
        ok = not ctx.should_stop()
    finally:
        tracker.finish(ok)
    ctx.count(f"pulled.{stream.name}", pulled)
    return pulled


def _left(page: Page, position: Any) -> int | None:
    """Items left to read from `position` on, by the page's vendor total (None without one)."""
    if page.total is None or not isinstance(position, int):
        return None
    return max(0, page.total - position)


# -- HubSpot ----------------------------------------------------------------------------------------


class HubSpotOwners(Stream):
    """Every owner, read again each run (owners leave and join; there are a handful)."""

    name, system, cursor_kind, default_interval_s = "hubspot_owners", "hubspot", "page after", 3600
    progress_unit = "owners"

    def start(self, ctx: Context, partition: str | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        return {"after": (stored or {}).get("after")}

    def fetch(self, ctx: Context, partition: str | None, cursor: dict[str, Any]) -> Step:
        page = ctx.hubspot.owners_page(cursor.get("after"))
        return Step(page.records, {"after": page.next}, page.next is not None)

    def rows(self, ctx: Context, conn: sa.Connection, partition: str | None, records: list[dict[str, Any]]) -> None:
        now = ctx.clock()
        rows = [
            {
                "id": str(o["id"]),
                "email": o.get("email"),
                "first_name": o.get("firstName"),
                "last_name": o.get("lastName"),
                "archived": bool(o.get("archived")),
                "fetched_ms": now,
            }
            for o in records
        ]
        ctx.store.upsert(conn, t.owners, rows, ["id"])


class HubSpotContacts(Stream):
    """Backfill by list paging (100 a page), then incremental by `lastmodifieddate` search.

    Incremental passes keep the query's lower bound fixed while paging (so `after` stays meaningful) and
    move it to the highest committed `lastmodifieddate` when the pass ends. Ties: ids already read at
    the bound are remembered and dropped when the next pass re-reads them (the search uses GTE). When
    more than 10,000 contacts share one `lastmodifieddate` (search pages at most 10,000 results per
    query, and moving the bound cannot pass them), that millisecond is read by id in "tie" passes, and
    the next pass starts strictly after it.
    """

    name, system, default_interval_s, progress_unit = "hubspot_contacts", "hubspot", 300, "contacts"
    cursor_kind = "backfill page, then lastmodifieddate with the ids at it (or by id within one millisecond)"

    def start(self, ctx: Context, partition: str | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        cursor = stored or {"mode": "backfill", "after": None, "started_ms": ctx.clock()}
        return {**cursor, "_signpost": self.signpost(ctx), "_props": pull.contact_properties(ctx)}

    def fetch(self, ctx: Context, partition: str | None, cursor: dict[str, Any]) -> Step:
        props, signpost = cursor["_props"], cursor["_signpost"]
        state = {k: v for k, v in cursor.items() if not k.startswith("_")}
        extra: dict[str, Any] = {}
        if state["mode"] == "backfill":
            left = cursor["_left"] if "_left" in cursor else self._backfill_left(ctx)
            records, new, more = self._backfill(ctx, state, props)
            if new["mode"] == "backfill" and left is not None:
                extra["_left"] = max(0, left - len(records))
        elif state["mode"] == "tie":
            records, new, more, left = self._tie(ctx, state, props)
        else:
            records, new, more, left = self._incremental(ctx, state, props, signpost)
        pull.attach_history(ctx, records)  # when two-way properties changed, for their conflict rule
        ctx.log.info("hubspot.contacts_page", records=len(records), mode=state["mode"])
        # the run's own keys travel with the cursor but are never stored (see rows)
        return Step(records, {**new, "_signpost": signpost, "_props": props, **extra}, more, remaining=left)

    @staticmethod
    def _backfill_left(ctx: Context) -> int | None:
        """Contacts this backfill still has to read, for its progress: the account's count (the list endpoint
        gives no total; one search of one result does) minus the contacts stored by an earlier run of it.
        None when HubSpot gives no count: the progress then shows a count and a rate."""
        from contracts.errors import ConnectorError

        try:
            total = ctx.hubspot.count_contacts()
        except ConnectorError as exc:  # the figures are a nicety: the backfill goes on without them
            ctx.log.info("hubspot.contacts_count_unknown", error=str(exc))
            return None
        if total is None:
            return None
        with ctx.store.begin() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(t.hubspot_contacts)).scalar_one()
        return max(0, int(total) - int(stored))

    def rows(self, ctx: Context, conn: sa.Connection, partition: str | None, records: list[dict[str, Any]]) -> None:
        pull.ingest_contacts(ctx, conn, records)

    def position(self, cursor: dict[str, Any]) -> int | None:
        if cursor.get("mode") == "tie":
            return int(cursor["at_ms"])
        if cursor.get("mode") != "incremental":
            return None
        return max(int(cursor["since_ms"]), int(cursor.get("checked_ms") or 0))

    @staticmethod
    def _backfill(ctx: Context, cur: dict, props: list[str]) -> tuple[list[dict], dict, bool]:
        page = ctx.hubspot.list_contacts(cur.get("after"), props, limit=ctx.settings.config.batch_sizes.hubspot_page)
        if page.next:
            return page.records, {**cur, "after": page.next}, True
        # backfill done: catch up on what changed meanwhile
        since = cur["started_ms"] - int(ctx.settings.config.lag_window_s * 1000)
        return (
            page.records,
            {
                "mode": "incremental",
                "since_ms": since,
                "after": None,
                "ids_at_since": [],
                "max_ms": since,
                "ids_at_max": [],
            },
            True,
        )

    @staticmethod
    def _incremental(
        ctx: Context, cur: dict, props: list[str], signpost: int
    ) -> tuple[list[dict], dict, bool, int | None]:
        since, seen = cur["since_ms"], set(cur.get("ids_at_since", []))
        page = ctx.hubspot.search_contacts_modified(
            since,
            props,
            after=cur.get("after"),
            limit=ctx.settings.config.batch_sizes.hubspot_search_page,
            exclusive=bool(cur.get("exclusive")),
        )
        left = _left(page, cur.get("after") or 0)
        records, beyond = [], False
        for r in page.records:
            lm = epoch_ms(r["properties"].get("lastmodifieddate")) or 0
            if lm > signpost:
                beyond = True
                break
            if lm == since and str(r["id"]) in seen:
                continue
            records.append(r)
        if cur.get("after") is None and not beyond and _relist_is_faster(ctx, page.total):
            # most of the CRM changed (after syncd's own first writes, an import, a bulk edit): reading the
            # list (100 a page at the general rate) is faster than searching (200 a page at 4 a second).
            # The list is read like a backfill, then the changes made meanwhile are caught up from its start.
            ctx.log.info("hubspot.contacts_relist", changed=page.total)
            ctx.count("contacts.relists")
            relist = {"mode": "backfill", "after": None, "started_ms": ctx.clock(), "relist": True, "_left": None}
            return records, relist, True, None
        max_ms, ids_at_max = cur.get("max_ms", since), list(cur.get("ids_at_max", []))
        for r in records:
            lm = epoch_ms(r["properties"].get("lastmodifieddate")) or 0
            if lm > max_ms:
                max_ms, ids_at_max = lm, [str(r["id"])]
            elif lm == max_ms:
                ids_at_max.append(str(r["id"]))
        capped = isinstance(page.next, tuple)
        if capped and page.next[0] == "tie" and not beyond:
            # 10,000 contacts at `since`: read that millisecond by id from the start (what was read already
            # is upserted again, harmlessly), then go on strictly after it
            return records, {"mode": "tie", "at_ms": since, "after_id": "0", "after": None}, True, left
        if page.next and not beyond and not capped:
            return records, {**cur, "after": page.next, "max_ms": max_ms, "ids_at_max": ids_at_max}, True, left
        ids = sorted(set(ids_at_max) | (seen if max_ms == since else set()))
        new = {
            "mode": "incremental",
            "since_ms": max_ms,
            "after": None,
            "ids_at_since": ids,
            "max_ms": max_ms,
            "ids_at_max": ids,
        }
        if cur.get("exclusive") and max_ms == since:
            new["exclusive"] = True  # nothing after the tied millisecond yet: stay strictly after it
        if not (capped and not beyond):
            new["checked_ms"] = signpost  # every change up to here was read (for the lag metric)
        # the 10,000-result cap: a new pass from the highest committed value
        return records, new, capped and not beyond, None if beyond else left

    @staticmethod
    def _tie(ctx: Context, cur: dict, props: list[str]) -> tuple[list[dict], dict, bool, int | None]:
        page = ctx.hubspot.search_contacts_at(
            cur["at_ms"],
            cur["after_id"],
            props,
            after=cur.get("after"),
            limit=ctx.settings.config.batch_sizes.hubspot_search_page,
        )
        left = _left(page, cur.get("after") or 0)
        if isinstance(page.next, tuple):  # the cap again: a new query from the last id read
            return page.records, {**cur, "after_id": page.next[2], "after": None}, True, left
        if page.next:
            return page.records, {**cur, "after": page.next}, True, left
        at = cur["at_ms"]
        return (
            page.records,
            {
                "mode": "incremental",
                "since_ms": at,
                "exclusive": True,
                "after": None,
                "ids_at_since": [],
                "max_ms": at,
                "ids_at_max": [],
            },
            True,
            left,
        )


RELIST_MIN_SAVING_S = 1.0  # switch to the list only when it saves at least this long at the configured limits


def _relist_is_faster(ctx: Context, changed: int | None) -> bool:
    """Whether reading every contact through the list is faster than searching the `changed` ones, at the
    limits syncd paces itself to (`hubspot_tier` requests per 10 s and 4 searches a second, times
    `rate_scale`), by at least RELIST_MIN_SAVING_S."""
    if not changed:
        return False
    cfg = ctx.settings.config
    with ctx.store.begin() as conn:
        stored = int(conn.execute(sa.select(sa.func.count()).select_from(t.hubspot_contacts)).scalar_one())
    search_s = -(-int(changed) // cfg.batch_sizes.hubspot_search_page) / (4.0 * cfg.rate_scale)
    list_s = -(-stored // cfg.batch_sizes.hubspot_page) / (cfg.hubspot_tier * cfg.rate_scale / 10.0)
    return search_s - list_s >= RELIST_MIN_SAVING_S


# -- Mailchimp --------------------------------------------------------------------------------------


def _page(ctx: Context) -> int:
    """Records per Mailchimp page (batch_sizes.mailchimp_page)."""
    return int(ctx.settings.config.batch_sizes.mailchimp_page)


MEMBER_OVERLAP = 20  # re-read this many records at each page edge: offsets shift when members change


class MailchimpMembers(Stream):
    """Members changed since the cursor, oldest first, 1,000 a page (the API's maximum).

    A pass keeps `since_last_changed` fixed and walks offsets; at its end the bound moves to the pass's
    signpost. Upserts are idempotent, so the small overlap between pages costs reads, not correctness.
    """

    name, system, default_interval_s, progress_unit = "mailchimp_members", "mailchimp", 300, "members"
    cursor_kind = "last_changed with an offset"

    def start(self, ctx: Context, partition: str | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "since": None,
            "offset": 0,
            **(stored or {}),
            "signpost": (stored or {}).get("signpost", self.signpost(ctx)),
        }

    def fetch(self, ctx: Context, partition: str | None, cursor: dict[str, Any]) -> Step:
        page = ctx.mailchimp.list_members(cursor["since"], cursor["offset"], count=_page(ctx))
        left = _left(page, cursor["offset"])
        if page.next is not None:
            after = {**cursor, "offset": max(cursor["offset"] + 1, page.next - MEMBER_OVERLAP)}
            return Step(page.records, after, True, remaining=left)
        return Step(page.records, {"since": iso(cursor["signpost"]), "offset": 0}, False, remaining=left)

    def rows(self, ctx: Context, conn: sa.Connection, partition: str | None, records: list[dict[str, Any]]) -> None:
        pull.ingest_members(ctx, conn, records)

    def position(self, cursor: dict[str, Any]) -> int | None:
        return epoch_ms(cursor.get("since"))  # the bound of the last pass that ended


class MailchimpCampaigns(Stream):
    """Campaigns of the audience sent since the cursor (the latest send time committed, up to the
    signpost), 1,000 a page."""

    name, system, cursor_kind, default_interval_s = "mailchimp_campaigns", "mailchimp", "send time", 900
    progress_unit = "campaigns"

    def start(self, ctx: Context, partition: str | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        return {"since_ms": (stored or {}).get("since_ms"), "offset": 0, "signpost": self.signpost(ctx)}

    def fetch(self, ctx: Context, partition: str | None, cursor: dict[str, Any]) -> Step:
        since = cursor["since_ms"]
        page = ctx.mailchimp.campaigns_page(iso(since) if since else None, cursor["offset"], count=_page(ctx))
        kept = [epoch_ms(c.get("send_time")) for c in page.records]
        left = _left(page, cursor["offset"])
        if page.next is not None:
            return Step(page.records, {**cursor, "offset": page.next}, True, remaining=left)
        reached = [ms for ms in kept if ms is not None and ms <= cursor["signpost"]]
        done = max(reached + ([since] if since else [])) if reached or since else None
        return Step(page.records, {"since_ms": done, "checked_ms": cursor["signpost"]}, False, remaining=left)

    def position(self, cursor: dict[str, Any]) -> int | None:
        return cursor.get("checked_ms") or cursor.get("since_ms")

    def rows(self, ctx: Context, conn: sa.Connection, partition: str | None, records: list[dict[str, Any]]) -> None:
        now = ctx.clock()
        rows = [
            {
                "id": c["id"],
                "send_time_ms": sent,
                "subject": (c.get("settings") or {}).get("subject_line"),
                "emails_sent": c.get("emails_sent") or 0,
                "fetched_ms": now,
            }
            for c in records
            if (sent := epoch_ms(c.get("send_time"))) is not None
        ]
        ctx.store.upsert(conn, t.campaigns, rows, ["id"])


def recent_campaigns(ctx: Context, stream: str) -> list[tuple[str, int]]:
    """(id, send time) of the campaigns whose reports `stream` reads now, oldest first: those sent in the last
    `activity_days`, and those sent in the last `backfill_days` it never read (a first run's past)."""
    cfg = ctx.settings.config
    now = ctx.clock()
    poll, backfill = now - int(cfg.activity_days * DAY_MS), now - int(cfg.backfill_days * DAY_MS)
    c = t.campaigns.c
    with ctx.store.begin() as conn:
        rows = conn.execute(
            sa.select(c.id, c.send_time_ms).where(c.send_time_ms >= min(poll, backfill)).order_by(c.send_time_ms)
        ).all()
        read = {
            str(k).split(":", 1)[1]
            for k, value in conn.execute(
                sa.select(t.cursors.c.stream, t.cursors.c.value).where(t.cursors.c.stream.like(f"{stream}:%"))
            )
            if (value or {}).get("complete")
        }
    return [(r.id, r.send_time_ms) for r in rows if r.send_time_ms >= poll or r.id not in read]


def report_totals(ctx: Context, sent: dict[str, int]) -> dict[str, dict[str, int]]:
    """The report totals (GET /reports, one call per 1,000 campaigns) of the campaigns in `sent` (id -> send
    time); {} when there are none to read, or when the reports cannot be listed (then every report is read,
    as without totals)."""
    from contracts.errors import ConnectorError

    if not sent:
        return {}
    try:
        totals = ctx.mailchimp.report_totals(iso(min(sent.values()) - 1000))
    except ConnectorError as exc:
        ctx.log.info("mailchimp.report_totals_unavailable", error=str(exc))
        return {}
    return {cid: totals[cid] for cid in sent if cid in totals}


def _unmoved(cursor: dict[str, Any], total: int | None) -> bool:
    """Whether a campaign report's pass can be skipped: its last pass read it to the end, at the total the
    report has now (and no pass is half way: activity passes restart at offset 0, the unsubscribed report's
    offset only grows)."""
    if total is None or not cursor.get("complete") or cursor.get("total") != total:
        return False
    return "since" not in cursor or not cursor.get("offset")


ACTIVITY_OVERLAP_MS = 3_600_000  # re-read the last hour: Mailchimp may report an event a little late


class MailchimpActivity(Stream):
    """Each recent campaign's opens, clicks and bounces after its cursor. The first read starts just before
    the send (without `since` the report lists every recipient, engaged or not); later passes start an
    hour before the previous signpost, and events already stored are ignored by their id."""

    name, system, default_interval_s, progress_unit = "mailchimp_activity", "mailchimp", 900, "recipients"
    cursor_kind = "per campaign: activity since a time, with an offset"

    def partitions(self, ctx: Context) -> Sequence[str | None]:
        # send times for `start`, for this run (the stream's job never runs twice at once)
        self._sent = dict(recent_campaigns(ctx, self.name))
        self._totals = report_totals(ctx, self._sent)
        return list(self._sent)

    def watched(self, ctx: Context) -> Sequence[str | None]:
        return [cid for cid, _ in recent_campaigns(ctx, self.name)]

    def position(self, cursor: dict[str, Any]) -> int | None:
        since = epoch_ms(cursor.get("since"))
        return None if since is None else since + ACTIVITY_OVERLAP_MS  # the signpost it was moved from

    def start(self, ctx: Context, partition: str | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        sent = self._sent[str(partition)]
        cursor = stored or {"since": iso(sent - 1000), "offset": 0}
        return cursor if "signpost" in cursor else {**cursor, "signpost": self.signpost(ctx)}

    def fetch(self, ctx: Context, partition: str | None, cursor: dict[str, Any]) -> Step:
        sent = self._sent[str(partition)]
        total = self._totals.get(str(partition), {}).get("activity")
        done = {"since": iso(max(sent - 1000, cursor["signpost"] - ACTIVITY_OVERLAP_MS)), "offset": 0, "complete": True}
        if _unmoved(cursor, total):  # no open, click or bounce since the last pass: nothing to read
            return Step([], {**done, "total": total}, False, remaining=0)
        page = ctx.mailchimp.email_activity(str(partition), cursor["since"], cursor["offset"], count=_page(ctx))
        # the report pages by recipient (each with their events): the progress counts recipients
        offset, left = cursor["offset"], _left(page, cursor["offset"])
        if page.next is not None:
            return Step(page.records, {**cursor, "offset": page.next}, True, remaining=left, units=page.next - offset)
        # "complete": the whole report was read once (a campaign older than activity_days is then left alone);
        # "total": the report's total when this pass began, so every event it counts has been read
        done = {**done, "total": total} if total is not None else done
        return Step(page.records, done, False, remaining=left, units=left)

    def rows(self, ctx: Context, conn: sa.Connection, partition: str | None, records: list[dict[str, Any]]) -> None:
        pull.store_events(
            ctx,
            conn,
            "mailchimp",
            [
                {
                    "event_id": r["event_id"],
                    "email": r.get("email_address"),
                    "kind": r.get("action"),
                    "occurred": r.get("timestamp"),
                    "campaign_id": r.get("campaign_id"),
                    "url": r.get("url"),
                    "bounce_type": r.get("type") if r.get("action") == "bounce" else None,
                }
                for r in records
            ],
        )


class MailchimpUnsubscribes(Stream):
    """Each recent campaign's unsubscribes from its cursor's offset on (the report only grows)."""

    name, system, cursor_kind, default_interval_s = "mailchimp_unsubscribes", "mailchimp", "per campaign: offset", 900
    progress_unit = "unsubscribes"

    def partitions(self, ctx: Context) -> Sequence[str | None]:
        recent = recent_campaigns(ctx, self.name)
        self._totals = report_totals(ctx, dict(recent))
        return [cid for cid, _ in recent]

    def start(self, ctx: Context, partition: str | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        cursor = stored or {"offset": 0}
        return {**cursor, "_total": self._totals.get(str(partition), {}).get("unsubscribes")}

    def fetch(self, ctx: Context, partition: str | None, cursor: dict[str, Any]) -> Step:
        total = cursor.get("_total")
        if _unmoved(cursor, total):  # nobody unsubscribed through this campaign since the last pass
            return Step([], cursor, False, remaining=0)
        page: Page = ctx.mailchimp.unsubscribes(str(partition), cursor["offset"], count=_page(ctx))
        complete = bool(cursor.get("complete")) or page.next is None  # the whole report read once
        new = {"offset": cursor["offset"] + len(page.records), "complete": complete, "_total": total}
        if page.next is None and total is not None:
            new["total"] = total  # the report's total when this pass began: all of it has been read
        return Step(page.records, new, page.next is not None, remaining=_left(page, cursor["offset"]))

    def rows(self, ctx: Context, conn: sa.Connection, partition: str | None, records: list[dict[str, Any]]) -> None:
        pull.store_events(
            ctx,
            conn,
            "mailchimp",
            [
                {
                    "event_id": r["event_id"],
                    "email": r.get("email_address"),
                    "kind": "unsubscribe",
                    "occurred": r.get("timestamp"),
                    "campaign_id": partition,
                    "detail": r.get("reason") or None,
                }
                for r in records
            ],
        )


REGISTRY = Registry(
    [
        HubSpotOwners(),
        HubSpotContacts(),
        MailchimpMembers(),
        MailchimpCampaigns(),
        MailchimpActivity(),
        MailchimpUnsubscribes(),
    ]
)


def lag(ctx: Context, registry: Registry = REGISTRY) -> list[dict[str, Any]]:
    """Per stream: how far behind now its cursors are. `lag_s` is the services' now minus the time the
    stream has caught up to (the oldest of its watched partitions); for a cursor that is not a time (an
    offset, a page, a backfill under way) it is how long ago the cursor last moved. `cursor_at` is that
    time (ISO 8601); both None when the stream was never pulled."""
    c = t.cursors.c
    with ctx.store.begin() as conn:
        stored = {
            r.stream: (r.value or {}, r.updated_ms) for r in conn.execute(sa.select(c.stream, c.value, c.updated_ms))
        }
    out: list[dict[str, Any]] = []
    for stream in registry:
        keys = [stream.name if p is None else f"{stream.name}:{p}" for p in stream.watched(ctx)]
        found = [stored[k] for k in keys if k in stored]
        if not found:
            out.append({"stream": stream.name, "lag_s": None, "cursor_at": None})
            continue
        positions = [stream.position(value) for value, _ in found]
        if all(p is not None for p in positions):
            at, now = min(p for p in positions if p is not None), ctx.clock()
        else:
            at, now = max(updated for _, updated in found), ctx.store.clock()
        out.append({"stream": stream.name, "lag_s": max(0.0, (now - at) / 1000), "cursor_at": iso(at)})
    return out
