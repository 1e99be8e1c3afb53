"""What one cycle changed, for people: who went hot and why, the hand-off tasks created, and the problems
(records quarantined, commands that failed, stages that failed). Read from the store after the cycle, so
it says what was recorded, not what was meant; `syncd once` prints it after the counts, and `--json` keeps
it as the summary's `report` object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncd.store import schema as t

SHOWN = 5  # at most this many lines per list; the rest is "and N more"
REASONS = 3  # top reasons named per hot lead


@dataclass(frozen=True)
class Window:
    """When the cycle ran: `run_id` (quarantine rows name it), its start and end on the services' clock
    (scores are dated by it) and on the store's clock (outbox rows are)."""

    run_id: int | None
    started_ms: int
    finished_ms: int
    store_from_ms: int
    store_to_ms: int


def window_of(store: Any, run_id: int | None, store_from_ms: int, store_to_ms: int) -> Window:
    """The window of run `run_id` as recorded in `runs` (the store's window given by the caller, who read
    `store.clock()` around the cycle)."""
    started, finished = store_from_ms, store_to_ms
    if run_id is not None:
        with store.begin() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
        if row is not None:
            started, finished = int(row.started_ms), int(row.finished_ms or row.started_ms)
    return Window(run_id, started, finished, store_from_ms, store_to_ms)


def cycle_report(
    store: Any, rules: Any, window: Window, stage_errors: dict[str, str] | None = None, shown: int = SHOWN
) -> dict[str, Any]:
    """The cycle's changes as JSON-ready data:

    {"went_hot": {"count", "leads": [{email, name, score, reasons}]}, "tasks": {"count", "items": [{lead,
    email, owner, owner_id, trigger, due, hubspot_task_id}]}, "problems": {"quarantined": {"count",
    "items": [{source, record, reason}]}, "failed_commands": {"count", "items": [{kind, target, error}]},
    "stage_errors": {stage: reason}}}; each list holds at most `shown` items, the count says how many there
    were. `rules` names the hot segment (the highest band)."""
    hot = rules.segments.bands[-1].name
    with store.begin() as conn:
        went_hot = _went_hot(conn, hot, window)
        tasks = _tasks(conn, window)
        failed = _failed(conn, window)
        quarantined = _quarantined(conn, window, {f["target"] for f in failed})
    return {
        "went_hot": {"segment": hot, "count": len(went_hot), "leads": went_hot[:shown]},
        "tasks": {"count": len(tasks), "items": tasks[:shown]},
        "problems": {
            "quarantined": {"count": len(quarantined), "items": quarantined[:shown]},
            "failed_commands": {"count": len(failed), "items": failed[:shown]},
            "stage_errors": dict(stage_errors or {}),
        },
    }


def render(report: dict[str, Any]) -> str:
    """The report as a few plain-text lines."""
    lines: list[str] = []
    hot = report["went_hot"]
    if hot["count"]:
        lines.append(f"went {hot['segment']}: {hot['count']}")
        for lead in hot["leads"]:
            who = lead["email"] if lead["name"] == lead["email"] else f"{lead['name']} <{lead['email']}>"
            why = "; ".join(lead["reasons"]) or "no single event stands out"
            lines.append(f"  {who}, score {lead['score']}: {why}")
        lines += _more(hot["count"], len(hot["leads"]))
    else:
        lines.append(f"went {hot['segment']}: nobody")
    tasks = report["tasks"]
    if tasks["count"]:
        lines.append(f"tasks created: {tasks['count']}")
        for task in tasks["items"]:
            lead = task["email"] if task["lead"] == task["email"] else f"{task['lead']} <{task['email']}>"
            ident = f", HubSpot task {task['hubspot_task_id']}" if task["hubspot_task_id"] else ""
            lines.append(f"  {lead} -> {task['owner']} ({task['trigger']}{ident})")
        lines += _more(tasks["count"], len(tasks["items"]))
    else:
        lines.append("tasks created: none")
    problems = report["problems"]
    quarantined, failed, stages = problems["quarantined"], problems["failed_commands"], problems["stage_errors"]
    if not (quarantined["count"] or failed["count"] or stages):
        lines.append("problems: none")
        return "\n".join(lines)
    lines.append("problems:")
    for stage, reason in stages.items():
        lines.append(f"  stage {stage} failed: {reason}")
    if failed["count"]:
        lines.append(f"  commands failed: {failed['count']}")
        for f in failed["items"]:
            lines.append(f"    {f['kind']} {f['target']}: {f['error']}")
        lines += ["  " + m for m in _more(failed["count"], len(failed["items"]))]
    if quarantined["count"]:
        lines.append(f"  records quarantined: {quarantined['count']}")
        for q in quarantined["items"]:
            lines.append(f"    {q['source']} {q['record']}: {q['reason']}")
        lines += ["  " + m for m in _more(quarantined["count"], len(quarantined["items"]))]
    return "\n".join(lines)


def _more(count: int, shown: int) -> list[str]:
    return [f"  and {count - shown} more"] if count > shown else []


def _went_hot(conn: sa.Connection, hot: str, w: Window) -> list[dict[str, Any]]:
    """Leads whose segment became the hot one during the cycle, highest score first."""
    s = t.scores.c
    rows = conn.execute(
        sa.select(t.scores, t.identities.c.hubspot_id)
        .outerjoin(t.identities, t.identities.c.email == s.email)
        .where(s.segment == hot, s.segment_since_ms >= w.started_ms, s.segment_since_ms <= w.finished_ms)
        .order_by(s.score.desc(), s.email)
    ).all()
    names = _names(conn, [r.hubspot_id for r in rows if r.hubspot_id])
    return [
        {
            "email": r.email,
            "name": names.get(r.hubspot_id or "") or r.email,
            "score": round(r.score),
            "reasons": reasons(r.ledger or []),
        }
        for r in rows
    ]


def reasons(ledger: list[dict[str, Any]], n: int = REASONS) -> list[str]:
    """The `n` stored ledger entries that added the most points, as "rule +20 (detail)"."""
    top = sorted(
        (e for e in ledger if (e.get("points_after_decay") or 0) > 0),
        key=lambda e: (-(e.get("points_after_decay") or 0), -(e.get("occurred_ms") or 0)),
    )[:n]
    return [
        f"{e['rule']} {e['points_after_decay']:+.0f}" + (f" ({_clip(str(e['detail']))})" if e.get("detail") else "")
        for e in top
    ]


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _names(conn: sa.Connection, hubspot_ids: list[str]) -> dict[str, str]:
    if not hubspot_ids:
        return {}
    hc = t.hubspot_contacts.c
    out = {}
    for r in conn.execute(sa.select(hc.hubspot_id, hc.properties).where(hc.hubspot_id.in_(sorted(set(hubspot_ids))))):
        props = r.properties or {}
        name = " ".join(p for p in ((props.get("firstname") or "").strip(), (props.get("lastname") or "").strip()) if p)
        if name:
            out[r.hubspot_id] = name
    return out


def owner_names(conn: sa.Connection) -> dict[str, str]:
    """Owner id -> "First Last" (or their email), from the owners syncd read."""
    return {
        o.id: " ".join(p for p in (o.first_name, o.last_name) if p) or o.email or o.id
        for o in conn.execute(sa.select(t.owners))
    }


def _tasks(conn: sa.Connection, w: Window) -> list[dict[str, Any]]:
    """Hand-off tasks HubSpot accepted during the cycle, oldest first."""
    ob = t.outbox.c
    rows = conn.execute(
        sa.select(ob.payload, ob.result, ob.updated_ms)
        .where(ob.kind == "hubspot.task", ob.state == "done")
        .where(ob.updated_ms >= w.store_from_ms, ob.updated_ms <= w.store_to_ms)
        .order_by(ob.updated_ms, ob.id)
    ).all()
    owners = owner_names(conn) if rows else {}
    return [task_item(r.payload or {}, r.result, owners) for r in rows]


def task_item(payload: dict[str, Any], result: Any, owners: dict[str, str]) -> dict[str, Any]:
    """One hand-off task command, for people: lead, owner, trigger, due time, reasons, HubSpot's task id."""
    lead = payload.get("lead") or {}
    owner = str(payload.get("owner_id") or "")
    email = str(lead.get("email") or "")
    due = (payload.get("properties") or {}).get("hs_timestamp")
    return {
        "lead": str(lead.get("name") or email or f"contact {payload.get('contact_id')}"),
        "email": email,
        "contact_id": str(payload.get("contact_id") or ""),
        "owner": owners.get(owner, f"owner {owner}") if owner else "unassigned",
        "owner_id": owner or None,
        "trigger": ", ".join(str(x) for x in payload.get("triggers") or []),
        "reasons": [str(x) for x in lead.get("reasons") or []],
        "due_ms": int(str(due)) if str(due or "").isdigit() else None,
        "hubspot_task_id": str(result["id"]) if isinstance(result, dict) and result.get("id") else None,
    }


def _failed(conn: sa.Connection, w: Window) -> list[dict[str, Any]]:
    ob = t.outbox.c
    rows = conn.execute(
        sa.select(ob.kind, ob.target, ob.last_error)
        .where(ob.state == "failed", ob.updated_ms >= w.store_from_ms, ob.updated_ms <= w.store_to_ms)
        .order_by(ob.id)
    ).all()
    return [{"kind": r.kind, "target": r.target, "error": r.last_error or ""} for r in rows]


def _quarantined(conn: sa.Connection, w: Window, failed_targets: set[str]) -> list[dict[str, Any]]:
    """Records quarantined by this run (a failed command is listed once, with the commands)."""
    if w.run_id is None:
        return []
    q = t.quarantine.c
    rows = conn.execute(sa.select(q.source, q.record_key, q.reason).where(q.run_id == w.run_id).order_by(q.id)).all()
    return [
        {"source": r.source, "record": r.record_key, "reason": r.reason}
        for r in rows
        if r.record_key not in failed_targets
    ]
