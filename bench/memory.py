"""Peak RSS of syncd (not the sandbox) during a backfill of a large audience.

    python bench/memory.py [--contacts 1000000 --rate-scale 1000 --latency-ms 0 --history-days 0]

A sandbox in a subprocess with the limits scaled out of the way, then `syncd once --json` in its own
process on SQLite in a temp dir (config: `rate_scale` matching). The peak is the child's own ru_maxrss,
read with os.wait4 on its pid (the sandbox, another child, is not in it); VmRSS is sampled every
--sample seconds for the timeline. A run longer than --timeout seconds is stopped with SIGTERM (syncd
drains and exits) and recorded as `completed: false` with the peak reached so far. Target: <= 300 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    RESULTS,
    ROOT,
    Sandbox,
    exit_on_sigterm,
    subprocess_env,
    syncd_env,
    target,
    write_config,
    write_json,
)

RSS_TARGET_MIB = 300


def vm_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=1_000_000)
    p.add_argument("--rate-scale", type=float, default=1000.0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--history-days", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before syncd once is stopped")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between two VmRSS samples")
    p.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = p.parse_args(argv)
    exit_on_sigterm()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(
            args.contacts,
            rate_scale=args.rate_scale,
            latency_ms=args.latency_ms,
            history_days=args.history_days,
            seed=args.seed,
        ) as sb,
    ):
        config = write_config(Path(tmp), rate_scale=args.rate_scale)
        env = subprocess_env(syncd_env(sb, Path(tmp), config))
        out_path = Path(tmp) / "once.json"
        t0 = time.monotonic()
        with open(out_path, "w") as out, open(Path(tmp) / "once.log", "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncd.cli", "once", "--json"], cwd=ROOT, env=env, stdout=out, stderr=log
            )
            timeline: list[tuple[float, float]] = []
            stopped, sampled = False, 0.0
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - sampled >= args.sample:
                    sampled = time.monotonic()
                    rss = vm_rss_mib(proc.pid)
                    if rss is not None:
                        timeline.append((round(sampled - t0, 1), rss))
                if not stopped and time.monotonic() - t0 > args.timeout:
                    proc.send_signal(signal.SIGTERM)
                    stopped = True
                time.sleep(0.1)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        try:
            summary = json.loads(out_path.read_text())
        except ValueError:
            summary = {}
        tail = (Path(tmp) / "once.log").read_text()[-2000:]
        stats = sb.stats()
    peak = round(usage.ru_maxrss / 1024, 1)  # KiB on Linux
    report = {
        "contacts": args.contacts,
        "hubspot_contacts": summary.get("streams", {}).get("hubspot_contacts", {}).get("records_pulled"),
        "members": summary.get("streams", {}).get("mailchimp_members", {}).get("records_pulled"),
        "history_days": args.history_days,
        "rate_scale": args.rate_scale,
        "latency_ms": args.latency_ms,
        "sandbox_build_s": sb.build_s,
        "peak_rss_mib": peak,
        "completed": not stopped and proc.returncode == 0,
        "stopped_after_s": args.timeout if stopped else None,
        "rss_timeline_mib": timeline[:: max(1, len(timeline) // 60)],
        "wall_s": round(wall, 1),
        "exit_code": proc.returncode,
        "stage_seconds": summary.get("stage_seconds"),
        "commands_pushed": (summary.get("commands") or {}).get("pushed"),
        "api_calls_total": summary.get("api_calls_total"),
        "http_429_served": stats.get("served_429"),
        "targets": {"peak_rss_mib": target(peak, RSS_TARGET_MIB)},
        "log_tail": tail.splitlines()[-5:],  # where a stopped run was (syncd's progress lines)
    }
    if proc.returncode != 0 and not stopped:
        report["error"] = f"syncd once exited {proc.returncode}: {tail}"
    write_json(args.out, report)
    print(f"memory: {args.contacts:,} contacts, syncd peak RSS {peak} MiB, {wall:.1f} s; written {args.out}")
    return 0 if proc.returncode == 0 or stopped else 1


if __name__ == "__main__":
    sys.exit(main())
