"""The daemon's backfill (its first pull of each stream) logs the same progress lines as `syncd once`
without a terminal, every `progress_interval_s` of config/syncd.yaml, with the vendors' totals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]


def _events(log: Path) -> list[dict]:
    """The JSON lines the daemon wrote so far (a line being written is skipped)."""
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_the_daemons_backfill_logs_progress_with_totals(tmp_path):
    cfg = tmp_path / "syncd.yaml"
    cfg.write_text(
        "progress_interval_s: 0.001\n"  # a line at (nearly) every page
        f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {ROOT / 'config/scoring.yaml'}}}\n"
    )
    with SandboxServer(SandboxConfig(contacts=250, seed=4, rate_scale=10, history_days=0)) as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "MAILCHIMP_", "SYNCD_"))}
        env.update(
            sb.env,
            SYNCD_DATABASE_URL=f"sqlite:///{tmp_path}/syncd.db",
            SYNCD_CONFIG=str(cfg),
            SYNCD_HTTP_PORT="0",
            SYNCD_LOG_FORMAT="json",
            SYNCD_LOG_LEVEL="INFO",
        )
        # counted before syncd runs: once the backfill is scored its pushes create contacts (signups)
        contacts = len(requests.get(f"{sb.url}/_sandbox/state", timeout=60).json()["hubspot"]["contacts"])
        log = tmp_path / "stderr.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncd.cli", "run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err
            )
            try:
                deadline, done = time.monotonic() + 60, None
                while done is None and time.monotonic() < deadline:
                    for event in _events(log):
                        if event.get("event") == "pull.progress" and event.get("stream") == "hubspot_contacts":
                            done = event if event["finished"] else done
                    time.sleep(0.2)  # polling a real subprocess: bounded
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=30) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
    assert done is not None, log.read_text()[-3000:]
    progress = [x for x in _events(log) if x.get("event") == "pull.progress" and x["stream"] == "hubspot_contacts"]
    assert len(progress) >= 2  # at least one page's line before the last
    assert all(x["total"] == done["total"] for x in progress) and done["done"] == done["total"] > 200
    assert done["total"] == contacts  # every contact, from the first page on
    assert progress[0]["rate_per_s"] > 0 and progress[0]["eta_s"] is not None
