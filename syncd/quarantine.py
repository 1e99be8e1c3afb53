"""`syncd quarantine list` and `syncd quarantine retry [ID | --all]`.

A quarantine row is one of:

* push: a command a service refused (the row's record is the command's target, "mailchimp:member:<hash>"
  or "hubspot:contact:<id>"); retried by queueing the failed command again (Store.requeue_quarantined);
* pull: a bad record read from a service (a HubSpot contact by its id, a Mailchimp member by its hash or
  address, an event by its id); a contact or member is retried by reading it again from the service and
  ingesting it as a pull would (still bad: quarantined again, with the reason); an event cannot be read
  alone and stays until it is fixed at the source (its stream reads it again);
* mapping: a value that could not cross a field mapping (source "mapping"); retried by deciding the lead
  again at the next cycle (the decision quarantines it again if the value is still bad).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from contracts.identity import subscriber_hash
from contracts.timeparse import iso
from syncd.context import Context
from syncd.store import schema as t

VALUE_SHOWN = 40  # characters of a value in the list
_TARGET = re.compile(r"^(hubspot|mailchimp):")
_PROPERTY = re.compile(r"\bproperty (\w+)\b")
_FIELD = re.compile(r"\b(?:merge field|field) '?([A-Za-z0-9_]+)'?")
_HASH = re.compile(r"^[0-9a-f]{32}$")


def kind_of(row: Any) -> str:
    """push, pull or mapping (see the module's docstring)."""
    if row.source == "mapping":
        return "mapping"
    return "push" if _TARGET.match(row.record_key) else "pull"


def describe(row: Any) -> dict[str, Any]:
    """A row as `quarantine list` shows it: id, when (ISO 8601), kind, source, record, field, value, reason."""
    payload = row.payload if isinstance(row.payload, dict) else {}
    kind = kind_of(row)
    field: str | None = None
    value: Any = None
    if kind == "mapping":
        field, value = payload.get("field"), payload.get("value")
    else:
        found = _PROPERTY.search(row.reason) or _FIELD.search(row.reason)
        field = found.group(1) if found else None
        values = payload.get("properties") or payload.get("merge_fields") or payload
        if field and isinstance(values, dict):
            value = values.get(field)
    record = payload.get("email") or payload.get("email_address") or (payload.get("properties") or {}).get("email")
    return {
        "id": row.id,
        "when": iso(row.created_ms),
        "kind": kind,
        "source": row.source,
        "record": row.record_key + (f" ({record})" if record and record not in row.record_key else ""),
        "field": field,
        "value": value,
        "reason": row.reason,
    }


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as aligned text lines (a header first)."""
    if not rows:
        return ["the quarantine is empty"]
    cols = ("id", "when", "kind", "record", "field", "value", "reason")
    cells = [[_cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(cols[:-1])]
    head = "  ".join(c.ljust(w) for c, w in zip(cols[:-1], widths, strict=True)) + "  reason"
    return [head] + [
        "  ".join(v.ljust(w) for v, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1] for line in cells
    ]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value).replace("\n", " ")
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 3] + "..."


@dataclass
class Retried:
    id: int
    kind: str
    record: str
    outcome: str  # "requeued", "fixed", "still bad: ...", "gone", "not retried: ..."
    ok: bool


def retry(ctx: Context, record_id: int | None) -> list[Retried]:
    """Retry the row `record_id` (None: every row). Push-side rows requeue their commands; pull-side
    contacts and members are read again and ingested; mapping rows make the lead be decided again."""
    rows = ctx.store.quarantined(record_id)
    if record_id is not None and not rows:
        raise LookupError(f"no quarantine row {record_id} (syncd quarantine list shows them)")
    done: list[Retried] = []
    for row in rows:
        kind = kind_of(row)
        if kind == "push":
            n = ctx.store.requeue_quarantined(row.id)
            outcome = f"requeued {n} command(s): the next push sends them" if n else "not retried: no failed command"
            done.append(Retried(row.id, kind, row.record_key, outcome, bool(n)))
        elif kind == "mapping":
            done.append(_redecide(ctx, row))
        else:
            done.append(_refetch(ctx, row))
    return done


def _redecide(ctx: Context, row: Any) -> Retried:
    payload = row.payload if isinstance(row.payload, dict) else {}
    with ctx.store.begin() as conn:
        conn.execute(sa.delete(t.quarantine).where(t.quarantine.c.id == row.id))
        email = payload.get("email")
        if email:
            ident = t.identities
            conn.execute(sa.update(ident).where(ident.c.email == str(email).lower()).values(**t.touch(ctx.clock())))
    return Retried(row.id, "mapping", row.record_key, "the lead is decided again at the next cycle", True)


def _refetch(ctx: Context, row: Any) -> Retried:
    """Read a quarantined contact or member again and ingest it, as its pull would."""
    from syncd import pull

    key = row.record_key
    if row.source == "hubspot" and key.isdigit():
        found = ctx.hubspot.read_contacts([key], pull.contact_properties(ctx)).records
        ingest = pull.ingest_contacts
    elif row.source == "mailchimp" and (_HASH.match(key) or "@" in key):
        member = ctx.mailchimp.get_member(key if _HASH.match(key) else subscriber_hash(key))
        found = [member] if member is not None else []
        ingest = pull.ingest_members
    else:
        why = "an event is read again only by its stream; fix it at the source"
        return Retried(row.id, "pull", key, f"not retried: {why}", False)
    q = t.quarantine
    with ctx.store.begin() as conn:
        conn.execute(sa.delete(q).where(q.c.id == row.id))
        if not found:
            return Retried(row.id, "pull", key, f"gone: {row.source} no longer has this record", True)
        ingest(ctx, conn, found)
        again = conn.execute(
            sa.select(q.c.reason).where(q.c.source == row.source, q.c.record_key == key).order_by(q.c.id.desc())
        ).first()
    if again is not None:
        return Retried(row.id, "pull", key, f"still bad: {again.reason}", False)
    return Retried(row.id, "pull", key, "fixed: read again and stored", True)
