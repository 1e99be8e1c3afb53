"""Hot reload of the rule files in a running daemon against the sandbox: a broken edit of the mappings is
noticed by its content (no signal), refused loudly (log event naming file:line, /readyz detail, metrics,
the status page) while the last good files keep running; a good edit applies, and the members are
resynced in batches; a restart on a broken file runs the last good version stored in the database; a first
start on a broken file, with nothing stored, refuses to start naming file:line."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import requests
from test_daemon import ROOT, SYNCD, _env, _free_port, _get, _job_rows, _wait_for

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

GOOD_FIELD = "  - hubspot: jobtitle\n    merge_tag: JOBTITLE\n"
CITY = "  - hubspot: city\n    merge_tag: CITY\n    type: text\n"


@pytest.fixture
def world():
    with SandboxServer(SandboxConfig(contacts=60, seed=17, rate_scale=10, history_days=0)) as sb:
        yield sb


def _start(sb: SandboxServer, tmp_path: Path, port: int, log: Path) -> tuple[subprocess.Popen, dict]:
    env = _env(sb, tmp_path, port)
    cfg = Path(env["SYNCD_CONFIG"])
    text = cfg.read_text().replace(str(ROOT / "mappings/default.yaml"), str(tmp_path / "mappings.yaml"))
    cfg.write_text(text + "batch_sizes: {mailchimp_direct_max: 5}\n")  # more than 5 member writes: a batch
    proc = subprocess.Popen(SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log.open("a"))
    return proc, env


def _ready(base: str) -> dict | None:
    r = _get(f"{base}/readyz")
    return r.json() if r is not None and r.status_code == 200 else None


def _refused(base: str) -> dict | None:
    r = _get(f"{base}/readyz")
    if r is None or r.status_code != 503:
        return None
    body = r.json()
    return body if any(p.startswith("reload: ") for p in body["problems"]) else None


def _metric(base: str, name: str) -> float | None:
    r = _get(f"{base}/metrics")
    for line in (r.text if r is not None else "").splitlines():
        if line.startswith(f'{name}{{workspace="default"}} '):
            return float(line.split()[-1])
    return None


def test_a_bad_edit_is_refused_a_good_one_applies_and_a_restart_runs_the_last_good(world, tmp_path):
    mappings = tmp_path / "mappings.yaml"
    shipped = (ROOT / "mappings/default.yaml").read_text()
    mappings.write_text(shipped)
    log = tmp_path / "daemon.log"
    port = _free_port()
    proc, _ = _start(world, tmp_path, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _ready(base), timeout=90, what="ready")
        # 1. a broken edit, no signal: noticed by its content, refused, the daemon keeps running
        broken = shipped.replace("    merge_tag: JOBTITLE\n    type: text", "    merge_tag: JOBTITLE\n    type: txt")
        line = broken[: broken.index("type: txt")].count("\n") + 1
        mappings.write_text(broken)
        body = _wait_for(lambda: _refused(base), timeout=20, what="/readyz reporting the refused edit")
        problem = next(p for p in body["problems"] if p.startswith("reload: "))
        assert f"{mappings}:{line}: fields.3.type: 'txt' is not one of" in problem, problem
        assert "did you mean 'text'?" in problem and "the last good version keeps running" in problem
        detail = body["workspaces"]["default"]["config"]
        assert detail["refused"] and detail["reload_failures"] == 1 and detail["files"]["mappings"] == str(mappings)
        assert _metric(base, "syncd_config_error") == 1.0
        assert _metric(base, "syncd_config_reload_failures_total") == 1.0
        page = requests.get(base + "/", timeout=10).text
        assert f"{mappings}:{line}:" in page
        assert proc.poll() is None
        # the jobs still run on the last good files
        seen = max(ok for _, ok in _job_rows(tmp_path / "syncd.db").values())
        _wait_for(lambda: _job_rows(tmp_path / "syncd.db")["push"][1] > seen, timeout=30, what="a push after it")

        # 2. a good edit: a new field (city -> CITY) applies, and every member gets its city in batches
        requests.delete(f"{world.url}/_sandbox/stats", timeout=10).raise_for_status()
        mappings.write_text(shipped.replace(GOOD_FIELD, CITY + GOOD_FIELD))
        _wait_for(lambda: _ready(base), timeout=30, what="ready again after the good edit")
        assert _metric(base, "syncd_config_error") == 0.0

        def cities() -> int:
            state = requests.get(f"{world.url}/_sandbox/state", timeout=30).json()
            return sum(1 for m in state["mailchimp"]["members"] if (m.get("merge_fields") or {}).get("CITY"))

        _wait_for(lambda: cities() > 10, timeout=60, what="members resynced with their city")
        stats = requests.get(f"{world.url}/_sandbox/stats", timeout=10).json()["requests"]
        batches = sum(n for k, n in stats.items() if k.startswith("POST /3.0/batches"))
        one_by_one = sum(n for k, n in stats.items() if k.startswith(("PATCH /3.0/lists", "PUT /3.0/lists")))
        assert batches >= 1 and one_by_one < cities(), stats
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert '"config.reload_refused"' in text and f"{mappings}:{line}:" in text
    assert '"config.reloaded"' in text and '"config.resync"' in text

    # 3. a restart on a broken file: the last good version (with CITY) runs, loudly
    mappings.write_text(broken)
    port = _free_port()
    proc, _ = _start(world, tmp_path, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        body = _wait_for(lambda: _refused(base), timeout=60, what="/readyz naming the broken file after restart")
        problem = next(p for p in body["problems"] if p.startswith("reload: "))
        assert f"{mappings}:{line}:" in problem and "running the last good version stored in the database" in problem
        assert body["workspaces"]["default"]["config"]["running_sha256"]["mappings"] != ""
        assert _metric(base, "syncd_config_error") == 1.0
        started = max(ok for _, ok in _job_rows(tmp_path / "syncd.db").values())
        _wait_for(lambda: _job_rows(tmp_path / "syncd.db")["push"][1] > started, timeout=60, what="jobs running")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert '"config.refused_at_start"' in log.read_text()


def test_a_first_start_on_a_broken_file_refuses_to_start(world, tmp_path):
    mappings = tmp_path / "mappings.yaml"
    mappings.write_text((ROOT / "mappings/default.yaml").read_text().replace("hubspot: company", "hubspot: Company"))
    log = tmp_path / "daemon.log"
    proc, _ = _start(world, tmp_path, _free_port(), log)
    assert proc.wait(timeout=60) == 1
    err = log.read_text()
    line = mappings.read_text()[: mappings.read_text().index("Company")].count("\n") + 1
    assert f"syncd run: {mappings}:{line}: fields.2.hubspot: 'Company' does not match" in err
