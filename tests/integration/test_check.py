"""`syncd check` as an admin runs it, against the sandbox: every line ok with the default token; a token
without a scope fails exactly the lines that need it, naming the scope; an unknown audience names
MAILCHIMP_LIST_ID; a closed port fails fast naming the URL; a schema already there (or wrongly typed) is
told apart from one syncd creates; and nothing it sends is a write, nor does it create a database."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
import requests
from syncd_harness import SYNCD, subprocess_env

from connectors.errors import missing_scopes
from sandbox.hubspot.auth import KNOWN_SCOPES
from sandbox.world import SandboxConfig

SHARED_SANDBOX = SandboxConfig(contacts=30, seed=3, rate_scale=20)
READS = ("GET ", "POST /crm/v3/objects/contacts/search")
HUBSPOT_READS = (
    "hubspot.contacts",
    "hubspot.search",
    "hubspot.properties",
    "hubspot.owners",
    "hubspot.tasks",
    "hubspot.notes",
)
EVERY_CHECK = (
    "config.mappings",
    "config.scoring",
    "hubspot.reachable",
    "hubspot.token",
    *HUBSPOT_READS,
    "hubspot.contacts_write",
    "hubspot.schemas_write",
    "hubspot.syncd_properties",
    "hubspot.mapped",
    "hubspot.consent",
    "mailchimp.reachable",
    "mailchimp.key",
    "mailchimp.audience",
    "mailchimp.merge_fields",
)


def _check(sandbox, tmp_path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """Run `syncd check --json` (and the plain form with the same environment); return the JSON run, its
    checks by name, and the sandbox's request statistics of both runs."""
    requests.delete(f"{sandbox.url}/_sandbox/stats", timeout=10).raise_for_status()
    environment = subprocess_env(sandbox, tmp_path, **env)
    proc = subprocess.run(
        [*SYNCD, "check", "--json", *args], env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stdout.count("\n") == 1, proc.stdout  # one JSON object
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert [c["name"] for c in report["checks"]] == list(checks), "every check once"
    assert report["ok"] is (proc.returncode == 0) and proc.returncode in (0, 1)
    plain = subprocess.run([*SYNCD, "check"], env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    lines = plain.stdout.splitlines()
    assert plain.returncode == proc.returncode and len(lines) == len(checks), plain.stdout
    for line, check in zip(lines, report["checks"], strict=True):  # the same findings, one line each
        label = {"ok": "ok", "fail": "FAIL", "skip": "skip", "note": "note"}[check["status"]]
        assert line.startswith(f"{label:<5} {check['title']}") and check["detail"] in line, (line, check)
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()
    for output in (proc.stdout + proc.stderr, plain.stdout + plain.stderr):
        for secret in (environment["HUBSPOT_ACCESS_TOKEN"], environment["MAILCHIMP_API_KEY"].split("-")[0]):
            assert secret not in output
    return proc, checks, stats


def _assert_only_reads(stats: dict) -> None:
    writes = {k: v for k, v in stats["requests"].items() if not k.startswith(READS)}
    assert writes == {}, stats["requests"]


def _failing(checks: dict) -> set[str]:
    return {name for name, c in checks.items() if c["status"] == "fail"}


def _mint(sandbox, scopes) -> str:
    resp = requests.post(f"{sandbox.url}/_sandbox/tokens", json={"scopes": list(scopes)}, timeout=10)
    resp.raise_for_status()
    return resp.json()["token"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_check_passes_with_the_default_token_and_nothing_is_written(sandbox, tmp_path):
    proc, checks, stats = _check(sandbox, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert tuple(checks) == EVERY_CHECK
    assert {n for n, c in checks.items() if c["status"] != "ok"} == {"hubspot.contacts_write", "hubspot.schemas_write"}
    for name in ("hubspot.contacts_write", "hubspot.schemas_write"):  # said honestly, not pretended
        assert checks[name]["status"] == "note" and "cannot be checked without writing" in checks[name]["detail"]
    assert "crm.objects.contacts.write" in checks["hubspot.contacts_write"]["title"]
    assert "crm.schemas.contacts.write" in checks["hubspot.schemas_write"]["title"]
    assert sandbox.url in checks["hubspot.reachable"]["title"]
    # a fresh account: syncd's properties and three merge fields do not exist yet, and that is fine
    assert "first run creates them" in checks["hubspot.syncd_properties"]["detail"]
    assert (
        checks["mailchimp.merge_fields"]["detail"] == "COMPANY, JOBTITLE, SCORE missing: syncd's first run creates them"
    )
    assert "Sandbox Leads" in checks["mailchimp.audience"]["detail"]

    _assert_only_reads(stats)
    reads = set(stats["requests"])
    for path in (
        "GET /crm/v3/objects/contacts",
        "POST /crm/v3/objects/contacts/search",
        "GET /crm/v3/properties/{objectType}",
        "GET /crm/v3/objects/tasks",
        "GET /crm/v3/objects/notes",
        "GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        "GET /3.0/ping",
        "GET /3.0/lists/{list_id}",
        "GET /3.0/lists/{list_id}/merge-fields",
    ):
        assert path in reads, (path, reads)
    assert any(k.startswith("GET /crm/v3/owners") for k in reads)
    assert not (tmp_path / "syncd.db").exists()  # no database opened, so none created
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=30).json()
    assert state["hubspot"]["tasks"] == [] and state["hubspot"]["notes"] == []


@pytest.mark.parametrize(
    ("scope", "line"),
    [("crm.objects.owners.read", "hubspot.owners"), ("crm.schemas.contacts.read", "hubspot.properties")],
)
def test_a_token_without_a_scope_fails_exactly_its_line_naming_the_scope(sandbox, tmp_path, scope, line):
    token = _mint(sandbox, [s for s in KNOWN_SCOPES if s != scope])
    proc, checks, stats = _check(sandbox, tmp_path, HUBSPOT_ACCESS_TOKEN=token)
    assert proc.returncode == 1
    assert _failing(checks) == {line}
    detail = checks[line]["detail"]
    assert f"lacks the scope {scope};" in detail and "Service Key or the private app" in detail, detail
    assert "403 MISSING_SCOPES" in detail and "HUBSPOT_ACCESS_TOKEN" in detail
    assert proc.stderr.strip().splitlines()[-1] == f"syncd check: 1 check(s) failed: {line}"
    if line == "hubspot.properties":  # what needs the definitions cannot be judged, and says why
        for name in ("hubspot.syncd_properties", "hubspot.mapped", "hubspot.consent"):
            assert checks[name]["status"] == "skip" and "could not be read" in checks[name]["detail"]
    others = set(EVERY_CHECK) - {line, "hubspot.contacts_write", "hubspot.schemas_write"}
    assert all(checks[n]["status"] in ("ok", "skip") for n in others)
    _assert_only_reads(stats)


def test_a_token_with_read_scopes_only_passes_every_read_and_still_names_the_write_scopes(sandbox, tmp_path):
    reads_only = ["crm.objects.contacts.read", "crm.schemas.contacts.read", "crm.objects.owners.read"]
    proc, checks, _ = _check(sandbox, tmp_path, HUBSPOT_ACCESS_TOKEN=_mint(sandbox, reads_only))
    assert proc.returncode == 0, proc.stdout  # exactly the read scopes syncd uses: no more is needed to read
    assert checks["hubspot.contacts_write"]["status"] == "note"


def test_a_refused_token_fails_the_token_line_and_skips_the_reads(sandbox, tmp_path):
    bad = "pat-na1-00000000-0000-0000-0000-000000000000"
    proc, checks, stats = _check(sandbox, tmp_path, HUBSPOT_ACCESS_TOKEN=bad)
    assert proc.returncode == 1 and _failing(checks) == {"hubspot.token"}
    assert "401" in checks["hubspot.token"]["detail"] and "HUBSPOT_ACCESS_TOKEN" in checks["hubspot.token"]["detail"]
    assert checks["hubspot.reachable"]["status"] == "ok"
    assert all(checks[n]["status"] == "skip" for n in HUBSPOT_READS)
    hubspot_calls = {k: v for k, v in stats["requests"].items() if "/3.0/" not in k}
    assert hubspot_calls == {"GET /crm/v3/objects/contacts": 2}  # one refused read per run, then nothing


def test_an_unknown_audience_fails_its_line_naming_the_setting(sandbox, tmp_path):
    proc, checks, stats = _check(sandbox, tmp_path, MAILCHIMP_LIST_ID="nosuchlist")
    assert proc.returncode == 1 and _failing(checks) == {"mailchimp.audience"}
    detail = checks["mailchimp.audience"]["detail"]
    assert "Mailchimp has no audience nosuchlist" in detail and "check MAILCHIMP_LIST_ID" in detail
    assert "MAILCHIMP_LIST_ID" in checks["mailchimp.audience"]["title"]
    assert checks["mailchimp.key"]["status"] == "ok" and checks["mailchimp.merge_fields"]["status"] == "skip"
    _assert_only_reads(stats)


def test_a_closed_hubspot_port_fails_fast_naming_the_url(sandbox, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    proc, checks, stats = _check(sandbox, tmp_path, HUBSPOT_BASE_URL=url)
    assert time.monotonic() - started < 20  # both runs, each waiting out one retry
    assert proc.returncode == 1 and _failing(checks) == {"hubspot.reachable"}
    detail = checks["hubspot.reachable"]["detail"]
    assert f"cannot reach HubSpot at {url}" in detail and "connection refused" in detail
    assert "HUBSPOT_BASE_URL" in detail and url in checks["hubspot.reachable"]["title"]
    assert all(checks[n]["status"] == "skip" for n in ("hubspot.token", *HUBSPOT_READS))
    assert checks["mailchimp.audience"]["status"] == "ok"  # the other service is still checked
    assert all(k.startswith("GET /3.0/") for k in stats["requests"])


def test_after_a_first_run_the_schemas_exist_and_a_wrongly_typed_one_fails(sandbox, tmp_path):
    env = subprocess_env(sandbox, tmp_path)
    once = subprocess.run([*SYNCD, "once"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr[-3000:]
    proc, checks, stats = _check(sandbox, tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert checks["hubspot.syncd_properties"]["detail"] == "all exist with syncd's types"
    assert checks["mailchimp.merge_fields"]["detail"] == "all exist with the mapped types"
    assert checks["hubspot.mapped"]["detail"] == "17 exist"
    _assert_only_reads(stats)

    # an admin's own SCORE of the wrong type, and a syncd_segment without an option syncd writes
    sandbox.world.reset()
    list_id = sandbox.env["MAILCHIMP_LIST_ID"]
    mc = requests.Session()
    mc.auth = ("any", sandbox.world.config.mailchimp_key)
    mc.post(
        f"{sandbox.url}/3.0/lists/{list_id}/merge-fields", json={"tag": "SCORE", "name": "Score", "type": "text"}
    ).raise_for_status()
    hs = {"Authorization": f"Bearer {sandbox.world.config.hubspot_token}"}
    requests.post(
        f"{sandbox.url}/crm/v3/properties/contacts",
        headers=hs,
        json={
            "name": "syncd_segment",
            "label": "Segment",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "contactinformation",
            "options": [{"label": v, "value": v} for v in ("cold", "warm", "hot")],
        },
        timeout=10,
    ).raise_for_status()
    proc, checks, _ = _check(sandbox, tmp_path)
    assert proc.returncode == 1 and _failing(checks) == {"hubspot.syncd_properties", "mailchimp.merge_fields"}
    assert "syncd_segment lacks the option(s) reengage" in checks["hubspot.syncd_properties"]["detail"]
    assert "merge field SCORE is of type text, the mapping says number" in checks["mailchimp.merge_fields"]["detail"]


def test_missing_credentials_are_lines_too(sandbox, tmp_path):
    env = subprocess_env(sandbox, tmp_path)
    for name in ("HUBSPOT_ACCESS_TOKEN", "MAILCHIMP_API_KEY", "MAILCHIMP_BASE_URL"):
        env.pop(name)
    proc = subprocess.run([*SYNCD, "check"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    failing = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert failing == [
        "FAIL  HubSpot accepts HUBSPOT_ACCESS_TOKEN: HUBSPOT_ACCESS_TOKEN (or HUBSPOT_ACCESS_TOKEN_FILE) is not set",
        "FAIL  Mailchimp accepts MAILCHIMP_API_KEY (ping): MAILCHIMP_API_KEY (or MAILCHIMP_API_KEY_FILE) is not set",
    ]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            {
                "errors": [
                    {
                        "message": "All of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["a.read"]},
                    }
                ]
            },
            "scope a.read",
        ),
        (
            {
                "errors": [
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["a", "b"]},
                    },
                    {
                        "message": "All of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["c", "d"]},
                    },
                ]
            },
            "scopes c, d and one of the scopes a, b",
        ),
        ({"context": {"requiredScopes": ["contacts"]}}, "scope contacts"),
        ({"message": "no scopes here", "errors": "not a list"}, None),
    ],
)
def test_the_missing_scopes_are_read_from_hubspots_403_body(body, said):
    assert missing_scopes(body) == said


def test_check_has_help(tmp_path):
    proc = subprocess.run(
        [*SYNCD, "check", "--help"],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("usage: syncd check") and "--json" in proc.stdout
