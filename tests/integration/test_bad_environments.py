"""A bad environment gets one line naming the cause and the setting to check, a non-zero exit, within 30 s,
never a traceback: a closed port, a refused token, an unknown audience, an unreachable database, a reader
that closes the pipe. The daemon started in a bad environment keeps running instead: it serves /healthz,
says what is wrong in /readyz, and retries with backoff."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

from syncd_harness import ROOT, SYNCD, subprocess_env


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture(scope="module")
def sb():
    with SandboxServer(SandboxConfig(contacts=30, seed=2, rate_scale=20)) as server:
        yield server


def _run(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None,
         shell_pipe: str | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    if shell_pipe:
        cmd = " ".join([*(f"'{a}'" for a in SYNCD + args), "|", shell_pipe])
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=60)
    else:
        proc = subprocess.run(SYNCD + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return proc, time.monotonic() - started


def _assert_one_line(proc: subprocess.CompletedProcess, seconds: float, *needles: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(err.splitlines()) == 1, err
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
    runs = [(c, bad_token) for c in COMMANDS[1:]] + [(c, bad_key) for c in COMMANDS[1:]] + \
        [(c, no_list) for c in COMMANDS[1:]]
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
    proc, _ = _run(["explain", email], env, tmp_path, shell_pipe="head -c 20")
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert len(proc.stdout) == 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_daemon_in_a_bad_environment_stays_up_reports_and_retries(sb, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{_closed_port()}"
    env = subprocess_env(sb, tmp_path, HUBSPOT_BASE_URL=url, SYNCD_HTTP_PORT=str(port), SYNCD_LOG_LEVEL="INFO")
    proc = subprocess.Popen(SYNCD + ["run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, ready = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                r = requests.get(f"{base}/readyz", timeout=2)
                if r.status_code == 503 and any("cannot reach HubSpot" in p for p in r.json()["problems"]):
                    ready = r
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)  # polling a real subprocess, bounded by the deadline
        assert ready is not None, "the daemon should report the unreachable HubSpot in /readyz"
        assert requests.get(f"{base}/healthz", timeout=2).status_code == 200
        page = requests.get(base + "/", timeout=5).text
        assert "cannot reach HubSpot" in page
        assert proc.poll() is None, "a bad environment must not stop the daemon"
        proc.send_signal(15)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    events = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    waits = [e["retry_in_s"] for e in events if e.get("event") == "daemon.environment_failed"]
    assert len(waits) >= 2 and waits[1] > waits[0], waits  # backoff, not a tight loop
