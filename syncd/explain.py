"""`syncd explain EMAIL`: the lead's score recomputed from the stored event log, rule by rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from contracts.identity import normalize_email
from contracts.timeparse import iso
from syncd import decide
from syncd.clock import Clock
from syncd.context import Context
from syncd.report import owner_names, task_item
from syncd.store import schema as t

NOT_NEEDED: Any = None


def explain(settings: Any, email: str, clock: Any = None, store: Any = None) -> dict[str, Any]:
    """Returns {"table": str, "json": dict}. Raises LookupError when the email is unknown."""
    from syncd.domain.explain import ledger_table, result_to_dict, segment_reason
    from syncd.rules import load_rules
    from syncd.store.db import open_store

    norm = normalize_email(email)
    if norm is None:
        raise LookupError(f"{email!r} is not an email address")
    store = store or open_store(settings.database_url, schema=settings.database_schema)
    clock = clock or Clock(settings.clock_url)
    ctx = Context(
        settings=settings,
        store=store,
        hubspot=NOT_NEEDED,  # the score is recomputed from the stored log: no vendor is called
        mailchimp=NOT_NEEDED,
        rules=load_rules(settings.config.paths.scoring),
        mappings=NOT_NEEDED,
        clock=clock,
        calls=NOT_NEEDED,
    )
    now = clock()
    with store.begin() as conn:
        ident = conn.execute(sa.select(t.identities).where(t.identities.c.email == norm)).first()
        if ident is None:
            raise LookupError(f"no lead with email {norm} in {settings.database_url.split('@')[-1]}")
        chunk = decide.Chunk(ctx, conn, [ident], now)
        lead = chunk.lead(ident)
        result = chunk.score(lead)
        tasks = _tasks(conn, ident.hubspot_id)
    head = f"{norm}  (HubSpot {ident.hubspot_id or '-'}, Mailchimp {'member' if lead.member else '-'})"
    since, entry = _entry(ctx, lead, result, now)
    reason = segment_reason(
        ctx.rules, result.score, result.segment, since, decide.at(now), entry, result.last_engaged_at
    )
    data = result_to_dict(result)
    data["email"] = norm
    data["segment_reason"] = reason
    data["segment_since"] = None if since is None else since.isoformat()
    data["tasks"] = tasks
    lines = [head, ledger_table(result), f"why {result.segment}: {reason}", _tasks_text(tasks)]
    return {"table": "\n".join(lines), "json": data}


def _entry(ctx: Context, lead: Any, result: Any, now: int) -> tuple[datetime | None, int | None]:
    """When the lead entered the segment it is in, and its score then (recomputed from the event log at that
    moment, with today's contact properties). A segment entered by this very scoring began now."""
    from syncd.domain import scoring

    prev = lead.previous
    if prev is None or result.segment_changed or prev.since is None:
        return decide.at(now), result.score
    since = prev.since
    then = scoring.score(ctx.rules, lead.view, [e.event for e in lead.events], since)
    return since, then.score


def _tasks(conn: sa.Connection, hubspot_id: str | None) -> list[dict[str, Any]]:
    """The hand-off tasks syncd made for the contact, oldest first: created (when HubSpot accepted it, or
    queued), due, owner, trigger, state and HubSpot's task id."""
    if not hubspot_id:
        return []
    ob = t.outbox.c
    rows = conn.execute(
        sa.select(t.outbox)
        .where(ob.kind == "hubspot.task", ob.target == f"hubspot:contact:{hubspot_id}")
        .order_by(ob.created_ms, ob.id)
    ).all()
    owners = owner_names(conn) if rows else {}
    out = []
    for r in rows:
        item = task_item(r.payload or {}, r.result, owners)
        out.append(
            {
                "created": iso(r.updated_ms if r.state == "done" else r.created_ms),
                "due": None if item["due_ms"] is None else iso(item["due_ms"]),
                "owner": item["owner"],
                "owner_id": item["owner_id"],
                "trigger": item["trigger"],
                "state": r.state,
                "error": r.last_error,
                "hubspot_task_id": item["hubspot_task_id"],
                "reasons": item["reasons"],
            }
        )
    return out


def _tasks_text(tasks: list[dict[str, Any]]) -> str:
    if not tasks:
        return "hand-off tasks: none"
    lines = [f"hand-off tasks: {len(tasks)}"]
    for task in tasks:
        state = "" if task["state"] == "done" else f" [{task['state']}{': ' + task['error'] if task['error'] else ''}]"
        ident = f", HubSpot task {task['hubspot_task_id']}" if task["hubspot_task_id"] else ""
        due = f", due {task['due'][:16].replace('T', ' ')}" if task["due"] else ""
        lines.append(f"  {task['created'][:10]}  {task['owner']}  {task['trigger']}{due}{ident}{state}")
    return "\n".join(lines)
