"""How close a syncd cycle gets to the APIs' own limits (the performance model in DESIGN.md).

A sandbox runs in a subprocess with the real limits (HubSpot's tier per rolling 10 s and 4 searches/s;
Mailchimp's 10 connections) multiplied by --rate-scale, and a network round trip of --latency-ms on every
answer. syncd runs a backfill cycle, then a day of simulated engagement and an incremental cycle. For each
cycle the floor is the time the API calls syncd made need at the allowed rates:
    HubSpot:   calls / (tier * scale / 10 s)
    Mailchimp: calls * latency / (10 * scale connections)
and the figure reported is wall time / (HubSpot floor + Mailchimp floor): syncd's stages run one after the
other, so 1.0 would mean no time lost between calls. Also reported: calls per endpoint, 429s, peak RSS of
syncd's process (the sandbox's memory is its own). Results go to bench/results/sync_cycle.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def start_sandbox(args: argparse.Namespace) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncd.cli",
            "sandbox",
            "--port",
            "0",
            "--contacts",
            str(args.contacts),
            "--seed",
            "7",
            "--rate-scale",
            str(args.rate_scale),
            "--hubspot-tier",
            str(args.tier),
            "--latency-ms",
            str(args.latency_ms),
            "--start-ms",
            "1767225600000",
            "--history-days",
            str(args.history_days),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    env = {}
    while len(env) < 6:  # the six export lines
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("sandbox exited before printing its environment")
        name, _, value = line.strip().removeprefix("export ").partition("=")
        env[name] = value
    return proc, env


def cycle(ctx, sandbox_url: str, label: str, args: argparse.Namespace) -> dict:
    from syncd.pipeline import run_cycle

    requests.delete(f"{sandbox_url}/_sandbox/stats", timeout=30)
    started = time.monotonic()
    summary = run_cycle(ctx)
    wall = time.monotonic() - started
    stats = requests.get(f"{sandbox_url}/_sandbox/stats", timeout=30).json()
    hs = sum(n for k, n in stats["requests"].items() if " /crm/" in k)
    mc = sum(n for k, n in stats["requests"].items() if " /3.0" in k)
    hs_rate = args.tier * args.rate_scale / 10.0
    searches = sum(n for k, n in stats["requests"].items() if k.endswith("/search"))
    floor_hs = max(hs / hs_rate, searches / (4 * args.rate_scale))  # search: 4 requests/s on top
    floor_mc = mc * (args.latency_ms / 1000) / (10 * args.rate_scale)
    floor = floor_hs + floor_mc
    out = {
        "cycle": label,
        "wall_s": round(wall, 2),
        "hubspot_calls": hs,
        "mailchimp_calls": mc,
        "floor_s": round(floor, 2),
        "floor_hubspot_s": round(floor_hs, 2),
        "floor_mailchimp_s": round(floor_mc, 2),
        "ratio_to_floor": round(wall / floor, 2) if floor else None,
        "http_429_served": stats["served_429"],
        "pushed": summary["commands"]["pushed"],
        "stage_seconds": summary["stage_seconds"],
        "records_pulled": {k: v["records_pulled"] for k, v in summary["streams"].items()},
        "calls_by_endpoint": stats["requests"],
    }
    print(
        f"{label:>12}: {wall:7.1f} s for {hs} HubSpot + {mc} Mailchimp calls; floor {floor:.1f} s "
        f"(HubSpot {floor_hs:.1f} + Mailchimp {floor_mc:.1f}); ratio {out['ratio_to_floor']}; "
        f"429s {stats['served_429']}\n{'':>14}stages: {summary['stage_seconds']}"
    )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=5000)
    p.add_argument("--rate-scale", type=float, default=1.0)
    p.add_argument("--tier", type=int, default=190, choices=(100, 190, 250))
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument(
        "--history-days",
        type=float,
        default=90.0,
        help="the sandbox's past the backfill reads (syncd sandbox's default; 0: an empty start)",
    )
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from syncd.app import build_context
    from syncd.settings import load_settings

    proc, env = start_sandbox(args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                env={
                    **env,
                    "SYNCD_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                    "SYNCD_LOG_LEVEL": "WARNING",
                    "SYNCD_LOG_FORMAT": "console",
                    "SYNCD_CONFIG": str(ROOT / "config/syncd.yaml"),
                }
            )
            os.chdir(ROOT)
            ctx = build_context(settings)  # follows the sandbox's clock through SYNCD_CLOCK_URL, every cycle
            results = [cycle(ctx, env["HUBSPOT_BASE_URL"], "backfill", args)]
            requests.post(f"{env['HUBSPOT_BASE_URL']}/_sandbox/clock", json={"advance_days": 1}, timeout=600)
            results.append(cycle(ctx, env["HUBSPOT_BASE_URL"], "incremental", args))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report = {
        "contacts": args.contacts,
        "rate_scale": args.rate_scale,
        "tier": args.tier,
        "latency_ms": args.latency_ms,
        "history_days": args.history_days,
        "cycles": results,
        "syncd_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_avg_1m": os.getloadavg()[0],
    }
    out = ROOT / "bench/results/sync_cycle.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"syncd peak RSS {report['syncd_peak_rss_mib']} MiB; written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
