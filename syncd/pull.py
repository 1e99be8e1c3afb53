"""merge: what the streams (syncd/streams.py) store. Contacts and members become snapshots linked to one
identity per lead (following HubSpot merges and email changes); engagement becomes events, each stored
once by (source, event_id). Each function writes in the caller's transaction, the one that also moves the
stream's cursor."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from contracts.identity import normalize_email, subscriber_hash
from contracts.timeparse import epoch_ms as parse_ms
from contracts.timeparse import iso
from syncd.clock import ClockError
from syncd.context import Context
from syncd.store import schema as t

HUBSPOT_MAX_VALUE = 65_536  # HubSpot: string property values up to 65,536 characters
BASE_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "lifecyclestage",
    "hubspot_owner_id",
    "lastmodifieddate",
    "createdate",
    "hs_merged_object_ids",
    "num_conversion_events",
    "recent_conversion_event_name",
    "recent_conversion_date",
    "jobtitle",
    "company",
    "numemployees",
    "industry",
    "country",
]


def contact_properties(ctx: Context) -> list[str]:
    """Every HubSpot property a cycle reads: the base set, mapped ones, scoring inputs, syncd-owned ones."""
    from syncd.owned import OWNED_NAMES

    names = set(BASE_PROPERTIES) | set(OWNED_NAMES)
    names |= set(ctx.mappings.hubspot_properties)
    names |= {rule.property for rule in ctx.rules.fit}
    ev = ctx.rules.hubspot_events
    names |= {ev.conversion_count_property, ev.conversion_name_property, "recent_conversion_date"}
    if ev.webinar_property:
        names.add(ev.webinar_property)
    return sorted(names)


def _problem(props: dict) -> str | None:
    """Why a contact cannot be synced, or None. An owner HubSpot no longer knows is not a problem of the
    record: it is a routing fact, settled when a task is assigned (syncd.domain.routing.pick_owner)."""
    email = props.get("email")
    if normalize_email(email) is None:
        return f"invalid email {email!r}"
    for name, value in props.items():
        if isinstance(value, str) and len(value) > HUBSPOT_MAX_VALUE:
            return f"property {name} is {len(value)} characters (HubSpot's limit is {HUBSPOT_MAX_VALUE})"
    return None


def ingest_contacts(ctx: Context, conn: sa.Connection, records: Iterable[dict]) -> None:
    """Snapshot each contact, link its identity, follow merges and email changes, derive conversion events.

    A page's existing rows are read with one query per table and its snapshots written in one statement."""
    now = ctx.clock()
    valid: list[tuple[str, dict, str, dict]] = []
    for rec in records:
        hid, props = str(rec["id"]), dict(rec.get("properties") or {})
        if not props.get("email"):
            ctx.count("skipped.hubspot_no_email")
            continue
        problem = _problem(props)
        if problem:
            ctx.store.quarantine(conn, "hubspot", hid, problem, props, ctx.run_id)
            ctx.count("quarantined")
            ctx.log.warning("hubspot.contact_quarantined", contact_id=hid, reason=problem)
            continue
        email = normalize_email(props["email"])
        assert email is not None
        valid.append((hid, props, email, rec))
    if not valid:
        return
    valid.sort(key=lambda v: (v[2], v[0]))  # identities are written in email order by every pull (no deadlock)
    hids = [v[0] for v in valid]
    old = {r.hubspot_id: r for r in ctx.store.rows_in(conn, t.hubspot_contacts, "hubspot_id", hids)}
    by_id = {r.hubspot_id: r for r in ctx.store.rows_in(conn, t.identities, "hubspot_id", hids)}
    by_email = {r.email: r for r in ctx.store.rows_in(conn, t.identities, "email", [v[2] for v in valid])}
    snapshots: list[dict[str, Any]] = []
    new_identities: list[dict[str, Any]] = []
    two_way = sorted({f.hubspot for f in ctx.mappings.two_way}) if ctx.mappings is not None else []
    for hid, props, email, rec in valid:
        merged = [m for m in str(props.get("hs_merged_object_ids") or "").split(";") if m and m != hid]
        modified = parse_ms(props.get("lastmodifieddate")) or now
        snapshots.append(
            {
                "hubspot_id": hid,
                "email": email,
                "properties": props,
                "lastmodified_ms": modified,
                "merged_ids": merged,
                "archived": bool(rec.get("archived")),
                "fetched_ms": now,
                "field_ms": _field_times(two_way, old.get(hid), props, modified, rec.get("history_ms") or {}),
            }
        )
    ctx.store.upsert(conn, t.hubspot_contacts, snapshots, ["hubspot_id"])
    touched: list[int] = []  # identities whose contact changed: updated_ms, one statement for the page
    claimed: list[dict[str, Any]] = []  # identities found by email that take this contact's id
    olds: list[dict] = []
    for hid, props, email, _ in valid:
        prior = old.get(hid)
        old_props = dict(prior.properties) if prior else {}
        olds.append(old_props)
        changed = prior is None or old_props != props
        link = _link_contact(ctx, conn, hid, email, now, changed, by_id.get(hid), by_email.get(email))
        if link is None:
            new_identities.append(
                {"email": email, "hubspot_id": hid, "subscriber_hash": None, "created_ms": now, "updated_ms": now}
            )
        elif link == "claim":
            claimed.append({"_id": by_email[email].id, "_hid": hid})
        elif link == "touch":
            touched.append(by_id[hid].id)
    _touch(conn, touched, now)
    if claimed:
        ident = t.identities
        stmt = sa.update(ident).where(ident.c.id == sa.bindparam("_id"))
        conn.execute(
            stmt.values(hubspot_id=sa.bindparam("_hid"), **t.touch(now)), sorted(claimed, key=lambda r: r["_id"])
        )
    derived: list[dict[str, Any]] = []
    for (hid, props, email, _), snap, old_props in zip(valid, snapshots, olds):
        for m in snap["merged_ids"]:
            _absorb_merged(ctx, conn, m, email)
        derived += _conversion_events(ctx, hid, email, old_props, props, now)
    for source in sorted({e["source"] for e in derived}):  # one statement a page, not one a contact
        store_events(
            ctx, conn, source, [{k: v for k, v in e.items() if k != "source"} for e in derived if e["source"] == source]
        )
    ctx.store.add_identities(conn, new_identities)


def _touch(conn: sa.Connection, ids: list[int], now: int) -> None:
    """updated_ms = now on identities `ids` (their inputs changed: they are scored again), in id order."""
    ident = t.identities
    ids = sorted(set(ids))
    for i in range(0, len(ids), 500):
        conn.execute(sa.update(ident).where(ident.c.id.in_(ids[i : i + 500])).values(**t.touch(now)))


def _field_times(names: list[str], prior: Any, props: dict, modified: int, history: dict) -> dict[str, int]:
    """When HubSpot's value of each two-way property changed: the property history's time when it was
    read, else (a value first seen, or changed since the last snapshot) the contact's lastmodifieddate, an
    upper bound; an unchanged value keeps its time."""
    before = dict(prior.field_ms or {}) if prior is not None else {}
    old_props = dict(prior.properties or {}) if prior is not None else None
    out: dict[str, int] = {}
    for name in names:
        if name in history:
            out[name] = int(history[name])
        elif old_props is None or old_props.get(name) != props.get(name) or name not in before:
            out[name] = modified
        else:
            out[name] = int(before[name])
    return out


def attach_history(ctx: Context, records: list[dict]) -> None:
    """For the contacts of a page whose two-way properties changed since their last snapshot (and not to
    what syncd itself wrote), read when they changed from HubSpot's property history (100 a call) and keep
    it on the record as `history_ms` {property: epoch ms}. First sightings are not read: their
    lastmodifieddate bounds the change."""
    names = sorted({f.hubspot for f in ctx.mappings.two_way}) if ctx.mappings is not None else []
    if not names or not records:
        return
    ids = [str(r["id"]) for r in records]
    hc, ps = t.hubspot_contacts, t.pushed_state
    with ctx.store.begin() as conn:
        old = {
            r.hubspot_id: dict(r.properties or {})
            for r in ctx.store.rows_in(conn, hc, "hubspot_id", ids, [hc.c.hubspot_id, hc.c.properties])
        }
        sent = {
            r.target: dict(r._mapping["values"] or {})
            for r in ctx.store.rows_in(conn, ps, "target", [f"hubspot:contact:{i}" for i in ids])
        }
    wanted = []
    for r in records:
        rid, props = str(r["id"]), r.get("properties") or {}
        if rid not in old:
            continue
        ours = sent.get(f"hubspot:contact:{rid}", {})
        if any(props.get(n) != old[rid].get(n) and props.get(n) != ours.get(n) for n in names if n in props):
            wanted.append(rid)
    if not wanted:
        return
    times = ctx.hubspot.property_history(wanted, names)
    for r in records:
        if str(r["id"]) in times:
            r["history_ms"] = times[str(r["id"])]


def _rekey_events(conn: sa.Connection, old_email: str, new_email: str) -> None:
    if old_email != new_email:
        moved = conn.execute(sa.update(t.events).where(t.events.c.email == old_email).values(email=new_email)).rowcount
        if moved:  # the survivor's inputs changed: scored again
            _count_changes(conn, [new_email])


def _count_changes(conn: sa.Connection, emails: list[str]) -> None:
    """One more change on the identities of `emails` (their events changed: they are scored again)."""
    ident = t.identities
    emails = sorted(set(emails))
    for i in range(0, len(emails), 500):
        conn.execute(sa.update(ident).where(ident.c.email.in_(emails[i : i + 500])).values(changes=ident.c.changes + 1))


def _link_contact(
    ctx: Context, conn: sa.Connection, hid: str, email: str, now: int, changed: bool, by_id: Any, by_email: Any
) -> str | None:
    """Link contact `hid` to its identity (given the identity rows found by id and by email). Returns None
    when the contact needs a new identity, "claim" when the identity found by email takes the contact's id,
    "touch" when its identity's inputs changed, "" otherwise: the caller writes those for the whole page."""
    ident = t.identities
    if by_id is not None and by_id.email != email:
        # the contact's email changed: carry its identity (and its events) to the new address
        member = by_id.subscriber_hash
        if by_email is not None:
            member = by_email.subscriber_hash or member
            conn.execute(sa.delete(ident).where(ident.c.id == by_email.id))
        conn.execute(
            sa.update(ident).where(ident.c.id == by_id.id).values(email=email, subscriber_hash=member, **t.touch(now))
        )
        _rekey_events(conn, by_id.email, email)
        conn.execute(sa.delete(t.scores).where(t.scores.c.email == by_id.email))
        ctx.count("merged.email_changes")
    elif by_id is None and by_email is not None:
        return "claim"
    elif by_id is None:
        return None
    elif changed:
        return "touch"
    return ""


def _absorb_merged(ctx: Context, conn: sa.Connection, merged_id: str, email: str) -> None:
    """HubSpot merged `merged_id` into another contact: its events follow the survivor, its rows go."""
    ident = t.identities
    row = conn.execute(sa.select(ident).where(ident.c.hubspot_id == merged_id)).first()
    if row is None:
        return
    if row.email != email:
        _rekey_events(conn, row.email, email)
        conn.execute(sa.delete(t.scores).where(t.scores.c.email == row.email))
        conn.execute(sa.delete(ident).where(ident.c.id == row.id))
    conn.execute(sa.delete(t.hubspot_contacts).where(t.hubspot_contacts.c.hubspot_id == merged_id))
    ctx.count("merged.hubspot_merges")


def _conversion_events(ctx: Context, hid: str, email: str, old: dict, new: dict, now: int) -> list[dict[str, Any]]:
    """Form submissions, demo requests and webinars are HubSpot property changes (rules decide which): the
    events they make, as `store_events` takes them, each with its source."""
    from syncd.domain.scoring import events_from_property_change

    when = parse_ms(new.get("recent_conversion_date")) or parse_ms(new.get("lastmodifieddate")) or now
    events = events_from_property_change(ctx.rules, email, hid, old, new, datetime.fromtimestamp(when / 1000, tz=UTC))
    return [
        {
            "source": e.source,
            "event_id": e.event_id,
            "email": email,
            "kind": e.kind,
            "occurred": int(e.occurred_at.timestamp() * 1000),
            "url": e.url,
            "detail": e.detail,
        }
        for e in events
    ]


def ingest_members(ctx: Context, conn: sa.Connection, records: Iterable[dict]) -> None:
    """Snapshot each member and link it to its lead (by hash first, then by email); one query per table."""
    now = ctx.clock()
    ident = t.identities
    rows: list[dict[str, Any]] = []
    for m in records:
        email = normalize_email(m.get("email_address"))
        h = m.get("id") or (subscriber_hash(email) if email else None)
        if email is None or not h:
            ctx.store.quarantine(
                conn,
                "mailchimp",
                str(h or m.get("email_address")),
                f"invalid email {m.get('email_address')!r}",
                m,
                ctx.run_id,
            )
            ctx.count("quarantined")
            continue
        rows.append(
            {
                "subscriber_hash": h,
                "email": email,
                "status": m.get("status"),
                "merge_fields": m.get("merge_fields") or {},
                "tags": sorted(tg["name"] for tg in (m.get("tags") or []) if tg.get("name")),
                "last_changed_ms": parse_ms(m.get("last_changed")) or now,
                "fetched_ms": now,
            }
        )
    if not rows:
        return
    rows.sort(key=lambda r: (r["email"], r["subscriber_hash"]))  # email order, as the contact pull
    hashes = [r["subscriber_hash"] for r in rows]
    old = {r.subscriber_hash: r for r in ctx.store.rows_in(conn, t.mailchimp_members, "subscriber_hash", hashes)}
    linked = {r.subscriber_hash: r for r in ctx.store.rows_in(conn, ident, "subscriber_hash", hashes)}
    by_email = {r.email: r for r in ctx.store.rows_in(conn, ident, "email", [r["email"] for r in rows])}
    ctx.store.upsert(conn, t.mailchimp_members, rows, ["subscriber_hash"])
    fresh = []
    touched: list[int] = []
    claimed: dict[int, str] = {}  # identity id -> the member's hash it takes
    for row in rows:
        h, email, prior = row["subscriber_hash"], row["email"], old.get(row["subscriber_hash"])
        changed = prior is None or (prior.status, prior.merge_fields, prior.tags) != (
            row["status"],
            row["merge_fields"],
            row["tags"],
        )
        # the member may belong to a lead whose CRM email changed since: its hash is the link then
        if h in linked:
            if changed:
                touched.append(linked[h].id)
        elif email in by_email:
            claimed[by_email[email].id] = h  # the last member of the page with this address wins, as before
        else:
            fresh.append(
                {"email": email, "hubspot_id": None, "subscriber_hash": h, "created_ms": now, "updated_ms": now}
            )
    _touch(conn, touched, now)
    if claimed:  # one statement for the page, in id order
        stmt = sa.update(ident).where(ident.c.id == sa.bindparam("_id"))
        conn.execute(
            stmt.values(subscriber_hash=sa.bindparam("_h"), **t.touch(now)),
            [{"_id": i, "_h": h} for i, h in sorted(claimed.items())],
        )
    ctx.store.add_identities(conn, fresh)


def _canonical_emails(conn: sa.Connection, emails: set[str]) -> dict[str, str]:
    """Member address -> the lead's CRM address, for members linked by hash to a lead whose email changed."""
    by_hash = {subscriber_hash(e): e for e in emails}
    rows = (
        conn.execute(
            sa.select(t.identities.c.subscriber_hash, t.identities.c.email).where(
                t.identities.c.subscriber_hash.in_(list(by_hash))
            )
        ).all()
        if by_hash
        else []
    )
    return {by_hash[h]: email for h, email in rows if by_hash[h] != email}


def _future_limit(ctx: Context, now: int) -> int:
    """Events later than this are refused: clocks drift a little, but not into next year."""
    return now + int(ctx.settings.config.future_skew_s * 1000)


def _quarantine_future(
    ctx: Context, conn: sa.Connection, source: str, key: str, occurred_ms: int, now: int, payload: Any
) -> None:
    reason = f"event time {iso(occurred_ms)} is in the future (now {iso(now)})"
    ctx.store.quarantine(conn, source, key, reason, payload, ctx.run_id)
    ctx.count("quarantined")
    ctx.log.warning("event.quarantined", source=source, key=key, reason=reason)


def store_events(ctx: Context, conn: sa.Connection, source: str, events: list[dict[str, Any]]) -> int:
    """Store engagement events of `source`, each once by (source, event_id); returns how many were new.

    An event is {event_id, email, kind, occurred (ISO 8601 or epoch ms), campaign_id?, url?, bounce_type?,
    detail?}. Its email is normalized and, when the address belongs to a member linked by hash to a lead
    whose CRM email changed, moved to that lead's address; an event without a usable address is skipped;
    one dated later than now plus the allowed skew is quarantined with the reason.
    """
    now = ctx.clock()
    normalized = [normalize_email(ev.get("email")) for ev in events]
    canonical = _canonical_emails(conn, {e for e in normalized if e})
    limit = _future_limit(ctx, now)
    times = [parse_ms(ev.get("occurred")) for ev in events]
    if any((ms or now) > limit for ms in times):
        # before calling an event future, read the clock again: a sandbox clock may have jumped since the
        # job's tick (without SYNCD_CLOCK_URL this changes nothing)
        try:
            ctx.tick()
        except ClockError as exc:  # the clock URL is unreachable: judge by the time known
            ctx.log.warning("clock.unreadable", error=str(exc))
        now = max(now, ctx.clock())
        limit = _future_limit(ctx, now)
    rows = []
    for ev, email, ms in zip(events, normalized, times):
        if email is None:
            continue
        occurred = ms or now
        if occurred > limit:
            _quarantine_future(ctx, conn, source, str(ev["event_id"]), occurred, now, ev)
            continue
        rows.append(
            {
                "source": source,
                "event_id": str(ev["event_id"]),
                "email": canonical.get(email, email),
                "kind": ev["kind"],
                "occurred_ms": occurred,
                "campaign_id": ev.get("campaign_id"),
                "url": ev.get("url"),
                "bounce_type": ev.get("bounce_type"),
                "detail": (str(ev["detail"])[:500] if ev.get("detail") else None),
                "created_ms": now,
            }
        )
    inserted = {(r.source, r.event_id) for r in ctx.store.insert_new(conn, t.events, rows, ["source", "event_id"])}
    ctx.count("merged.events", len(inserted))
    # the leads with a new event are scored again (in this transaction: a score that read before it commits
    # sees the count move); an event already stored changes nothing
    _count_changes(conn, [r["email"] for r in rows if (r["source"], r["event_id"]) in inserted])
    return len(inserted)
