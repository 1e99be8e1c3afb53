"""push: drain the outbox in batches, in a fixed order of kinds, marking each command done or failed.

Property and member writes are idempotent. Tasks and notes are not, so they are marked `attempted`
(committed) before the call, then created 100 a batch call; a command found `attempted` after a crash is
first looked up in HubSpot by its idempotency key (kept in the body) and only created if absent
(invariant 4).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from connectors.mailchimp.translate import MemberWrite
from contracts.errors import ConnectorError, SkippableError
from contracts.records import Outcome
from contracts.threads import ContextPool
from syncd.context import Context

ORDER = (
    "hubspot.create_contact",  # first: the leads it creates are decided again and drain with the rest
    "mailchimp.unsubscribe",
    "mailchimp.subscribe",
    "mailchimp.update_member",
    "mailchimp.tags",
    "hubspot.update_contact",
    "hubspot.lifecycle_demote",
    "hubspot.task",
    "hubspot.note",
)
# Commands claimed at once per kind: batch_sizes.outbox_claim (member writes go 500 to a Mailchimp batch, so
# 2,500 keep five batches at work; tags are grouped per tag, 500 members a call; contact updates 100 a call),
# except these: tasks and notes (their claim is marked `attempted` before any call; a crash then costs a
# lookup of the claim, a few batch reads), demotions (one call each) and contact creates.
CLAIM = {
    "hubspot.task": 400,  # tasks and notes: 100 a batch call, four batches side by side
    "hubspot.note": 400,
    "hubspot.lifecycle_demote": 50,
    "hubspot.create_contact": 100,
}
# Calls that exist only one record at a time run side by side: Mailchimp serves 10 connections at once
# (the connector's InFlight keeps us under it); HubSpot's budget is shared by the connector's limiter.
PARALLEL = {"mailchimp": 8, "hubspot": 4}


def _parallel(kind: str, call: Callable[[Any], Any], rows: list) -> list[Any]:
    """`call(row)` for every row, concurrently; a SkippableError becomes that row's failed Outcome,
    anything else is re-raised (after the others finished)."""

    def guarded(row: Any) -> Any:
        try:
            return call(row)
        except SkippableError as exc:
            return Outcome(key=row.key, ok=False, error=str(exc))

    workers = PARALLEL[kind.split(".")[0]]
    if len(rows) <= 1:
        return [guarded(r) for r in rows]
    with ContextPool(max_workers=min(workers, len(rows)), thread_name_prefix="push") as pool:
        return list(pool.map(guarded, rows))


def push(
    ctx: Context,
    should_stop: Callable[[], bool] = lambda: False,
    errors: dict[str, str] | None = None,
    fence: tuple[str, str, str] | None = None,
    kinds: tuple[str, ...] = ORDER,
    upto: int | None = None,
) -> int:
    """Drain every pending command (of `kinds`, in ORDER). Returns how many were completed (done or failed
    for good).

    With `fence` (lease job, holder, token) commands are claimed only while that lease is held (the daemon's
    pushers); `should_stop` is asked before each claim, so a pusher that lost its lease stops there.

    A kind whose service fails as a whole (unreachable, credentials refused) stops there; its commands
    stay pending and the other kinds still go. With `errors`, such failures are recorded in it (by
    "push:<kind>") instead of raised; without it, the first one is raised after the other kinds ran.

    With `upto`, only commands whose outbox id is at most that are claimed (see `push_side_by_side`)."""
    from syncd.failures import explain

    handled = 0
    failed: dict[str, ConnectorError] = {}
    for kind in [k for k in ORDER if k in kinds]:
        if kind.split(".")[0] in failed:
            continue  # this service already failed as a whole in this drain
        try:
            while not should_stop():
                with ctx.store.begin() as conn:
                    size = CLAIM.get(kind, ctx.settings.config.batch_sizes.outbox_claim)
                    rows = [
                        SimpleNamespace(**r) for r in ctx.store.claim(conn, size, kinds=[kind], fence=fence, upto=upto)
                    ]
                if not rows:
                    break
                handled += HANDLERS[kind](ctx, rows)
        except ConnectorError as exc:
            failed[kind.split(".")[0]] = exc
            ctx.log.error("push.kind_failed", kind=kind, error=explain(exc, ctx.settings))
            if errors is not None:
                errors[f"push:{kind}"] = explain(exc, ctx.settings)
    if failed and errors is None:
        raise next(iter(failed.values()))
    return handled


def _finish(ctx: Context, row: Any, outcome: Outcome) -> None:
    _finish_all(ctx, [(row, outcome)])


def _finish_all(ctx: Context, results: list[tuple[Any, Outcome]], also: Callable[[Any], None] | None = None) -> None:
    """Record a batch's outcomes in one transaction: done, or failed and quarantined with the reason;
    `also(conn)` records, in the same transaction, what the outcomes taught about the services."""
    with ctx.store.begin() as conn:
        if also is not None:
            also(conn)
        plain = [row.id for row, outcome in results if outcome.ok and not outcome.detail]
        ctx.store.mark_done(conn, plain)
        ctx.store.mark_done_with_results(conn, [(row.id, o.detail) for row, o in results if o.ok and o.detail])
        for row, outcome in results:
            if outcome.ok:
                ctx.count(f"pushed.{row.kind}")
            else:
                ctx.store.mark(conn, row.id, "failed", error=outcome.error)
                ctx.store.quarantine(conn, row.kind.split(".")[0], row.target, outcome.error, row.payload, ctx.run_id)
                ctx.count(f"failed.{row.kind}")
                ctx.count("quarantined")
                ctx.log.warning("push.failed", kind=row.kind, target=row.target, reason=outcome.error)


def _one_by_one(ctx: Context, rows: list, call: Callable[[Any], Outcome]) -> int:
    _finish_all(ctx, list(zip(rows, _parallel(rows[0].kind, call, rows))))
    return len(rows)


def _subscribe(ctx: Context, rows: list) -> int:
    """New members for contacts with marketing consent, created with `status_if_new` only: a member that
    exists after all (one syncd has not read yet) keeps its status, whatever it is. Consent is read again
    from HubSpot just before (100 contacts a call), so a contact who withdrew it after the pull is not
    subscribed. What Mailchimp reports (the member's status) is recorded and written to HubSpot."""
    still, withdrawn = _consent_still_given(ctx, rows)
    writes = [
        MemberWrite(
            key=r.key,
            email=r.payload["email_address"],
            merge_fields=r.payload.get("merge_fields") or {},
            create_as=r.payload.get("status_if_new", "subscribed"),
        )
        for r in still
    ]
    outcomes = ctx.mailchimp.write_members(writes) if writes else []
    results = [(r, Outcome(key=r.key, ok=True, detail={"skipped": reason})) for r, reason in withdrawn]
    results += list(zip(still, outcomes))
    ctx.count("skipped.subscribe_without_consent", len(withdrawn))
    _finish_all(
        ctx, results, also=lambda conn: _learn_members(ctx, conn, list(zip(still, outcomes)), report_status=True)
    )
    return len(rows)


def _consent_still_given(ctx: Context, rows: list) -> tuple[list, list[tuple[Any, str]]]:
    """(rows whose contact still shows consent and no email opt-out, [(row, why not)] for the others)."""
    from syncd.domain.mapping import consent_granted

    ids = [str(r.payload["contact_id"]) for r in rows if r.payload.get("contact_id")]
    prop = ctx.mappings.consent.hubspot_property
    found = ctx.hubspot.read_contacts(ids, [prop, "email", "hs_email_optout"]).records if ids else []
    now = {rec["id"]: rec["properties"] for rec in found}
    still, withdrawn = [], []
    for r in rows:
        props = now.get(str(r.payload.get("contact_id")))
        if props is None:
            withdrawn.append((r, "the contact no longer exists in HubSpot"))
        elif (props.get("email") or "").strip().lower() != r.payload["email_address"].strip().lower():
            withdrawn.append((r, "the contact's email changed since the decision"))
        elif str(props.get("hs_email_optout") or "").lower() == "true":
            withdrawn.append((r, "the contact opted out of email in HubSpot"))
        elif not consent_granted(ctx.mappings, props):
            withdrawn.append((r, "consent withdrawn before the subscribe was sent"))
        else:
            still.append(r)
    return still, withdrawn


def _update_members(ctx: Context, rows: list) -> int:
    """Merge fields of existing members, PATCHed alone (never a status). Several versions for one member in
    one claim: the latest values, sent once."""
    latest: dict[str, dict] = {}
    for r in rows:
        e = r.payload["email_address"].strip().lower()
        latest.setdefault(e, {"email": r.payload["email_address"], "merge_fields": {}})["merge_fields"].update(
            r.payload["merge_fields"]
        )
    writes = [MemberWrite(key=e, email=v["email"], merge_fields=v["merge_fields"]) for e, v in latest.items()]
    by_email = dict(zip(latest, ctx.mailchimp.write_members(writes)))
    results = [(r, by_email[r.payload["email_address"].strip().lower()]) for r in rows]
    _finish_all(
        ctx,
        [(r, Outcome(key=r.key, ok=o.ok, error=o.error, detail={} if o.ok else o.detail)) for r, o in results],
        also=lambda conn: _learn_members(ctx, conn, results, report_status=False),
    )
    return len(rows)


def _unsubscribe(ctx: Context, rows: list) -> int:
    """Members whose contact opted out of email in HubSpot, unsubscribed in Mailchimp: a PATCH of
    `status: unsubscribed` alone (the only status syncd sends to an existing member). What Mailchimp
    reports is recorded and its status written to HubSpot."""
    writes = [MemberWrite(key=r.key, email=r.payload["email_address"], unsubscribe=True) for r in rows]
    outcomes = ctx.mailchimp.write_members(writes)
    results = list(zip(rows, outcomes))
    _finish_all(
        ctx,
        [(r, Outcome(key=r.key, ok=o.ok, error=o.error, detail={} if o.ok else o.detail)) for r, o in results],
        also=lambda conn: _learn_members(ctx, conn, results, report_status=True),
    )
    return len(rows)


def _create_contacts(ctx: Context, rows: list) -> int:
    """Mailchimp subscribers who are not in HubSpot, created as contacts (100 a call), exactly once: the
    claim is marked `attempted` before the call, and a retry after a crash (or a contact that appeared
    meanwhile) gets HubSpot's 409 "Contact already exists", which links the existing one instead. The
    lead's identity learns its contact in the same transaction as the outcome, so its engagement counts
    for that contact from the next decision on."""
    with ctx.store.begin() as conn:
        ctx.store.mark_attempted(conn, [r.id for r in rows])
    outcomes = ctx.hubspot.create_contacts([{"key": r.key, "properties": r.payload["properties"]} for r in rows])
    results = list(zip(rows, outcomes))
    for o in outcomes:
        if o.ok:
            ctx.count("contacts.linked" if o.detail.get("existing") else "contacts.created")
    _finish_all(ctx, results, also=lambda conn: _link_created(ctx, conn, results))
    # the new contacts are leads now: decided at once, their writes drain in this same push (the kinds
    # after this one), so the next cycle finds nothing left to do for them
    from contracts.identity import normalize_email
    from syncd.decide import score_and_decide

    created = [normalize_email(r.payload["email"]) for r, o in results if o.ok and not o.detail.get("existing")]
    if created:
        score_and_decide(ctx, only=[e for e in created if e])
    return len(rows)


def _link_created(ctx: Context, conn: Any, results: list[tuple[Any, Outcome]]) -> None:
    import sqlalchemy as sa

    from syncd.store import schema as t

    now = ctx.clock()
    ident = t.identities
    for row, outcome in sorted(results, key=lambda ro: ro[0].payload["subscriber_hash"]):
        hid = outcome.detail.get("id") if outcome.ok else None
        if not hid:
            continue
        taken = conn.execute(sa.select(ident.c.id).where(ident.c.hubspot_id == str(hid))).first()
        if taken is not None:
            continue  # the contact pull linked it already
        linked = conn.execute(
            sa.update(ident)
            .where(ident.c.subscriber_hash == row.payload["subscriber_hash"], ident.c.hubspot_id.is_(None))
            .values(hubspot_id=str(hid), **t.touch(now))
            .returning(ident.c.email)
        ).first()
        if linked is None or outcome.detail.get("existing"):
            continue  # an existing contact's properties are unknown here: the contact pull brings them
        # the contact as syncd created it, until the contact pull reads it back
        props = {**row.payload["properties"], "hs_object_id": str(hid)}
        two_way = {f.hubspot: now for f in ctx.mappings.two_way}
        snapshot = {
            "hubspot_id": str(hid),
            "email": linked.email,
            "properties": props,
            "lastmodified_ms": now,
            "merged_ids": [],
            "archived": False,
            "fetched_ms": now,
            "field_ms": two_way,
        }
        ctx.store.insert_ignore(conn, t.hubspot_contacts, [snapshot], ["hubspot_id"])


def _learn_members(ctx: Context, conn: Any, results: list[tuple[Any, Outcome]], report_status: bool) -> None:
    """Record the members as Mailchimp reported them after the writes (the snapshot, linked to its lead);
    with `report_status`, also write the reported status to HubSpot (`syncd_email_status`), after
    Mailchimp reported it and never before."""
    import sqlalchemy as sa

    from contracts.identity import normalize_email
    from contracts.timeparse import epoch_ms as parse_ms
    from syncd.store import schema as t

    now = ctx.clock()
    members, commands, statuses = [], [], {}
    for row, outcome in results:
        member = outcome.detail.get("member") if outcome.ok else None
        email = normalize_email((member or {}).get("email_address"))
        if not member or email is None:
            continue
        members.append(
            {
                "subscriber_hash": member.get("id") or row.target.rsplit(":", 1)[1],
                "email": email,
                "status": member.get("status") or "subscribed",
                "merge_fields": member.get("merge_fields") or {},
                "tags": sorted(tg["name"] for tg in member.get("tags") or [] if tg.get("name")),
                "last_changed_ms": parse_ms(member.get("last_changed")) or now,
                "fetched_ms": now,
            }
        )
        hid = row.payload.get("contact_id")
        if report_status and row.payload.get("tags"):
            commands.append(
                {
                    "key": f"mc.tags:{members[-1]['subscriber_hash']}:new:{row.id}",
                    "kind": "mailchimp.tags",
                    "target": row.target,
                    "payload": {"email_address": email, "active": list(row.payload["tags"]), "inactive": []},
                }
            )
        if report_status and hid and "syncd_email_status" in ctx.mappings.owned_properties:
            statuses[str(hid)] = members[-1]["status"]
            commands.append(
                {
                    "key": f"hs.mcstatus:{hid}:{row.id}",
                    "kind": "hubspot.update_contact",
                    "target": f"hubspot:contact:{hid}",
                    "payload": {"id": str(hid), "properties": {"syncd_email_status": members[-1]["status"]}},
                }
            )
    if not members:
        return
    ctx.store.upsert(conn, t.mailchimp_members, members, ["subscriber_hash"])
    ident = t.identities
    holders = sa.select(ident.c.id).where(ident.c.subscriber_hash == sa.bindparam("h")).exists()
    for m in sorted(members, key=lambda m: m["email"]):
        # the lead's identity learns its member, unless another lead is already linked to it by hash...
        conn.execute(
            sa.update(ident)
            .where(ident.c.email == m["email"], ident.c.subscriber_hash.is_(None), ~holders)
            .values(subscriber_hash=m["subscriber_hash"], **t.touch(now)),
            {"h": m["subscriber_hash"]},
        )
        # ...and is decided again: what Mailchimp reported (an unsubscribe since the last read) must reach
        # HubSpot, and the member pull will not see it as a change any more
        conn.execute(sa.update(ident).where(ident.c.subscriber_hash == m["subscriber_hash"]).values(**t.touch(now)))
    if commands:
        ctx.store.enqueue(conn, commands)
    if statuses:
        targets = [f"hubspot:contact:{hid}" for hid in statuses]
        pushed = {
            r.target: dict(r._mapping["values"]) for r in ctx.store.rows_in(conn, t.pushed_state, "target", targets)
        }
        ctx.store.upsert(
            conn,
            t.pushed_state,
            [
                {
                    "target": f"hubspot:contact:{hid}",
                    "values": {**pushed.get(f"hubspot:contact:{hid}", {}), "syncd_email_status": status},
                    "updated_ms": now,
                }
                for hid, status in statuses.items()
            ],
            ["target"],
        )


def _tags(ctx: Context, rows: list) -> int:
    """Tags are static segments: members are grouped per tag and (un)tagged 500 per call, so a cycle costs
    a few calls per tag instead of one per member."""
    # several commands for one member: the later one wins for each tag (rows come oldest first), so a
    # tag added by one and taken off by the next is taken off, never both in one call
    net: dict[str, dict[str, bool]] = {}
    for r in sorted(rows, key=lambda r: r.id):
        wanted = net.setdefault(r.payload["email_address"].strip(), {})
        wanted.update(dict.fromkeys(r.payload["active"], True) | dict.fromkeys(r.payload["inactive"], False))
    adds: dict[str, list[str]] = {}
    removes: dict[str, list[str]] = {}
    for email, wanted in net.items():
        for name, on in wanted.items():
            (adds if on else removes).setdefault(name, []).append(email)
    ids = ctx.mailchimp.tag_ids()
    failed: dict[str, str] = {}
    for name in sorted(set(adds) | set(removes)):
        tag_id = ids.get(name.lower())
        if tag_id is None:
            if not adds.get(name):
                continue  # nobody to untag from a tag that does not exist
            tag_id = ids[name.lower()] = ctx.mailchimp.create_tag(name)
        for email, error in ctx.mailchimp.update_tag_members(tag_id, adds.get(name, []), removes.get(name, [])).items():
            failed.setdefault(email, f"tag {name}: {error}")
    results = [
        (
            r,
            Outcome(key=r.key, ok=False, error=failed[e])
            if (e := r.payload["email_address"].strip().lower()) in failed
            else Outcome(key=r.key, ok=True),
        )
        for r in rows
    ]
    # Tagging does not change a member's last_changed, so the next member pull would never tell syncd
    # which tags it added: the snapshot learns them here, or a family's old tag would never be removed.
    applied = [r for r, outcome in results if outcome.ok and r.target.startswith("mailchimp:member:")]
    _finish_all(ctx, results, also=lambda conn: _record_tags(ctx, conn, applied))
    return len(rows)


def _record_tags(ctx: Context, conn: Any, rows: list) -> None:
    import sqlalchemy as sa

    from syncd.store import schema as t

    changes: dict[str, list[Any]] = {}
    for r in sorted(rows, key=lambda r: r.id):  # applied oldest first, as `_tags` sent them
        changes.setdefault(r.target.rsplit(":", 1)[1], []).append(r.payload)
    members = t.mailchimp_members
    found = ctx.store.rows_in(
        conn, members, "subscriber_hash", list(changes), [members.c.subscriber_hash, members.c.tags]
    )
    for h, tags in sorted(found):  # hash order, as the member pull writes them (one lock order)
        have = set(tags or [])
        for payload in changes[h]:
            have = (have | set(payload["active"])) - set(payload["inactive"])
        conn.execute(sa.update(members).where(members.c.subscriber_hash == h).values(tags=sorted(have)))


def _update_contacts(ctx: Context, rows: list) -> int:
    # several versions for one contact in one batch: send the merged latest values once
    merged: dict[str, dict] = {}
    for r in rows:
        merged.setdefault(r.payload["id"], {}).update(r.payload["properties"])
    outcomes = ctx.hubspot.update_contacts([{"id": i, "properties": p} for i, p in merged.items()])
    by_id = {o.key: o for o in outcomes}
    _finish_all(ctx, [(r, by_id.get(r.payload["id"], Outcome(key=r.key, ok=True))) for r in rows])
    return len(rows)


def _demote(ctx: Context, rows: list) -> int:
    def call(r: Any) -> Outcome:
        # HubSpot ignores a backward lifecyclestage unless cleared first, in a separate request
        outcome = Outcome(key=r.key, ok=True)
        for value in r.payload["steps"]:
            outcome = ctx.hubspot.update_contacts([{"id": r.payload["id"], "properties": {"lifecyclestage": value}}])[0]
            if not outcome.ok:
                break
        return outcome

    return _one_by_one(ctx, rows, call)


def _exactly_once(ctx: Context, rows: list, object_type: str, properties: Callable[[Any], dict[str, Any]]) -> int:
    """Tasks or notes, 100 a call, at most once each (invariant 4). Every claimed row is marked `attempted`
    (committed) before any call; a row that was `attempted` already (a crash or a lost answer since) is
    looked up by its key before it is sent again. Batches run side by side (HubSpot's budget paces them)."""
    kind = rows[0].kind
    maybe = {r.id for r in rows if r.state == "attempted"}
    with ctx.store.begin() as conn:
        ctx.store.mark_attempted(conn, [r.id for r in rows if r.id not in maybe])
    size = ctx.hubspot.batch_size
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]

    def one(chunk: list) -> list[Outcome] | ConnectorError:
        items = [
            {"key": r.key, "contact_id": r.payload["contact_id"], "properties": properties(r), "maybe": r.id in maybe}
            for r in chunk
        ]
        try:
            return ctx.hubspot.create_engagements(object_type, items)
        except ConnectorError as exc:  # the batch as a whole: its rows stay `attempted`, looked up next time
            return exc

    workers = min(PARALLEL["hubspot"], len(chunks))
    if workers <= 1:
        answers = [one(c) for c in chunks]
    else:
        with ContextPool(max_workers=workers, thread_name_prefix="push") as pool:
            answers = list(pool.map(one, chunks))
    results: list[tuple[Any, Outcome]] = []
    for chunk, answer in zip(chunks, answers):
        if isinstance(answer, list):
            results.extend(zip(chunk, answer))
    for _, outcome in results:
        if outcome.ok and (outcome.detail or {}).get("recovered"):
            ctx.count(f"recovered.{kind}")
    _finish_all(ctx, results)
    failure = next((a for a in answers if isinstance(a, ConnectorError)), None)
    if failure is not None:
        raise failure
    return len(rows)


def _task_properties(r: Any) -> dict[str, Any]:
    props = dict(r.payload["properties"])
    if r.payload.get("owner_id"):
        props["hubspot_owner_id"] = str(r.payload["owner_id"])
    return props


def _note_properties(r: Any) -> dict[str, Any]:
    return {"hs_timestamp": str(int(r.payload["timestamp_ms"])), "hs_note_body": r.payload["body"]}


def _task(ctx: Context, rows: list) -> int:
    return _exactly_once(ctx, rows, "tasks", _task_properties)


def _note(ctx: Context, rows: list) -> int:
    return _exactly_once(ctx, rows, "notes", _note_properties)


def push_side_by_side(
    ctx: Context,
    should_stop: Callable[[], bool] = lambda: False,
    errors: dict[str, str] | None = None,
    fence: tuple[str, str, str] | None = None,
) -> int:
    """`push`, with HubSpot's and Mailchimp's commands drained at the same time: the two vendors' limits are
    independent, so a drain costs the longer of the two rather than their sum. Contact creates go first
    (the leads they create are decided at once and drain with the rest); then the two vendors side by side;
    then one more pass in ORDER for what the drain itself enqueued (the email status Mailchimp reported,
    written to HubSpot after it reported it).

    HubSpot's side of the drain claims only what was enqueued before it began: otherwise whether it picks
    up the statuses Mailchimp's drain enqueues would depend on which vendor answers first, and a cycle's
    calls would differ from run to run. Mailchimp's side takes what its own earlier kinds enqueued (a new
    member's tags, in ORDER after the subscribes), which is the same every run."""
    handled = push(ctx, should_stop, errors, fence, kinds=("hubspot.create_contact",))
    with ctx.store.begin() as conn:
        upto = ctx.store.last_outbox_id(conn)
    bounds = {"hubspot": upto, "mailchimp": None}  # (see above: only HubSpot's side is bounded)
    groups = [
        (tuple(k for k in ORDER if k.startswith(f"{system}.") and k != "hubspot.create_contact"), bound)
        for system, bound in bounds.items()
    ]
    raised: list[BaseException] = []

    def drain(group: tuple[tuple[str, ...], int | None]) -> int:
        kinds, bound = group
        try:
            return push(ctx, should_stop, errors, fence, kinds=kinds, upto=bound)
        except BaseException as exc:  # re-raised below, after the other vendor's drain finished
            raised.append(exc)
            return 0

    with ContextPool(max_workers=2, thread_name_prefix="drain") as pool:
        handled += sum(pool.map(drain, groups))
    if raised:
        raise raised[0]
    return handled + push(ctx, should_stop, errors, fence)


HANDLERS: dict[str, Callable[[Context, list], int]] = {
    "mailchimp.unsubscribe": _unsubscribe,
    "mailchimp.subscribe": _subscribe,
    "mailchimp.update_member": _update_members,
    "mailchimp.tags": _tags,
    "hubspot.create_contact": _create_contacts,
    "hubspot.update_contact": _update_contacts,
    "hubspot.lifecycle_demote": _demote,
    "hubspot.task": _task,
    "hubspot.note": _note,
}
__all__ = ["push", "push_side_by_side", "ORDER", "ConnectorError"]
