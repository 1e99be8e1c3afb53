"""`syncd sandbox` as a user runs it: a subprocess that prints six exports, serves, and stops on a signal."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mailchimp_marketing
import pytest
import requests
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = [
    "HUBSPOT_BASE_URL",
    "HUBSPOT_ACCESS_TOKEN",
    "MAILCHIMP_BASE_URL",
    "MAILCHIMP_API_KEY",
    "MAILCHIMP_LIST_ID",
    "SYNCD_CLOCK_URL",
]
START_S = 30  # bounded wait for the subprocess to print its exports (a loaded machine is slow to import)
STOP_S = 5  # what "stops within a few seconds" means here


def _syncd() -> list[str]:
    """The installed `syncd` entry point next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("syncd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "syncd.cli"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "HUBSPOT_", "MAILCHIMP_"))}


class Sandbox:
    """A running `syncd sandbox` subprocess; its stdout is read line by line in a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*_syncd(), "sandbox", *args],
            cwd=ROOT,
            env=_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.lines: list[str] = []

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def exports(self) -> dict[str, str]:
        """Wait (bounded) for the six export lines; returns NAME -> value."""
        deadline = time.monotonic() + START_S
        while len(self.lines) < len(EXPORTS):
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no exports within {START_S} s; stderr: {self.stop()[1][-2000:]}")
            if line is None:
                pytest.fail(f"exited {self.proc.wait()} before printing; stderr: {self.proc.stderr.read()[-2000:]}")
            self.lines.append(line)
        parsed = [re.fullmatch(r"export ([A-Z_]+)=(\S+)", line) for line in self.lines]
        assert all(parsed), self.lines
        return {m.group(1): m.group(2) for m in parsed if m}

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, list[str]]:
        """Send `sig`, wait up to STOP_S; returns (exit code, stderr, every further stdout line)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"still running {STOP_S} s after signal {sig}")
        rest = []
        while (line := self._lines.get(timeout=STOP_S)) is not None:
            rest.append(line)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read(), rest


@pytest.fixture
def running() -> Iterator[tuple[Sandbox, dict[str, str]]]:
    sb = Sandbox("--port", "0", "--contacts", "50", "--seed", "3")
    try:
        yield sb, sb.exports()
    finally:
        if sb.proc.poll() is None:
            sb.proc.kill()
            sb.proc.wait()


def _hubspot(env: dict[str, str]) -> HubSpot:
    return HubSpot(
        access_token=env["HUBSPOT_ACCESS_TOKEN"],
        host=env["HUBSPOT_BASE_URL"],
        base_url=env["HUBSPOT_BASE_URL"],
        retry=urllib3.Retry(total=0, raise_on_status=False),
    )


def _mailchimp(env: dict[str, str]) -> mailchimp_marketing.Client:
    client = mailchimp_marketing.Client({"api_key": env["MAILCHIMP_API_KEY"], "server": "server", "timeout": 30})
    client.api_client.host = env["MAILCHIMP_BASE_URL"]
    return client


# -- the exports, the SDKs, the signals -----------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_prints_six_exports_with_the_real_port_serves_the_sdks_and_stops_on_a_signal(sig):
    sb = Sandbox("--port", "0", "--contacts", "50", "--seed", "3")
    env = sb.exports()
    assert list(env) == EXPORTS
    url = env["HUBSPOT_BASE_URL"]
    host, port = re.fullmatch(r"http://(127\.0\.0\.1):(\d+)", url).groups()
    assert int(port) != 0
    assert env["MAILCHIMP_BASE_URL"] == f"{url}/3.0" and env["SYNCD_CLOCK_URL"] == f"{url}/_sandbox/clock"
    assert re.fullmatch(r"[0-9a-f]{32}-[a-z]+\d+", env["MAILCHIMP_API_KEY"])
    with socket.create_connection((host, int(port)), timeout=5):
        pass  # the printed port is the one listening

    contacts = _hubspot(env).crm.contacts.basic_api.get_page(limit=100).results
    assert 30 <= len(contacts) <= 50 and all(c.properties["email"] for c in contacts)
    mc = _mailchimp(env)
    assert mc.lists.get_list(env["MAILCHIMP_LIST_ID"])["id"] == env["MAILCHIMP_LIST_ID"]
    members = mc.lists.get_list_members_info(env["MAILCHIMP_LIST_ID"], count=100)
    assert 30 <= members["total_items"] <= 50
    assert mc.ping.get() == {"health_status": "Everything's Chimpy!"}

    t0 = time.monotonic()
    code, stderr, rest = sb.stop(sig)
    assert code == 0, stderr
    assert time.monotonic() - t0 < STOP_S
    assert rest == []  # exactly the five lines on stdout
    assert "Traceback" not in stderr
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_the_same_seed_serves_the_same_population():
    a, b = (Sandbox("--port", "0", "--contacts", "50", "--seed", "3") for _ in range(2))
    try:
        env_a, env_b = a.exports(), b.exports()
        assert env_a["HUBSPOT_BASE_URL"] != env_b["HUBSPOT_BASE_URL"]
        assert env_a["MAILCHIMP_LIST_ID"] == env_b["MAILCHIMP_LIST_ID"]
        emails = [
            [c.properties["email"] for c in _hubspot(e).crm.contacts.basic_api.get_page(limit=100).results]
            for e in (env_a, env_b)
        ]
        assert emails[0] == emails[1]
    finally:
        assert a.stop()[0] == 0 and b.stop()[0] == 0


def test_port_in_use_exits_1_with_a_one_line_reason():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*_syncd(), "sandbox", "--port", str(port), "--contacts", "10"],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=START_S,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("syncd sandbox: cannot listen on 127.0.0.1:") and str(port) in lines[0]
    assert "in use" in lines[0].lower()


def test_help_describes_the_options():
    done = subprocess.run(
        [*_syncd(), "sandbox", "--help"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=START_S
    )
    assert done.returncode == 0 and done.stderr == ""
    for option in ("--port", "--contacts", "--seed", "--faults", "--fault-kinds", "--rate-scale", "--hubspot-tier"):
        assert option in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--faults", "2"],
        ["--faults", "0.1", "--fault-kinds", "teapot"],
        ["--contacts", "-1"],
        ["--latency-ms", "-5"],
        ["--port", "70000"],
    ],
)
def test_impossible_settings_exit_1_with_a_one_line_reason(args):
    done = subprocess.run(
        [*_syncd(), "sandbox", "--port", "0", "--contacts", "10", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=START_S,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("syncd sandbox: ")


def test_faults_option_faults_every_request():
    sb = Sandbox("--port", "0", "--contacts", "20", "--seed", "3", "--faults", "1.0", "--fault-kinds", "503")
    try:
        env = sb.exports()
        with pytest.raises(ApiException) as caught:
            _hubspot(env).crm.contacts.basic_api.get_page(limit=5)
        assert caught.value.status == 503
        faults = requests.get(f"{env['HUBSPOT_BASE_URL']}/_sandbox/faults", timeout=10).json()
        assert (faults["rate"], faults["kinds"], faults["served"]["503"]) == (1.0, ["503"], 1)
    finally:
        assert sb.stop()[0] == 0


# -- bad requests never produce a stack trace ---------------------------------------------------------------
def _bad_requests(env: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    hs, mc, lst = (
        env["HUBSPOT_BASE_URL"],
        env["MAILCHIMP_BASE_URL"],
        f"{env['MAILCHIMP_BASE_URL']}/lists/" + env["MAILCHIMP_LIST_ID"],
    )
    js = {"Content-Type": "application/json"}
    return [
        # HubSpot: malformed JSON, wrong types, unknown paths and methods, bad parameters
        ("POST", f"{hs}/crm/v3/objects/contacts", {"data": "{not json", "headers": js}),
        ("POST", f"{hs}/crm/v3/objects/contacts", {"data": b"\xff\xfe\x00", "headers": js}),
        ("POST", f"{hs}/crm/v3/objects/contacts", {"json": {"properties": "email=x"}}),
        ("POST", f"{hs}/crm/v3/objects/contacts", {"json": [1, 2, 3]}),
        ("POST", f"{hs}/crm/v3/objects/contacts", {"json": {"properties": {"email": ["a@b.c"]}}}),
        ("POST", f"{hs}/crm/v3/objects/contacts/search", {"json": {"filterGroups": "all", "limit": "ten"}}),
        ("POST", f"{hs}/crm/v3/objects/contacts/search", {"json": {"limit": 10**30}}),
        ("POST", f"{hs}/crm/v3/objects/contacts/batch/read", {"json": {"inputs": [{"id": {"x": 1}}]}}),
        ("POST", f"{hs}/crm/v3/objects/contacts/batch/update", {"json": {"inputs": None}}),
        ("POST", f"{hs}/crm/v3/objects/tasks", {"json": {"properties": {"hs_timestamp": "soon"}}}),
        ("PATCH", f"{hs}/crm/v3/objects/contacts/not-a-number", {"json": {"properties": {}}}),
        ("GET", f"{hs}/crm/v3/objects/contacts?limit=abc&after=-5", {}),
        ("GET", f"{hs}/crm/v3/objects/contacts?after=99999999999999999999999999", {}),
        ("GET", f"{hs}/crm/v3/objects/contacts/%00%ff", {}),
        ("GET", f"{hs}/crm/v3/nowhere", {}),
        ("DELETE", f"{hs}/crm/v3/owners", {}),
        ("GET", f"{hs}/crm/v4/objects/contacts/100001/associations/planets", {}),
        # Mailchimp: the same kinds of mistakes
        ("POST", f"{lst}/members", {"data": "{not json", "headers": js}),
        ("POST", f"{lst}/members", {"json": {"email_address": 42, "status": ["subscribed"]}}),
        ("POST", f"{lst}/members", {"json": "subscribed"}),
        ("PUT", f"{lst}/members/{'0' * 32}", {"json": {"email_address": "x@y.z", "status_if_new": 5}}),
        ("PATCH", f"{lst}/members/nothash", {"json": {"merge_fields": "FNAME"}}),
        ("POST", f"{lst}/members/{'0' * 32}/tags", {"json": {"tags": "hot"}}),
        ("POST", lst, {"json": {"members": {"email_address": "x@y.z"}, "update_existing": "yes"}}),
        ("POST", f"{lst}/merge-fields", {"json": {"tag": None, "type": 3}}),
        ("GET", f"{lst}/members?count=-1&offset=abc", {}),
        ("GET", f"{mc}/campaigns?count=99999999999999999999", {}),
        ("GET", f"{mc}/reports/nope/email-activity", {}),
        ("GET", f"{mc}/nowhere", {}),
        ("DELETE", f"{mc}/lists", {}),
        # control endpoints
        ("POST", f"{hs}/_sandbox/events", {"data": "[{", "headers": js}),
        ("POST", f"{hs}/_sandbox/clock", {"json": {"advance_days": "many"}}),
        ("POST", f"{hs}/_sandbox/faults", {"json": {"rate": "high"}}),
        ("GET", f"{hs}/_sandbox/nowhere", {}),
    ]


def test_bad_requests_get_clean_errors_and_never_a_stack_trace(running):
    sb, env = running
    hs_auth = {"Authorization": f"Bearer {env['HUBSPOT_ACCESS_TOKEN']}"}
    mc_auth = ("anystring", env["MAILCHIMP_API_KEY"])
    answers = []
    for method, url, kwargs in _bad_requests(env):
        extra = {"auth": mc_auth} if "/3.0" in url else {"headers": {**hs_auth, **kwargs.pop("headers", {})}}
        if "auth" in extra and "headers" in kwargs:
            extra["headers"] = kwargs.pop("headers")
        r = requests.request(method, url, timeout=30, **kwargs, **extra)
        answers.append((method, url, r.status_code, r.text))
        assert 400 <= r.status_code < 500, (method, url, r.status_code, r.text[:300])
        assert "Traceback" not in r.text and 'File "' not in r.text, (method, url, r.text[:300])
        if "/_sandbox/" in url and r.status_code == 400:
            assert "error" in r.json()
        elif "/3.0" in url:
            body = r.json()
            assert body["status"] == r.status_code and body["title"] and "detail" in body, (url, body)
        elif "/_sandbox/" not in url:
            body = r.json()
            assert body["status"] == "error" and body["message"] and body["category"], (url, body)
    # the server is still healthy, and logged no stack trace
    assert _hubspot(env).crm.contacts.basic_api.get_page(limit=1).results
    code, stderr, rest = sb.stop()
    assert code == 0 and rest == []
    assert "Traceback" not in stderr, stderr[-3000:]
    assert json.dumps(answers)  # every answer was text


def test_missing_or_wrong_credentials_get_the_vendors_401(running):
    _, env = running
    hs, lst = env["HUBSPOT_BASE_URL"], f"{env['MAILCHIMP_BASE_URL']}/lists/{env['MAILCHIMP_LIST_ID']}"
    for headers in ({}, {"Authorization": "Bearer pat-wrong"}, {"Authorization": "Basic !!!"}):
        r = requests.get(f"{hs}/crm/v3/objects/contacts", headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["category"] == "INVALID_AUTHENTICATION"
        r = requests.get(f"{lst}/members", headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["title"] == "API Key Invalid"
    r = requests.get(f"{lst}/members", auth=("any", "0" * 32 + "-us1"), timeout=10)
    assert r.status_code == 401 and "Traceback" not in r.text
