"""score + decide, the shell: read a chunk of leads whose inputs changed, score and decide each with the pure
functions of syncd/domain (scoring.score, decisions.decide), and write what they return.

The scores, the outbox commands, the "last pushed" state and the audit rows of a chunk are written in one
transaction, so a crash either keeps the whole decision or none of it; idempotency keys make
re-enqueueing harmless.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from contracts.identity import subscriber_hash
from syncd.context import Context
from syncd.domain import scoring
from syncd.domain.decisions import DEFAULT_STAGES, Lead, MemberView, Policy, Pushed, StoredEvent, decide
from syncd.domain.mapping import NO_SCHEMAS, FieldSchemas, MergeInfo, PropertyInfo
from syncd.domain.models import EngagementEvent, ScoreResult, SegmentState, Send
from syncd.domain.routing import Routing
from syncd.store import schema as t

CHUNK = 500

__all__ = ["CHUNK", "DEFAULT_STAGES", "Chunk", "gc_paused", "policy_of", "score_and_decide"]


def dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ms_of(d: datetime | None) -> int | None:
    return None if d is None else int(d.timestamp() * 1000)


def policy_of(ctx: Context, known_owners: frozenset[str] = frozenset(), schemas: FieldSchemas = NO_SCHEMAS) -> Policy:
    """The configuration decisions read, from the context."""
    tasks = ctx.settings.config.tasks
    return Policy(
        rules=ctx.rules,
        mappings=ctx.mappings,
        stage_order=tuple(ctx.stage_order or DEFAULT_STAGES),
        known_owners=known_owners,
        routing=Routing(tasks.round_robin_owner_ids, tasks.fallback_owner_id),
        notes=ctx.settings.config.notes.enabled,
        schemas=schemas,
        score_write_threshold=ctx.settings.config.score_write_threshold,
    )


def field_schemas(stored: Any) -> FieldSchemas:
    """The property and merge field definitions setup stored ({"properties": {name: {type, fieldType,
    options}}, "merge_fields": {tag: {type, date_format, choices}}}), for the conversions."""
    stored = stored or {}
    return FieldSchemas(
        properties={
            name: PropertyInfo(
                p.get("type") or "string",
                p.get("fieldType") or "text",
                tuple((str(o[0]), str(o[1])) for o in p.get("options") or ()),
            )
            for name, p in (stored.get("properties") or {}).items()
        },
        merge_fields={
            tag: MergeInfo(m.get("type") or "text", m.get("date_format") or "", tuple(m.get("choices") or ()))
            for tag, m in (stored.get("merge_fields") or {}).items()
        },
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a chunk is scored and decided. A chunk allocates hundreds of
    thousands of small objects (events, ledger lines) that reference counting frees; the collector's passes
    over them (and over every long-lived object, when they pile up) took a third of the stage's time. What
    the chunk leaves in cycles is collected once the collector runs again, after the chunk."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def score_and_decide(ctx: Context, rescore_after_ms: int | None = None, only: Sequence[str] | None = None) -> int:
    """Score every identity whose contact, member or events changed since its last score (or whose score
    is older than `rescore_after_ms`, for decay), chunk by chunk; with `only`, just those of these
    normalized emails. Returns how many were scored."""
    now = ctx.clock()
    stale = now - (
        rescore_after_ms if rescore_after_ms is not None else int(ctx.settings.config.rescore_hours * 3_600_000)
    )
    ident, s = t.identities, t.scores
    # changed since its score read it: the count moves in the transaction of every change, so a change that
    # commits while this stage runs is scored at the next stage, however the two transactions interleave
    changed = ident.c.changes > sa.func.coalesce(s.c.seen_changes, 0)
    last_id, scored = 0, 0
    while not ctx.should_stop():
        with ctx.store.begin() as conn:
            rows = conn.execute(
                sa.select(ident)
                .outerjoin(s, s.c.email == ident.c.email)
                .where(ident.c.id > last_id, ident.c.email.in_(list(only)) if only is not None else sa.true())
                .where(sa.or_(s.c.email.is_(None), changed, s.c.scored_ms < stale))
                .order_by(ident.c.id)
                .limit(CHUNK)
            ).all()
            if not rows:
                break
            owners = frozenset(
                r.id for r in conn.execute(sa.select(t.owners.c.id).where(t.owners.c.archived.is_(False)))
            )
            chunk = Chunk(ctx, conn, rows, now)
            schemas = field_schemas((ctx.store.get_cursor(conn, "setup") or {}).get("fields"))
            policy = policy_of(ctx, owners, schemas)
            with gc_paused():
                for row in rows:
                    lead = chunk.lead(row)
                    result = chunk.score(lead)
                    chunk.record(lead, result, decide(lead, result, chunk.pushed_of(lead), policy, at(now)))
                chunk.flush()
            last_id = rows[-1].id
            scored += len(rows)
    ctx.count("scored", scored)
    return scored


class Chunk:
    """One chunk of identities: their inputs read with a handful of IN queries, and every write their
    decisions cause buffered and written at the end in one statement each (per-identity round trips made
    scoring the slowest stage)."""

    def __init__(self, ctx: Context, conn: sa.Connection, idents: Sequence[Any], now: int) -> None:
        self.ctx, self.conn, self.now = ctx, conn, now
        self.seen_changes = {i.email: i.changes for i in idents}
        store = ctx.store
        hids = [i.hubspot_id for i in idents if i.hubspot_id]
        hashes = [i.subscriber_hash for i in idents if i.subscriber_hash]
        self.hids, self.hashes = hids, [i.subscriber_hash or subscriber_hash(i.email) for i in idents]
        emails = [i.email for i in idents]
        self.contacts = {r.hubspot_id: r for r in store.rows_in(conn, t.hubspot_contacts, "hubspot_id", hids)}
        self.members = {
            r.subscriber_hash: r for r in store.rows_in(conn, t.mailchimp_members, "subscriber_hash", hashes)
        }
        sc = t.scores.c  # the segment state only: the previous ledger is not read back
        state_cols = [sc.email, sc.segment, sc.segment_since_ms, sc.was_engaged, sc.last_task_ms]
        self.scores = {r.email: r for r in store.rows_in(conn, t.scores, "email", emails, state_cols)}
        self.events: dict[str, list[tuple[Any, ...]]] = {e: [] for e in emails}
        for r in store.events_of(conn, emails):  # each lead's in (occurred_ms, id) order
            self.events[r[3]].append(r)
        targets = [f"hubspot:contact:{h}" for h in hids] + [f"hubspot:note:{h}" for h in hids]
        targets += [f"mailchimp:member:{i.subscriber_hash or subscriber_hash(i.email)}" for i in idents]
        self.pushed = {
            r.target: dict(r._mapping["values"]) for r in store.rows_in(conn, t.pushed_state, "target", targets)
        }
        n = ctx.rules.cadence.last_sends  # the audience's last N campaigns (the same for every member)
        self.sends = tuple(
            Send(campaign_id=r.id, sent_at=at(r.send_time_ms))
            for r in conn.execute(
                sa.select(t.campaigns.c.id, t.campaigns.c.send_time_ms)
                .where(t.campaigns.c.send_time_ms <= now)
                .order_by(t.campaigns.c.send_time_ms.desc())
                .limit(n)
            )
        )
        self.score_rows: list[dict] = []
        self.pushed_writes: dict[str, dict] = {}
        self.commands: list[dict] = []
        self.audit: list[dict] = []
        self.problems: list[tuple[str, str, dict]] = []

    def lead(self, ident: Any) -> Lead:
        """The plain values the pure functions take, for one identity."""
        contact = self.contacts.get(ident.hubspot_id) if ident.hubspot_id else None
        member = self.members.get(ident.subscriber_hash) if ident.subscriber_hash else None
        prev = self.scores.get(ident.email)
        previous = (
            None
            if prev is None
            else SegmentState(
                segment=prev.segment,
                since=dt(prev.segment_since_ms),
                was_engaged=bool(prev.was_engaged),
                last_hot_task_at=dt(prev.last_task_ms),
            )
        )
        return Lead(
            email=ident.email,
            subscriber_hash=ident.subscriber_hash or subscriber_hash(ident.email),
            hubspot_id=ident.hubspot_id,
            properties=dict(contact.properties) if contact is not None else None,
            member=None
            if member is None
            else MemberView(
                member.email,
                member.status,
                dict(member.merge_fields or {}),
                tuple(member.tags or ()),
                member.last_changed_ms,
            ),
            events=_stored_events(self.events.get(ident.email, ())),
            previous=previous,
            contact_modified_ms=contact.lastmodified_ms if contact is not None else None,
            field_ms=dict(contact.field_ms or {}) if contact is not None else {},
        )

    def score(self, lead: Lead) -> ScoreResult:
        return scoring.score(
            self.ctx.rules,
            lead.view,
            [e.event for e in lead.events],
            at(self.now),
            lead.previous,
            list(self.sends) if lead.member is not None else [],
            stage_order=self.ctx.stage_order or DEFAULT_STAGES,
        )

    def pushed_of(self, lead: Lead) -> Pushed:
        return Pushed(
            contact=self.pushed.get(f"hubspot:contact:{lead.hubspot_id}", {}),
            note=self.pushed.get(f"hubspot:note:{lead.hubspot_id}", {}),
            member=self.pushed.get(f"mailchimp:member:{lead.subscriber_hash}", {}),
        )

    def record(self, lead: Lead, result: ScoreResult, decision: Any) -> None:
        for name in decision.counts:
            self.ctx.count(name)
        for p in decision.problems:
            # invariant 8: the field is skipped for this lead, quarantined with what and why; all else flows
            key = f"hubspot:contact:{p.contact_id}" if p.contact_id else f"mailchimp:member:{lead.subscriber_hash}"
            reason = f"{p.field}: {p.reason}"
            self.problems.append(
                (key, reason, {"email": p.email, "contact_id": p.contact_id, "field": p.field, "value": p.value})
            )
        for w in decision.warnings:
            self.ctx.count("mapping.truncated")
            self.ctx.log.warning("mapping.truncated", email=lead.email, detail=w)
        for c in decision.commands:
            self.commands.append({"key": c.key, "kind": c.kind, "target": c.target, "payload": dict(c.payload)})
            self.ctx.count(f"enqueued.{c.kind}")
        for target, values in decision.pushed.items():
            self.pushed[target] = self.pushed_writes[target] = dict(values)
        self.audit += [
            {"at_ms": self.now, "kind": a.kind, "subject": a.subject, "detail": dict(a.detail)} for a in decision.audit
        ]
        state = decision.state
        self.score_rows.append(
            {
                "email": lead.email,
                "score": result.score,
                "fit_score": result.fit_score,
                "engagement_score": result.engagement_score,
                "segment": state.segment,
                "segment_since_ms": ms_of(state.since),
                "was_engaged": state.was_engaged,
                "lifecycle_target": result.lifecycle_target,
                "cadence": result.cadence,
                "ledger": [ledger_json(e) for e in result.ledger],
                "scored_ms": self.now,
                "last_task_ms": ms_of(state.last_hot_task_at),
                "seen_changes": self.seen_changes.get(lead.email, 0),
            }
        )

    def flush(self) -> None:
        store = self.ctx.store
        store.upsert(self.conn, t.scores, self.score_rows, ["email"])
        store.upsert(
            self.conn,
            t.pushed_state,
            [{"target": k, "values": v, "updated_ms": self.now} for k, v in self.pushed_writes.items()],
            ["target"],
        )
        if self.commands:
            store.enqueue(self.conn, self.commands)
        if self.audit:
            self.conn.execute(sa.insert(t.audit), self.audit)
        # a value fixed since (or a field no longer mapped) leaves the quarantine
        keys = [f"hubspot:contact:{h}" for h in self.hids] + [f"mailchimp:member:{h}" for h in self.hashes]
        now_bad = {(k, r) for k, r, _ in self.problems}
        q = t.quarantine
        stale = [
            r.id
            for r in store.rows_in(self.conn, q, "record_key", keys, [q.c.id, q.c.source, q.c.record_key, q.c.reason])
            if r.source == "mapping" and (r.record_key, r.reason) not in now_bad
        ]
        if stale:
            self.conn.execute(sa.delete(q).where(q.c.id.in_(stale)))
        for key, reason, payload in sorted(self.problems, key=lambda p: p[:2]):
            store.quarantine(self.conn, "mapping", key, reason, payload, self.ctx.run_id)
            self.ctx.count("quarantined")
            self.ctx.count("mapping.skipped_values")
            self.ctx.log.warning("mapping.value_skipped", record=key, reason=reason)


def _stored_events(rows: Sequence[tuple[Any, ...]]) -> tuple[StoredEvent, ...]:
    """Event rows (as `Store.events_of` returns them) as the pure core's values, the event ids qualified by
    their source as the ledger names them."""
    stamp, event, stored = datetime.fromtimestamp, EngagementEvent, StoredEvent
    return tuple(
        stored(row, event(source, f"{source}:{eid}", email, kind, stamp(ms / 1000, tz=UTC), cid, url, bounce, detail))
        for row, source, eid, email, kind, ms, cid, url, bounce, detail in rows
    )


def ledger_json(e: Any) -> dict:
    return {
        "rule": e.rule,
        "kind": e.kind,
        "event_id": e.event_id,
        "occurred_ms": ms_of(e.occurred_at),
        "detail": e.detail,
        "points": e.points,
        "points_after_decay": e.points_after_decay,
    }
