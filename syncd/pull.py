"""pull + merge: fetch pages after each stream's cursor and commit records, events and cursor together.

Invariant 5: a cursor only moves with the data it covers, never past the signpost (tick start minus a
lag window, so late-indexed records are not skipped).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import sqlalchemy as sa

from syncd.context import Context
from contracts.identity import normalize_email, subscriber_hash
from contracts.timeparse import epoch_ms as parse_ms, iso
from syncd.store import schema as t

HUBSPOT_MAX_VALUE = 65_536      # HubSpot: string property values up to 65,536 characters
BASE_PROPERTIES = ["email", "firstname", "lastname", "lifecyclestage", "hubspot_owner_id", "lastmodifieddate",
                   "createdate", "hs_merged_object_ids", "num_conversion_events", "recent_conversion_event_name",
                   "recent_conversion_date", "jobtitle", "company", "numemployees", "industry", "country"]


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


# -- owners ---------------------------------------------------------------------------------------

def pull_owners(ctx: Context) -> int:
    owners = ctx.hubspot.list_owners()
    now = ctx.clock()
    rows = [{"id": str(o["id"]), "email": o.get("email"), "first_name": o.get("firstName"),
             "last_name": o.get("lastName"), "archived": bool(o.get("archived")), "fetched_ms": now} for o in owners]
    with ctx.store.begin() as conn:
        if rows:
            ctx.store.upsert(conn, t.owners, rows, ["id"])
    ctx.count("pulled.hubspot_owners", len(rows))
    return len(rows)


# -- HubSpot contacts -------------------------------------------------------------------------------

def pull_hubspot_contacts(ctx: Context) -> int:
    """Backfill by list paging (100 a page), then incremental by `lastmodifieddate` search.

    Incremental passes keep the query's lower bound fixed while paging (so `after` stays meaningful) and
    move it to the highest committed `lastmodifieddate` when the pass ends. Ties: ids already read at
    the bound are remembered and dropped when the next pass re-reads them (the search uses GTE). When
    more than 10,000 contacts share one `lastmodifieddate` (search pages at most 10,000 results per
    query, and moving the bound cannot pass them), that millisecond is read by id in "tie" passes, and
    the next pass starts strictly after it.
    """
    lag_ms = int(ctx.settings.config.lag_window_s * 1000)
    signpost = ctx.clock() - lag_ms
    props = contact_properties(ctx)
    with ctx.store.begin() as conn:
        cur = ctx.store.get_cursor(conn, "hubspot_contacts") or {"mode": "backfill", "after": None,
                                                                 "started_ms": ctx.clock()}
    pulled = 0
    while True:
        if cur["mode"] == "backfill":
            records, new, more = _backfill_page(ctx, cur, props, lag_ms)
        elif cur["mode"] == "tie":
            records, new, more = _tie_page(ctx, cur, props)
        else:
            records, new, more = _incremental_page(ctx, cur, props, signpost)
        with ctx.store.begin() as conn:
            ingest_contacts(ctx, conn, records)
            ctx.store.set_cursor(conn, "hubspot_contacts", new)
        pulled += len(records)
        ctx.log.info("hubspot.contacts_page", records=len(records), mode=cur["mode"])
        cur = new
        if not more or ctx.should_stop():
            break                         # caught up (or SIGTERM / a lost lease: the committed cursor resumes)
    ctx.count("pulled.hubspot_contacts", pulled)
    return pulled


def _backfill_page(ctx: Context, cur: dict, props: list[str], lag_ms: int) -> tuple[list[dict], dict, bool]:
    page = ctx.hubspot.list_contacts(cur.get("after"), props)
    if page.next:
        return page.records, {**cur, "after": page.next}, True
    # backfill done: catch up on what changed meanwhile
    since = cur["started_ms"] - lag_ms
    return page.records, {"mode": "incremental", "since_ms": since, "after": None, "ids_at_since": [],
                          "max_ms": since, "ids_at_max": []}, True


def _incremental_page(ctx: Context, cur: dict, props: list[str], signpost: int) -> tuple[list[dict], dict, bool]:
    since, seen = cur["since_ms"], set(cur.get("ids_at_since", []))
    page = ctx.hubspot.search_contacts_modified(since, props, after=cur.get("after"),
                                                exclusive=bool(cur.get("exclusive")))
    records, beyond = [], False
    for r in page.records:
        lm = parse_ms(r["properties"].get("lastmodifieddate")) or 0
        if lm > signpost:
            beyond = True
            break
        if lm == since and str(r["id"]) in seen:
            continue
        records.append(r)
    max_ms, ids_at_max = cur.get("max_ms", since), list(cur.get("ids_at_max", []))
    for r in records:
        lm = parse_ms(r["properties"].get("lastmodifieddate")) or 0
        if lm > max_ms:
            max_ms, ids_at_max = lm, [str(r["id"])]
        elif lm == max_ms:
            ids_at_max.append(str(r["id"]))
    capped = isinstance(page.next, tuple)
    if capped and page.next[0] == "tie" and not beyond:
        # 10,000 contacts at `since`: read that millisecond by id from the start (what was read already
        # is upserted again, harmlessly), then go on strictly after it
        return records, {"mode": "tie", "at_ms": since, "after_id": "0", "after": None}, True
    if page.next and not beyond and not capped:
        return records, {**cur, "after": page.next, "max_ms": max_ms, "ids_at_max": ids_at_max}, True
    ids = sorted(set(ids_at_max) | (seen if max_ms == since else set()))
    new = {"mode": "incremental", "since_ms": max_ms, "after": None, "ids_at_since": ids, "max_ms": max_ms,
           "ids_at_max": ids}
    if cur.get("exclusive") and max_ms == since:
        new["exclusive"] = True           # nothing after the tied millisecond yet: stay strictly after it
    # the 10,000-result cap: a new pass from the highest committed value
    return records, new, capped and not beyond


def _tie_page(ctx: Context, cur: dict, props: list[str]) -> tuple[list[dict], dict, bool]:
    page = ctx.hubspot.search_contacts_at(cur["at_ms"], cur["after_id"], props, after=cur.get("after"))
    if isinstance(page.next, tuple):      # the cap again: a new query from the last id read
        return page.records, {**cur, "after_id": page.next[2], "after": None}, True
    if page.next:
        return page.records, {**cur, "after": page.next}, True
    at = cur["at_ms"]
    return page.records, {"mode": "incremental", "since_ms": at, "exclusive": True, "after": None,
                          "ids_at_since": [], "max_ms": at, "ids_at_max": []}, True


def _problem(props: dict) -> str | None:
    """Why a contact cannot be synced, or None. An owner HubSpot no longer knows is not a problem of the
    record: it is a routing fact, settled when a task is assigned (see decide._pick_owner)."""
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
    snapshots, new_identities = [], []
    for hid, props, email, rec in valid:
        merged = [m for m in str(props.get("hs_merged_object_ids") or "").split(";") if m and m != hid]
        snapshots.append({"hubspot_id": hid, "email": email, "properties": props,
                          "lastmodified_ms": parse_ms(props.get("lastmodifieddate")) or now, "merged_ids": merged,
                          "archived": bool(rec.get("archived")), "fetched_ms": now})
    ctx.store.upsert(conn, t.hubspot_contacts, snapshots, ["hubspot_id"])
    for (hid, props, email, _), snap in zip(valid, snapshots):
        prior = old.get(hid)
        old_props = dict(prior.properties) if prior else {}
        changed = prior is None or old_props != props
        if not _link_contact(ctx, conn, hid, email, now, changed, by_id.get(hid), by_email.get(email)):
            new_identities.append({"email": email, "hubspot_id": hid, "subscriber_hash": None,
                                   "created_ms": now, "updated_ms": now})
        for m in snap["merged_ids"]:
            _absorb_merged(ctx, conn, m, email)
        _conversion_events(ctx, conn, hid, email, old_props, props, now)
    ctx.store.add_identities(conn, new_identities)


def _rekey_events(conn: sa.Connection, old_email: str, new_email: str) -> None:
    if old_email != new_email:
        conn.execute(sa.update(t.events).where(t.events.c.email == old_email).values(email=new_email))


def _link_contact(ctx: Context, conn: sa.Connection, hid: str, email: str, now: int, changed: bool,
                  by_id: Any, by_email: Any) -> bool:
    """Link contact `hid` to its identity (given the identity rows found by id and by email). Returns False
    when the contact needs a new identity, which the caller inserts with the rest of the page."""
    ident = t.identities
    if by_id is not None and by_id.email != email:
        # the contact's email changed: carry its identity (and its events) to the new address
        member = by_id.subscriber_hash
        if by_email is not None:
            member = by_email.subscriber_hash or member
            conn.execute(sa.delete(ident).where(ident.c.id == by_email.id))
        conn.execute(sa.update(ident).where(ident.c.id == by_id.id)
                     .values(email=email, subscriber_hash=member, updated_ms=now))
        _rekey_events(conn, by_id.email, email)
        conn.execute(sa.delete(t.scores).where(t.scores.c.email == by_id.email))
        ctx.count("merged.email_changes")
    elif by_id is None and by_email is not None:
        conn.execute(sa.update(ident).where(ident.c.id == by_email.id).values(hubspot_id=hid, updated_ms=now))
    elif by_id is None:
        return False
    elif changed:
        conn.execute(sa.update(ident).where(ident.c.id == by_id.id).values(updated_ms=now))
    return True


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


def _conversion_events(ctx: Context, conn: sa.Connection, hid: str, email: str, old: dict, new: dict,
                       now: int) -> None:
    """Form submissions, demo requests and webinars are HubSpot property changes (rules decide which)."""
    from syncd.domain.scoring import events_from_property_change

    when = parse_ms(new.get("recent_conversion_date")) or parse_ms(new.get("lastmodifieddate")) or now
    events = events_from_property_change(ctx.rules, email, hid, old, new,
                                         datetime.fromtimestamp(when / 1000, tz=timezone.utc))
    limit = _future_limit(ctx, now)
    rows = []
    for e in events:
        occurred = int(e.occurred_at.timestamp() * 1000)
        if occurred > limit:
            _quarantine_future(ctx, conn, "hubspot", f"{hid}:{e.event_id}", occurred, now,
                               {"contact_id": hid, "kind": e.kind, "detail": e.detail})
            continue
        rows.append({"source": e.source, "event_id": e.event_id, "email": email, "kind": e.kind,
                     "occurred_ms": occurred, "campaign_id": None, "url": e.url,
                     "bounce_type": None, "detail": (e.detail or "")[:500] or None, "created_ms": now})
    if rows:
        ctx.count("merged.events", ctx.store.insert_ignore(conn, t.events, rows, ["source", "event_id"]))


# -- Mailchimp members ------------------------------------------------------------------------------

MEMBER_OVERLAP = 20  # re-read this many records at each page edge: offsets shift when members change


def pull_mailchimp_members(ctx: Context) -> int:
    """Members changed since the cursor, oldest first, 1,000 a page (the API's maximum).

    A pass keeps `since_last_changed` fixed and walks offsets; at its end the bound moves to the pass's
    signpost. Upserts are idempotent, so the small overlap between pages costs reads, not correctness.
    """
    signpost = ctx.clock() - int(ctx.settings.config.lag_window_s * 1000)

    def advance(cur: dict, page: Any) -> dict:
        if page.next is not None:
            return {**cur, "offset": max(cur["offset"] + 1, page.next - MEMBER_OVERLAP)}
        return {"since": iso(cur["signpost"]), "offset": 0}

    pulled = _paged(ctx, "mailchimp_members", lambda cur: {"since": None, "offset": 0, **(cur or {}),
                                                            "signpost": (cur or {}).get("signpost", signpost)},
                    lambda cur: ctx.mailchimp.list_members(cur["since"], cur["offset"]),
                    lambda conn, records: ingest_members(ctx, conn, records), advance)
    ctx.count("pulled.mailchimp_members", pulled)
    return pulled


def _paged(ctx: Context, stream: str, begin: Callable[[dict | None], dict], fetch: Callable[[dict], Any],
           ingest: Callable[[sa.Connection, list[dict]], None], advance: Callable[[dict, Any], dict]) -> int:
    """Walk a stream's pages from its cursor (`begin` turns the stored cursor, or None, into the first
    one), committing each page's records together with the cursor `advance` derives, until a short page.
    Returns the number of records read."""
    with ctx.store.begin() as conn:
        cur = begin(ctx.store.get_cursor(conn, stream))
    pulled = 0
    while True:
        page = fetch(cur)
        with ctx.store.begin() as conn:
            ingest(conn, page.records)
            cur = advance(cur, page)
            ctx.store.set_cursor(conn, stream, cur)
        pulled += len(page.records)
        if page.next is None or ctx.should_stop():
            return pulled


def ingest_members(ctx: Context, conn: sa.Connection, records: Iterable[dict]) -> None:
    """Snapshot each member and link it to its lead (by hash first, then by email); one query per table."""
    now = ctx.clock()
    ident = t.identities
    rows = []
    for m in records:
        email = normalize_email(m.get("email_address"))
        h = m.get("id") or (subscriber_hash(email) if email else None)
        if email is None or not h:
            ctx.store.quarantine(conn, "mailchimp", str(h or m.get("email_address")),
                                 f"invalid email {m.get('email_address')!r}", m, ctx.run_id)
            ctx.count("quarantined")
            continue
        rows.append({"subscriber_hash": h, "email": email, "status": m.get("status"),
                     "merge_fields": m.get("merge_fields") or {},
                     "tags": sorted(tg["name"] for tg in (m.get("tags") or []) if tg.get("name")),
                     "last_changed_ms": parse_ms(m.get("last_changed")) or now, "fetched_ms": now})
    if not rows:
        return
    rows.sort(key=lambda r: (r["email"], r["subscriber_hash"]))  # email order, as the contact pull
    hashes = [r["subscriber_hash"] for r in rows]
    old = {r.subscriber_hash: r for r in ctx.store.rows_in(conn, t.mailchimp_members, "subscriber_hash", hashes)}
    linked = {r.subscriber_hash: r for r in ctx.store.rows_in(conn, ident, "subscriber_hash", hashes)}
    by_email = {r.email: r for r in ctx.store.rows_in(conn, ident, "email", [r["email"] for r in rows])}
    ctx.store.upsert(conn, t.mailchimp_members, rows, ["subscriber_hash"])
    fresh = []
    for row in rows:
        h, email, prior = row["subscriber_hash"], row["email"], old.get(row["subscriber_hash"])
        changed = prior is None or (prior.status, prior.merge_fields, prior.tags) != (
            row["status"], row["merge_fields"], row["tags"])
        # the member may belong to a lead whose CRM email changed since: its hash is the link then
        if h in linked:
            if changed:
                conn.execute(sa.update(ident).where(ident.c.id == linked[h].id).values(updated_ms=now))
        elif email in by_email:
            conn.execute(sa.update(ident).where(ident.c.id == by_email[email].id)
                         .values(subscriber_hash=h, updated_ms=now))
        else:
            fresh.append({"email": email, "hubspot_id": None, "subscriber_hash": h, "created_ms": now,
                          "updated_ms": now})
    ctx.store.add_identities(conn, fresh)


# -- Mailchimp campaigns, activity, unsubscribes ------------------------------------------------------

def pull_mailchimp_activity(ctx: Context) -> int:
    """Campaigns sent since the cursor, then each recent campaign's activity and unsubscribes."""
    lag_ms = int(ctx.settings.config.lag_window_s * 1000)
    now = ctx.clock()
    signpost = now - lag_ms
    with ctx.store.begin() as conn:
        cur = ctx.store.get_cursor(conn, "mailchimp_campaigns") or {"since_ms": None}
    since_ms = cur["since_ms"]
    campaigns = ctx.mailchimp.list_campaigns(iso(since_ms) if since_ms else None)
    rows = []
    for c in campaigns:
        sent = parse_ms(c.get("send_time"))
        if sent is None:
            continue
        rows.append({"id": c["id"], "send_time_ms": sent, "subject": (c.get("settings") or {}).get("subject_line"),
                     "emails_sent": c.get("emails_sent") or 0, "fetched_ms": now})
    with ctx.store.begin() as conn:
        if rows:
            ctx.store.upsert(conn, t.campaigns, rows, ["id"])
        kept = [r["send_time_ms"] for r in rows if r["send_time_ms"] <= signpost]
        new_since = max(kept + ([since_ms] if since_ms else [])) if kept or since_ms else None
        ctx.store.set_cursor(conn, "mailchimp_campaigns", {"since_ms": new_since})
        window = now - int(ctx.settings.config.activity_days * 86_400_000)
        recent = conn.execute(sa.select(t.campaigns.c.id, t.campaigns.c.send_time_ms)
                              .where(t.campaigns.c.send_time_ms >= window).order_by(t.campaigns.c.send_time_ms)).all()
    ctx.count("pulled.mailchimp_campaigns", len(rows))
    total = 0
    for cid, sent_ms in recent:
        if ctx.should_stop():
            break
        total += _pull_campaign_activity(ctx, cid, sent_ms, signpost)
        total += _pull_campaign_unsubscribes(ctx, cid)
    return total


def _canonical_emails(conn: sa.Connection, emails: set[str]) -> dict[str, str]:
    """Member address -> the lead's CRM address, for members linked by hash to a lead whose email changed."""
    by_hash = {subscriber_hash(e): e for e in emails}
    rows = conn.execute(sa.select(t.identities.c.subscriber_hash, t.identities.c.email)
                        .where(t.identities.c.subscriber_hash.in_(list(by_hash)))).all() if by_hash else []
    return {by_hash[h]: email for h, email in rows if by_hash[h] != email}


def _future_limit(ctx: Context, now: int) -> int:
    """Events later than this are refused: clocks drift a little, but not into next year."""
    return now + int(ctx.settings.config.future_skew_s * 1000)


def _quarantine_future(ctx: Context, conn: sa.Connection, source: str, key: str, occurred_ms: int, now: int,
                       payload: Any) -> None:
    reason = f"event time {iso(occurred_ms)} is in the future (now {iso(now)})"
    ctx.store.quarantine(conn, source, key, reason, payload, ctx.run_id)
    ctx.count("quarantined")
    ctx.log.warning("event.quarantined", source=source, key=key, reason=reason)


def _event_rows(ctx: Context, conn: sa.Connection, records: list[dict], now: int) -> list[dict]:
    records = list(records)
    emails = {e for e in (normalize_email(r.get("email_address")) for r in records) if e}
    canonical = _canonical_emails(conn, emails)
    limit = _future_limit(ctx, now)
    rows = []
    for r in records:
        email = normalize_email(r.get("email_address"))
        if email is None:
            continue
        email = canonical.get(email, email)
        action = r.get("action") or "unsubscribe"
        occurred = parse_ms(r.get("timestamp")) or now
        if occurred > limit:
            _quarantine_future(ctx, conn, "mailchimp", str(r["event_id"]), occurred, now, r)
            continue
        rows.append({"source": "mailchimp", "event_id": r["event_id"], "email": email, "kind": action,
                     "occurred_ms": occurred, "campaign_id": r.get("campaign_id"),
                     "url": r.get("url"), "bounce_type": r.get("type") if action == "bounce" else None,
                     "detail": (r.get("reason") or None), "created_ms": now})
    return rows


ACTIVITY_OVERLAP_MS = 3_600_000  # re-read the last hour: Mailchimp may report an event a little late


def _pull_campaign_activity(ctx: Context, cid: str, sent_ms: int, signpost: int) -> int:
    """One campaign's opens, clicks and bounces after the cursor. The first read starts just before the send
    (without `since` the report lists every recipient, engaged or not); later passes start an hour before
    the previous signpost, and events already stored are ignored by their id."""
    def begin(cur: dict | None) -> dict:
        cur = cur or {"since": iso(sent_ms - 1000), "offset": 0}
        return cur if "signpost" in cur else {**cur, "signpost": signpost}

    def advance(cur: dict, page: Any) -> dict:
        if page.next is not None:
            return {**cur, "offset": page.next}
        return {"since": iso(max(sent_ms - 1000, cur["signpost"] - ACTIVITY_OVERLAP_MS)), "offset": 0}

    pulled = _paged(ctx, f"mailchimp_activity:{cid}", begin,
                    lambda cur: ctx.mailchimp.email_activity(cid, cur["since"], cur["offset"]),
                    lambda conn, records: _store_events(ctx, conn, records), advance)
    ctx.count("pulled.mailchimp_activity", pulled)
    return pulled


def _store_events(ctx: Context, conn: sa.Connection, records: list[dict]) -> None:
    rows = _event_rows(ctx, conn, records, ctx.clock())
    ctx.count("merged.events", ctx.store.insert_ignore(conn, t.events, rows, ["source", "event_id"]))


def _pull_campaign_unsubscribes(ctx: Context, cid: str) -> int:
    """A campaign's unsubscribes from the cursor's offset on (the report only grows)."""
    pulled = _paged(ctx, f"mailchimp_unsubscribes:{cid}", lambda cur: cur or {"offset": 0},
                    lambda cur: ctx.mailchimp.unsubscribes(cid, cur["offset"]),
                    lambda conn, records: _store_events(
                        ctx, conn, [{**r, "action": "unsubscribe", "campaign_id": cid} for r in records]),
                    lambda cur, page: {"offset": cur["offset"] + len(page.records)})
    ctx.count("pulled.mailchimp_unsubscribes", pulled)
    return pulled
