"""score + decide: recompute the leads whose inputs changed and turn differences into outbox commands.

The scores, the commands and the "last pushed" state are written in one transaction, so a crash either
keeps the whole decision or none of it; idempotency keys make re-enqueueing harmless.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from syncd.context import Context
from syncd.domain import diff
from syncd.domain.models import ContactView, EngagementEvent, SegmentState
from contracts.identity import subscriber_hash
from syncd.store import schema as t

CHUNK = 500
DAY_MS = 86_400_000
NOTE_KINDS = ("open", "click", "bounce", "unsubscribe")
BATCHABLE_STATUSES = ("subscribed", "pending", "transactional")
TASK_TRIGGERS = ("segment:hot", "lifecycle:salesqualifiedlead")
DEFAULT_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                  "customer", "evangelist", "other")


def dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def ms_of(d: datetime | None) -> int | None:
    return None if d is None else int(d.timestamp() * 1000)


def score_and_decide(ctx: Context, rescore_after_ms: int | None = None) -> int:
    """Score every identity whose contact, member or events changed since its last score (or whose score
    is older than `rescore_after_ms`, for decay), chunk by chunk. Returns how many were scored."""
    now = ctx.clock()
    stale = now - (rescore_after_ms if rescore_after_ms is not None
                   else int(ctx.settings.config.rescore_hours * 3_600_000))
    ident, s, ev = t.identities, t.scores, t.events
    newer_event = sa.exists().where(sa.and_(ev.c.email == ident.c.email, ev.c.created_ms > s.c.scored_ms))
    last_id, scored = 0, 0
    while not ctx.should_stop():
        with ctx.store.begin() as conn:
            rows = conn.execute(
                sa.select(ident).outerjoin(s, s.c.email == ident.c.email)
                .where(ident.c.id > last_id)
                .where(sa.or_(s.c.email.is_(None), ident.c.updated_ms > s.c.scored_ms, s.c.scored_ms < stale,
                              newer_event))
                .order_by(ident.c.id).limit(CHUNK)).all()
            if not rows:
                break
            owners = {r.id for r in conn.execute(sa.select(t.owners.c.id).where(t.owners.c.archived.is_(False)))}
            batch = Batch(ctx, conn, rows, now)
            for row in rows:
                decide_one(ctx, batch, row, now, owners)
            batch.flush()
            last_id = rows[-1].id
            scored += len(rows)
    ctx.count("scored", scored)
    return scored


class Batch:
    """One chunk of identities: their inputs read with a handful of IN queries, and every write they cause
    (scores, last-pushed state, outbox commands) buffered and written at the end in one statement each —
    per-identity round trips made scoring the slowest stage."""

    def __init__(self, ctx: Context, conn: sa.Connection, idents: list[Any], now: int) -> None:
        self.ctx, self.conn, self.now = ctx, conn, now
        hids = [i.hubspot_id for i in idents if i.hubspot_id]
        hashes = [i.subscriber_hash for i in idents if i.subscriber_hash]
        emails = [i.email for i in idents]
        self.contacts = {r.hubspot_id: r for r in self._in(t.hubspot_contacts, "hubspot_id", hids)}
        self.members = {r.subscriber_hash: r for r in self._in(t.mailchimp_members, "subscriber_hash", hashes)}
        self.scores = {r.email: r for r in self._in(t.scores, "email", emails)}
        self.events: dict[str, list[Any]] = {e: [] for e in emails}
        for r in conn.execute(sa.select(t.events).where(t.events.c.email.in_(emails))
                              .order_by(t.events.c.occurred_ms, t.events.c.id)):
            self.events[r.email].append(r)
        targets = [f"hubspot:contact:{h}" for h in hids] + [f"hubspot:note:{h}" for h in hids]
        targets += [f"mailchimp:member:{i.subscriber_hash or subscriber_hash(i.email)}" for i in idents]
        self.pushed = {r.target: dict(r._mapping["values"]) for r in self._in(t.pushed_state, "target", targets)}
        self._recent_sends: list[Any] | None = None
        self.pushed_writes: dict[str, dict] = {}
        self.commands: list[dict] = []
        self.score_rows: list[dict] = []

    def _in(self, table: sa.Table, column: str, values: list[str]) -> list[Any]:
        return self.ctx.store.rows_in(self.conn, table, column, values)

    def recent_sends(self) -> list[Any]:
        """The audience's last N campaigns (the same for every member of the chunk)."""
        if self._recent_sends is None:
            n = self.ctx.rules.cadence.last_sends
            self._recent_sends = self.conn.execute(
                sa.select(t.campaigns.c.id, t.campaigns.c.send_time_ms).where(t.campaigns.c.send_time_ms <= self.now)
                .order_by(t.campaigns.c.send_time_ms.desc()).limit(n)).all()
        return self._recent_sends

    def get_pushed(self, target: str) -> dict:
        return dict(self.pushed.get(target, {}))

    def set_pushed(self, target: str, values: dict) -> None:
        self.pushed[target] = self.pushed_writes[target] = values

    def enqueue(self, key: str, kind: str, target: str, payload: dict) -> None:
        self.commands.append({"key": key, "kind": kind, "target": target, "payload": payload})
        self.ctx.count(f"enqueued.{kind}")

    def flush(self) -> None:
        store = self.ctx.store
        store.upsert(self.conn, t.scores, self.score_rows, ["email"])
        store.upsert(self.conn, t.pushed_state, [{"target": k, "values": v, "updated_ms": self.now}
                                                 for k, v in self.pushed_writes.items()], ["target"])
        if self.commands:
            store.enqueue(self.conn, self.commands)


def _to_event(r: Any) -> EngagementEvent:
    return EngagementEvent(source=r.source, event_id=f"{r.source}:{r.event_id}", email=r.email, kind=r.kind,
                           occurred_at=dt(r.occurred_ms), campaign_id=r.campaign_id, url=r.url,
                           bounce_type=r.bounce_type, detail=r.detail)


def _sends(batch: Batch, member: Any) -> list[Any]:
    from syncd.domain.models import Send

    if member is None:
        return []
    return [Send(campaign_id=r.id, sent_at=dt(r.send_time_ms)) for r in batch.recent_sends()]


def _engagement_properties(events: list[Any], status: str | None, now: int) -> dict[str, str]:
    """Email engagement summarized as syncd-owned HubSpot properties."""
    opens = [e.occurred_ms for e in events if e.kind == "open"]
    clicks = [e.occurred_ms for e in events if e.kind == "click"]
    month = now - 30 * DAY_MS
    props = {"syncd_opens_30d": str(sum(1 for x in opens if x >= month)),
             "syncd_clicks_30d": str(sum(1 for x in clicks if x >= month))}
    if opens:
        props["syncd_last_open"] = str(max(opens))
    if clicks:
        props["syncd_last_click"] = str(max(clicks))
    hard = any(e.kind == "bounce" and (e.bounce_type or "hard") == "hard" for e in events)
    if status is not None:
        props["syncd_email_status"] = "hard_bounced" if hard and status == "cleaned" else status
    elif hard:
        props["syncd_email_status"] = "hard_bounced"
    return props


def _consented(ctx: Context, props: dict) -> bool:
    from syncd.mappings import consent_granted

    return consent_granted(ctx.mappings, props)


def load_inputs(batch: Batch, ident: Any) -> dict[str, Any]:
    """Everything the scoring engine needs for one identity (read by the batch)."""
    contact = batch.contacts.get(ident.hubspot_id) if ident.hubspot_id else None
    member = batch.members.get(ident.subscriber_hash) if ident.subscriber_hash else None
    props = dict(contact.properties) if contact else {}
    prev_row = batch.scores.get(ident.email)
    previous = None
    if prev_row is not None:
        previous = SegmentState(segment=prev_row.segment, since=dt(prev_row.segment_since_ms),
                                was_engaged=bool(prev_row.was_engaged), last_hot_task_at=dt(prev_row.last_task_ms))
    event_rows = batch.events.get(ident.email, [])
    view = ContactView(email=ident.email, properties=props, hubspot_id=ident.hubspot_id,
                       owner_id=props.get("hubspot_owner_id") or None)
    return {"contact": contact, "member": member, "props": props, "prev_row": prev_row, "previous": previous,
            "event_rows": event_rows, "view": view, "events": [_to_event(e) for e in event_rows],
            "sends": _sends(batch, member)}


def score_inputs(ctx: Context, inputs: dict[str, Any], now: int) -> Any:
    from syncd.domain.scoring import score

    return score(ctx.rules, inputs["view"], inputs["events"], dt(now), inputs["previous"], inputs["sends"],
                 stage_order=ctx.stage_order or DEFAULT_STAGES)


def decide_one(ctx: Context, batch: Batch, ident: Any, now: int, owners: set[str]) -> None:
    inputs = load_inputs(batch, ident)
    result = score_inputs(ctx, inputs, now)
    contact, member, props, prev_row, previous = (inputs[k] for k in ("contact", "member", "props", "prev_row",
                                                                       "previous"))
    event_rows, view = inputs["event_rows"], inputs["view"]

    last_task_ms = prev_row.last_task_ms if prev_row is not None else None
    stage_order = ctx.stage_order or DEFAULT_STAGES
    current_stage = props.get("lifecyclestage") or None
    effective_stage = current_stage
    task_ms = None
    if contact is not None:
        effective_stage = _decide_hubspot(ctx, batch, ident, props, result, event_rows, member, now, stage_order)
        task_ms = _decide_task(ctx, batch, ident, view, result, now, owners, last_task_ms)
        if ctx.settings.config.notes.enabled:
            _decide_note(ctx, batch, ident, event_rows, now)
    _decide_mailchimp(ctx, batch, ident, contact, props, member, result, effective_stage, now)

    from syncd.domain.segments import next_state

    state = next_state(ctx.rules, previous, result, dt(now), hot_task_created=task_ms is not None)
    batch.score_rows.append({
        "email": ident.email, "score": result.score, "fit_score": result.fit_score,
        "engagement_score": result.engagement_score, "segment": state.segment,
        "segment_since_ms": ms_of(state.since), "was_engaged": state.was_engaged,
        "lifecycle_target": result.lifecycle_target, "cadence": result.cadence,
        "ledger": [_ledger_json(e) for e in result.ledger], "scored_ms": now,
        "last_task_ms": ms_of(state.last_hot_task_at),
    })


def _ledger_json(e: Any) -> dict:
    return {"rule": e.rule, "kind": e.kind, "event_id": e.event_id,
            "occurred_ms": ms_of(e.occurred_at), "detail": e.detail, "points": e.points,
            "points_after_decay": e.points_after_decay}


def _decide_hubspot(ctx: Context, batch: Batch, ident: Any, props: dict, result: Any, event_rows: list,
                    member: Any, now: int, order: tuple[str, ...]) -> str | None:
    from syncd.domain import lifecycle

    target = f"hubspot:contact:{ident.hubspot_id}"
    pushed = batch.get_pushed(target)
    # whole points: decimals of decay would rewrite every engaged contact on every cycle
    desired = {"syncd_score": str(result.score), "syncd_fit_score": str(round(result.fit_score)),
               "syncd_engagement_score": str(round(result.engagement_score)), "syncd_segment": result.segment,
               "syncd_cadence": result.cadence}
    scored_changes = diff.property_changes(desired, props, pushed)
    # the status Mailchimp reported, never the one syncd hopes for: a subscribe still to be sent (or
    # refused) says nothing yet; the pusher writes the status Mailchimp reports once it reports it
    status = member.status if member is not None else None
    desired.update(_engagement_properties(event_rows, status, now))
    changes = diff.property_changes(desired, props, pushed)
    if scored_changes:
        changes["syncd_scored_at"] = str(now)
    current = props.get("lifecyclestage") or None
    effective = current
    plan = lifecycle.plan(current, result.lifecycle_target, ctx.rules, order) if result.lifecycle_target else None
    if plan is not None and plan.steps and "lifecyclestage" in ctx.mappings.owned_properties:
        goal = plan.steps[-1]
        effective = goal
        if plan.demotion:
            batch.enqueue(f"hs.demote:{ident.hubspot_id}:{current}>{goal}:{now}", "hubspot.lifecycle_demote",
                     target, {"id": ident.hubspot_id, "steps": list(plan.steps)})
            batch.conn.execute(sa.insert(t.audit).values(at_ms=now, kind="lifecycle.demotion", subject=ident.email,
                                                   detail={"hubspot_id": ident.hubspot_id, "from": current,
                                                           "to": goal, "reason": plan.reason}))
        elif pushed.get("lifecyclestage") != goal and current != goal:
            changes["lifecyclestage"] = goal
    # invariant 3: only properties the mappings file lets syncd own are ever written
    owned = set(ctx.mappings.owned_properties)
    changes = {k: v for k, v in changes.items() if k in owned}
    if changes:
        version = int(pushed.get("_version", 0)) + 1
        batch.enqueue(f"hs.props:{ident.hubspot_id}:{version}", "hubspot.update_contact", target,
                 {"id": ident.hubspot_id, "properties": changes})
        batch.set_pushed(target, {**pushed, **changes, "_version": version})
    return effective


def _pick_owner(ctx: Context, email: str, owner: str | None, owners: set[str]) -> str | None:
    if owner and (not owners or owner in owners):
        return owner
    tasks = ctx.settings.config.tasks
    pool = [o for o in tasks.round_robin_owner_ids if not owners or o in owners]
    if pool:
        # stable spread across reps without shared state: the same lead always lands on the same rep
        return pool[int(hashlib.md5(email.encode()).hexdigest(), 16) % len(pool)]
    return tasks.fallback_owner_id


def _decide_task(ctx: Context, batch: Batch, ident: Any, view: Any, result: Any, now: int,
                 owners: set[str], last_task_ms: int | None) -> int | None:
    from syncd.domain.cadence import cooldown_allows, due_date
    from syncd.domain.explain import handoff_summary
    from syncd.domain.text import clean_text, escape

    fired = [tr for tr in result.triggers if tr in TASK_TRIGGERS]
    if not fired:
        return None
    policy = ctx.rules.tasks
    if not cooldown_allows(dt(last_task_ms), dt(now), policy.cooldown_days):
        ctx.count("tasks.cooldown")
        return None
    owner = _pick_owner(ctx, ident.email, view.owner_id, owners)
    subject, body = handoff_summary(result, view, policy.top_events)
    due = due_date(dt(now), policy.due_business_days, policy.timezone)
    payload = {"contact_id": ident.hubspot_id, "owner_id": owner, "properties": {
        "hs_task_subject": clean_text(subject)[:255], "hs_task_body": "<br>\n".join(escape(line) for line in body.split("\n")),
        "hs_timestamp": str(ms_of(due)),
        "hs_task_priority": "HIGH", "hs_task_status": "NOT_STARTED", "hs_task_type": "TODO"},
        "triggers": fired}
    batch.enqueue(f"task:{ident.hubspot_id}:{'+'.join(fired)}:{now}", "hubspot.task",
             f"hubspot:contact:{ident.hubspot_id}", payload)
    return now


def note_html(rows: list[Any]) -> str:
    """One note per contact per cycle listing what was opened and clicked (HTML, as HubSpot renders notes).
    Everything interpolated is escaped; only http(s) URLs become links."""
    from syncd.domain.text import escape, link_html

    lines = []
    for r in rows:
        when = dt(r.occurred_ms).strftime("%Y-%m-%d %H:%M UTC")
        what = {"open": "Opened", "click": "Clicked", "bounce": f"Bounced ({r.bounce_type or 'hard'})",
                "unsubscribe": "Unsubscribed"}[r.kind]
        extra = f" {link_html(r.url)}" if r.url else ""
        campaign = f" in campaign {escape(r.campaign_id)}" if r.campaign_id else ""
        lines.append(f"<li>{when}: {escape(what)}{campaign}{extra}</li>")
    return f"<p><strong>Mailchimp engagement</strong> ({len(rows)} events)</p><ul>{''.join(lines)}</ul>"


def _decide_note(ctx: Context, batch: Batch, ident: Any, event_rows: list, now: int) -> None:
    target = f"hubspot:note:{ident.hubspot_id}"
    pushed = batch.get_pushed(target)
    last = int(pushed.get("last_event_row", 0))
    fresh = [e for e in event_rows if e.id > last and e.source == "mailchimp" and e.kind in NOTE_KINDS]
    if not fresh:
        return
    top = max(e.id for e in fresh)
    fresh.sort(key=lambda e: (e.occurred_ms, e.id))
    batch.enqueue(f"note:{ident.hubspot_id}:{top}", "hubspot.note", target,
             {"contact_id": ident.hubspot_id, "body": note_html(fresh[:200]), "timestamp_ms": now})
    batch.set_pushed(target, {"last_event_row": top})


def _decide_mailchimp(ctx: Context, batch: Batch, ident: Any, contact: Any, props: dict, member: Any,
                      result: Any, stage: str | None, now: int) -> None:
    from syncd.mappings import apply as apply_mappings

    h = ident.subscriber_hash or subscriber_hash(ident.email)
    target = f"mailchimp:member:{h}"
    pushed = batch.get_pushed(target)
    tags = diff.desired_tags(result.segment, stage, result.cadence)
    scored_props = {**props, "syncd_score": str(result.score), "syncd_segment": result.segment,
                    "syncd_cadence": result.cadence}
    merge_fields = apply_mappings(ctx.mappings, scored_props) if contact is not None else {}
    consent = contact is not None and _consented(ctx, props)
    email = (props.get("email") or ident.email).strip()
    new_pushed = dict(pushed)
    if member is None:
        if not consent:
            return
        # invariant 1: only contacts with the required consent become members, created with
        # status_if_new (a member that exists after all keeps its status). A subscribe Mailchimp refused
        # is quarantined with its reason and sent again only once what it would send changes.
        digest = hashlib.sha1(json.dumps([email.lower(), merge_fields], sort_keys=True).encode()).hexdigest()[:12]
        if pushed.get("subscribe_digest") == digest:
            return
        # the member's tags follow its creation (the pusher adds them once Mailchimp created it)
        batch.enqueue(f"mc.subscribe:{h}:{digest}", "mailchimp.subscribe", target,
                      {"email_address": email, "status_if_new": "subscribed", "merge_fields": merge_fields,
                       "contact_id": ident.hubspot_id, "tags": tags})
        new_pushed.update(subscribe_digest=digest, merge_fields=merge_fields, tags=tags)
        batch.set_pushed(target, new_pushed)
        return
    elif member.status not in BATCHABLE_STATUSES:
        # unsubscribed, cleaned or archived: Mailchimp will not email them, so their merge fields are left
        # as they are; their tags still follow, for marketers' reports
        current_tags = list(member.tags or [])
    else:
        current_tags = list(member.tags or [])
        have = dict(member.merge_fields or {})
        sent = dict(pushed.get("merge_fields") or {})
        changed = {k: v for k, v in sorted(merge_fields.items()) if have.get(k) != v and sent.get(k) != v}
        if changed:
            version = int(pushed.get("_version", 0)) + 1
            # the merge fields alone (PATCH): never a status, so the write cannot re-subscribe anyone who
            # unsubscribed since the member was read
            batch.enqueue(f"mc.member:{h}:{version}", "mailchimp.update_member", target,
                          {"email_address": member.email, "merge_fields": changed})
            new_pushed.update(merge_fields={**sent, **changed}, _version=version)
    if pushed.get("tags") != tags:  # what was sent is not re-sent before the snapshot catches up
        active, inactive = diff.tag_changes(tags, current_tags)
        if active or inactive:
            version = int(new_pushed.get("_tags_version", 0)) + 1
            batch.enqueue(f"mc.tags:{h}:{version}", "mailchimp.tags", target,
                     {"email_address": email if member is None else member.email, "active": active,
                      "inactive": inactive})
        new_pushed.update(tags=tags, _tags_version=int(new_pushed.get("_tags_version", 0)) + 1)
    if new_pushed != pushed:
        batch.set_pushed(target, new_pushed)
