"""HubSpotConnector through the official SDK against the sandbox, over loopback."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest

from connectors.errors import CallStats
from connectors.hubspot.client import make_hubspot_client
from connectors.hubspot.sink import HubSpotConnector
from connectors.hubspot.translate import markers_in, modified_ms
from contracts.errors import FatalError, RetriableError, SkippableError
from sandbox.server import SandboxServer
from syncd.retrying import retry_call


class Recorder:
    """Budget stand-in: counts acquisitions and keeps the rate-limit headers it was shown."""

    def __init__(self) -> None:
        self.acquired: list[bool] = []
        self.headers: list[dict[str, str]] = []

    def acquire(self, search: bool) -> None:
        self.acquired.append(search)

    def observe(self, headers: Any) -> None:
        self.headers.append({k.lower(): v for k, v in headers.items()})


def connector(
    sb: SandboxServer, *, sleep=lambda s: None, token: str | None = None, budget: Recorder | None = None
) -> HubSpotConnector:
    client = make_hubspot_client(token or sb.world.config.hubspot_token, sb.url)
    return HubSpotConnector(client, CallStats(), retry=partial(retry_call, sleep=sleep), budget=budget)


def faults(sb: SandboxServer, rate: float, kinds: list[str] | None = None) -> None:
    httpx.post(f"{sb.url}/_sandbox/faults", json={"rate": rate, "kinds": kinds or []}).raise_for_status()


@pytest.fixture
def hs(sandbox: SandboxServer) -> HubSpotConnector:
    return connector(sandbox)


def test_list_contacts_pages_through_every_contact(hs: HubSpotConnector, sandbox: SandboxServer) -> None:
    ids: list[str] = []
    after = None
    while True:
        page = hs.list_contacts(after, ["email", "lastmodifieddate"], limit=100)
        ids += [r["id"] for r in page.records]
        after = page.next
        if after is None:
            break
    pop = sandbox.world.population
    assert ids == [pop.hubspot_id(i) for i in pop.hubspot_indices]
    assert set(page.records[0]) == {"id", "properties", "updatedAt", "archived"}
    assert hs.stats.snapshot()["calls"]["hubspot.contacts.list"] == 2


def test_search_modified_returns_changes_oldest_first(hs: HubSpotConnector, sandbox: SandboxServer) -> None:
    first = hs.list_contacts(None, ["email"], limit=3).records
    assert all(o.ok for o in hs.update_contacts([{"id": r["id"], "properties": {"jobtitle": "CMO"}} for r in first]))
    since = sandbox.world.clock.start_ms
    seen: list[dict] = []
    after = None
    while True:
        page = hs.search_contacts_modified(since, ["email", "jobtitle"], after=after, limit=50)
        seen += page.records
        after = page.next
        if after is None:
            break
    stamps = [modified_ms(r) for r in seen]
    assert stamps == sorted(stamps) and all(s >= since for s in stamps)
    assert {r["id"] for r in first} <= {r["id"] for r in seen}
    assert all(r["properties"]["jobtitle"] == "CMO" for r in seen if r["id"] in {f["id"] for f in first})


def test_read_contacts_reports_missing(hs: HubSpotConnector, sandbox: SandboxServer) -> None:
    pop = sandbox.world.population
    present = [pop.hubspot_id(i) for i in pop.hubspot_indices[:2]]
    result = hs.read_contacts([*present, "999999999"], ["email"])
    assert [r["id"] for r in result.records] == present and result.missing == ["999999999"]


def test_update_contacts_isolates_the_bad_items(hs: HubSpotConnector, sandbox: SandboxServer) -> None:
    pop = sandbox.world.population
    good = [pop.hubspot_id(i) for i in pop.hubspot_indices[:4]]
    inputs = [
        {"id": good[0], "properties": {"jobtitle": "A"}},
        {"id": good[1], "properties": {"no_such_property": "x"}},  # whole-batch 400
        {"id": "999999999", "properties": {"jobtitle": "C"}},  # 207 OBJECT_NOT_FOUND
        {"id": good[2], "properties": {"jobtitle": "D"}},
    ]
    outcomes = hs.update_contacts(inputs)
    assert [(o.key, o.ok) for o in outcomes] == [
        (good[0], True),
        (good[1], False),
        ("999999999", False),
        (good[2], True),
    ]
    assert all(o.skippable for o in outcomes if not o.ok)
    after = {r["id"]: r["properties"]["jobtitle"] for r in hs.read_contacts([good[0], good[2]], ["jobtitle"]).records}
    assert after == {good[0]: "A", good[2]: "D"}


def test_owners_properties_and_idempotent_schema(hs: HubSpotConnector, sandbox: SandboxServer) -> None:
    assert [o["id"] for o in hs.list_owners()] == [o["id"] for o in sandbox.world.population.owners]
    assert "lifecyclestage" in {p["name"] for p in hs.get_properties("contacts")}
    assert hs.ensure_property_group("contacts", "syncd", "syncd") is True
    assert hs.ensure_property_group("contacts", "syncd", "syncd") is False
    defs = [
        {"name": "syncd_score", "label": "Lead score", "type": "number", "fieldType": "number", "groupName": "syncd"},
        {"name": "email", "label": "Email", "type": "string", "fieldType": "text", "groupName": "syncd"},
    ]
    assert hs.ensure_properties("contacts", defs) == ["syncd_score"]
    assert hs.ensure_properties("contacts", defs) == []


def test_task_and_note_exactly_once(hs: HubSpotConnector, sandbox: SandboxServer) -> None:
    contact = sandbox.world.population.hubspot_id(sandbox.world.population.hubspot_indices[0])
    owner = hs.list_owners()[0]["id"]
    task = hs.create_task(
        contact,
        owner,
        {
            "hs_task_subject": "Lead went hot",
            "hs_task_body": "<p>score 80</p>",
            "hs_timestamp": "1767225600000",
            "hs_task_priority": "HIGH",
        },
        "task-1",
    )
    assert hs.find_by_key(contact, "tasks", "task-1") == task
    assert hs.find_by_key(contact, "tasks", "task-2") is None
    assert hs.create_task(contact, owner, {"hs_timestamp": "1767225600000"}, "task-1", check_existing=True) == task
    note = hs.create_note(contact, "<p>Opened the January campaign</p>", 1_767_225_600_000, "note-1")
    assert hs.find_by_key(contact, "notes", "note-1") == note
    assert hs.find_by_key(contact, "tasks", "note-1") is None
    state = httpx.get(f"{sandbox.url}/_sandbox/state").json()["hubspot"]
    tasks = [t for t in state["tasks"] if "task-1" in markers_in(t["properties"].get("hs_task_body"))]
    assert len(tasks) == 1 and tasks[0]["properties"]["hubspot_owner_id"] == owner


def test_a_refused_task_is_skippable(hs: HubSpotConnector, sandbox: SandboxServer) -> None:
    contact = sandbox.world.population.hubspot_id(sandbox.world.population.hubspot_indices[0])
    with pytest.raises(SkippableError) as info:
        hs.create_task(contact, "123", {"hs_task_subject": "x", "hs_timestamp": "1767225600000"}, "task:9+x")
    assert info.value.status == 400 and info.value.record_key == contact


def test_wrong_token_is_fatal_and_never_printed(sandbox: SandboxServer) -> None:
    token = "pat-na1-00000000-wrong-wrong-wrong"
    with pytest.raises(FatalError) as info:
        connector(sandbox, token=token).list_owners()
    assert info.value.status == 401 and token not in str(info.value) and token not in repr(info.value)


def test_503_outage_is_retried_until_it_ends(sandbox: SandboxServer) -> None:
    faults(sandbox, 1.0, ["503"])
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the outage ends during the second wait
        waits.append(seconds)
        if len(waits) == 2:
            faults(sandbox, 0.0)

    hs = connector(sandbox, sleep=sleep)
    assert len(hs.list_owners()) == len(sandbox.world.population.owners)
    snap = hs.stats.snapshot()
    assert snap["calls"] == {"hubspot.owners.list": 3} and snap["retries"] == {"hubspot.owners.list": 2}


def test_persistent_503_gives_up_as_retriable(sandbox: SandboxServer) -> None:
    faults(sandbox, 1.0, ["503"])
    hs = connector(sandbox)
    with pytest.raises(RetriableError) as info:
        hs.list_contacts(None, ["email"])
    assert info.value.status == 503 and hs.stats.snapshot()["calls"] == {"hubspot.contacts.list": 6}


@pytest.mark.parametrize("kind", ["drop", "429", "500"])
def test_injected_faults_are_retriable(sandbox: SandboxServer, kind: str) -> None:
    faults(sandbox, 1.0, [kind])
    hs = connector(sandbox, sleep=lambda s: faults(sandbox, 0.0))
    page = hs.list_contacts(None, ["email"], limit=10)
    assert len(page.records) == 10
    error_key = next(iter(hs.stats.snapshot()["errors"]))
    assert error_key == "hubspot.contacts.list:RetriableError"
    if kind == "429":
        assert hs.stats.snapshot()["rate_limited"] == {"hubspot": 1}


def test_budget_is_asked_first_and_shown_the_rate_limit_headers(sandbox: SandboxServer) -> None:
    budget = Recorder()
    hs = connector(sandbox, budget=budget)
    hs.list_contacts(None, ["email"], limit=1)
    hs.search_contacts_modified(0, ["email"], limit=1)
    assert budget.acquired == [False, True]
    assert budget.headers[0]["x-hubspot-ratelimit-max"] == "190"
    assert "x-hubspot-ratelimit-remaining" in budget.headers[1]
