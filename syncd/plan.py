"""`syncd plan`: run pull and decide against a transaction that is rolled back, and tell what the next cycle
would change (including any command still waiting in the outbox). Nothing is written anywhere.

`plan()` returns the commands; `summarize()` turns them, with what the store knew of each record before,
into a summary (per field and direction how many values change; contacts and members to create; tags to
add and remove, per tag; tasks, notes, unsubscribes) and per-record diffs (before -> after per field);
`render()` prints the summary and a sample of the diffs.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from syncd import decide, streams
from syncd.context import Context
from syncd.store import schema as t
from syncd.store.db import Store

TO_HUBSPOT, TO_MAILCHIMP = "to_hubspot", "to_mailchimp"
VALUE_SHOWN = 60  # characters of a value in the text diffs


class DryRunStore(Store):
    """A store whose every transaction is part of one outer transaction that is rolled back: `syncd plan`
    runs the real pull and decide code and then forgets everything it wrote."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine, store.clock)
        self._conn = store.engine.connect()
        self._outer = self._conn.begin()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self._conn

    def close(self) -> None:
        self._outer.rollback()
        self._conn.close()


def plan(ctx: Context, pull_first: bool = True) -> list[dict[str, Any]]:
    """The commands the next cycle would push ({kind, target, key, payload, email, before}), `before` being
    what the store knew of the record they change (a contact's properties, a member's merge fields and
    tags), read after the pull."""
    real, dry = ctx.store, DryRunStore(ctx.store)
    ctx.store = dry
    try:
        with dry.begin() as conn:
            done = dry.get_cursor(conn, "setup") or {}
        ctx.stage_order = tuple(done.get("stages") or decide.DEFAULT_STAGES)
        if pull_first:
            for stream in streams.REGISTRY:
                streams.run(ctx, stream)
        decide.score_and_decide(ctx)
        with dry.begin() as conn:
            rows = conn.execute(
                sa.select(t.outbox).where(t.outbox.c.state.in_(("pending", "attempted"))).order_by(t.outbox.c.id)
            ).all()
            commands = [{"kind": r.kind, "target": r.target, "key": r.key, "payload": r.payload} for r in rows]
            _attach_records(dry, conn, commands)
        return commands
    finally:
        dry.close()
        ctx.store = real


def _attach_records(store: Store, conn: Connection, commands: list[dict[str, Any]]) -> None:
    """Each command's email and the record it changes as stored (one query per table)."""
    contact_ids = {c["target"].rsplit(":", 1)[1] for c in commands if c["target"].startswith("hubspot:contact:")}
    contact_ids |= {str(c["payload"].get("contact_id")) for c in commands if c["payload"].get("contact_id")}
    hashes = {c["target"].rsplit(":", 1)[1] for c in commands if c["target"].startswith("mailchimp:member:")}
    contacts = {r.hubspot_id: r for r in store.rows_in(conn, t.hubspot_contacts, "hubspot_id", sorted(contact_ids))}
    members = {
        r.subscriber_hash: r for r in store.rows_in(conn, t.mailchimp_members, "subscriber_hash", sorted(hashes))
    }
    for c in commands:
        ident = c["target"].rsplit(":", 1)[1]
        payload = c["payload"] or {}
        if c["target"].startswith("mailchimp:member:"):
            m = members.get(ident)
            c["before"] = {} if m is None else {"merge_fields": dict(m.merge_fields or {}), "tags": list(m.tags or [])}
            c["email"] = (m.email if m is not None else None) or payload.get("email_address")
        else:
            row = contacts.get(str(payload.get("contact_id") or payload.get("id") or ident))
            c["before"] = {} if row is None else {"properties": dict(row.properties or {})}
            c["email"] = (row.email if row is not None else None) or payload.get("email")


def summarize(commands: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The whole plan as one JSON-able object: `summary` (counts), `records` (per-record diffs, in command
    order) and `commands` (every command as planned)."""
    fields: Counter[tuple[str, str]] = Counter()
    kinds: Counter[str] = Counter(c["kind"] for c in commands)
    tags_add: Counter[str] = Counter()
    tags_remove: Counter[str] = Counter()
    records: dict[str, dict[str, Any]] = {}
    for c in commands:
        kind, payload, before = c["kind"], c["payload"] or {}, c.get("before") or {}
        record = records.setdefault(
            _record_key(c), {"email": c.get("email"), "targets": [], "changes": [], "actions": []}
        )
        if c["target"] not in record["targets"]:
            record["targets"].append(c["target"])
        if kind == "hubspot.update_contact":
            old = before.get("properties") or {}
            for name, value in sorted((payload.get("properties") or {}).items()):
                fields[(name, TO_HUBSPOT)] += 1
                record["changes"].append(_change(name, TO_HUBSPOT, old.get(name), value))
        elif kind == "mailchimp.update_member":
            old = before.get("merge_fields") or {}
            for tag, value in sorted((payload.get("merge_fields") or {}).items()):
                fields[(tag, TO_MAILCHIMP)] += 1
                record["changes"].append(_change(tag, TO_MAILCHIMP, old.get(tag), value))
        elif kind == "mailchimp.tags":
            tags_add.update(payload.get("active") or [])
            tags_remove.update(payload.get("inactive") or [])
            record["actions"] += [f"tag +{tag}" for tag in payload.get("active") or []]
            record["actions"] += [f"tag -{tag}" for tag in payload.get("inactive") or []]
        elif kind == "mailchimp.subscribe":
            record["actions"].append("create Mailchimp member (subscribed)")
            tags_add.update(payload.get("tags") or [])
            for tag, value in sorted((payload.get("merge_fields") or {}).items()):
                record["changes"].append(_change(tag, TO_MAILCHIMP, None, value))
        elif kind == "hubspot.create_contact":
            record["actions"].append("create HubSpot contact")
            for name, value in sorted((payload.get("properties") or {}).items()):
                record["changes"].append(_change(name, TO_HUBSPOT, None, value))
        elif kind == "mailchimp.unsubscribe":
            record["actions"].append("unsubscribe in Mailchimp")
        elif kind == "hubspot.task":
            record["actions"].append(
                f"task for owner {payload.get('owner_id') or '(none)'}: "
                f"{(payload.get('properties') or {}).get('hs_task_subject', '')}"
            )
        elif kind == "hubspot.note":
            record["actions"].append("note of Mailchimp engagement")
        elif kind == "hubspot.lifecycle_demote":
            record["actions"].append(f"lifecycle stage demoted: {' -> '.join(payload.get('steps') or [])}")
        else:
            record["actions"].append(kind)
    summary = {
        "commands": len(commands),
        "records": len(records),
        "fields": [
            {"field": name, "direction": direction, "changes": n}
            for (name, direction), n in sorted(fields.items(), key=lambda kv: (kv[0][1], -kv[1], kv[0][0]))
        ],
        "create": {
            "hubspot_contacts": kinds["hubspot.create_contact"],
            "mailchimp_members": kinds["mailchimp.subscribe"],
        },
        "tags": {"add": dict(sorted(tags_add.items())), "remove": dict(sorted(tags_remove.items()))},
        "tasks": kinds["hubspot.task"],
        "notes": kinds["hubspot.note"],
        "unsubscribes": kinds["mailchimp.unsubscribe"],
        "lifecycle_demotions": kinds["hubspot.lifecycle_demote"],
        "by_kind": dict(sorted(kinds.items())),
    }
    return {"summary": summary, "records": list(records.values()), "commands": list(commands)}


def _record_key(c: dict[str, Any]) -> str:
    """Commands about one person group together: by email when known, else by target."""
    return str(c.get("email") or c["target"]).lower()


def _change(field: str, direction: str, before: Any, after: Any) -> dict[str, Any]:
    return {"field": field, "direction": direction, "before": before, "after": after}


def render(result: dict[str, Any], sample: int = 0) -> list[str]:
    """The summary as text lines, then `sample` records' diffs."""
    s = result["summary"]
    if not s["commands"]:
        return ["nothing to change"]
    out = [f"the next cycle would send {s['commands']} command(s) about {s['records']} contact(s):"]
    if s["fields"]:
        out.append("  values that change, per field and direction:")
        width = max(len(f["field"]) for f in s["fields"])
        out += [f"    {f['field']:<{width}}  {f['direction']:<12} {f['changes']:>7}" for f in s["fields"]]
    create = s["create"]
    out.append(
        f"  create: {create['hubspot_contacts']} HubSpot contact(s), {create['mailchimp_members']} Mailchimp member(s)"
    )
    for side, label in (("add", "tags to add"), ("remove", "tags to remove")):
        if s["tags"][side]:
            out.append(f"  {label}: " + ", ".join(f"{tag} {n}" for tag, n in s["tags"][side].items()))
    out.append(
        f"  tasks: {s['tasks']}, notes: {s['notes']}, unsubscribes: {s['unsubscribes']},"
        f" lifecycle demotions: {s['lifecycle_demotions']}"
    )
    records = result["records"][: max(0, sample)]
    if records:
        out.append(f"sample ({len(records)} of {s['records']}):")
        for r in records:
            out.append(f"  {r['email'] or '(no email)'}  [{', '.join(r['targets'])}]")
            out += [
                f"    {ch['field']} ({ch['direction']}): {_show(ch['before'])} -> {_show(ch['after'])}"
                for ch in r["changes"]
            ]
            out += [f"    {action}" for action in r["actions"]]
    return out


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 3] + "..."
