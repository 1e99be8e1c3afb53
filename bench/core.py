"""syncd's own CPU work, without any API: ingest, merge plus score, decide, on one core.

    python bench/core.py [--identities 20000] [--min-events 10] [--max-events 50] [--seed 7] [--profile STAGE]

Builds a realistic store in a temporary SQLite file through the real ingest functions (syncd/pull.py:
HubSpot contact pages of 100 through `ingest_contacts`, Mailchimp member pages of 1,000 through
`ingest_members`, campaign activity pages of 1,000 events through `store_events`, each page in its own
transaction as the streams commit them): IDENTITIES leads, most of them both a HubSpot contact and a
Mailchimp member, 10 to 50 engagement events each (opens, clicks on pricing/demo/blog/careers pages,
bounces, unsubscribes) over 26 campaigns of the last 90 days, some HubSpot form conversions.

Then, pinned to one core (os.sched_setaffinity), times
- core: merge plus score, the path the score stage runs (syncd/decide.py: `Chunk` reads a chunk's inputs,
  `Chunk.lead` merges one identity's contact, member and events, `Chunk.score` scores it with
  syncd.domain.scoring.score), over every identity, in a transaction that writes nothing;
  target: 50,000 events per second;
- decide: syncd.domain.decisions.decide over the leads and scores just computed (commands per second);
- stage: the real `score_and_decide` (scores, pushed state, outbox, audit written), first on the fresh store,
  then again one simulated day later with nothing new (time decay only: the writes it causes are echoes);
- ingest: contacts/s, members/s and events/s through the ingest functions (above).

Writes bench/results/core.json and prints a short summary; exits 0 when the core target is met.
`--profile core|decide|stage|ingest` runs that part under cProfile and prints its hottest functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
TARGET_EVENTS_PER_S = 50_000
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000
CAMPAIGNS = 26  # two a week over the last 90 days
CONTACT_PAGE, MEMBER_PAGE, EVENT_PAGE = 100, 1000, 1000

JOBS = [
    "VP Marketing",
    "Head of Growth",
    "Marketing Manager",
    "Software Engineer",
    "Director of Sales",
    "Founder",
    "Student",
    "Account Executive",
    "CTO",
    "Product Manager",
    "",
]
SIZES = ["1-10", "11-50", "51-200", "100-500", "500-1000", "1000+", "5000", ""]
INDUSTRIES = ["software", "internet", "retail", "banking", "marketing and advertising", "education", ""]
URLS = [
    "https://www.example-saas.com/pricing",
    "https://www.example-saas.com/pricing?utm_source=newsletter",
    "https://www.example-saas.com/demo",
    "https://www.example-saas.com/book-a-demo?utm_campaign=q1",
    "https://www.example-saas.com/case-studies/acme",
    "https://www.example-saas.com/customers",
    "https://www.example-saas.com/careers",
    "https://www.example-saas.com/blog/lead-scoring-101",
    "https://www.example-saas.com/blog/nurture-emails",
    "https://www.example-saas.com/product/integrations",
    "https://www.example-saas.com/webinars/spring",
    "https://www.example-saas.com/",
]


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_s(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


# -- the population ------------------------------------------------------------------------------------------
def population(n: int, min_events: int, max_events: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Contacts (HubSpot API records), members (Mailchimp API records), campaigns and activity events."""
    from contracts.identity import subscriber_hash

    rnd = random.Random(seed)
    campaigns = [
        {"id": f"cmp{c:03d}", "send_time_ms": NOW - 90 * DAY + int(c * 90 * DAY / CAMPAIGNS) + 9 * 3_600_000}
        for c in range(CAMPAIGNS)
    ]
    contacts, members, events = [], [], []
    for i in range(n):
        email = f"lead{i:06d}@example{i % 97}.com"
        in_hubspot, in_mailchimp = i % 20 != 0, i % 7 != 0
        created = NOW - rnd.randint(1, 400) * DAY
        if in_hubspot:
            conversions = rnd.choice([0, 0, 0, 0, 1, 2, 3])
            props = {
                "email": email if i % 50 else email.upper(),
                "firstname": f"First{i}",
                "lastname": f"Last{i}",
                "jobtitle": rnd.choice(JOBS),
                "company": f"Company {i % 3000}",
                "numemployees": rnd.choice(SIZES),
                "industry": rnd.choice(INDUSTRIES),
                "country": rnd.choice(["France", "Germany", "United States", ""]),
                "lifecyclestage": rnd.choice(["subscriber", "lead", "lead", "marketingqualifiedlead"]),
                "hubspot_owner_id": rnd.choice(["7", "8", ""]),
                "createdate": iso_ms(created),
                "lastmodifieddate": iso_ms(NOW - rnd.randint(1, 60) * DAY),
                "hs_legal_basis": "Freely given consent from contact" if i % 5 else "",
                "hs_email_optout": "true" if i % 211 == 0 else "false",
                "num_conversion_events": str(conversions),
                "recent_conversion_event_name": rnd.choice(["Ebook download", "Contact sales", "Request a demo"])
                if conversions
                else "",
                "recent_conversion_date": iso_ms(NOW - rnd.randint(1, 80) * DAY) if conversions else "",
            }
            contacts.append({"id": str(100_000 + i), "properties": props, "archived": False})
        if not in_mailchimp:
            continue
        status = "subscribed" if i % 13 else rnd.choice(["unsubscribed", "cleaned", "pending"])
        members.append(
            {
                "id": subscriber_hash(email),
                "email_address": email,
                "status": status,
                "merge_fields": {"FNAME": f"First{i}", "LNAME": f"Last{i}", "COMPANY": f"Company {i % 3000}"},
                "tags": [{"id": 1, "name": "newsletter"}] if i % 3 else [],
                "last_changed": iso_s(created + DAY),
            }
        )
        for k in range(rnd.randint(min_events, max_events)):
            camp = rnd.choice(campaigns)
            when = min(NOW - 60_000, camp["send_time_ms"] + rnd.randint(60, 20 * 86_400) * 1000)
            roll = rnd.random()
            ev: dict[str, Any] = {"campaign_id": camp["id"], "occurred": iso_s(when), "email": email}
            if roll < 0.6:
                ev["kind"] = "open"
            elif roll < 0.985:
                ev.update(kind="click", url=rnd.choice(URLS))
            elif roll < 0.995:
                ev.update(kind="bounce", bounce_type=rnd.choice(["soft", "soft", "hard"]))
            else:
                ev["kind"] = "unsubscribe"
            ev["event_id"] = f"{camp['id']}:{i}:{k}:{ev['kind']}"
            events.append(ev)
    events.sort(key=lambda e: (e["campaign_id"], e["email"]))  # a report's pages: one campaign after another
    return {"contacts": contacts, "members": members, "campaigns": campaigns, "events": events}


# -- the context ---------------------------------------------------------------------------------------------
def make_context(url: str, clock: list[int]) -> Any:
    from syncd.context import Context
    from syncd.mappings import load_mappings
    from syncd.rules import load_rules
    from syncd.settings import load_settings
    from syncd.store.db import open_store

    settings = load_settings({}, str(ROOT / "config/syncd.yaml"))
    store = open_store(url, clock=lambda: clock[0])
    return Context(
        settings=settings,
        store=store,
        hubspot=None,  # type: ignore[arg-type]  # nothing here calls a vendor
        mailchimp=None,  # type: ignore[arg-type]
        rules=load_rules(ROOT / "config/scoring.yaml"),
        mappings=load_mappings(ROOT / "mappings/default.yaml"),
        clock=lambda: clock[0],
        calls=None,  # type: ignore[arg-type]
    )


def profiled(name: str, wanted: str | None, fn: Any) -> Any:
    if wanted != name:
        return fn()
    prof = cProfile.Profile()
    out = prof.runcall(fn)
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(30)
    print(text.getvalue())
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
    print(text.getvalue())
    return out


# -- the stages ----------------------------------------------------------------------------------------------
def ingest(ctx: Any, pop: dict[str, list[dict[str, Any]]], profile: str | None) -> dict[str, Any]:
    from syncd import pull
    from syncd.store import schema as t

    def pages(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
        return [records[i : i + size] for i in range(0, len(records), size)]

    def run(fn: Any, records: list[dict[str, Any]], size: int) -> float:
        started = time.perf_counter()
        for page in pages(records, size):
            with ctx.store.begin() as conn:
                fn(ctx, conn, [dict(r) for r in page])
        return time.perf_counter() - started

    out: dict[str, Any] = {}
    with ctx.store.begin() as conn:
        ctx.store.upsert(conn, t.campaigns, [{**c, "fetched_ms": NOW} for c in pop["campaigns"]], ["id"])
        ctx.store.upsert(conn, t.owners, [{"id": o, "archived": False, "fetched_ms": NOW} for o in ("7", "8")], ["id"])

    def figures(kind: str, seconds: float) -> None:
        n = len(pop[kind])
        out[kind] = {"records": n, "seconds": round(seconds, 3), "per_s": round(n / seconds)}

    figures("contacts", profiled("ingest", profile, lambda: run(pull.ingest_contacts, pop["contacts"], CONTACT_PAGE)))
    figures("members", run(pull.ingest_members, pop["members"], MEMBER_PAGE))

    def store(ctx: Any, conn: Any, page: list[dict[str, Any]]) -> None:
        pull.store_events(ctx, conn, "mailchimp", page)

    figures("events", run(store, pop["events"], EVENT_PAGE))
    return out


def identity_chunks(ctx: Any) -> list[list[Any]]:
    import sqlalchemy as sa

    from syncd.decide import CHUNK
    from syncd.store import schema as t

    with ctx.store.begin() as conn:
        rows = conn.execute(sa.select(t.identities).order_by(t.identities.c.id)).all()
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


def merge_and_score(ctx: Any, chunks: list[list[Any]]) -> tuple[float, int, list[tuple[Any, Any, Any]]]:
    """The score stage's read, merge and score of every identity; nothing written. Returns (seconds,
    events scored, [(chunk, lead, result)])."""
    from syncd.decide import Chunk

    now = ctx.clock()
    done: list[tuple[Any, Any, Any]] = []
    events = 0
    started = time.perf_counter()
    with ctx.store.begin() as conn:
        for rows in chunks:
            chunk = Chunk(ctx, conn, rows, now)
            for row in rows:
                lead = chunk.lead(row)
                done.append((chunk, lead, chunk.score(lead)))
                events += len(lead.events)
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds, events, done


def decide_all(ctx: Any, scored: list[tuple[Any, Any, Any]]) -> tuple[float, int]:
    """syncd.domain.decisions.decide for each lead (pure: nothing is written). Returns (seconds, commands)."""
    from syncd.decide import at, policy_of
    from syncd.domain.decisions import decide

    policy = policy_of(ctx, frozenset({"7", "8"}))
    now = at(ctx.clock())
    commands = 0
    started = time.perf_counter()
    for chunk, lead, result in scored:
        commands += len(decide(lead, result, chunk.pushed_of(lead), policy, now).commands)
    return time.perf_counter() - started, commands


def stage(ctx: Any, **kwargs: Any) -> dict[str, Any]:
    """The real score-and-decide stage; its figures and the commands it enqueued, by kind."""
    import sqlalchemy as sa

    from syncd.decide import score_and_decide
    from syncd.store import schema as t

    with ctx.store.begin() as conn:
        before = conn.execute(sa.select(sa.func.max(t.outbox.c.id))).scalar() or 0
    started = time.perf_counter()
    n = score_and_decide(ctx, **kwargs)
    seconds = time.perf_counter() - started
    with ctx.store.begin() as conn:
        kinds = Counter(k for (k,) in conn.execute(sa.select(t.outbox.c.kind).where(t.outbox.c.id > before)).all())
    total = sum(kinds.values())
    return {
        "identities": n,
        "seconds": round(seconds, 3),
        "identities_per_s": round(n / seconds) if seconds else None,
        "commands": total,
        "commands_per_s": round(total / seconds) if seconds else None,
        "commands_by_kind": dict(sorted(kinds.items())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=20_000)
    parser.add_argument("--min-events", type=int, default=10)
    parser.add_argument("--max-events", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", choices=["core", "decide", "stage", "ingest"])
    parser.add_argument("--output", default=str(RESULTS / "core.json"))
    args = parser.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})  # one core
    os.environ.setdefault("SYNCD_LOG_LEVEL", "WARNING")
    from syncd.logs import configure_logging

    configure_logging("json", "WARNING", [])

    t0 = time.perf_counter()
    pop = population(args.identities, args.min_events, args.max_events, args.seed)
    print(
        f"population: {len(pop['contacts'])} contacts, {len(pop['members'])} members, {len(pop['events'])} events "
        f"({time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    clock = [NOW]
    with tempfile.TemporaryDirectory(prefix="syncd-core-") as tmp:
        ctx = make_context(f"sqlite:///{tmp}/core.db", clock)
        ingest_figures = ingest(ctx, pop, args.profile)
        print(
            "ingest: " + ", ".join(f"{ingest_figures[k]['per_s']:,} {k}/s" for k in ("contacts", "members", "events")),
            flush=True,
        )
        chunks = identity_chunks(ctx)
        identities = sum(len(c) for c in chunks)
        merge_and_score(ctx, chunks[:2])  # warm-up: imports, compiled patterns
        seconds, events, scored = profiled("core", args.profile, lambda: merge_and_score(ctx, chunks))
        decide_s, commands = profiled("decide", args.profile, lambda: decide_all(ctx, scored))
        scored.clear()
        first = profiled("stage", args.profile, lambda: stage(ctx))
        clock[0] = NOW + DAY  # a day later, nothing new: decay alone
        later = stage(ctx, rescore_after_ms=0)
        ctx.store.close()
    load = os.getloadavg()[0]
    result = {
        "events": events,
        "identities": identities,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "identities_per_s": round(identities / seconds),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "met": events / seconds >= TARGET_EVENTS_PER_S,
        "load_avg_1m": round(load, 2),
        "cpus_available": len(cpus),
        "decide": {
            "leads": identities,
            "seconds": round(decide_s, 3),
            "commands": commands,
            "commands_per_s": round(commands / decide_s),
            "leads_per_s": round(identities / decide_s),
        },
        "stage_first": first,
        "stage_decay_day": later,
        "ingest": ingest_figures,
        "score_write_threshold": getattr(ctx.settings.config, "score_write_threshold", None),
        "args": vars(args),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"core: {result['events_per_s']:,} events/s, {result['identities_per_s']:,} identities/s "
        f"({events:,} events, {identities:,} identities in {seconds:.2f} s; target {TARGET_EVENTS_PER_S:,} events/s: "
        f"{'met' if result['met'] else 'NOT met'}); load {load:.2f}"
    )
    print(f"decide: {result['decide']['commands_per_s']:,} commands/s ({commands:,} commands in {decide_s:.2f} s)")
    print(
        f"stage (score_and_decide): first {first['identities_per_s']:,} identities/s, {first['commands']:,} commands; "
        f"a day later {later['identities_per_s']:,} identities/s, {later['commands']:,} commands "
        f"{later['commands_by_kind']}"
    )
    print(f"wrote {out}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
