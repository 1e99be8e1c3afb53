"""How fast one sandbox core serves contact pages.

    python bench/sandbox_throughput.py [--seconds 10] [--contacts 100000] [--connections 4] [--profile]

Starts the sandbox in a subprocess pinned to one core (os.sched_setaffinity in the child), with every rate
limit scaled out of the way (rate_scale=1000), and drives it from this process (pinned to the other cores)
with several keep-alive connections, each a thread with its own requests.Session paging through
GET /crm/v3/objects/contacts?limit=100&after=... Reports requests/s (target >= 300 on one core), contacts/s,
latency p50/p95/p99, the server's CPU use and requests per server CPU-second (the rate a dedicated core
would sustain, which stays meaningful when other work shares the machine). --profile runs the server under
cProfile and prints where its time goes. Writes bench/results/sandbox_throughput.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
PROFILE_PATH = RESULTS / "sandbox_throughput.prof"
TARGET_RPS = 300
PAGE = 100  # contacts per page, the most the list endpoint serves
WARMUP_S = 1.0


# -- the server side (child process) ------------------------------------------------------------------
def serve(contacts: int, core: int, profile: bool, force_nodelay: bool) -> None:
    """Child: pin to `core`, build the world, print one JSON line {url, token}, serve until stdin closes.

    Stopping through stdin (rather than SIGTERM, which uvicorn re-raises after its shutdown) lets the
    profiled run return normally and write its statistics; it also ends the child if the parent dies.
    """
    os.sched_setaffinity(0, {core})
    from sandbox.server import SandboxServer
    from sandbox.world import SandboxConfig

    sb = SandboxServer(SandboxConfig(contacts=contacts, rate_scale=1000, start_ms=1_767_225_600_000))
    listener = sb._sock  # accepted connections inherit the listening socket's TCP_NODELAY on Linux
    nodelay = bool(listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    if force_nodelay and not nodelay:
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(
        json.dumps(
            {
                "url": sb.url,
                "token": sb.world.config.hubspot_token,
                "nodelay_in_server": nodelay,
                "nodelay_forced": force_nodelay and not nodelay,
            }
        ),
        flush=True,
    )

    def stop_on_eof() -> None:
        sys.stdin.read()
        sb._server.should_exit = True  # what uvicorn's own signal handler does

    threading.Thread(target=stop_on_eof, daemon=True).start()
    if not profile:
        sb.serve_forever()
        return
    prof = cProfile.Profile()
    prof.runcall(sb.serve_forever)
    prof.dump_stats(str(PROFILE_PATH))


# -- the client side (this process) --------------------------------------------------------------------
class Driver(threading.Thread):
    """One keep-alive connection paging through the contacts; wraps around at the end."""

    def __init__(self, url: str, token: str, start_after: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.url, self.after, self.stop = f"{url}/crm/v3/objects/contacts", start_after, stop
        self.samples: list[tuple[float, float, int, int]] = []  # (finished at, seconds, status, contacts)

    def run(self) -> None:
        while not self.stop.is_set():
            params: dict[str, Any] = {"limit": PAGE}
            if self.after is not None:
                params["after"] = self.after
            t0 = time.perf_counter()
            resp = self.session.get(self.url, params=params)
            took = time.perf_counter() - t0
            body = resp.json() if resp.status_code == 200 else {}
            self.samples.append((t0 + took, took, resp.status_code, len(body.get("results", []))))
            self.after = ((body.get("paging") or {}).get("next") or {}).get("after")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(url: str, token: str, contacts: int, connections: int, seconds: float) -> list:
    """Run the drivers for a warm-up then `seconds`; returns the samples that finished in the measured window.

    Each connection starts at a different place in the id range, so they do not read the same pages.
    """
    stop = threading.Event()
    step = contacts // max(1, connections)
    drivers = [Driver(url, token, 100_000 + k * step if k else None, stop) for k in range(connections)]
    begin = time.perf_counter() + WARMUP_S
    for d in drivers:
        d.start()
    time.sleep(WARMUP_S + seconds)
    stop.set()
    for d in drivers:
        d.join(timeout=30)
    return [s for d in drivers for s in d.samples if begin <= s[0] <= begin + seconds]


def summarize(samples: list, seconds: float) -> dict[str, Any]:
    took = np.array([s[1] for s in samples]) * 1000 if samples else np.zeros(1)
    ok = [s for s in samples if s[2] == 200]
    return {
        "requests": len(samples),
        "ok": len(ok),
        "errors": len(samples) - len(ok),
        "requests_per_s": round(len(ok) / seconds, 1),
        "contacts_per_s": round(sum(s[3] for s in ok) / seconds),
        "p50_ms": round(float(np.percentile(took, 50)), 2),
        "p95_ms": round(float(np.percentile(took, 95)), 2),
        "p99_ms": round(float(np.percentile(took, 99)), 2),
        "statuses": {str(k): v for k, v in sorted(Counter(s[2] for s in samples).items())},
    }


def top_of_profile(limit: int = 25) -> list[str]:
    """The server's hottest functions by own time, as printable lines."""
    stats = pstats.Stats(str(PROFILE_PATH))
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    lines = []
    for (file, line, func), (_, calls, own, cum, _) in rows:
        where = f"{Path(file).name}:{line}({func})"
        lines.append(f"{100 * own / total:5.1f}% own  {cum:7.2f}s cum  {calls:>9} calls  {where}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--core", type=int, default=0, help="the CPU the server is pinned to")
    parser.add_argument("--profile", action="store_true", help="run the server under cProfile")
    parser.add_argument(
        "--force-nodelay",
        action="store_true",
        help="set TCP_NODELAY on the server's listening socket if the server does not",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the child's role
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.contacts, args.core, args.profile, args.force_nodelay)
        return 0

    RESULTS.mkdir(parents=True, exist_ok=True)
    others = set(os.sched_getaffinity(0)) - {args.core}
    if others:  # keep the load generator off the server's core
        os.sched_setaffinity(0, others)
    cmd = [sys.executable, __file__, "--serve", "--contacts", str(args.contacts), "--core", str(args.core)]
    cmd += ["--profile"] * args.profile + ["--force-nodelay"] * args.force_nodelay
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout is not None
        hello = json.loads(child.stdout.readline())
        cpu0, own0, t0 = cpu_seconds(child.pid), time.process_time(), time.perf_counter()
        samples = drive(hello["url"], hello["token"], args.contacts, args.connections, args.seconds)
        elapsed = time.perf_counter() - t0
        server_cpu = (cpu_seconds(child.pid) - cpu0) / elapsed
        client_cpu = (time.process_time() - own0) / elapsed
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    result = {
        "contacts": args.contacts,
        "connections": args.connections,
        "seconds": args.seconds,
        "server_core": args.core,
        "client_cores": sorted(others),
        "target_requests_per_s": TARGET_RPS,
        "nodelay_in_server": hello["nodelay_in_server"],
        "nodelay_forced": hello["nodelay_forced"],
        "server_cpu_utilisation": round(server_cpu, 2),
        "client_cpu_utilisation": round(client_cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the figures
        **summarize(samples, args.seconds),
    }
    # what one dedicated core would serve at this cost per request; robust to other load on the machine
    result["requests_per_server_cpu_s"] = round(result["ok"] / args.seconds / max(server_cpu, 1e-9), 1)
    result["target_met"] = result["requests_per_s"] >= TARGET_RPS
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    if args.profile and PROFILE_PATH.exists():
        result["profile_top"] = top_of_profile()
        print("server profile (own time):")
        print("\n".join("  " + line for line in result["profile_top"]))
    name = "sandbox_throughput_profile.json" if args.profile else "sandbox_throughput.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
