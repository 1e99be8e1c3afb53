"""What a person reads after `syncd once` and from `syncd explain`, against a sandbox on loopback: the
progress of each pull with the vendor's totals, the summary after the counts (who went hot and why, the
task created for the owner, problems), and why a lead that fell under the hot line is still hot."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import pytest
from syncd_harness import PRICING, SYNCD, Engine, iso, make_lead, ms_of, sdk_clients, subprocess_env

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd import progress

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000


def _run(args: list[str], env: dict, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(SYNCD + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def world():
    # no past campaigns: nobody but the leads a test makes has any engagement, so nobody else goes hot
    with SandboxServer(SandboxConfig(contacts=150, seed=21, start_ms=START, rate_scale=20, history_days=0)) as sb:
        yield sb


def _clicks(sb: SandboxServer, email: str, now: int) -> None:
    """Two pricing clicks: 30 fit points (VP, 100-500 staff, software) + 2 x 20 = 70, hot."""
    import requests

    events = [
        {"email": email, "action": "click", "url": PRICING, "timestamp": iso(now - 120_000)},
        {"email": email, "action": "click", "url": PRICING, "timestamp": iso(now - 60_000)},
    ]
    r = requests.post(f"{sb.url}/_sandbox/events", json=events, timeout=30)
    assert r.status_code == 200 and r.json()["applied"] == 2, r.text
    requests.post(f"{sb.url}/_sandbox/clock", json={"advance_days": 0.01}, timeout=60).raise_for_status()


def _owner_name(sb: SandboxServer, owner_id: str) -> str:
    owner = next(o for o in sb.world.hubspot.owners if str(o["id"]) == owner_id)
    return f"{owner['firstName']} {owner['lastName']}"


def _contacts_before_signups(state: dict) -> int:
    """The contacts HubSpot held when the pull read them: the cycle's push then created a contact for each
    Mailchimp subscriber who had none (syncd_source=mailchimp)."""
    created = [c for c in state["hubspot"]["contacts"] if c["properties"].get("syncd_source") == "mailchimp"]
    assert created, "the sandbox's subscribers without a contact became contacts"
    return len(state["hubspot"]["contacts"]) - len(created)


def _state(sb: SandboxServer) -> dict:
    import requests

    return requests.get(f"{sb.url}/_sandbox/state", timeout=60).json()


def test_once_ends_with_who_went_hot_the_task_made_and_problems(world, tmp_path):
    hubspot, mailchimp = sdk_clients(world)
    now = int(world.world.clock.now_ms())
    lead = make_lead(
        world, hubspot, mailchimp, "hanna.hot@midsize-analytics.example", firstname="Hanna", industry="software"
    )
    _clicks(world, lead["email"], now)
    env = subprocess_env(world, tmp_path, SYNCD_LOG_LEVEL="INFO")

    proc = _run(["once", "--progress-interval", "0.001"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    counts, _, changes = out.partition("went hot: ")
    assert counts.startswith("cycle ok") and "pulled" in counts  # the counts come first
    assert changes.startswith("1\n"), out
    assert f"  Hanna Pilot <{lead['email']}>, score 70: pricing_click +20" in changes
    (task,) = [t for t in _state(world)["hubspot"]["tasks"] if lead["id"] in t["associations"]["contacts"]]
    owner = _owner_name(world, lead["owner_id"])
    assert "tasks created: 1\n" in changes
    assert f"  Hanna Pilot <{lead['email']}> -> {owner} (segment:hot, HubSpot task {task['id']})" in changes
    assert changes.rstrip().endswith("problems: none")

    # without a terminal, each pull logged its progress with the vendors' totals
    lines = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{")]
    figures = [x for x in lines if x.get("event") == "pull.progress"]
    state = _state(world)
    read = _contacts_before_signups(state)
    last = {x["stream"]: x for x in figures if x["finished"]}
    assert last["hubspot_contacts"]["done"] == last["hubspot_contacts"]["total"] == read
    members = next(int(x.split()[1]) for x in counts.splitlines() if x.endswith(" mailchimp_members"))
    assert last["mailchimp_members"]["done"] == last["mailchimp_members"]["total"] == members  # before subscribes
    some = next(x for x in figures if x["stream"] == "hubspot_contacts" and not x["finished"])
    assert some["total"] == read and some["rate_per_s"] > 0 and some["eta_s"] >= 0
    assert world.world.config.hubspot_token not in proc.stdout + proc.stderr

    # the next cycle, as JSON: the same fields, machine-readable, for a second lead
    second = make_lead(world, hubspot, mailchimp, "otto.second@midsize-analytics.example", industry="software")
    _clicks(world, second["email"], int(world.world.clock.now_ms()))
    again = _run(["once", "--json"], subprocess_env(world, tmp_path), tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout)["report"]
    assert report["went_hot"]["count"] == 1
    (hot,) = report["went_hot"]["leads"]
    assert (hot["email"], hot["name"], hot["score"]) == (second["email"], "Vera Pilot", 70)
    assert hot["reasons"][0].startswith("pricing_click +20")
    (made,) = report["tasks"]["items"]
    assert made["email"] == second["email"] and made["owner_id"] == second["owner_id"]
    assert made["trigger"] == "segment:hot" and made["hubspot_task_id"]
    assert report["problems"] == {
        "quarantined": {"count": 0, "items": []},
        "failed_commands": {"count": 0, "items": []},
        "stage_errors": {},
    }


def test_the_pulls_report_vendor_totals_on_an_injected_clock(world, tmp_path):
    class Ticking:
        """Monotonic seconds that move 3 s at every reading: every page is a progress line."""

        t = 0.0

        def __call__(self) -> float:
            self.t += 3
            return self.t

    class Lines:
        events: list[dict] = []

        def info(self, event: str, **kw) -> None:
            self.events.append({"event": event, **kw})

        warning = info

    engine = Engine(world, tmp_path)
    lines = Lines()
    with progress.reporting(progress.LogReporter(interval_s=5, clock=Ticking(), log=lines)):
        summary = engine.cycle()
    state = engine.state()
    contacts = [x for x in lines.events if x["stream"] == "hubspot_contacts"]
    # 150 simulated contacts read 100 a page: the total is known from the first page on (one search's count)
    assert [x["total"] for x in contacts] == [_contacts_before_signups(state)] * len(contacts)
    assert contacts[-1]["finished"] and contacts[-1]["done"] == summary["streams"]["hubspot_contacts"]["records_pulled"]
    assert all(x["rate_per_s"] > 0 and x["eta_s"] is not None for x in contacts)
    assert summary["api_calls"]["hubspot.contacts.search"] >= 1


def test_explain_says_hysteresis_keeps_a_lead_hot_and_lists_its_tasks(world, tmp_path):
    hubspot, mailchimp = sdk_clients(world)
    engine = Engine(world, tmp_path)
    lead = make_lead(
        world, hubspot, mailchimp, "stella.still@midsize-analytics.example", firstname="Stella", industry="software"
    )
    _clicks(world, lead["email"], engine.now())
    engine.cycle()
    went_hot = engine.score_row(lead["email"])
    assert (went_hot.segment, went_hot.score) == ("hot", 70)
    entered = datetime.fromtimestamp(went_hot.segment_since_ms / 1000, tz=UTC)

    # ten days on, the clicks have faded: 30 + 40 x 0.5^(10/21) = 58.7, under hot's 61 but not under 56
    engine.advance(10)
    engine.cycle()
    held = engine.score_row(lead["email"])
    assert (held.segment, held.score) == ("hot", 59)

    env = subprocess_env(world, tmp_path)
    proc = _run(["explain", lead["email"]], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    why = f"why hot: 59 and still hot: it entered hot at 70 on {entered:%Y-%m-%d} and stays until it falls below 56"
    assert why in proc.stdout
    (task,) = engine.tasks_for(lead["id"])
    owner = _owner_name(world, lead["owner_id"])
    assert "hand-off tasks: 1\n" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith("  ") and owner in x)
    assert "segment:hot" in line and f"HubSpot task {task['id']}" in line
    due = datetime.fromtimestamp(ms_of(task["properties"]["hs_timestamp"]) / 1000, tz=UTC)
    assert f"due {due:%Y-%m-%d %H:%M}" in line

    as_json = json.loads(_run(["explain", lead["email"], "--json"], env, tmp_path).stdout)
    assert as_json["segment"] == "hot" and as_json["score"] == 59
    assert as_json["segment_reason"].startswith("59 and still hot: it entered hot at 70")
    assert as_json["segment_since"] == entered.isoformat()
    (listed,) = as_json["tasks"]
    assert listed["hubspot_task_id"] == task["id"] and listed["owner"] == owner and listed["state"] == "done"
    assert listed["trigger"] == "segment:hot" and listed["reasons"]
