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
    """The report, read at one moment: the store's scores and the sandbox's state, fetched after the last
    cycle. Segment and cadence counts are over the Mailchimp members (the population syncd tags), so they
    can be set beside the tag counts; leads only in HubSpot are counted apart."""
    from contracts.identity import subscriber_hash

    owners = _owner_names(state)
    with ctx.store.begin() as conn:
        linked = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.identities)
            .where(t.identities.c.hubspot_id.is_not(None), t.identities.c.subscriber_hash.is_not(None))
        ).scalar_one()
        identities = conn.execute(sa.select(sa.func.count()).select_from(t.identities)).scalar_one()
        events = dict(conn.execute(sa.select(t.events.c.kind, sa.func.count()).group_by(t.events.c.kind)).all())
        scored = conn.execute(
            sa.select(t.identities.c.subscriber_hash, t.scores.c.email, t.scores.c.segment, t.scores.c.cadence).join(
                t.scores, t.scores.c.email == t.identities.c.email
            )
        ).all()
        hot = conn.execute(
            sa.select(t.scores).where(t.scores.c.segment == "hot").order_by(t.scores.c.score.desc()).limit(5)
        ).all()
        quarantined = conn.execute(sa.select(t.quarantine.c.reason)).scalars().all()
    contacts_by_id = {c["id"]: c for c in state["hubspot"]["contacts"]}
    contacts_by_email = {
        str(c["properties"].get("email") or "").strip().lower(): c["properties"] for c in state["hubspot"]["contacts"]
    }
    member_hashes = {m.get("id") or subscriber_hash(m["email_address"]) for m in state["mailchimp"]["members"]}
    by_hash = {r.subscriber_hash or subscriber_hash(r.email): r for r in scored}
    in_audience = [by_hash[h] for h in member_hashes if h in by_hash]
    crm_only = [r for r in scored if (r.subscriber_hash or subscriber_hash(r.email)) not in member_hashes]
    tasks = []
    for task in sorted(state["hubspot"]["tasks"], key=lambda x: (x.get("createdAt") or "", x["id"])):
        p = task["properties"]
        cid = (task.get("associations") or {}).get("contacts", [None])[0]
        contact = contacts_by_id.get(str(cid), {}).get("properties", {})
        owner_id = p.get("hubspot_owner_id")
        tasks.append(
            {
                "id": task["id"],
                "subject": p.get("hs_task_subject"),
                "lead": _name(contact) or contact.get("email") or f"contact {cid}",
                "email": contact.get("email"),
                "owner": owners.get(str(owner_id), f"owner {owner_id}") if owner_id else "unassigned",
                "created": _day(task.get("createdAt") or p.get("hs_createdate")),
                "due": _day(p.get("hs_timestamp")),
                "reasons": _reasons(p.get("hs_task_body")),
            }
        )
    # the tags as Mailchimp holds them now, on the same members
    tags = collections.Counter(
        tg["name"] if isinstance(tg, dict) else tg for m in state["mailchimp"]["members"] for tg in m.get("tags", [])
    )
    why = []
    for row in hot:
        top = sorted(row.ledger, key=lambda e: -abs(e.get("points_after_decay") or 0))[:3]
        why.append(
            {
                "email": row.email,
                "name": _name(contacts_by_email.get(row.email, {})) or row.email,
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
        "segments": _count(r.segment for r in in_audience),
        "cadences": _count(r.cadence for r in in_audience),
        "segments_crm_only": _count(r.segment for r in crm_only),
        "tasks": tasks,
        "notes": len(state["hubspot"]["notes"]),
        "tags": dict(sorted((k, v) for k, v in tags.items() if k.startswith(("segment:", "stage:", "cadence:")))),
        "hot_leads": why,
        "quarantined": collections.Counter(r.split(" ")[0] for r in quarantined),
    }


def _count(values: Any) -> dict[str, int]:
    return dict(sorted(collections.Counter(str(v) for v in values).items()))


def _name(props: dict) -> str:
    return " ".join(p for p in ((props.get("firstname") or "").strip(), (props.get("lastname") or "").strip()) if p)


def _day(value: Any) -> str | None:
    """YYYY-MM-DD of an API time (ISO 8601, or epoch ms as text)."""
    from contracts.timeparse import epoch_ms, iso

    ms = epoch_ms(value)
    return None if ms is None else iso(ms)[:10]


def _reasons(body: str | None, n: int = 3) -> list[str]:
    """The first `n` items of the task body's "Top contributing activity", as the rep reads them."""
    lines = [line for line in _text_lines(body) if line]
    if "Top contributing activity" not in lines:
        return []
    out = []
    for line in lines[lines.index("Top contributing activity") + 1 :]:
        if line in ("Fit", "Penalties", "none") or line.startswith(("Score breakdown", "syncd-ref")):
            break
        out.append(line)
    return out[:n]


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
    audience = sum(r["segments"].values())
    out(f"Segments:        {_pairs(r['segments'])} (the {audience} Mailchimp members scored)")
    if r["segments_crm_only"]:
        out(f"                 and in HubSpot only, not tagged: {_pairs(r['segments_crm_only'])}")
    out(f"Cadences:        {_pairs(r['cadences'])}")
    out("Tags applied:    " + ", ".join(f"{k} {v}" for k, v in r["tags"].items()))
    out(f"Notes written:   {r['notes']} (one per contact per cycle with new engagement)")
    if r["quarantined"]:
        out("Quarantined:     " + ", ".join(f"{k} {v}" for k, v in r["quarantined"].items()))
    out(f"\nTasks created for sales: {len(r['tasks'])}")
    for task in r["tasks"]:
        email = f" <{task['email']}>" if task["email"] and task["email"] != task["lead"] else ""
        out(f"  - {task['created']}  {task['lead']}{email} -> {task['owner']} (due {task['due']})")
        for line in task["reasons"]:
            out(f"      {line}")
    if r["hot_leads"]:
        hot = r["segments"].get("hot", 0) + r["segments_crm_only"].get("hot", 0)
        top = f" (the {len(r['hot_leads'])} highest of {hot})" if hot > len(r["hot_leads"]) else ""
        out(f"\nWho is hot and why{top}:")
        for h in r["hot_leads"]:
            who = h["email"] if h["name"] == h["email"] else f"{h['name']} <{h['email']}>"
            out(f"  {who} (score {h['score']}): " + "; ".join(h["because"]))
    out(f"\n{r['cycles']} cycles, {r['api_calls']} API calls, {r['http_429_seen']} 429s, {r['seconds']} s")


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
