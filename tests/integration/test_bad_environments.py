"""A bad environment gets one line naming the cause and the setting to check, a non-zero exit, within 30 s,
never a traceback: a closed port, a refused token, an unknown audience, an unreachable database, a reader
that closes the pipe. The daemon started in a bad environment keeps running instead: it serves /healthz,
says what is wrong in /readyz, and retries with backoff."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from syncd_harness import SYNCD, subprocess_env

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture(scope="module")
def sb():
    with SandboxServer(SandboxConfig(contacts=30, seed=2, rate_scale=20)) as server:
        yield server


def _run(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None, shell_pipe: str | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    if shell_pipe:
        cmd = " ".join([*(f"'{a}'" for a in SYNCD + args), "|", shell_pipe])
        proc = subprocess.run(["bash", "-c", cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    else:
        proc = subprocess.run(SYNCD + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return proc, time.monotonic() - started


def _assert_one_line(proc: subprocess.CompletedProcess, seconds: float, *needles: str) -> None:
    """One line for the person, besides the structured log events the log level asked for (the
    retries of an unreachable service are logged as `connector.retry_scheduled`)."""
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("{")]
    err = "\n".join(lines)
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(lines) == 1, err
    assert all(n in err for n in needles), (needles, err)
    assert seconds < 30, seconds


def _many(runs: list[tuple[list[str], dict[str, str]]], cwd: Path) -> list[tuple[subprocess.CompletedProcess, float]]:
    """Run the commands side by side (each waits out its retries), each with a database of its own."""

    def one(i: int) -> tuple[subprocess.CompletedProcess, float]:
        args, env = runs[i]
        env = dict(env)
        if env["SYNCD_DATABASE_URL"].startswith("sqlite"):
            env["SYNCD_DATABASE_URL"] = f"sqlite:///{cwd}/run{i}.db"
        return _run(args, env, cwd)

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return list(pool.map(one, range(len(runs))))


COMMANDS = (["once"], ["plan"], ["mappings", "check"])


def test_a_closed_port_is_one_line_naming_the_url_setting(sb, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    hubspot_down = subprocess_env(sb, tmp_path, HUBSPOT_BASE_URL=url)
    mailchimp_down = subprocess_env(sb, tmp_path, MAILCHIMP_BASE_URL=f"{url}/3.0")
    results = _many([(c, hubspot_down) for c in COMMANDS] + [(["mappings", "check"], mailchimp_down)], tmp_path)
    for proc, seconds in results[:3]:
        _assert_one_line(proc, seconds, "cannot reach HubSpot", url, "connection refused", "HUBSPOT_BASE_URL")
    _assert_one_line(*results[3], "cannot reach Mailchimp", "MAILCHIMP_BASE_URL")


def test_refused_credentials_and_an_unknown_audience_name_their_variable(sb, tmp_path):
    bad_token = subprocess_env(sb, tmp_path, HUBSPOT_ACCESS_TOKEN="pat-na1-00000000-0000-0000-0000-000000000000")
    bad_key = subprocess_env(sb, tmp_path, MAILCHIMP_API_KEY="ffffffffffffffffffffffffffffffff-us1")
    no_list = subprocess_env(sb, tmp_path, MAILCHIMP_LIST_ID="nosuchlist")
    runs = (
        [(c, bad_token) for c in COMMANDS[1:]]
        + [(c, bad_key) for c in COMMANDS[1:]]
        + [(c, no_list) for c in COMMANDS[1:]]
    )
    results = _many(runs, tmp_path)
    for proc, seconds in results[0:2]:
        _assert_one_line(proc, seconds, "HubSpot refused the credentials", "401", "HUBSPOT_ACCESS_TOKEN")
        assert "pat-na1-00000000" not in proc.stderr
    for proc, seconds in results[2:4]:
        _assert_one_line(proc, seconds, "Mailchimp refused the credentials", "401", "MAILCHIMP_API_KEY")
        assert "ffffffffffffffff" not in proc.stderr
    for proc, seconds in results[4:6]:
        _assert_one_line(proc, seconds, "Mailchimp has no audience nosuchlist", "MAILCHIMP_LIST_ID")


def test_an_unreachable_database_is_one_line_in_every_command(sb, tmp_path):
    db = f"postgresql://syncd:s3cret-pw@127.0.0.1:{_closed_port()}/syncd"
    env = subprocess_env(sb, tmp_path, SYNCD_DATABASE_URL=db)
    results = _many([(["once"], env), (["plan"], env), (["explain", "someone@example.com"], env)], tmp_path)
    for proc, seconds in results:
        _assert_one_line(proc, seconds, "cannot open database", "SYNCD_DATABASE_URL")
        assert "s3cret-pw" not in proc.stderr


def test_a_reader_that_closes_the_pipe_gets_no_traceback(sb, tmp_path):
    env = subprocess_env(sb, tmp_path)
    once, _ = _run(["once", "--json"], env, tmp_path)
    assert once.returncode == 0, once.stderr[-2000:]
    state = requests.get(f"{sb.url}/_sandbox/state", timeout=30).json()
    email = state["hubspot"]["contacts"][0]["properties"]["email"]
    # `true` exits at once, before syncd has written a byte: every write then meets a closed pipe
    proc, _ = _run(["explain", email], env, tmp_path, shell_pipe="true")
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == 0  # the pipeline's status is the reader's (`true`)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _daemon_reports(sb, tmp_path: Path, needle: str, settle_s: float, **env_extra: str) -> list[dict]:
    """Start `syncd run` in a bad environment; wait until /readyz reports `needle`; check it stays up and
    serves /healthz and the page; let it retry for `settle_s`; SIGTERM it (exit 0). Returns its log events."""
    port = _free_port()
    env = subprocess_env(sb, tmp_path, SYNCD_HTTP_PORT=str(port), SYNCD_LOG_LEVEL="INFO", **env_extra)
    proc = subprocess.Popen(
        SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, ready = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                r = requests.get(f"{base}/readyz", timeout=2)
                if r.status_code == 503 and any(needle in p for p in r.json()["problems"]):
                    ready = r
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)  # polling a real subprocess, bounded by the deadline
        assert ready is not None, f"the daemon should report {needle!r} in /readyz"
        assert requests.get(f"{base}/healthz", timeout=2).status_code == 200
        assert needle in requests.get(base + "/", timeout=5).text
        time.sleep(settle_s)  # the daemon retries meanwhile (a real process on a real clock)
        assert proc.poll() is None, "a bad environment must not stop the daemon"
        proc.send_signal(15)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]


def test_the_daemon_with_hubspot_unreachable_stays_up_and_reports_it(sb, tmp_path):
    _daemon_reports(sb, tmp_path, "cannot reach HubSpot", 0, HUBSPOT_BASE_URL=f"http://127.0.0.1:{_closed_port()}")


def test_the_daemon_with_a_refused_token_retries_with_backoff(sb, tmp_path):
    events = _daemon_reports(
        sb,
        tmp_path,
        "HubSpot refused the credentials",
        4,
        HUBSPOT_ACCESS_TOKEN="pat-na1-00000000-0000-0000-0000-000000000000",
    )
    waits = [e["retry_in_s"] for e in events if e.get("event") == "daemon.environment_failed"]
    assert len(waits) >= 3 and waits[0] < waits[1] < waits[2], waits  # backoff, not a tight loop
