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
import contextlib
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


class Timer:
    """Wall and CPU seconds of a block. The machine may be shared: rates are given per CPU-second of this
    process (what one dedicated core would sustain; the work is single-threaded) and per wall second."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0

    def rates(self, n: int, unit: str) -> dict[str, Any]:
        return {
            unit: n,
            "seconds": round(self.wall, 3),
            "cpu_seconds": round(self.cpu, 3),
            "per_s": round(n / self.cpu) if self.cpu else None,
            "per_wall_s": round(n / self.wall) if self.wall else None,
        }


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


def print_profile(prof: cProfile.Profile) -> None:
    for order, count in (("tottime", 30), ("cumulative", 40)):
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats(order).print_stats(count)
        print(text.getvalue())


def profiled(name: str, wanted: str | None, fn: Any) -> Any:
    if wanted != name:
        return fn()
    prof = cProfile.Profile(time.process_time)
    out = prof.runcall(fn)
    print_profile(prof)
    return out


# -- the stages ----------------------------------------------------------------------------------------------
def ingest(ctx: Any, pop: dict[str, list[dict[str, Any]]], profile: str | None) -> dict[str, Any]:
    from syncd import pull
    from syncd.store import schema as t

    def pages(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
        return [records[i : i + size] for i in range(0, len(records), size)]

    def run(fn: Any, records: list[dict[str, Any]], size: int) -> Timer:
        copies = [[dict(r) for r in page] for page in pages(records, size)]  # as fetched: fresh dicts
        with Timer() as timer:
            for page in copies:
                with ctx.store.begin() as conn:
                    fn(ctx, conn, page)
        return timer

    out: dict[str, Any] = {}
    with ctx.store.begin() as conn:
        ctx.store.upsert(conn, t.campaigns, [{**c, "fetched_ms": NOW} for c in pop["campaigns"]], ["id"])
        ctx.store.upsert(conn, t.owners, [{"id": o, "archived": False, "fetched_ms": NOW} for o in ("7", "8")], ["id"])

    def figures(kind: str, timer: Timer) -> None:
        out[kind] = timer.rates(len(pop[kind]), "records")

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


def merge_score_decide(ctx: Any, chunks: list[list[Any]], profile: str | None) -> tuple[Timer, Timer, int, int]:
    """Chunk by chunk, as the score stage goes: read, merge and score every identity (`Chunk`, `Chunk.lead`,
    `Chunk.score`), then decide each (syncd.domain.decisions.decide, pure); nothing is written. Returns
    (merge+score timer, decide timer, events scored, commands decided)."""
    from syncd import decide as stage_module
    from syncd.decide import Chunk, at, policy_of

    gc_paused = getattr(stage_module, "gc_paused", contextlib.nullcontext)  # what the stage does (older: nothing)
    from syncd.domain.decisions import decide

    now = ctx.clock()
    policy = policy_of(ctx, frozenset({"7", "8"}))
    core, decided = Timer(), Timer()
    core.wall = core.cpu = decided.wall = decided.cpu = 0.0
    events = commands = 0
    prof = cProfile.Profile(time.process_time) if profile in ("core", "decide") else None
    with ctx.store.begin() as conn:
        for rows in chunks:
            if prof is not None and profile == "core":
                prof.enable()
            with Timer() as timer, gc_paused():  # the stage pauses the collector per chunk too
                chunk = Chunk(ctx, conn, rows, now)
                scored = []
                for row in rows:
                    lead = chunk.lead(row)
                    scored.append((lead, chunk.score(lead)))
            if prof is not None:
                prof.disable()
            core.wall, core.cpu = core.wall + timer.wall, core.cpu + timer.cpu
            events += sum(len(lead.events) for lead, _ in scored)
            if prof is not None and profile == "decide":
                prof.enable()
            with Timer() as timer, gc_paused():
                for lead, result in scored:
                    commands += len(decide(lead, result, chunk.pushed_of(lead), policy, at(now)).commands)
            if prof is not None:
                prof.disable()
            decided.wall, decided.cpu = decided.wall + timer.wall, decided.cpu + timer.cpu
        conn.rollback()
    if prof is not None:
        print_profile(prof)
    return core, decided, events, commands


def stage(ctx: Any, **kwargs: Any) -> dict[str, Any]:
    """The real score-and-decide stage; its figures and the commands it enqueued, by kind."""
    import sqlalchemy as sa

    from syncd.decide import score_and_decide
    from syncd.store import schema as t

    with ctx.store.begin() as conn:
        before = conn.execute(sa.select(sa.func.max(t.outbox.c.id))).scalar() or 0
    with Timer() as timer:
        n = score_and_decide(ctx, **kwargs)
    with ctx.store.begin() as conn:
        kinds = Counter(k for (k,) in conn.execute(sa.select(t.outbox.c.kind).where(t.outbox.c.id > before)).all())
    total = sum(kinds.values())
    out = timer.rates(n, "identities")
    return {
        **out,
        "identities_per_s": out["per_s"],
        "commands": total,
        "commands_per_s": round(total / timer.cpu) if timer.cpu else None,
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
        merge_score_decide(ctx, chunks[:2], None)  # warm-up: imports, compiled patterns
        timer, decided, events, commands = merge_score_decide(ctx, chunks, args.profile)
        first = profiled("stage", args.profile, lambda: stage(ctx))
        clock[0] = NOW + DAY  # a day later, nothing new: decay alone
        later = stage(ctx, rescore_after_ms=0)
        threshold = getattr(ctx.settings.config, "score_write_threshold", None)
        ctx.store.close()
    load = os.getloadavg()[0]
    result = {
        "events": events,
        "identities": identities,
        "seconds": round(timer.cpu, 3),
        "events_per_s": round(events / timer.cpu),
        "identities_per_s": round(identities / timer.cpu),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "met": events / timer.cpu >= TARGET_EVENTS_PER_S,
        "load_avg_1m": round(load, 2),
        "rates_are": "per CPU-second of the one core the benchmark is pinned to (process_time); wall figures beside",
        "wall_seconds": round(timer.wall, 3),
        "events_per_wall_s": round(events / timer.wall),
        "cpus_available": len(cpus),
        "decide": {
            **decided.rates(identities, "leads"),
            "commands": commands,
            "commands_per_s": round(commands / decided.cpu),
        },
        "stage_first": first,
        "stage_decay_day": later,
        "ingest": ingest_figures,
        "score_write_threshold": threshold,
        "args": vars(args),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"core: {result['events_per_s']:,} events/s, {result['identities_per_s']:,} identities/s per CPU-second "
        f"({events:,} events, {identities:,} identities in {timer.cpu:.2f} CPU s, {timer.wall:.2f} wall s; target "
        f"{TARGET_EVENTS_PER_S:,} events/s: {'met' if result['met'] else 'NOT met'}); load {load:.2f}"
    )
    print(
        f"decide: {result['decide']['commands_per_s']:,} commands/s, {result['decide']['per_s']:,} leads/s "
        f"({commands:,} commands in {decided.cpu:.2f} CPU s)"
    )
    print(
        f"stage (score_and_decide): first {first['identities_per_s']:,} identities/s, {first['commands']:,} commands; "
        f"a day later {later['identities_per_s']:,} identities/s, {later['commands']:,} commands "
        f"{later['commands_by_kind']}"
    )
    print(f"wrote {out}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
