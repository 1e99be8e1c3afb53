"""How big a sandbox world can be: build time and peak memory, then proof that it serves.

    python bench/sandbox_scale.py [--contacts 1000000] [--seed 1]

Builds `World(SandboxConfig(contacts=N))` (population + HubSpot and Mailchimp stores), records the time and
the peak RSS (getrusage ru_maxrss), then starts the server on a loopback port and times a few first
requests: contact pages, a search, owners, member pages, one member by subscriber hash (the first such
lookup builds the hash index) and one simulated week. Prints the figures; writes bench/results/sandbox_scale.json.
Targets: build < 60 s and peak RSS < 3 GiB for 1,000,000 contacts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig, World

RESULTS = Path(__file__).resolve().parent / "results"
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed, so runs compare
BUILD_TARGET_S, RSS_TARGET_MIB = 60.0, 3 * 1024


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, call: Callable[[], requests.Response], probes: list[dict[str, Any]]) -> Any:
    """Run one request, record its status, latency and size; returns the parsed JSON body (or None)."""
    t0 = time.perf_counter()
    resp = call()
    ms = (time.perf_counter() - t0) * 1000
    probes.append({"what": label, "status": resp.status_code, "ms": round(ms, 1), "bytes": len(resp.content)})
    print(f"  {label:<44} {resp.status_code}  {ms:8.1f} ms  {len(resp.content):>8} B")
    return resp.json() if resp.content and resp.headers.get("content-type", "").endswith("json") else None


def probe(sb: SandboxServer) -> list[dict[str, Any]]:
    """A few first requests against the running sandbox, as a client would make them."""
    world, probes = sb.world, []
    hs = requests.Session()
    hs.headers["Authorization"] = f"Bearer {world.config.hubspot_token}"
    mc = requests.Session()
    mc.auth = ("bench", world.config.mailchimp_key)
    base, lists = sb.url, f"{sb.url}/3.0/lists/{world.list_id}"
    page = timed("GET contacts limit=100", lambda: hs.get(f"{base}/crm/v3/objects/contacts?limit=100"), probes)
    after = ((page or {}).get("paging") or {}).get("next", {}).get("after")
    if after:
        timed(
            "GET contacts limit=100 (page 2)",
            lambda: hs.get(f"{base}/crm/v3/objects/contacts", params={"limit": 100, "after": after}),
            probes,
        )
    middle = str(100_000 + world.population.n // 2)
    timed(
        "GET contacts limit=100 after=<middle>",
        lambda: hs.get(f"{base}/crm/v3/objects/contacts", params={"limit": 100, "after": middle}),
        probes,
    )
    search = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GT", "value": str(START_MS - 7 * 86_400_000)}
                ]
            }
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 100,
    }
    timed(
        "POST contacts/search lastmodifieddate GT",
        lambda: hs.post(f"{base}/crm/v3/objects/contacts/search", json=search),
        probes,
    )
    timed("GET owners", lambda: hs.get(f"{base}/crm/v3/owners"), probes)
    timed("GET members count=1000", lambda: mc.get(f"{lists}/members", params={"count": 1000}), probes)
    timed(
        "GET members count=1000 offset=<middle>",
        lambda: mc.get(f"{lists}/members", params={"count": 1000, "offset": world.population.n // 2}),
        probes,
    )
    i = int(world.population.mailchimp_indices[-1])
    h = hashlib.md5(world.population.mc_email(i).lower().encode()).hexdigest()
    timed("GET member by hash (first: builds index)", lambda: mc.get(f"{lists}/members/{h}"), probes)
    timed("GET member by hash (again)", lambda: mc.get(f"{lists}/members/{h}"), probes)
    timed(
        "POST /_sandbox/clock advance_days=7",
        lambda: requests.post(f"{base}/_sandbox/clock", json={"advance_days": 7}, timeout=600),
        probes,
    )
    return probes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rss_before = peak_rss_mib()
    t0 = time.perf_counter()
    world = World(SandboxConfig(contacts=args.contacts, seed=args.seed, start_ms=START_MS))
    build_s = time.perf_counter() - t0
    rss_built = peak_rss_mib()
    print(
        f"World(contacts={args.contacts:,}) built in {build_s:.2f} s; peak RSS {rss_built:.0f} MiB "
        f"(interpreter + imports before: {rss_before:.0f} MiB)"
    )
    with SandboxServer(world=world) as sb:
        probes = probe(sb)
    rss_end = peak_rss_mib()
    ok = build_s < BUILD_TARGET_S and rss_end < RSS_TARGET_MIB
    print(
        f"peak RSS after serving: {rss_end:.0f} MiB; targets (< {BUILD_TARGET_S:.0f} s, "
        f"< {RSS_TARGET_MIB} MiB): {'met' if ok else 'MISSED'}"
    )
    result = {
        "contacts": args.contacts,
        "seed": args.seed,
        "build_s": round(build_s, 3),
        "peak_rss_mib_before_build": round(rss_before, 1),
        "peak_rss_mib_after_build": round(rss_built, 1),
        "peak_rss_mib_after_serving": round(rss_end, 1),
        "targets_met": ok,
        "probes": probes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sandbox_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
