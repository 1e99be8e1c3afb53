"""The sandbox's control endpoints (/_sandbox/...), checked through HTTP and through the official SDKs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate as NoteInput
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput

from sandbox.server import SandboxServer
from sandbox.timefmt import DAY_MS, parse_ts_ms
from sandbox.world import SandboxConfig, World
from tests.conftest import make_hubspot, make_mailchimp

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=60, seed=5, start_ms=START_MS)


def _get(sb: SandboxServer, what: str) -> Any:
    r = requests.get(f"{sb.url}/_sandbox/{what}", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _post(sb: SandboxServer, what: str, body: Any = None, raw: bytes | None = None) -> requests.Response:
    if raw is not None:
        return requests.post(
            f"{sb.url}/_sandbox/{what}", data=raw, timeout=60, headers={"Content-Type": "application/json"}
        )
    return requests.post(f"{sb.url}/_sandbox/{what}", json=body, timeout=60)


def _subscribed(state: dict) -> list[str]:
    """Addresses of subscribed members who are also CRM contacts, sorted (stable for a seed)."""
    contacts = {c["properties"]["email"].lower() for c in state["hubspot"]["contacts"]}
    return sorted(
        m["email_address"]
        for m in state["mailchimp"]["members"]
        if m["status"] == "subscribed" and m["email_address"].lower() in contacts
    )


def _activity(mc, campaign_id: str) -> dict[str, list[dict]]:
    """email address -> its activity list for one campaign, through the SDK."""
    answer = mc.reports.get_email_activity_for_campaign(campaign_id, count=1000)
    return {e["email_address"]: e["activity"] for e in answer["emails"]}


def _contact_by_email(hubspot, email: str):
    return hubspot.crm.contacts.basic_api.get_by_id(
        email, id_property="email", properties=["num_conversion_events", "recent_conversion_event_name"]
    )


# -- /_sandbox/state ---------------------------------------------------------------------------------------
def test_state_has_exactly_the_documented_shape(sandbox, hubspot):
    contact_id = hubspot.crm.contacts.basic_api.get_page(limit=1).results[0].id
    link = [{"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]
    task = hubspot.crm.objects.tasks.basic_api.create(
        simple_public_object_input_for_create=TaskInput(
            properties={"hs_timestamp": "2026-01-02T00:00:00Z", "hs_task_subject": "Call back"}, associations=link
        )
    )
    note_link = [
        {"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}
    ]
    note = hubspot.crm.objects.notes.basic_api.create(
        simple_public_object_input_for_create=NoteInput(
            properties={"hs_timestamp": "2026-01-02T00:00:00Z", "hs_note_body": "Went hot"}, associations=note_link
        )
    )

    state = _get(sandbox, "state")
    assert set(state) == {"hubspot", "mailchimp"}
    assert set(state["hubspot"]) == {"contacts", "owners", "tasks", "notes"}
    assert set(state["mailchimp"]) == {"list_id", "members", "campaigns"}
    world = sandbox.world
    assert state["mailchimp"]["list_id"] == world.list_id == sandbox.env["MAILCHIMP_LIST_ID"]

    contacts = state["hubspot"]["contacts"]
    assert len(contacts) == len(world.population.hubspot_indices)
    for c in contacts:
        assert c["id"] == c["properties"]["hs_object_id"] and c["archived"] is False
        assert "@" in c["properties"]["email"] and c["createdAt"] and c["updatedAt"]
    # the same record the SDK reads
    sdk = hubspot.crm.contacts.basic_api.get_by_id(contacts[0]["id"], properties=["jobtitle", "company"])
    assert sdk.properties["email"] == contacts[0]["properties"]["email"]
    assert sdk.properties["jobtitle"] == contacts[0]["properties"]["jobtitle"]

    owner_ids = {o["id"] for o in state["hubspot"]["owners"]}
    assert owner_ids == {o.id for o in hubspot.crm.owners.owners_api.get_page().results}

    [t] = state["hubspot"]["tasks"]
    assert t["id"] == task.id and t["properties"]["hs_task_subject"] == "Call back"
    assert t["associations"]["contacts"] == [contact_id]
    [n] = state["hubspot"]["notes"]
    assert n["id"] == note.id and n["properties"]["hs_note_body"] == "Went hot"
    assert n["associations"]["contacts"] == [contact_id]

    members = state["mailchimp"]["members"]
    assert len(members) == len(world.population.mailchimp_indices)
    for m in members:
        assert {"email_address", "status", "merge_fields", "tags", "id"} <= set(m)
        assert m["status"] in ("subscribed", "unsubscribed", "cleaned")
        assert isinstance(m["merge_fields"], dict) and isinstance(m["tags"], list)
    mc = make_mailchimp(sandbox)
    first = mc.lists.get_list_member(world.list_id, members[0]["id"])
    assert first["email_address"] == members[0]["email_address"] and first["status"] == members[0]["status"]
    assert state["mailchimp"]["campaigns"] == []  # nothing was sent before the clock moved


# -- /_sandbox/events --------------------------------------------------------------------------------------
def test_events_are_applied_and_visible_through_the_sdks(sandbox, hubspot):
    mc = make_mailchimp(sandbox)
    assert _post(sandbox, "clock", {"advance_days": 6}).status_code == 200  # Tuesday's newsletter is sent
    [campaign] = mc.campaigns.list(count=10)["campaigns"]
    a, b = _subscribed(_get(sandbox, "state"))[:2]
    at = "2026-01-06T18:00:00Z"
    answer = _post(
        sandbox,
        "events",
        [
            {"email": a, "action": "open", "campaign_id": campaign["id"], "timestamp": at},
            {
                "email": a,
                "action": "click",
                "campaign_id": campaign["id"],
                "url": "https://www.example-saas.com/pricing",
                "timestamp": parse_ts_ms(at) + 60_000,
            },
            {"email": b.upper(), "action": "unsubscribe", "campaign_id": campaign["id"]},
            {"email": a, "action": "form_submission", "form": "Demo request"},
        ],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 4}

    activity = _activity(mc, campaign["id"])
    mine = [(x["action"], x.get("url")) for x in activity[a]]
    assert ("open", None) in mine and ("click", "https://www.example-saas.com/pricing") in mine
    opened = next(x for x in activity[a] if x["action"] == "open")
    assert parse_ts_ms(opened["timestamp"]) == parse_ts_ms(at)
    assert mc.lists.get_list_member(sandbox.world.list_id, b)["status"] == "unsubscribed"
    contact = _contact_by_email(hubspot, a)
    assert contact.properties["num_conversion_events"] == "1"
    assert contact.properties["recent_conversion_event_name"] == "Demo request"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"email": "not-an-address", "action": "open"}, "event 1: 'email'"),
        ({"email": "{a}", "action": "purchase"}, "event 1: 'action'"),
        ({"email": "{a}", "action": "open", "timestamp": "yesterday"}, "event 1: 'timestamp'"),
        ({"email": "{a}", "action": "open", "timestamp": True}, "event 1: 'timestamp'"),
        ({"email": "{a}", "action": "click", "url": 7}, "event 1: 'url'"),
        ({"email": "{a}", "action": "bounce", "type": "medium"}, "event 1: 'type'"),
        ({"email": "{a}", "action": "open", "campaign_id": "nosuchcamp"}, "event 1: no campaign"),
        ({"email": "nobody@nowhere.example", "action": "open"}, "event 1: no member"),
        ({"email": "nobody@nowhere.example", "action": "form_submission"}, "event 1: no contact"),
        ("open", "event 1: must be an object"),
    ],
)
def test_a_bad_event_is_refused_by_index_and_nothing_is_applied(sandbox, bad, message):
    a = _subscribed(_get(sandbox, "state"))[0]
    if isinstance(bad, dict):
        bad = {k: (a if v == "{a}" else v) for k, v in bad.items()}
    before = _get(sandbox, "state")
    answer = _post(sandbox, "events", [{"email": a, "action": "unsubscribe"}, bad])
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"].startswith(message), answer.text
    assert _get(sandbox, "state") == before  # the valid first event was not applied either


@pytest.mark.parametrize("raw", [b"{not json", b'{"email": "x@y.z", "action": "open"}', b"\xff\xfe", b"42"])
def test_events_body_must_be_a_json_list(sandbox, raw):
    answer = _post(sandbox, "events", raw=raw)
    assert answer.status_code == 400
    assert "error" in answer.json() and "Traceback" not in answer.text


def test_an_empty_list_applies_nothing(sandbox):
    assert _post(sandbox, "events", []).json() == {"applied": 0}


# -- /_sandbox/clock -----------------------------------------------------------------------------------------
def test_advancing_the_clock_generates_campaigns_and_activity_seen_through_the_sdk(sandbox):
    before = _get(sandbox, "clock")["now_ms"]
    answer = _post(sandbox, "clock", {"advance_days": 15})
    assert answer.status_code == 200, answer.text
    moved = answer.json()
    assert moved["from_ms"] >= before and moved["to_ms"] - moved["from_ms"] == 15 * DAY_MS
    assert _get(sandbox, "clock")["now_ms"] >= moved["to_ms"]
    generated = moved["generated"]
    # Tuesday newsletters on Jan 6 and 13, a Thursday product update on one of Jan 1/8/15
    assert 2 <= generated["campaigns"] <= 4 and generated["open"] > 0

    mc = make_mailchimp(sandbox)
    listed = mc.campaigns.list(count=100)
    assert listed["total_items"] == generated["campaigns"] == len(listed["campaigns"])
    opens = clicks = 0
    for c in listed["campaigns"]:
        assert c["status"] == "sent" and c["recipients"]["list_id"] == sandbox.world.list_id
        assert moved["from_ms"] <= parse_ts_ms(c["send_time"]) <= moved["to_ms"]
        for activity in _activity(mc, c["id"]).values():
            for x in activity:
                assert parse_ts_ms(x["timestamp"]) <= moved["to_ms"]  # never in the future
                opens += x["action"] == "open"
                clicks += x["action"] == "click"
    assert (opens, clicks) == (generated["open"], generated["click"])


@pytest.mark.parametrize(
    "body", [{"advance_days": -1}, {"advance_days": "2"}, {"advance_days": True}, {"advance_days": 5000}, [1], "x"]
)
def test_clock_refuses_bad_bodies(sandbox, body):
    before = _get(sandbox, "clock")["now_ms"]
    answer = _post(sandbox, "clock", body)
    assert answer.status_code == 400 and "error" in answer.json()
    assert _get(sandbox, "clock")["now_ms"] - before < DAY_MS  # did not move by days


# -- /_sandbox/faults --------------------------------------------------------------------------------------
def test_faults_are_configured_and_validated(sandbox):
    assert _get(sandbox, "faults")["rate"] == 0.0
    answer = _post(sandbox, "faults", {"rate": 0.25, "kinds": ["429", "503"], "seed": 11})
    assert answer.status_code == 200
    assert {k: answer.json()[k] for k in ("rate", "kinds", "seed")} == {
        "rate": 0.25,
        "kinds": ["429", "503"],
        "seed": 11,
    }
    for bad in (
        {"rate": 1.5},
        {"rate": -0.1},
        {"rate": "0.5"},
        {"rate": True},
        {"rate": None},
        {"rate": 0.1, "kinds": ["teapot"]},
        {"rate": 0.1, "kinds": "429"},
        {"rate": 0.1, "kinds": [429]},
        {"rate": 0.1, "seed": "x"},
        {"rate": 0.1, "colour": "red"},
        [0.1],
    ):
        refused = _post(sandbox, "faults", bad)
        assert refused.status_code == 400, bad
        assert "error" in refused.json()
    assert _post(sandbox, "faults", raw=b"{rate:").status_code == 400
    now = _get(sandbox, "faults")  # unchanged by the refused bodies
    assert (now["rate"], now["kinds"], now["seed"]) == (0.25, ["429", "503"], 11)
    assert _post(sandbox, "faults", {"rate": 0}).json()["rate"] == 0.0


# -- /_sandbox/reset ---------------------------------------------------------------------------------------
def _canonical(state: dict) -> str:
    return json.dumps(state, sort_keys=True)


def test_reset_restores_the_seeded_population(sandbox, hubspot, sandbox_config):
    fresh = _get(sandbox, "state")
    # a separately built world with the same configuration holds exactly the same data
    assert _canonical(World(sandbox_config).state()) == _canonical(fresh)

    mc = make_mailchimp(sandbox)
    hubspot.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"email": "new.lead@example.org", "firstname": "New"}
        )
    )
    mc.lists.add_list_member(sandbox.world.list_id, {"email_address": "new.lead@example.org", "status": "subscribed"})
    _post(sandbox, "clock", {"advance_days": 9}).raise_for_status()
    _post(sandbox, "events", [{"email": _subscribed(fresh)[0], "action": "unsubscribe"}]).raise_for_status()
    _post(sandbox, "faults", {"rate": 0.5}).raise_for_status()
    assert _canonical(_get(sandbox, "state")) != _canonical(fresh)

    answer = _post(sandbox, "reset")
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert _canonical(_get(sandbox, "state")) == _canonical(fresh)
    assert _get(sandbox, "clock")["now_ms"] < START_MS + DAY_MS
    assert _get(sandbox, "faults")["rate"] == 0.0
    assert _get(sandbox, "stats")["total"] == 0
    # the SDKs see the seeded data again
    assert mc.campaigns.list()["total_items"] == 0
    page = hubspot.crm.contacts.basic_api.get_page(limit=100)
    assert [c.id for c in page.results] == [c["id"] for c in fresh["hubspot"]["contacts"]][:100]


# -- /_sandbox/stats ---------------------------------------------------------------------------------------
def test_stats_count_requests_per_method_and_path_template(sandbox, hubspot):
    mc = make_mailchimp(sandbox)
    list_id = sandbox.world.list_id
    hubspot.crm.contacts.basic_api.get_page(limit=5)
    hubspot.crm.contacts.basic_api.get_page(limit=5)
    page = hubspot.crm.contacts.basic_api.get_page(limit=2)
    hubspot.crm.contacts.basic_api.get_by_id(page.results[0].id)
    hubspot.crm.contacts.basic_api.get_by_id(page.results[1].id)
    members = mc.lists.get_list_members_info(list_id, count=3)["members"]
    for m in members:
        mc.lists.get_list_member(list_id, m["id"])
    token = sandbox.env["HUBSPOT_ACCESS_TOKEN"]
    requests.get(f"{sandbox.url}/crm/v3/nowhere", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    stats = _get(sandbox, "stats")
    assert stats["requests"] == {
        "GET /crm/v3/objects/contacts": 3,
        "GET /crm/v3/objects/contacts/{objectId}": 2,
        "GET /3.0/lists/{list_id}/members": 1,
        "GET /3.0/lists/{list_id}/members/{subscriber_hash}": 3,
        "GET <unknown>": 1,
    }
    assert stats["total"] == 10
    assert stats["responses"] == {"200": 9, "404": 1}
    assert stats["served_429"] == 0 and stats["rate_limited"] == {"hubspot": 0, "mailchimp": 0}
    # control requests are not API traffic and are not counted
    assert _get(sandbox, "stats")["total"] == 10

    cleared = requests.delete(f"{sandbox.url}/_sandbox/stats", timeout=10).json()
    assert cleared["total"] == 0 and cleared["requests"] == {}


def test_stats_count_the_429s_served_by_limits_and_by_faults():
    config = SandboxConfig(contacts=20, seed=2, start_ms=START_MS, hubspot_burst=100, rate_scale=0.05)  # 5 per 10 s
    with SandboxServer(world=World(config, limits_clock=lambda: 0.0)) as sb:  # the 8 land in one window
        hubspot = make_hubspot(sb)
        statuses = []
        for _ in range(8):
            try:
                hubspot.crm.owners.owners_api.get_page()
                statuses.append(200)
            except Exception as exc:  # the SDK's ApiException
                statuses.append(getattr(exc, "status", None))
        assert statuses == [200] * 5 + [429] * 3
        _post(sb, "faults", {"rate": 1.0, "kinds": ["429"]}).raise_for_status()
        mc = make_mailchimp(sb)
        with pytest.raises(Exception) as caught:
            mc.ping.get()
        assert getattr(caught.value, "status_code", None) == 429
        stats = _get(sb, "stats")
    assert stats["rate_limited"] == {"hubspot": 3, "mailchimp": 0}
    assert stats["faults"]["429"] == 1
    assert stats["served_429"] == 4
    assert stats["requests"] == {"GET /crm/v3/owners/": 8, "GET /3.0/ping": 1}  # the SDK asks with the slash
    assert stats["responses"] == {"200": 5, "429": 4}
