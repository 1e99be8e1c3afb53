"""Run every benchmark and combine their figures into one JSON file.

    python bench/run_all.py [--contacts 1000000] [--seconds 10] [--throughput-runs 2] [--skip-scale]

Runs bench/sandbox_scale.py (build time and peak RSS of a 1,000,000-contact world, first requests),
bench/sandbox_history.py (a 100,000-contact world with 180 days of campaigns and engagement: build time, peak
RSS, events by kind, first reads of that past), bench/sandbox_throughput.py (requests/s of 100-contact pages
on one core) and bench/sync_cycle.py (a syncd backfill and incremental cycle against the real limits, as a
ratio to the APIs' floor) as subprocesses, each in a fresh
interpreter so one's memory does not count against the other. Throughput runs `--throughput-runs` times
(other work on the machine skews a single run; every run is kept, with its load average). Prints a short
summary and writes bench/results/all.json. Exits 0 when every target was met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"


def run_script(name: str, args: list[str], result_file: str) -> dict[str, Any]:
    """Run bench/NAME with ARGS; returns its JSON result plus how it exited and how long it took."""
    cmd = [sys.executable, str(BENCH / name), *args]
    print(f"$ {' '.join([Path(cmd[0]).name, *cmd[1:]])}", flush=True)
    path = RESULTS / result_file
    before = path.stat().st_mtime if path.exists() else None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT)
    wall = round(time.perf_counter() - t0, 1)
    if not path.exists() or path.stat().st_mtime == before:
        return {
            "script": name,
            "args": args,
            "exit_code": proc.returncode,
            "wall_s": wall,
            "error": f"{result_file} was not written",
        }
    result = json.loads(path.read_text())
    return {"script": name, "args": args, "exit_code": proc.returncode, "wall_s": wall, **result}


def summary_lines(combined: dict[str, Any]) -> list[str]:
    lines = []
    for c in (combined.get("sync_cycle") or {}).get("cycles", []):
        lines.append(
            f"sync {c['cycle']}: {c['wall_s']} s for {c['hubspot_calls']} HubSpot + {c['mailchimp_calls']} "
            f"Mailchimp calls; floor {c['floor_s']} s; ratio {c['ratio_to_floor']}"
        )
    scale = combined.get("scale")
    if scale and "build_s" in scale:
        lines.append(
            f"scale: {scale['contacts']:,} contacts built in {scale['build_s']} s, peak RSS "
            f"{scale['peak_rss_mib_after_build']} MiB after build, {scale['peak_rss_mib_after_serving']} "
            f"MiB after serving; targets {'met' if scale['targets_met'] else 'MISSED'}"
        )
    elif scale:
        lines.append(f"scale: {scale.get('error', 'failed')}")
    history = combined.get("history")
    if history and "build_s" in history:
        lines.append(
            f"history: {history['population']:,} personas, {history['history_days']:g} days, "
            f"{history['campaigns']} campaigns, {history['activity_events']:,} activity events built in "
            f"{history['build_s']} s, peak RSS {history['peak_rss_mib_after_serving']} MiB; targets "
            f"{'met' if history['targets_met'] else 'MISSED'}"
        )
    elif history:
        lines.append(f"history: {history.get('error', 'failed')}")
    for i, run in enumerate(combined.get("throughput", []), 1):
        if "requests_per_s" not in run:
            lines.append(f"throughput run {i}: {run.get('error', 'failed')}")
            continue
        lines.append(
            f"throughput run {i}: {run['requests_per_s']} req/s (target {run['target_requests_per_s']}), "
            f"p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms, {run['requests_per_server_cpu_s']} req per "
            f"server CPU-s, load {run['load_average_1m']}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000, help="population of the scale benchmark")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per throughput run")
    parser.add_argument("--throughput-runs", type=int, default=2)
    parser.add_argument("--skip-scale", action="store_true", help="skip the scale and history benchmarks")
    args = parser.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    combined: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    if not args.skip_scale:
        combined["scale"] = run_script("sandbox_scale.py", ["--contacts", str(args.contacts)], "sandbox_scale.json")
        combined["history"] = run_script("sandbox_history.py", [], "sandbox_history.json")
    combined["throughput"] = [
        run_script("sandbox_throughput.py", ["--seconds", str(args.seconds)], "sandbox_throughput.json")
        for _ in range(args.throughput_runs)
    ]
    combined["sync_cycle"] = run_script("sync_cycle.py", ["--contacts", "10000"], "sync_cycle.json")
    runs = [r for r in combined["throughput"] if "requests_per_s" in r]
    if runs:
        combined["throughput_best_requests_per_s"] = max(r["requests_per_s"] for r in runs)
    scale_ok = args.skip_scale or bool(combined["scale"].get("targets_met") and combined["history"].get("targets_met"))
    # one quiet run reaching the target is the proof; a loaded machine can only make a run slower
    throughput_ok = any(r.get("target_met") for r in runs)
    combined["targets_met"] = scale_ok and throughput_ok
    (RESULTS / "all.json").write_text(json.dumps(combined, indent=2) + "\n")
    print("\n".join(summary_lines(combined)))
    print(f"all targets {'met' if combined['targets_met'] else 'NOT met'}; wrote {RESULTS / 'all.json'}")
    return 0 if combined["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
