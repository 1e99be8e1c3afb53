"""A syncd backfill, then incremental cycles, each against its floor (DESIGN.md, "Performance model").

    python bench/sync_bench.py [--contacts 100000 --history-days 180 --rate-scale 10 --latency-ms 20]
                               [--changes 0,0.001,0.01,0.1] [--out bench/results/sync.json]

A sandbox runs in a subprocess with the real limits times --rate-scale (every party: the sandbox and
syncd's own client-side limits, `rate_scale` in the config syncd runs on) and --latency-ms on every
answer. syncd runs in this process, cycle by cycle (`run_cycle(ctx)`), on SQLite in a temp dir.

1. backfill: one cycle over the population and its --history-days of past campaigns.
2. settling: the clock moves to the next Monday 00:05 UTC (every reaction to the past campaigns has then
   been reported and none is pending until Tuesday's newsletter), then cycles run, each after the clock
   moved past syncd's lag window, until one pushes nothing (at most --max-settle): the first re-reads
   syncd's own backfill writes (their echoes) and the reactions reported meanwhile.
3. incremental, for each fraction in --changes: that many contacts get a new `company` (a property syncd
   maps to Mailchimp's COMPANY) through the HubSpot API with a second private app's token, the clock
   moves past the lag window, one cycle runs.
4. campaign: the clock runs the calendar until shortly before the next send after the next campaign
   (Tuesday's newsletter to every subscribed member, and up to 3 days of reactions), past the lag window,
   then one cycle.

For every measured cycle: wall time, API calls per endpoint (/_sandbox/stats; operations inside Mailchimp
batches are listed apart, they are not calls), 429s, stage timings, and the minimal calls computed from the
population (bench/minimal.py) with the floor they need (bench/harness.py FLOOR_FORMULA).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    DAY_MS,
    FLOOR_FORMULA,
    RESULTS,
    ROOT,
    Sandbox,
    api_calls,
    calls_by_vendor,
    exit_on_sigterm,
    syncd_env,
    target,
    write_config,
    write_json,
)
from bench.minimal import Job, Snapshot, activity_totals, changes, minimal_calls

RATIO_TARGET = 1.15
NO_CHANGE_TARGET = 10


def next_monday_ms(now_ms: int) -> int:
    """Monday 00:05 UTC at or after now (1970-01-05 was a Monday)."""
    monday0 = 4 * DAY_MS
    week = 7 * DAY_MS
    t = monday0 + ((now_ms - monday0) // week) * week + 5 * 60_000
    return t if t >= now_ms else t + week


class Bench:
    def __init__(self, sb: Sandbox, ctx: Any, args: argparse.Namespace) -> None:
        self.sb, self.ctx, self.args = sb, ctx, args
        cfg = ctx.settings.config
        self.lag_ms = int(cfg.lag_window_s * 1000)
        self.activity_days, self.backfill_days = cfg.activity_days, cfg.backfill_days
        self.prev_signpost: int | None = None
        self.read: set[str] = set()  # campaigns whose reports a cycle read
        self.unsub_seen: dict[str, int] = {}
        self.last: Snapshot | None = None

    def past_lag(self) -> None:
        """Move the clock past syncd's lag window, so what changed until now is before the next signpost."""
        self.sb.advance_ms(self.lag_ms + 5_000)

    def _scope(self, now: int, first: bool) -> list[str]:
        days = max(self.activity_days, self.backfill_days) if first else self.activity_days
        campaigns = self.sb.mailchimp("/campaigns", {"count": 1000})["campaigns"]
        from bench.minimal import ts_ms

        scope = []
        for c in campaigns:
            sent = ts_ms(c.get("send_time"))
            if sent is not None and sent >= now - days * DAY_MS:
                scope.append(c["id"])
        return scope

    def cycle(self, label: str, first: bool = False, snapshots: bool = True, **extra: Any) -> dict[str, Any]:
        from syncd.pipeline import run_cycle

        sb, args = self.sb, self.args
        pre = Snapshot.take(sb) if snapshots else None
        now = sb.now_ms()
        scope = self._scope(now, first)
        first_reads = {c for c in scope if c not in self.read}
        sends = {}
        if pre is not None:
            sends = {cid: pre.campaigns[cid]["send_ms"] for cid in scope if cid in pre.campaigns}
        since = {
            cid: (sends.get(cid, now) - 1000 if cid in first_reads else (self.prev_signpost or 0)) for cid in scope
        }
        activity = activity_totals(sb, since) if snapshots else {}
        unsub_now = {
            cid: int(sb.mailchimp(f"/reports/{cid}/unsubscribed", {"count": 1})["total_items"]) for cid in scope
        }
        unsub = {cid: n if cid in first_reads else n - self.unsub_seen.get(cid, 0) for cid, n in unsub_now.items()}

        sb.reset_stats()
        start_ms = sb.now_ms()
        t0 = time.monotonic()
        summary = run_cycle(self.ctx)
        wall = time.monotonic() - t0
        stats = sb.stats()
        calls = api_calls(stats["requests"])
        batch_ops = {k: n for k, n in stats["requests"].items() if k.startswith("BATCH ")}
        out: dict[str, Any] = {
            "cycle": label,
            **extra,
            "wall_s": round(wall, 2),
            "calls": sum(calls.values()),
            "calls_by_vendor": calls_by_vendor(stats["requests"]),
            "calls_by_endpoint": calls,
            "batch_operations_by_endpoint": batch_ops,
            "http_429_served": stats["served_429"],
            "stage_seconds": summary.get("stage_seconds"),
            "records_pulled": {k: v["records_pulled"] for k, v in summary["streams"].items()},
            "events_merged": summary.get("events_merged"),
            "commands_pushed": summary["commands"]["pushed"],
            "commands_failed": summary["commands"]["failed"],
            "ok": summary.get("ok"),
        }
        if summary.get("stage_errors"):
            out["stage_errors"] = summary["stage_errors"]
        self.read |= set(scope)
        self.unsub_seen.update(unsub_now)
        prev_signpost = self.prev_signpost
        self.prev_signpost = start_ms - self.lag_ms
        if pre is None:
            return out

        post = Snapshot.take(sb)
        self.last = post
        writes = changes(pre, post)
        if first:
            contacts_to_read, members_to_read = len(pre.contacts), len(pre.members)
        else:
            edge = prev_signpost or 0
            contacts_to_read = sum(1 for _, lm in pre.contacts.values() if lm > edge)
            members_to_read = sum(1 for _, lc in pre.members.values() if lc > edge)
        job = Job(
            first=first,
            contacts_to_read=contacts_to_read,
            members_to_read=members_to_read,
            activity=activity,
            first_reads=first_reads,
            unsubscribes=unsub,
            facts={"owners": pre.owners},
        )
        minimal = minimal_calls(job, writes, args.tier, args.rate_scale, args.latency_ms)
        floor = minimal["floor_s"]
        out.update(
            {
                "contacts": len(pre.contacts),
                "members": len(pre.members),
                "calls_made": out["calls"],
                **minimal,
                "ratio_to_floor": round(out["wall_s"] / floor, 2) if floor else None,
                "calls_ratio": round(out["calls"] / minimal["minimal_calls"], 2) if minimal["minimal_calls"] else None,
                "population_facts": {
                    "contacts_to_read": contacts_to_read,
                    "members_to_read": members_to_read,
                    "campaigns_in_scope": len(scope),
                    "campaigns_first_read": len(first_reads),
                    "activity_recipients_to_read": sum(activity.values()),
                    "unsubscribes_to_read": sum(unsub.values()),
                    "owners": pre.owners,
                    **writes,
                },
            }
        )
        return out

    def change(self, fraction: float, rng: random.Random, tag: str) -> int:
        """Give `fraction` of the contacts a new company through the HubSpot API (the benchmark's token)."""
        assert self.last is not None
        ids = sorted(self.last.contacts, key=int)
        n = round(fraction * len(ids))
        chosen = rng.sample(ids, n)
        for i in range(0, n, 100):
            inputs = [{"id": cid, "properties": {"company": f"Renamed {tag} {cid}"}} for cid in chosen[i : i + 100]]
            self.sb.hubspot("POST", "/crm/v3/objects/contacts/batch/update", {"inputs": inputs})
        return n


def print_cycle(c: dict[str, Any]) -> None:
    print(
        f"{c['cycle']:>14}: {c['wall_s']:8.1f} s, {c['calls']} calls"
        + (
            f" (minimal {c['minimal_calls']}), floor {c['floor_s']} s, ratio {c['ratio_to_floor']}"
            if "minimal_calls" in c
            else ""
        )
        + f", 429s {c['http_429_served']}; stages {c['stage_seconds']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=100_000, help="the sandbox's population (personas)")
    p.add_argument("--history-days", type=float, default=180.0)
    p.add_argument("--rate-scale", type=float, default=10.0)
    p.add_argument("--tier", type=int, default=190, choices=(100, 190, 250))
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--changes", default="0,0.001,0.01,0.1", help="fractions of contacts changed, one cycle each")
    p.add_argument("--max-settle", type=int, default=3, help="settling cycles at most")
    p.add_argument("--no-campaign", action="store_true", help="skip the cycle after a campaign send")
    p.add_argument("--out", type=Path, default=RESULTS / "sync.json")
    args = p.parse_args(argv)
    exit_on_sigterm()
    fractions = [float(x) for x in args.changes.split(",") if x.strip()]

    from syncd.app import build_context
    from syncd.settings import load_settings

    t_all = time.monotonic()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(
            args.contacts,
            rate_scale=args.rate_scale,
            tier=args.tier,
            latency_ms=args.latency_ms,
            history_days=args.history_days,
            seed=args.seed,
        ) as sb,
    ):
        config = write_config(Path(tmp), rate_scale=args.rate_scale, hubspot_tier=args.tier)
        settings = load_settings(env=syncd_env(sb, Path(tmp), config))
        import os

        os.chdir(ROOT)
        ctx = build_context(settings)  # follows the sandbox's clock (SYNCD_CLOCK_URL) at every cycle
        bench = Bench(sb, ctx, args)
        campaigns = sb.mailchimp("/campaigns", {"count": 1000})["campaigns"]
        history = {
            "campaigns": len(campaigns),
            "opens": sum((c.get("report_summary") or {}).get("opens", 0) for c in campaigns),
            "clicks": sum((c.get("report_summary") or {}).get("clicks", 0) for c in campaigns),
            "unsubscribes": sum(
                int(sb.mailchimp(f"/reports/{c['id']}/unsubscribed", {"count": 1})["total_items"]) for c in campaigns
            ),
        }
        history["events"] = history["opens"] + history["clicks"] + history["unsubscribes"]

        backfill = bench.cycle("backfill", first=True)
        backfill["events"] = history["events"]
        backfill["history"] = history
        print_cycle(backfill)

        # settling: past every pending reaction, then cycles until one pushes nothing
        now = sb.now_ms()
        quiet = next_monday_ms(now)
        moved = sb.advance_ms(quiet - now)
        settling: list[dict[str, Any]] = []
        for i in range(args.max_settle):
            bench.past_lag()
            s = bench.cycle(f"settling {i + 1}", snapshots=False)
            print_cycle(s)
            settling.append(s)
            if not sum(s["commands_pushed"].values()):
                break
        settle_note = {
            "clock_advanced_to_ms": quiet,
            "generated_on_the_way": moved.get("generated"),
            "cycles": settling,
            "why": "a first incremental cycle re-reads syncd's own backfill writes (their echoes); the clock "
            "moved to Monday 00:05 UTC (no reaction pending, no send before Tuesday) and past the lag window "
            "before each cycle, until one pushed nothing",
        }
        # one more snapshot base for the change cycles (the settling cycles took none)
        incremental: list[dict[str, Any]] = []
        rng = random.Random(args.seed)
        for k, fraction in enumerate(fractions):
            if bench.last is None:
                bench.last = Snapshot.take(sb)
            n = bench.change(fraction, rng, f"c{k}") if fraction else 0
            bench.past_lag()
            c = bench.cycle(f"{fraction * 100:g}% changed", changed=n, changed_fraction=fraction)
            print_cycle(c)
            incremental.append(c)
        if not args.no_campaign:
            from sandbox.simulation import campaigns_between

            now = sb.now_ms()
            upcoming = campaigns_between(args.seed, now, now + 15 * DAY_MS)
            send = upcoming[0].send_ms
            stop = min(send + 3 * DAY_MS, (upcoming[1].send_ms - 60_000) if len(upcoming) > 1 else send + 3 * DAY_MS)
            moved = sb.advance_ms(stop - now)
            bench.past_lag()
            c = bench.cycle(
                "after campaign send",
                campaign={
                    "send_time_ms": send,
                    "clock_moved_ms": stop - now,
                    "generated": moved.get("generated"),
                },
            )
            c["changed"] = c["population_facts"]["activity_recipients_to_read"]
            print_cycle(c)
            incremental.append(c)

    zero = next((c for c in incremental if c.get("changed_fraction") == 0), None)
    report = {
        "rate_scale": args.rate_scale,
        "tier": args.tier,
        "latency_ms": args.latency_ms,
        "history_days": args.history_days,
        "seed": args.seed,
        "sandbox_personas": args.contacts,
        "floor_formula": FLOOR_FORMULA,
        "backfill": {
            **backfill,
            "targets": {
                "ratio_to_floor": target(backfill["ratio_to_floor"], RATIO_TARGET),
                "http_429_served": target(backfill["http_429_served"], 0),
            },
        },
        "settling": settle_note,
        "incremental": {
            "cycles": incremental,
            "no_change_calls": zero["calls"] if zero else None,
            "targets": {
                "no_change_calls": target(zero["calls"] if zero else None, NO_CHANGE_TARGET),
                **{f"ratio_to_floor[{c['cycle']}]": target(c.get("ratio_to_floor"), RATIO_TARGET) for c in incremental},
            },
        },
        "seconds": round(time.monotonic() - t_all, 1),
    }
    write_json(args.out, report)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
