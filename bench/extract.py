"""How fast syncd pulls contacts and members when the APIs' limits are out of the way.

    python bench/extract.py [--contacts 100000 --rate-scale 1000 --latency-ms 0]

A sandbox in a subprocess (--history-days 0, limits x --rate-scale, no latency by default), syncd in this
process on SQLite in a temp dir (config `rate_scale` matching). Runs the setup stage, then the
`hubspot_contacts` and `mailchimp_members` streams of a backfill alone (syncd.streams.run, each page
committed with its cursor as in a cycle), timing each: contacts_per_s and members_per_s are the records
stored over the stream's seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import RESULTS, ROOT, Sandbox, api_calls, exit_on_sigterm, syncd_env, write_config, write_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--rate-scale", type=float, default=1000.0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=RESULTS / "extract.json")
    args = p.parse_args(argv)
    exit_on_sigterm()
    from syncd import pipeline, streams
    from syncd.app import build_context
    from syncd.settings import load_settings

    figures: dict[str, dict] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(
            args.contacts, rate_scale=args.rate_scale, latency_ms=args.latency_ms, history_days=0, seed=args.seed
        ) as sb,
    ):
        config = write_config(Path(tmp), rate_scale=args.rate_scale)
        os.chdir(ROOT)
        ctx = build_context(load_settings(env=syncd_env(sb, Path(tmp), config)))
        ctx.tick()
        pipeline.setup(ctx)
        for name in ("hubspot_contacts", "mailchimp_members"):
            sb.reset_stats()
            t0 = time.monotonic()
            pulled = streams.run(ctx, streams.REGISTRY.get(name))
            seconds = time.monotonic() - t0
            figures[name] = {
                "records": pulled,
                "seconds": round(seconds, 2),
                "per_s": round(pulled / seconds, 1) if seconds else None,
                "calls_by_endpoint": api_calls(sb.stats()["requests"]),
            }
            print(f"{name}: {pulled:,} records in {seconds:.1f} s ({figures[name]['per_s']}/s)", flush=True)
    report = {
        "contacts": args.contacts,
        "rate_scale": args.rate_scale,
        "latency_ms": args.latency_ms,
        "hubspot_contacts": figures["hubspot_contacts"]["records"],
        "members": figures["mailchimp_members"]["records"],
        "contacts_per_s": figures["hubspot_contacts"]["per_s"],
        "members_per_s": figures["mailchimp_members"]["per_s"],
        "streams": figures,
    }
    write_json(args.out, report)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
