"""The engine's commands as a user runs them: `syncd once --json`, `syncd explain`, `syncd plan`,
`syncd mappings check`, and `--help` everywhere. Each runs as a subprocess against a sandbox on loopback;
cycles that only prepare a state run in-process on the same database file."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests
import sqlalchemy as sa
from hubspot.crm.contacts import SimplePublicObjectInput
from syncd_harness import PRICING, ROOT, SYNCD, Engine, iso, make_lead, sdk_clients, subprocess_env

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd.store import schema as t

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
READS = ("GET ", "POST /crm/v3/objects/contacts/search")


def _run(args: list[str], env: dict, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(SYNCD + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _writes(stats: dict) -> dict[str, int]:
    return {k: v for k, v in stats["requests"].items() if not k.startswith(READS)}


@pytest.fixture
def world():
    with SandboxServer(SandboxConfig(contacts=120, seed=13, start_ms=START, rate_scale=20)) as sb:
        yield sb


# -- once --json ---------------------------------------------------------------------------------


def test_once_json_prints_one_object_with_the_documented_figures(world, tmp_path):
    requests.post(f"{world.url}/_sandbox/clock", json={"advance_days": 6}, timeout=60).raise_for_status()
    env = subprocess_env(world, tmp_path, SYNCD_LOG_LEVEL="INFO")  # logs on, and still only JSON on stdout
    proc = _run(["once", "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.endswith("\n") and proc.stdout.count("\n") == 1
    summary = json.loads(proc.stdout)
    assert isinstance(summary, dict) and summary["ok"] is True
    assert proc.stderr.strip()  # the logs went to stderr

    for stream in ("hubspot_owners", "hubspot_contacts", "mailchimp_members", "mailchimp_activity"):
        assert isinstance(summary["streams"][stream]["records_pulled"], int), stream
    assert summary["streams"]["hubspot_contacts"]["records_pulled"] > 50
    assert summary["streams"]["mailchimp_activity"]["records_pulled"] > 0  # 6 simulated days of campaigns
    assert summary["events_merged"] > 0
    pushed = summary["commands"]["pushed"]
    assert {"hubspot.update_contact", "mailchimp.tags"} <= set(pushed) and all(v > 0 for v in pushed.values())
    calls = summary["api_calls"]
    assert {"hubspot.contacts.list", "mailchimp.members.list", "mailchimp.campaigns.list"} <= set(calls)
    assert all(isinstance(v, int) and v > 0 for v in calls.values())
    assert summary["api_calls_total"] == sum(calls.values())
    stats = requests.get(f"{world.url}/_sandbox/stats", timeout=10).json()
    assert stats["total"] == summary["api_calls_total"]  # syncd counts what the server served
    assert summary["http_429_seen"] == stats["served_429"] == 0
    assert summary["quarantined"] == 0
    assert isinstance(summary["seconds"], (int, float)) and 0 < summary["seconds"] < 120
    assert world.world.config.hubspot_token not in proc.stdout + proc.stderr
    assert world.world.config.mailchimp_key.split("-")[0] not in proc.stdout + proc.stderr


# -- explain ---------------------------------------------------------------------------------------


def test_explain_shows_the_ledger_as_a_table_and_as_json(world, tmp_path):
    hubspot, mailchimp = sdk_clients(world)
    engine = Engine(world, tmp_path)
    lead = make_lead(
        world, hubspot, mailchimp, "erin.explain@midsize-analytics.example", firstname="Erin", industry="software"
    )
    now = engine.now()
    engine.inject(
        {"email": lead["email"], "action": "open", "timestamp": iso(now - 120_000)},
        {"email": lead["email"], "action": "click", "url": PRICING, "timestamp": iso(now - 60_000)},
    )
    engine.settle()
    engine.cycle()
    hubspot_score = engine.contact(lead["id"])["properties"]["syncd_score"]
    env = subprocess_env(world, tmp_path)

    table = _run(["explain", "Erin.Explain@Midsize-Analytics.example "], env, tmp_path)  # normalized
    assert table.returncode == 0, table.stderr
    text = table.stdout
    assert text.startswith(f"erin.explain@midsize-analytics.example  (HubSpot {lead['id']}, Mailchimp member)")
    for rule in ("senior_title", "company_size_fit", "target_industry", "email_open", "pricing_click"):
        assert rule in text, rule
    assert PRICING in text
    assert f"= score {hubspot_score}" in text  # the same score HubSpot shows

    as_json = _run(["explain", lead["email"], "--json"], env, tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["email"] == lead["email"] and str(data["score"]) == hubspot_score
    rules = {e["rule"]: e for e in data["ledger"]}
    assert rules["pricing_click"]["points"] == 20 and rules["pricing_click"]["kind"] == "behaviour"
    assert rules["senior_title"]["points"] == 15 and rules["senior_title"]["kind"] == "fit"
    assert data["totals"]["fit"] == 30  # VP 15, 100-500 staff 10, software 5
    assert data["segment"] == "warm" and data["lifecycle_target"] == "marketingqualifiedlead"  # 30 + 5 + 20

    unknown = _run(["explain", "nobody@nowhere.example"], env, tmp_path)
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.count("\n") == 1 and "nobody@nowhere.example" in unknown.stderr


# -- plan ------------------------------------------------------------------------------------------


def _db_snapshot(engine: Engine) -> dict:
    with engine.ctx.store.begin() as conn:
        return {
            name: conn.execute(sa.select(table)).all()
            for name, table in (
                ("outbox", t.outbox),
                ("cursors", t.cursors),
                ("scores", t.scores),
                ("events", t.events),
                ("pushed", t.pushed_state),
                ("contacts", t.hubspot_contacts),
                ("members", t.mailchimp_members),
            )
        }


def test_plan_lists_the_next_cycles_changes_and_writes_nothing(world, tmp_path):
    hubspot, mailchimp = sdk_clients(world)
    engine = Engine(world, tmp_path)
    lead = make_lead(world, hubspot, mailchimp, "paula.plan@midsize-analytics.example", firstname="Paula")
    for _ in range(3):
        engine.settle()
        summary = engine.cycle()
    assert summary["commands"]["pushed"] == {}
    env = subprocess_env(world, tmp_path)

    quiet = _run(["plan"], env, tmp_path)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "nothing to change", quiet.stdout + quiet.stderr

    # two things change: a job title in HubSpot, a pricing click in Mailchimp
    hubspot.crm.contacts.basic_api.update(
        lead["id"], SimplePublicObjectInput(properties={"jobtitle": "Marketing Intern"})
    )
    engine.settle()  # the click is dated after the last pull's bound
    engine.inject({"email": lead["email"], "action": "click", "url": PRICING, "timestamp": iso(engine.now() - 1000)})
    engine.settle()
    before = _db_snapshot(engine)
    requests.delete(f"{world.url}/_sandbox/stats", timeout=10)

    proc = _run(["plan", "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    planned = result["commands"]
    stats = requests.get(f"{world.url}/_sandbox/stats", timeout=10).json()
    assert _writes(stats) == {}, stats["requests"]  # nothing written to either service
    assert stats["total"] > 0  # (it did read: plan pulls first)
    assert _db_snapshot(engine) == before  # nor to the database

    kinds = {(c["kind"], c["target"]) for c in planned}
    assert ("hubspot.update_contact", f"hubspot:contact:{lead['id']}") in kinds
    assert ("mailchimp.update_member", f"mailchimp:member:{lead['hash']}") in kinds  # JOBTITLE, SCORE
    assert ("hubspot.note", f"hubspot:note:{lead['id']}") in kinds  # the click
    update = next(c for c in planned if c["kind"] == "hubspot.update_contact")
    assert set(update["payload"]["properties"]) >= {"syncd_score", "syncd_fit_score"}

    # the summary: per field and direction, how many values change; and the lead's own diff
    summary = result["summary"]
    fields = {(f["field"], f["direction"]): f["changes"] for f in summary["fields"]}
    assert fields[("JOBTITLE", "to_mailchimp")] == 1 and fields[("syncd_score", "to_hubspot")] >= 1
    assert summary["commands"] == len(planned) and summary["notes"] >= 1
    record = next(r for r in result["records"] if r["email"] == lead["email"])
    jobtitle = next(ch for ch in record["changes"] if ch["field"] == "JOBTITLE")
    assert jobtitle["after"] == "Marketing Intern" and jobtitle["before"] != "Marketing Intern"
    assert "note of Mailchimp engagement" in record["actions"]

    table = _run(["plan", "--sample", "50"], env, tmp_path)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0] == f"the next cycle would send {len(planned)} command(s) about {summary['records']} contact(s):"
    assert any(line.split() == ["JOBTITLE", "to_mailchimp", "1"] for line in lines), table.stdout
    assert f"  {lead['email']}  [" in table.stdout
    assert f"    JOBTITLE (to_mailchimp): {jobtitle['before']!r} -> 'Marketing Intern'" in lines, table.stdout
    assert "sample (" not in _run(["plan"], env, tmp_path).stdout  # no diffs without --sample

    # the next real cycle does exactly what the plan said
    outbox_before = len(before["outbox"])
    summary = engine.cycle()
    done = {(r.kind, r.target) for r in engine.outbox()[outbox_before:]}
    assert done == kinds
    assert sum(summary["commands"]["pushed"].values()) == len(planned)


# -- mappings check -----------------------------------------------------------------------------------


def _broken_mappings(tmp_path, good: str, bad: str):
    text = (ROOT / "mappings/default.yaml").read_text()
    assert text.count(good) == 1
    path = tmp_path / "mappings.yaml"
    path.write_text(text.replace(good, bad))
    line = text[: text.index(good)].count("\n") + 1
    return path, line


def test_mappings_check_passes_against_the_sandbox_and_fails_on_a_broken_file(world, tmp_path):
    env = subprocess_env(world, tmp_path)
    assert _run(["once"], env, tmp_path).returncode == 0  # syncd's properties and merge fields now exist
    ok = _run(["mappings", "check"], env, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[-1].startswith("0 errors, 0 warnings in ")
    assert ok.stdout.splitlines()[-1].endswith(" against the live HubSpot properties and Mailchimp merge fields")

    # against the schema (offline or not): file:line:column, the reason and the suggestion, exit 1
    path, line = _broken_mappings(
        tmp_path, "    merge_tag: JOBTITLE\n    type: text", "    merge_tag: JOBTITLE\n    type: txt"
    )
    for extra in ([], ["--offline"]):
        bad = _run(["mappings", "check", "--file", str(path), *extra], env, tmp_path)
        assert bad.returncode == 1
        assert f"{path}:{line + 1}:11: fields.3.type: 'txt' is not one of " in bad.stdout, bad.stdout
        assert "did you mean 'text'?" in bad.stdout
        assert bad.stderr.startswith("syncd mappings: 1 error, ") and bad.stderr.count("\n") == 1

    # against the live schemas: an unknown HubSpot property, named with its line and column
    path, line = _broken_mappings(tmp_path, "  - hubspot: jobtitle", "  - hubspot: job_title_typo")
    bad = _run(["mappings", "check", "--file", str(path)], env, tmp_path)
    assert bad.returncode == 1
    problem = [x for x in bad.stdout.splitlines() if "job_title_typo" in x]
    assert len(problem) == 1 and problem[0].startswith(f"{path}:{line}:14: unknown HubSpot property"), bad.stdout


def test_mappings_check_names_each_problem_once(world, tmp_path):
    env = subprocess_env(world, tmp_path)
    path, line = _broken_mappings(tmp_path, "  - hubspot: jobtitle", "  - hubspot: job_title_typo")
    bad = _run(["mappings", "check", "--file", str(path)], env, tmp_path)
    problem = [x for x in bad.stdout.splitlines() if "job_title_typo" in x]
    assert len(problem) == 1 and problem[0].startswith(f"{path}:{line}:14: ")


def test_mappings_check_passes_on_a_fresh_account(world, tmp_path):
    ok = _run(["mappings", "check"], subprocess_env(world, tmp_path), tmp_path)
    assert ok.returncode == 0, ok.stdout
    # SCORE is syncd's: created by its first run, said as a warning
    assert "warning: Mailchimp merge field SCORE does not exist in the audience" in ok.stdout


# -- --help -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["sandbox"],
        ["once"],
        ["run"],
        ["demo"],
        ["explain"],
        ["plan"],
        ["mappings"],
        ["mappings", "check"],
        ["quarantine"],
        ["quarantine", "list"],
        ["quarantine", "retry"],
    ],
)
def test_every_command_has_help(args, tmp_path):
    proc = _run([*args, "--help"], {"PATH": "/usr/bin:/bin"}, tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: syncd") and proc.stderr == ""
