"""`syncd demo`: a sandbox in-process, syncd run through simulated weeks, a readable report. No credentials."""

from __future__ import annotations

import collections
import json
import logging
import os
import tempfile
import time
from typing import Any

import requests
import sqlalchemy as sa

DEMO_RATE_SCALE = 10.0  # the sandbox's limits ×10 so a few simulated weeks fit in well under two minutes


def _owner_names(state: dict) -> dict[str, str]:
    return {
        o["id"]: f"{o.get('firstName', '')} {o.get('lastName', '')}".strip() or o.get("email", o["id"])
        for o in state["hubspot"]["owners"]
    }


def run_demo(
    contacts: int = 400, weeks: int = 6, seed: int = 42, json_out: bool = False, out=print, history_days: int = 90
) -> int:
    from sandbox.server import SandboxServer
    from sandbox.world import SandboxConfig
    from syncd.app import build_context
    from syncd.pipeline import run_cycle
    from syncd.settings import load_settings
    from syncd.store import schema as t

    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="syncd-demo-")
    cfg = SandboxConfig(contacts=contacts, seed=seed, rate_scale=DEMO_RATE_SCALE, history_days=history_days)
    with SandboxServer(cfg) as sb:
        env = {
            **sb.env,
            "SYNCD_DATABASE_URL": f"sqlite:///{workdir}/demo.db",
            "SYNCD_LOG_FORMAT": "console",
            "SYNCD_LOG_LEVEL": "WARNING",
            "SYNCD_HTTP_PORT": "0",
        }
        if os.environ.get("SYNCD_CONFIG"):
            env["SYNCD_CONFIG"] = os.environ["SYNCD_CONFIG"]
        settings = load_settings(env=env)
        # syncd's own limiter follows the sandbox's scaled limits
        settings = settings.model_copy(
            update={"config": settings.config.model_copy(update={"rate_scale": DEMO_RATE_SCALE})}
        )
        ctx = build_context(settings)  # on the sandbox's clock (SYNCD_CLOCK_URL), read at every cycle
        logging.getLogger().setLevel(logging.WARNING)
        if not json_out:
            out(
                f"syncd demo: sandbox at {sb.url} with {contacts} simulated leads (seed {seed}) and "
                f"{history_days:g} days of past campaigns, limits x{DEMO_RATE_SCALE:g}; data in {workdir}"
            )
        steps = []
        s = run_cycle(ctx)
        steps.append(("backfill", s))
        if not json_out:
            out(_step_line("day 0 (backfill)", s))
        for half_week in range(weeks * 2):
            r = requests.post(f"{sb.url}/_sandbox/clock", json={"advance_days": 3.5}, timeout=60)
            r.raise_for_status()
            s = run_cycle(ctx)
            label = f"day {3.5 * (half_week + 1):g}"
            steps.append((label, s))
            if not json_out:
                out(_step_line(label, s))
        state = requests.get(f"{sb.url}/_sandbox/state", timeout=60).json()
        report = _report(ctx, state, t, sa)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["cycles"] = len(steps)
    report["api_calls"] = sum(sum(s["api_calls"].values()) for _, s in steps)
    report["http_429_seen"] = sum(s["http_429_seen"] for _, s in steps)
    if json_out:
        out(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_report(report, out)
    return 0


def _step_line(label: str, s: dict) -> str:
    pulled = {k: v["records_pulled"] for k, v in s["streams"].items()}
    pushed = s["commands"]["pushed"]
    kinds = ", ".join(f"{k.split('.')[1]} {v}" for k, v in sorted(pushed.items())) or "nothing"
    return (
        f"  {label:<17} pulled {pulled.get('hubspot_contacts', 0):>4} contacts, "
        f"{pulled.get('mailchimp_members', 0):>4} members, {pulled.get('mailchimp_activity', 0):>5} activities; "
        f"merged {s['events_merged']:>5} events; pushed {sum(pushed.values()):>4} "
        f"({kinds}); "
        f"{s['seconds']:.1f} s"
    )


def _report(ctx: Any, state: dict, t: Any, sa: Any) -> dict[str, Any]:
    owners = _owner_names(state)
    with ctx.store.begin() as conn:
        linked = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.identities)
            .where(t.identities.c.hubspot_id.is_not(None), t.identities.c.subscriber_hash.is_not(None))
        ).scalar_one()
        identities = conn.execute(sa.select(sa.func.count()).select_from(t.identities)).scalar_one()
        events = dict(conn.execute(sa.select(t.events.c.kind, sa.func.count()).group_by(t.events.c.kind)).all())
        segments = dict(conn.execute(sa.select(t.scores.c.segment, sa.func.count()).group_by(t.scores.c.segment)).all())
        hot = conn.execute(
            sa.select(t.scores).where(t.scores.c.segment == "hot").order_by(t.scores.c.score.desc()).limit(5)
        ).all()
        quarantined = conn.execute(sa.select(t.quarantine.c.reason)).scalars().all()
    contacts_by_id = {c["id"]: c for c in state["hubspot"]["contacts"]}
    tasks = []
    for task in state["hubspot"]["tasks"]:
        p = task["properties"]
        cid = (task.get("associations") or {}).get("contacts", [None])[0]
        contact = contacts_by_id.get(str(cid), {}).get("properties", {})
        tasks.append(
            {
                "subject": p.get("hs_task_subject"),
                "owner": owners.get(str(p.get("hubspot_owner_id")), p.get("hubspot_owner_id")),
                "contact": contact.get("email"),
                "due": p.get("hs_timestamp"),
                "reason": _text_lines(p.get("hs_task_body"))[:4],
            }
        )
    tags = collections.Counter(
        tg["name"] if isinstance(tg, dict) else tg for m in state["mailchimp"]["members"] for tg in m.get("tags", [])
    )
    why = []
    for row in hot:
        top = sorted(row.ledger, key=lambda e: -abs(e.get("points_after_decay") or 0))[:3]
        why.append(
            {
                "email": row.email,
                "score": int(row.score),
                "because": [
                    f"{e['rule']} ({e['points_after_decay']:+.0f}) {e.get('detail') or ''}".strip() for e in top
                ],
            }
        )
    return {
        "contacts": len(state["hubspot"]["contacts"]),
        "members": len(state["mailchimp"]["members"]),
        "identities": identities,
        "linked": linked,
        "events": events,
        "segments": segments,
        "tasks": tasks,
        "notes": len(state["hubspot"]["notes"]),
        "tags": dict(sorted((k, v) for k, v in tags.items() if k.startswith(("segment:", "stage:", "cadence:")))),
        "hot_leads": why,
        "quarantined": collections.Counter(r.split(" ")[0] for r in quarantined),
    }


def _text_lines(body: str | None) -> list[str]:
    """The lines of an HTML task body as a person reads them (tags dropped, entities decoded)."""
    import html
    import re

    text = re.sub(r"<br\s*/?>|</p>|</li>", "\n", body or "")
    return [html.unescape(line).strip() for line in re.sub(r"<[^>]+>", "", text).splitlines()]


def _print_report(r: dict, out) -> None:
    out("")
    out(
        f"Contacts synced: {r['linked']} leads linked across {r['contacts']} HubSpot contacts and "
        f"{r['members']} Mailchimp members ({r['identities']} identities)"
    )
    out("Events merged:   " + ", ".join(f"{k} {v}" for k, v in sorted(r["events"].items())))
    out(
        "Segments:        " + ", ".join(f"{k} {v}" for k, v in sorted(r["segments"].items(), key=lambda kv: str(kv[0])))
    )
    out("Tags applied:    " + ", ".join(f"{k} {v}" for k, v in r["tags"].items()))
    out(f"Notes written:   {r['notes']} (one per contact per cycle with new engagement)")
    if r["quarantined"]:
        out("Quarantined:     " + ", ".join(f"{k} {v}" for k, v in r["quarantined"].items()))
    out(f"\nTasks created for sales: {len(r['tasks'])}")
    for task in r["tasks"][:10]:
        out(f"  - {task['subject']}  -> owner {task['owner']}")
        for line in task["reason"][1:3]:
            if line.strip():
                out(f"      {line.strip()}")
    if len(r["tasks"]) > 10:
        out(f"  ... and {len(r['tasks']) - 10} more")
    if r["hot_leads"]:
        out("\nWho is hot and why:")
        for h in r["hot_leads"]:
            out(f"  {h['email']} (score {h['score']}): " + "; ".join(h["because"]))
    out(f"\n{r['cycles']} cycles, {r['api_calls']} API calls, {r['http_429_seen']} 429s, {r['seconds']} s")
