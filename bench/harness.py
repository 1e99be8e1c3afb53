"""What the benchmark sections share: a sandbox in a subprocess and its control calls, a syncd config
written to a temp dir, the API calls of a stats snapshot per vendor, and the floor formula.

The floor (DESIGN.md, "Performance model"): the time the fewest calls a job needs take at the allowed
rates, the two vendors side by side (their limits are independent), so the larger of the two:

    HubSpot floor   = max(calls / (tier * scale / 10 s), searches / (4 * scale / s))
    Mailchimp floor = calls * round-trip latency / (10 * scale connections)
    floor           = max(HubSpot floor, Mailchimp floor)
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday: the simulated start of every section
DAY_MS = 86_400_000

FLOOR_FORMULA = (
    "floor_s = max(hubspot_floor_s, mailchimp_floor_s); "
    "hubspot_floor_s = max(hubspot_calls / (tier * rate_scale / 10 s), hubspot_searches / (4 * rate_scale / s)); "
    "mailchimp_floor_s = mailchimp_calls * latency_ms / 1000 / (10 * rate_scale connections); "
    "the calls are the minimal ones (minimal_calls_by_vendor), the vendors run side by side"
)


def floors(hubspot_calls: int, hubspot_searches: int, mailchimp_calls: int, tier: int, scale: float, latency_ms: float):
    """(floor_s, hubspot_floor_s, mailchimp_floor_s) of a set of calls, by FLOOR_FORMULA."""
    hs = max(hubspot_calls / (tier * scale / 10.0), hubspot_searches / (4.0 * scale))
    mc = mailchimp_calls * (latency_ms / 1000.0) / (10.0 * scale)
    return max(hs, mc), hs, mc


def vendor(endpoint: str) -> str:
    """'hubspot' or 'mailchimp' for a stats key such as 'GET /3.0/campaigns'."""
    return "mailchimp" if endpoint.split(" ", 1)[1].startswith("/3.0") else "hubspot"


def api_calls(requests_by_endpoint: dict[str, int]) -> dict[str, int]:
    """The HTTP calls of a /_sandbox/stats `requests` map: operations run inside a Mailchimp batch are
    counted there as 'BATCH <method> <path>' and are not calls."""
    return {k: n for k, n in sorted(requests_by_endpoint.items()) if not k.startswith("BATCH ")}


def calls_by_vendor(requests_by_endpoint: dict[str, int]) -> dict[str, int]:
    out = {"hubspot": 0, "mailchimp": 0}
    for k, n in api_calls(requests_by_endpoint).items():
        out[vendor(k)] += n
    return out


def pages(n: int, size: int) -> int:
    return math.ceil(n / size) if n > 0 else 0


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def target(value: Any, limit: float, op: str = "<=") -> dict[str, Any]:
    """One target record: {"target": "<= 1.15", "value": v, "met": bool}; a missing value is not met."""
    met = value is not None and (value <= limit if op == "<=" else value >= limit)
    return {"target": f"{op} {limit:g}", "value": value, "met": bool(met)}


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so `with Sandbox(...)` stops the sandbox subprocess on the way out."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


class Sandbox:
    """`syncd sandbox` in a subprocess, and its /_sandbox/ control calls."""

    def __init__(
        self,
        contacts: int,
        *,
        rate_scale: float = 1.0,
        tier: int = 190,
        latency_ms: float = 0.0,
        history_days: float = 0.0,
        seed: int = 7,
        start_ms: int = START_MS,
    ) -> None:
        self.seed, self.rate_scale, self.tier, self.latency_ms = seed, rate_scale, tier, latency_ms
        cmd = [
            sys.executable,
            "-m",
            "syncd.cli",
            "sandbox",
            "--port",
            "0",
            "--contacts",
            str(contacts),
            "--seed",
            str(seed),
            "--rate-scale",
            str(rate_scale),
            "--hubspot-tier",
            str(tier),
            "--latency-ms",
            str(latency_ms),
            "--start-ms",
            str(start_ms),
            "--history-days",
            str(history_days),
        ]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.env: dict[str, str] = {}
        assert self.proc.stdout is not None
        while len(self.env) < 6:  # the six export lines
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the sandbox exited ({self.proc.wait()}) before printing its environment")
            name, _, value = line.strip().removeprefix("export ").partition("=")
            self.env[name] = value
        self.build_s = round(time.monotonic() - t0, 2)
        self.url = self.env["HUBSPOT_BASE_URL"]
        self.http = requests.Session()
        self._token: str | None = None

    # -- control -------------------------------------------------------------------------------
    def control(self, method: str, what: str, body: Any = None, timeout: float = 900) -> Any:
        r = self.http.request(method, f"{self.url}/_sandbox/{what}", json=body, timeout=timeout)
        r.raise_for_status()
        return r.json()

    def now_ms(self) -> int:
        return int(self.control("GET", "clock")["now_ms"])

    def advance_ms(self, ms: int) -> dict[str, Any]:
        return self.control("POST", "clock", {"advance_days": ms / DAY_MS})

    def reset_stats(self) -> None:
        self.control("DELETE", "stats")

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def state(self) -> dict[str, Any]:
        return self.control("GET", "state")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- the benchmark's own API client (a second private app, so syncd's rate windows stay its own) ----
    def token(self) -> str:
        if self._token is None:
            from sandbox.hubspot.auth import KNOWN_SCOPES

            self._token = self.control("POST", "tokens", {"scopes": list(KNOWN_SCOPES)})["token"]
        return self._token

    def hubspot(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        """A HubSpot call with the benchmark's token; waits out a 429 (Retry-After) and tries again."""
        for _ in range(100):
            r = self.http.request(
                method,
                f"{self.url}{path}",
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=300,
            )
            if r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", "1")) / max(1.0, self.rate_scale))
                continue
            r.raise_for_status()
            return r.json() if r.content else None
        raise RuntimeError(f"{method} {path}: still rate limited after 100 tries")

    def mailchimp(self, path: str, params: dict | None = None) -> Any:
        for _ in range(100):
            r = self.http.get(
                f"{self.env['MAILCHIMP_BASE_URL']}{path}",
                params=params,
                auth=("bench", self.env["MAILCHIMP_API_KEY"]),
                timeout=300,
            )
            if r.status_code == 429:
                time.sleep(0.1)
                continue
            r.raise_for_status()
            return r.json()
        raise RuntimeError(f"GET {path}: still rate limited after 100 tries")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def write_config(directory: Path, **overrides: Any) -> Path:
    """config/syncd.yaml with `overrides` applied (top-level keys; `intervals` merged), written to
    `directory`; rule file paths stay the shipped ones (absolute)."""
    config = yaml.safe_load((ROOT / "config/syncd.yaml").read_text()) or {}
    intervals = overrides.pop("intervals", None)
    config.update(overrides)
    if intervals:
        config["intervals"] = {**(config.get("intervals") or {}), **intervals}
    paths = config.get("paths") or {}
    config["paths"] = {
        "mappings": str(ROOT / paths.get("mappings", "mappings/default.yaml")),
        "scoring": str(ROOT / paths.get("scoring", "config/scoring.yaml")),
    }
    path = directory / "syncd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def syncd_env(sandbox: Sandbox, directory: Path, config: Path, **extra: str) -> dict[str, str]:
    """The environment a syncd process (or load_settings) needs against `sandbox`: its six variables,
    a SQLite database in `directory`, `config`, quiet logs, no HTTP side."""
    return {
        **sandbox.env,
        "SYNCD_DATABASE_URL": f"sqlite:///{directory}/syncd.db",
        "SYNCD_CONFIG": str(config),
        "SYNCD_LOG_LEVEL": "WARNING",
        "SYNCD_LOG_FORMAT": "console",
        "SYNCD_HTTP_PORT": "0",
        **extra,
    }


def subprocess_env(env: dict[str, str]) -> dict[str, str]:
    """os.environ with `env` on top, for a syncd subprocess."""
    return {**os.environ, **env}
