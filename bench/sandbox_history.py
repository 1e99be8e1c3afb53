"""How long a world with a past takes to build, how much memory it holds, and how fast it serves that past.

    python bench/sandbox_history.py [--contacts 100000] [--history-days 180] [--seed 1]

Builds `World(SandboxConfig(contacts=N, history_days=D))`: the population, both stores, and D days of the
campaign calendar with the engagement it caused (the same model `POST /_sandbox/clock` runs). Records the
build time and the peak RSS (getrusage ru_maxrss), counts what the history holds (campaigns, emails sent,
events by kind, statuses, contacts with form submissions) from the stores themselves, then starts the server
and times the first requests a first syncd run makes against that past: the campaign list, email-activity
pages (the first one per campaign builds its index), with `since`, the unsubscribed report, a member's
activity feed, contact pages and a search, and one more simulated week.
Writes bench/results/sandbox_history.json. Targets: build < 60 s and peak RSS < 3 GiB with >= 1,000,000
activity events (opens, clicks, bounces, unsubscribes) for 100,000 contacts over 180 days.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sandbox_scale import START_MS, peak_rss_mib, timed
from sandbox.server import SandboxServer
from sandbox.timefmt import DAY_MS, mailchimp_ts, parse_ts_ms
from sandbox.world import SandboxConfig, World

RESULTS = Path(__file__).resolve().parent / "results"
BUILD_TARGET_S, RSS_TARGET_MIB, EVENTS_TARGET = 60.0, 3 * 1024, 1_000_000


def contents(world: World) -> dict[str, Any]:
    """What the history put in the stores, counted from the stores (not from the simulator's own tally)."""
    camps = world.mailchimp.campaigns
    sent = sum(c.emails_sent for c in camps)
    hard, soft = sum(c.hard_bounces for c in camps), sum(c.soft_bounces for c in camps)
    delivered = max(sent - hard - soft, 1)
    events = {
        "open": sum(c.opens for c in camps),
        "click": sum(c.clicks for c in camps),
        "bounce": hard + soft,
        "unsubscribe": sum(len(c.unsubscribes) for c in camps),
    }
    converted = world.hubspot.contacts.rows.values()
    return {
        "campaigns": len(camps),
        "first_send": mailchimp_ts(camps[0].send_ms) if camps else None,
        "last_send": mailchimp_ts(camps[-1].send_ms) if camps else None,
        "emails_sent": sent,
        "activity_events": sum(events.values()),
        "events_by_kind": {
            **events,
            "hard_bounce": hard,
            "soft_bounce": soft,
            "unique_open": sum(c.unique_opens for c in camps),
            "unique_click": sum(c.unique_clicks for c in camps),
            "form_submission": sum(int(r.props["num_conversion_events"]) for r in converted),
        },
        "rates_of_delivered": {
            "unique_open": round(sum(c.unique_opens for c in camps) / delivered, 4),
            "unique_click": round(sum(c.unique_clicks for c in camps) / delivered, 4),
            "unsubscribe": round(events["unsubscribe"] / delivered, 5),
            "hard_bounce_of_sent": round(hard / max(sent, 1), 5),
            "soft_bounce_of_sent": round(soft / max(sent, 1), 5),
            "opens_per_opener": round(events["open"] / max(sum(c.unique_opens for c in camps), 1), 3),
        },
        "hubspot_contacts": world.hubspot.contacts.live_count(),
        "hubspot_contacts_with_form_submissions": len(world.hubspot.contacts.rows),
        "mailchimp_members": len(world.population.mailchimp_indices),
        "member_statuses": {k: v for k, v in world.mailchimp.status_counts().items() if v},
        "simulator_counts": dict(world.history),
    }


def probe(sb: SandboxServer) -> list[dict[str, Any]]:
    world, probes = sb.world, []
    mc = requests.Session()
    mc.auth = ("bench", world.config.mailchimp_key)
    hs = requests.Session()
    hs.headers["Authorization"] = f"Bearer {world.config.hubspot_token}"
    api, lists = f"{sb.url}/3.0", f"{sb.url}/3.0/lists/{world.list_id}"
    listed = timed("GET campaigns count=1000", lambda: mc.get(f"{api}/campaigns", params={"count": 1000}), probes)
    campaigns = (listed or {}).get("campaigns") or []
    if campaigns:
        chosen = max(campaigns, key=lambda c: c["emails_sent"])
        biggest = chosen["id"]
        report = f"{api}/reports/{biggest}/email-activity"
        timed("GET email-activity count=1000 (builds index)", lambda: mc.get(report, params={"count": 1000}), probes)
        timed(
            "GET email-activity count=1000 offset=50000",
            lambda: mc.get(report, params={"count": 1000, "offset": 50_000}),
            probes,
        )
        since = mailchimp_ts(parse_ts_ms(chosen["send_time"]) + DAY_MS // 2)
        timed(
            "GET email-activity since=<send + 12 h>",
            lambda: mc.get(report, params={"count": 1000, "since": since}),
            probes,
        )
        other = campaigns[0]["id"]
        timed(
            "GET email-activity count=1000, other campaign",
            lambda: mc.get(f"{api}/reports/{other}/email-activity", params={"count": 1000}),
            probes,
        )
        timed(
            "GET unsubscribed count=1000",
            lambda: mc.get(f"{api}/reports/{biggest}/unsubscribed", params={"count": 1000}),
            probes,
        )
    member = world.mailchimp.find_slot(int(world.mailchimp.campaigns[0].recipients[0])) if campaigns else None
    if member is not None:
        timed("GET member by hash", lambda: mc.get(f"{lists}/members/{member.hash}"), probes)
        timed(
            "GET member activity-feed",
            lambda: mc.get(f"{lists}/members/{member.hash}/activity-feed", params={"count": 1000}),
            probes,
        )
    timed(
        "GET members since_last_changed=<90 days ago> count=1000",
        lambda: mc.get(
            f"{lists}/members",
            params={"count": 1000, "since_last_changed": mailchimp_ts(world.clock.now_ms() - 90 * DAY_MS)},
        ),
        probes,
    )
    timed("GET contacts limit=100", lambda: hs.get(f"{sb.url}/crm/v3/objects/contacts", params={"limit": 100}), probes)
    search = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "lastmodifieddate",
                        "operator": "GT",
                        "value": str(world.clock.now_ms() - 30 * DAY_MS),
                    }
                ]
            }
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 100,
    }
    timed(
        "POST contacts/search lastmodifieddate GT <30 days ago>",
        lambda: hs.post(f"{sb.url}/crm/v3/objects/contacts/search", json=search),
        probes,
    )
    timed(
        "POST /_sandbox/clock advance_days=7",
        lambda: requests.post(f"{sb.url}/_sandbox/clock", json={"advance_days": 7}, timeout=600),
        probes,
    )
    return probes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--history-days", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rss_before = peak_rss_mib()
    t0 = time.perf_counter()
    world = World(
        SandboxConfig(contacts=args.contacts, seed=args.seed, start_ms=START_MS, history_days=args.history_days)
    )
    build_s = time.perf_counter() - t0
    rss_built = peak_rss_mib()
    held = contents(world)
    print(
        f"World(contacts={args.contacts:,}, history_days={args.history_days:g}) built in {build_s:.2f} s; peak RSS "
        f"{rss_built:.0f} MiB (before: {rss_before:.0f} MiB)"
    )
    print(
        f"  {held['campaigns']} campaigns ({held['first_send']} .. {held['last_send']}), {held['emails_sent']:,} "
        f"emails sent, {held['activity_events']:,} activity events: "
        + ", ".join(f"{k} {v:,}" for k, v in held["events_by_kind"].items())
    )
    print(
        f"  {held['hubspot_contacts']:,} HubSpot contacts ({held['hubspot_contacts_with_form_submissions']:,} with "
        f"form submissions), {held['mailchimp_members']:,} Mailchimp members: {held['member_statuses']}"
    )
    print(f"  rates: {held['rates_of_delivered']}")
    with SandboxServer(world=world) as sb:
        probes = probe(sb)
    rss_end = peak_rss_mib()
    ok = build_s < BUILD_TARGET_S and rss_end < RSS_TARGET_MIB and held["activity_events"] >= EVENTS_TARGET
    print(
        f"peak RSS after serving: {rss_end:.0f} MiB; targets (< {BUILD_TARGET_S:.0f} s, < {RSS_TARGET_MIB} MiB, "
        f">= {EVENTS_TARGET:,} events): {'met' if ok else 'MISSED'}"
    )
    result = {
        "population": args.contacts,
        "seed": args.seed,
        "history_days": args.history_days,
        "build_s": round(build_s, 3),
        "peak_rss_mib_before_build": round(rss_before, 1),
        "peak_rss_mib_after_build": round(rss_built, 1),
        "peak_rss_mib_after_serving": round(rss_end, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **held,
        "targets_met": ok,
        "probes": probes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sandbox_history.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
