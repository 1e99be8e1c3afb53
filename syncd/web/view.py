"""The status page's data, read from each workspace's store (the page itself is syncd.web.status).

`status_view(daemon)` builds the `StatusView` that `render_status` draws: per workspace its health (from
the daemon's readiness), recent runs (the daemon's job runs and `syncd once` cycles), lag per stream,
segment counts with their daily trend, recent hand-off tasks, the quarantine and the configuration errors.
`retry(daemon, id, workspace)` queues quarantined commands again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from contracts.timeparse import iso
from syncd import streams
from syncd.context import Context
from syncd.store import schema as t

CYCLES_SHOWN = 15
TASKS_SHOWN = 10
QUARANTINE_SHOWN = 20
TREND_DAYS = 30
SEGMENTS = ("cold", "warm", "hot", "reengage")


def status_view(daemon: Any) -> dict[str, Any]:
    return {
        "generated_at": iso(int(datetime.now(UTC).timestamp() * 1000)),
        "workspaces": [workspace_view(daemon, space) for space in daemon.spaces],
    }


def workspace_view(daemon: Any, space: Any) -> dict[str, Any]:
    ok, problems, _detail = daemon.space_readiness(space)
    config_errors = [space.problems["reload"]] if "reload" in space.problems else []
    # failing: nothing works (no store, or every problem is a failure); degraded: some jobs have problems
    failing = space.ctx is None or any("failing" in p or p.startswith("store") for p in problems)
    health = {"state": "ok" if ok else ("failing" if failing else "degraded"), "problems": problems}
    view: dict[str, Any] = {
        "name": space.name,
        "health": health,
        "cycles": [],
        "lag": [{"stream": s.name, "lag_s": None, "cursor_at": None} for s in streams.REGISTRY],
        "segments": {"current": dict.fromkeys(SEGMENTS, 0), "trend": []},
        "tasks": [],
        "quarantine": {"total": 0, "items": []},
        "config_errors": config_errors,
    }
    if space.ctx is None:
        return view
    try:
        view.update(store_view(space.ctx))
    except Exception as exc:
        from syncd.failures import explain

        health["state"] = "failing"
        health["problems"] = [*problems, f"store: {explain(exc)}"]
    return view


def store_view(ctx: Context) -> dict[str, Any]:
    """The parts of a workspace's view read from its store."""
    with ctx.store.begin() as conn:
        cycles = _cycles(conn)
        segments = _segments(conn)
        tasks = _tasks(ctx, conn)
        quarantine = _quarantine(conn)
    return {"cycles": cycles, "lag": streams.lag(ctx), "segments": segments, "tasks": tasks, "quarantine": quarantine}


def _cycles(conn: sa.Connection) -> list[dict[str, Any]]:
    jr = t.job_runs.c
    runs = [
        {
            "job": r.job,
            "started_ms": r.started_ms,
            "seconds": (r.finished_ms - r.started_ms) / 1000,
            "pulled": int((r.figures or {}).get("pulled") or 0),
            "pushed": int((r.figures or {}).get("pushed") or 0),
            "failed": int((r.figures or {}).get("failed") or 0),
            "http_429": int((r.figures or {}).get("http_429") or 0),
            "ok": bool(r.ok),
            "error": r.error,
        }
        for r in conn.execute(sa.select(t.job_runs).order_by(jr.id.desc()).limit(CYCLES_SHOWN))
    ]
    rn = t.runs.c
    for r in conn.execute(
        sa.select(t.runs).where(rn.finished_ms.is_not(None)).order_by(rn.id.desc()).limit(CYCLES_SHOWN)
    ):
        s = r.summary or {}
        commands = s.get("commands") or {}
        runs.append(
            {
                "job": "cycle (syncd once)",
                "started_ms": r.started_ms,
                "seconds": float(s.get("seconds") or (r.finished_ms - r.started_ms) / 1000),
                "pulled": sum(int(v.get("records_pulled") or 0) for v in (s.get("streams") or {}).values()),
                "pushed": sum(int(n) for n in (commands.get("pushed") or {}).values()),
                "failed": sum(int(n) for n in (commands.get("failed") or {}).values()),
                "http_429": int(s.get("http_429_seen") or 0),
                "ok": bool(r.ok),
                "error": "; ".join(f"{k}: {v}" for k, v in (s.get("stage_errors") or {}).items()) or None,
            }
        )
    runs.sort(key=lambda c: -c["started_ms"])
    return [{**{k: v for k, v in c.items() if k != "started_ms"}, "started_at": iso(c["started_ms"])} for c in runs][
        :CYCLES_SHOWN
    ]


def _segments(conn: sa.Connection) -> dict[str, Any]:
    sc = t.scores.c
    current = dict.fromkeys(SEGMENTS, 0)
    for segment, n in conn.execute(sa.select(sc.segment, sa.func.count()).group_by(sc.segment)):
        if segment in current:
            current[segment] = int(n)
    sd = t.segment_days.c
    rows = conn.execute(sa.select(sd.day, sd.counts).order_by(sd.day.desc()).limit(TREND_DAYS)).all()
    trend = [{"day": r.day, **{seg: int((r.counts or {}).get(seg) or 0) for seg in SEGMENTS}} for r in reversed(rows)]
    return {"current": current, "trend": trend}


def _tasks(ctx: Context, conn: sa.Connection) -> list[dict[str, Any]]:
    ob = t.outbox.c
    rows = conn.execute(
        sa.select(ob.payload, ob.updated_ms)
        .where(ob.kind == "hubspot.task", ob.state == "done")
        .order_by(ob.updated_ms.desc(), ob.id.desc())
        .limit(TASKS_SHOWN)
    ).all()
    owner_ids = {str((r.payload or {}).get("owner_id")) for r in rows if (r.payload or {}).get("owner_id")}
    ow = t.owners.c
    owners = {
        o.id: " ".join(p for p in (o.first_name, o.last_name) if p) or o.email or o.id
        for o in conn.execute(sa.select(t.owners).where(ow.id.in_(sorted(owner_ids))))
    }
    cfg = ctx.settings.config
    out = []
    for r in rows:
        p = r.payload or {}
        lead = p.get("lead") or {}
        owner = str(p.get("owner_id") or "")
        contact = str(p.get("contact_id") or "")
        url = (
            f"{cfg.hubspot_app_url}/contacts/{cfg.hubspot_portal_id}/record/0-1/{contact}"
            if cfg.hubspot_portal_id and contact
            else ""
        )
        out.append(
            {
                "lead_name": str(lead.get("name") or lead.get("email") or f"contact {contact}"),
                "lead_email": str(lead.get("email") or ""),
                "owner": owners.get(owner, f"owner {owner}" if owner else "unassigned"),
                "trigger": ", ".join(str(x) for x in p.get("triggers") or []),
                "reasons": [str(x) for x in lead.get("reasons") or []],
                "created_at": iso(r.updated_ms),
                "hubspot_url": url,
            }
        )
    return out


def _quarantine(conn: sa.Connection) -> dict[str, Any]:
    q = t.quarantine.c
    total = int(conn.execute(sa.select(sa.func.count()).select_from(t.quarantine)).scalar_one())
    items = [
        {
            "id": int(r.id),
            "source": r.source,
            "record": r.record_key,
            "reason": r.reason,
            "created_at": iso(r.created_ms),
        }
        for r in conn.execute(sa.select(t.quarantine).order_by(q.id.desc()).limit(QUARANTINE_SHOWN))
    ]
    return {"total": total, "items": items}


def retry(daemon: Any, record_id: int | None, workspace: str | None) -> int:
    """Queue again the commands behind quarantine row `record_id` of `workspace` (the only one when None),
    or behind every quarantined row of every workspace (`record_id` None). Returns how many."""
    if record_id is None or workspace is None and len(daemon.spaces) == 1:
        spaces = list(daemon.spaces)
    else:
        spaces = [s for s in daemon.spaces if s.name == workspace]
    return sum(s.ctx.store.requeue_quarantined(record_id) for s in spaces if s.ctx is not None)
