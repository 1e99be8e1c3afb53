"""`syncd run` as the container runs it: jobs on a schedule, health/metrics/status over HTTP, leases
shared by replicas, SIGTERM drains the outbox and exits 0; the container's health check command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd.store import schema as t

ROOT = Path(__file__).resolve().parents[2]
SYNCD = [sys.executable, "-m", "syncd.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "syncd.yaml"
    cfg.write_text(
        "intervals: {hubspot_contacts: 1, hubspot_owners: 5, mailchimp_members: 1, mailchimp_campaigns: 2,"
        " mailchimp_activity: 2, mailchimp_unsubscribes: 2, score: 1, push: 1}\n"
        f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {ROOT / 'config/scoring.yaml'}}}\n"
    )
    return cfg


def _env(sb: SandboxServer, tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "MAILCHIMP_", "SYNCD_"))}
    env.update(
        sb.env,
        SYNCD_DATABASE_URL=f"sqlite:///{tmp_path}/syncd.db",
        SYNCD_CONFIG=str(_config(tmp_path)),
        SYNCD_HTTP_PORT=str(port),
        SYNCD_LOG_FORMAT="json",
        SYNCD_LOG_LEVEL="INFO",
    )
    return env


def _wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)  # polling a real subprocess: bounded
    raise AssertionError(f"timed out waiting for {what}")


def _get(url: str):
    try:
        return requests.get(url, timeout=2)
    except requests.RequestException:
        return None


@pytest.fixture
def sandbox_world():
    with SandboxServer(SandboxConfig(contacts=80, seed=11, rate_scale=10)) as sb:
        yield sb


def test_daemon_serves_health_runs_jobs_and_stops_cleanly_on_sigterm(sandbox_world, tmp_path):
    port = _free_port()
    env = _env(sandbox_world, tmp_path, port)
    proc = subprocess.Popen(
        SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: (r := _get(f"{base}/healthz")) is not None and r.status_code == 200, what="/healthz")

        # every job ran successfully at least once (any replica's success is in the metrics)
        def succeeded() -> bool:
            r = _get(base + "/metrics")
            return r is not None and all(
                f'syncd_job_last_success_timestamp_seconds{{job="{job}",workspace="default"}}' in r.text
                for job in ("hubspot_contacts", "mailchimp_members", "score", "push")
            )

        _wait_for(succeeded, what="every job's first success in /metrics")
        page = requests.get(base + "/", timeout=5)
        assert page.status_code == 200 and "Recent cycles" in page.text and "hubspot_contacts" in page.text

        def scored_state():
            s = requests.get(f"{sandbox_world.url}/_sandbox/state", timeout=10).json()
            return s if any(c["properties"].get("syncd_score") for c in s["hubspot"]["contacts"]) else None

        state = _wait_for(scored_state, what="scores written to HubSpot")
        assert sum(1 for c in state["hubspot"]["contacts"] if c["properties"].get("syncd_segment")) > 40
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["ready"] is True
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert 'syncd_api_calls_total{endpoint="hubspot.contacts.list",workspace="default"}' in metrics
        assert 'syncd_outbox_commands{state="done",workspace="default"}' in metrics
        assert 'syncd_leads{segment="cold",workspace="default"}' in metrics
        assert 'syncd_job_duration_seconds_count{job="push",outcome="ok",workspace="default"}' in metrics
        assert 'syncd_stream_lag_seconds{stream="mailchimp_members",workspace="default"}' in metrics
        hc_env = {**env, "SYNCD_HTTP_PORT": str(port)}
        assert subprocess.run([sys.executable, "-m", "syncd.healthcheck"], env=hc_env).returncode == 0

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert "daemon.stopped" in err
    assert sandbox_world.world.config.hubspot_token not in err and sandbox_world.world.config.mailchimp_key not in err
    engine = sa.create_engine(f"sqlite:///{tmp_path}/syncd.db")
    with engine.connect() as conn:
        pending = conn.execute(
            sa.select(sa.func.count()).select_from(t.outbox).where(t.outbox.c.state.in_(("pending", "attempted")))
        ).scalar_one()
        leases = conn.execute(sa.select(sa.func.count()).select_from(t.leases)).scalar_one()
    assert pending == 0, "SIGTERM must drain the outbox"
    assert leases == 0, "SIGTERM must release every lease"
    # after the daemon is gone the health check fails, as the container runtime must see
    assert subprocess.run([sys.executable, "-m", "syncd.healthcheck"], env=hc_env, capture_output=True).returncode == 1


def test_second_replica_skips_jobs_whose_lease_is_held(tmp_path):
    from syncd.store.db import open_store

    store = open_store(f"sqlite:///{tmp_path}/shared.db")
    assert store.acquire("hubspot_contacts", "replica-a", 30, now_ms=1_000)
    assert not store.acquire("hubspot_contacts", "replica-b", 30, now_ms=2_000)
    assert store.acquire("hubspot_contacts", "replica-a", 30, now_ms=2_000)  # renewal by the holder
    assert store.acquire("hubspot_contacts", "replica-b", 30, now_ms=40_000)  # expired: taken over


def test_dockerfile_runs_the_tested_entry_point_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["syncd"]' in text and 'CMD ["run"]' in text
    assert "USER syncd" in text and "useradd --system" in text
    assert "HEALTHCHECK" in text and "syncd-healthcheck" in text
    scripts = (ROOT / "pyproject.toml").read_text()
    assert 'syncd = "syncd.cli:main"' in scripts and 'syncd-healthcheck = "syncd.healthcheck:main"' in scripts


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_entry_point_runs_as_an_unprivileged_user(sandbox_world, tmp_path):
    """What the container does: `syncd once` under a non-root uid with a data dir it owns."""
    try:
        subprocess.run([sys.executable, "-c", "0"], user=65534, group=65534, check=True, capture_output=True)
    except (PermissionError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"this Python ({sys.executable}) cannot be run by an unprivileged user here: {exc}")
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 65534, 65534)
    os.chmod(tmp_path, 0o755)
    env = _env(sandbox_world, tmp_path, 0)
    env["SYNCD_DATABASE_URL"] = f"sqlite:///{data}/syncd.db"
    env["HOME"] = str(data)
    proc = subprocess.run(
        SYNCD + ["once", "--json"],
        env=env,
        cwd=data,
        capture_output=True,
        text=True,
        timeout=120,
        user=65534,
        group=65534,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["ok"] is True and summary["streams"]["hubspot_contacts"]["records_pulled"] > 0


def _daemon(sb: SandboxServer, tmp_path: Path, port: int, extra_config: str = "") -> subprocess.Popen:
    """`syncd run` with its log in tmp_path/daemon-<port>.log (a pipe nobody reads would fill and block it)."""
    env = _env(sb, tmp_path, port)
    cfg = Path(env["SYNCD_CONFIG"])
    cfg.write_text(cfg.read_text() + extra_config)
    log = open(tmp_path / f"daemon-{port}.log", "w")  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log, text=True)


def _job_rows(db: Path) -> dict[str, tuple]:
    """job -> (holder, last_ok_ms) as the daemons recorded them ({} before the database exists)."""
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return {r.job: (r.holder, r.last_ok_ms) for r in conn.execute(sa.select(t.jobs))}
    except sa.exc.OperationalError:
        return {}
    finally:
        engine.dispose()


def test_a_daemon_killed_and_restarted_runs_its_jobs_again_within_one_lease_period(sandbox_world, tmp_path):
    """A SIGKILLed daemon leaves its leases behind; the restarted one (another pid) must not be locked out
    for the old lease's life: leases are short and renewed while a job runs, holders unique per start."""
    port = _free_port()
    first = _daemon(sandbox_world, tmp_path, port, "lease_ttl_s: 5\n")
    try:
        from syncd.scheduler import jobs

        _wait_for(
            lambda: (
                len(_job_rows(tmp_path / "syncd.db")) == len(jobs())
                and all(ok for _, ok in _job_rows(tmp_path / "syncd.db").values())
            ),
            what="every job ran once",
        )
        before = _job_rows(tmp_path / "syncd.db")
        first.kill()
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = int(time.time() * 1000)
    second = _daemon(sandbox_world, tmp_path, _free_port())
    try:
        # intervals are 1-5 s, the lease 5 s: every job runs again under the new holder within ~10 s of its
        # start (the dead replica counts as alive for one more lease period; then its work is overdue)
        rows = _wait_for(
            lambda: (
                (r := _job_rows(tmp_path / "syncd.db"))
                and all(holder != before[job][0] and ok > killed_at for job, (holder, ok) in r.items())
                and r
            ),
            timeout=30,
            what="every job run by the restarted daemon",
        )
        assert len({holder for holder, _ in rows.values()}) == 1
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0


def test_a_job_whose_lease_another_holder_keeps_is_reported_in_readyz(sandbox_world, tmp_path):
    from syncd.store.db import open_store

    store = open_store(f"sqlite:///{tmp_path}/syncd.db")
    far = int(time.time() * 1000) + 3_600_000
    assert store.acquire("hubspot_owners", "ghost-replica:1:dead", 3600, int(time.time() * 1000))
    store.close()
    port = _free_port()
    proc = _daemon(sandbox_world, tmp_path, port, "lease_ttl_s: 5\n")
    try:
        base = f"http://127.0.0.1:{port}"

        def reported():
            r = _get(f"{base}/readyz")
            if r is None or r.status_code != 503:
                return None
            body = r.json()
            return body if any("hubspot_owners" in p and "ghost-replica" in p for p in body["problems"]) else None

        body = _wait_for(reported, timeout=45, what="/readyz naming the job and the lease holder")
        assert body["leases"]["hubspot_owners"]["holder"] == "ghost-replica:1:dead"
        assert body["leases"]["hubspot_owners"]["expires_in_s"] <= (far - time.time() * 1000) / 1000 + 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert '"job.lease_unavailable"' in (tmp_path / f"daemon-{port}.log").read_text()


def test_sighup_reloads_the_rule_files_and_refuses_a_broken_edit(sandbox_world, tmp_path):
    scoring = tmp_path / "scoring.yaml"
    scoring.write_text((ROOT / "config/scoring.yaml").read_text())
    port = _free_port()
    env = _env(sandbox_world, tmp_path, port)
    cfg = Path(env["SYNCD_CONFIG"])
    cfg.write_text(cfg.read_text().replace(str(ROOT / "config/scoring.yaml"), str(scoring)))
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: (r := _get(f"{base}/readyz")) is not None and r.status_code == 200, timeout=60, what="ready")
        proc.send_signal(signal.SIGHUP)  # a valid file: reloaded, still running
        time.sleep(1.0)  # the daemon handles the signal within its 0.5 s loop (a real process)
        assert proc.poll() is None, "SIGHUP must not kill the daemon"
        scoring.write_text(scoring.read_text().replace("version: 1", "version: 7"))
        proc.send_signal(signal.SIGHUP)  # a broken file: refused, the last good one runs
        body = _wait_for(
            lambda: (r := _get(f"{base}/readyz")) is not None and r.status_code == 503 and r.json(),
            timeout=10,
            what="/readyz reporting the refused reload",
        )
        assert any(p.startswith("reload: ") and "scoring.yaml" in p and "version" in p for p in body["problems"])
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = log.read_text()
    assert '"config.reloaded"' in err and '"config.reload_refused"' in err and "daemon.stopped" in err


def test_a_running_daemon_follows_each_advance_of_the_sandbox_clock(sandbox_world, tmp_path):
    """With SYNCD_CLOCK_URL (printed by `syncd sandbox`) the daemon reads the simulated time at every job:
    after the sandbox's clock jumps a week, twice, it takes the engagement of each new week as present."""
    from syncd_harness import iso, make_lead, ms_of, sdk_clients

    hs, mc = sdk_clients(sandbox_world)
    lead = make_lead(sandbox_world, hs, mc, "follows.the.clock@example.com")
    port = _free_port()
    proc = _daemon(sandbox_world, tmp_path, port)
    base, sb = f"http://127.0.0.1:{port}", sandbox_world.url

    def contact() -> dict:
        state = requests.get(f"{sb}/_sandbox/state", timeout=30).json()
        return next(c for c in state["hubspot"]["contacts"] if c["id"] == lead["id"])["properties"]

    try:
        _wait_for(lambda: (r := _get(f"{base}/readyz")) is not None and r.status_code == 200, timeout=60, what="ready")
        for week, action in enumerate(("open", "click"), start=1):
            requests.post(f"{sb}/_sandbox/clock", json={"advance_days": 7}, timeout=120).raise_for_status()
            now = requests.get(f"{sb}/_sandbox/clock", timeout=10).json()["now_ms"]
            at = now - 120_000  # two minutes ago on the simulated calendar, a week after the last one
            event = {"email": lead["email"], "action": action, "timestamp": iso(at)}
            if action == "click":
                event["url"] = "https://www.example-saas.com/pricing"
            requests.post(f"{sb}/_sandbox/events", json=[event], timeout=30).raise_for_status()
            prop = f"syncd_last_{action}"
            _wait_for(
                lambda: (v := contact().get(prop)) and abs(ms_of(v) - at) < 1000,
                timeout=60,
                what=f"week {week}: the {action} written to HubSpot",
            )
            # scored on the sandbox's new "now", not on the time the daemon read when it started
            _wait_for(
                lambda: (v := contact().get("syncd_scored_at")) and ms_of(v) >= at,
                timeout=60,
                what=f"week {week}: the lead scored as of the advanced clock",
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    log = (tmp_path / f"daemon-{port}.log").read_text()
    assert "in the future" not in log


def test_a_pull_that_brings_records_is_scored_and_pushed_at_once(sandbox_world, tmp_path):
    """Job chaining: score and push run every 600 s here, yet an engagement burst reaches its HubSpot task in
    seconds, because a pull that brought records runs the score job at once and a score that scored leads
    runs the push (without chaining the task would wait for the score's next interval, ten minutes on)."""
    from syncd_harness import iso, make_lead, sdk_clients

    hs, mc = sdk_clients(sandbox_world)
    lead = make_lead(sandbox_world, hs, mc, "chained.jobs@example.com", industry="software")
    port = _free_port()
    env = _env(sandbox_world, tmp_path, port)
    Path(env["SYNCD_CONFIG"]).write_text(
        "intervals: {hubspot_contacts: 1, hubspot_owners: 5, mailchimp_members: 1, mailchimp_campaigns: 1,"
        " mailchimp_activity: 1, mailchimp_unsubscribes: 1, score: 600, push: 600}\n"
        "lag_window_s: 0\n"
        f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {ROOT / 'config/scoring.yaml'}}}\n"
    )
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log, text=True)
    sb = sandbox_world.url

    def tasks() -> list[dict]:
        state = requests.get(f"{sb}/_sandbox/state", timeout=30).json()
        return [x for x in state["hubspot"]["tasks"] if lead["id"] in x["associations"]["contacts"]]

    def scored() -> bool:
        state = requests.get(f"{sb}/_sandbox/state", timeout=30).json()
        mine = next(c for c in state["hubspot"]["contacts"] if c["id"] == lead["id"])
        return bool(mine["properties"].get("syncd_score"))

    try:
        # the first scores come after the first pulls (the score job's run at start waits for them)
        _wait_for(scored, timeout=60, what="the first scores, well before the score job's 600 s interval")
        assert tasks() == []
        now = requests.get(f"{sb}/_sandbox/clock", timeout=10).json()["now_ms"]
        clicks = [
            {
                "email": lead["email"],
                "action": "click",
                "url": "https://www.example-saas.com/pricing",
                "timestamp": iso(now - s),
            }
            for s in (60_000, 30_000)
        ]
        requests.post(f"{sb}/_sandbox/events", json=clicks, timeout=30).raise_for_status()
        injected = time.monotonic()
        _wait_for(tasks, timeout=30, what="the hot lead's task, chained from the activity pull")
        assert time.monotonic() - injected < 30
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
    jobs = [json.loads(x) for x in (tmp_path / "daemon.log").read_text().splitlines() if x.startswith("{")]
    done = [x for x in jobs if x.get("event") == "job.done" and x.get("job") in ("score", "push")]
    assert sum(x["job"] == "score" for x in done) >= 2 and any(x["job"] == "push" and x["pushed"] for x in done)
