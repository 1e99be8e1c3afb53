"""HubSpot connector logic (batch splitting, search cap, exactly-once engagements) over a fake SDK seam.

The fakes replace the SDK's API objects only: they take the same arguments and answer what urllib3 would
hand back with `_preload_content=False`. Wire-level behaviour is covered against the sandbox in
tests/contract/test_connector_hubspot.py.
"""

from __future__ import annotations

import json
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
from hubspot.crm.contacts import ApiException

from connectors.errors import CallStats
from connectors.hubspot.sink import HubSpotConnector
from connectors.hubspot.source import SearchRestart
from connectors.hubspot.translate import markers_in
from contracts.errors import RetriableError
from syncd.retrying import retry_call


class Resp:
    def __init__(self, status: int, body: Any, headers: dict | None = None) -> None:
        self.status, self.data, self.headers = status, json.dumps(body).encode(), headers or {}
        self.released = False

    def release_conn(self) -> None:
        self.released = True


def api_error(status: int, body: dict) -> ApiException:
    return ApiException(
        http_resp=SimpleNamespace(status=status, reason="", data=json.dumps(body).encode(), getheaders=lambda: {})
    )


class FakeCrm:
    """Contacts whose `bad` property value HubSpot refuses, plus tasks/notes linked to contacts."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.engagements: dict[str, dict[str, Any]] = {}
        self.lose_next_create_response = False
        self.search_pages: list[dict] = []
        self.budget_seen: list[tuple[str, Any]] = []

    # contacts batch update: one invalid value fails the whole batch (400), like HubSpot
    def update(self, body: dict, **kw: Any) -> Resp:
        self.calls.append(f"update:{len(body['inputs'])}")
        if any(i["properties"].get("score") == "bad" for i in body["inputs"]):
            raise api_error(400, {"message": "Property values were not valid", "category": "VALIDATION_ERROR"})
        return Resp(200, {"status": "COMPLETE", "results": [{"id": i["id"]} for i in body["inputs"]]})

    def do_search(self, body: dict, **kw: Any) -> Resp:
        self.calls.append(f"search:{body.get('after')}")
        self.last_search = body
        return Resp(200, self.search_pages.pop(0))

    def read(self, body: dict, **kw: Any) -> Resp:
        self.calls.append("read")
        ids = [i["id"] for i in body["inputs"]]
        if "properties" in body and body["properties"] == ["hs_task_body"]:
            found = [
                {"id": i, "properties": {"hs_task_body": self.engagements[i]["body"]}}
                for i in ids
                if i in self.engagements
            ]
        else:
            found = [
                {"id": i, "properties": {"email": f"{i}@x.io"}, "updatedAt": "2026-01-01T00:00:00Z"}
                for i in ids
                if int(i) % 2 == 0
            ]
        return Resp(207 if len(found) < len(ids) else 200, {"results": found})

    def create(self, body: dict, **kw: Any) -> Resp:
        self.calls.append("create")
        new_id = str(900 + len(self.engagements))
        contact = body["associations"][0]["to"]["id"]
        self.engagements[new_id] = {"contact": contact, "body": body["properties"]["hs_task_body"]}
        if self.lose_next_create_response:
            self.lose_next_create_response = False
            raise urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
        return Resp(201, {"id": new_id, "properties": body["properties"]})

    def get_page(self, object_type: str, object_id: str, to_object_type: str, **kw: Any) -> Resp:
        self.calls.append("associations")
        linked = [
            {"toObjectId": int(i), "associationTypes": []}
            for i, e in self.engagements.items()
            if e["contact"] == object_id
        ]
        return Resp(200, {"results": linked})


class Budget:
    def __init__(self, log: list) -> None:
        self.log = log

    def acquire(self, search: bool) -> None:
        self.log.append(("acquire", search))

    def observe(self, headers: Any) -> None:
        self.log.append(("observe", dict(headers)))


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm()


@pytest.fixture
def connector(crm: FakeCrm) -> HubSpotConnector:
    client = SimpleNamespace(
        token="pat-secret",
        timeout=(1, 1),
        contacts_batch=crm,
        contacts_search=crm,
        tasks_basic=crm,
        tasks_batch=crm,
        associations=crm,
    )
    return HubSpotConnector(
        client, CallStats(), retry=partial(retry_call, sleep=lambda s: None), budget=Budget(crm.budget_seen)
    )


def test_whole_batch_400_is_split_until_the_bad_item_is_isolated(connector: HubSpotConnector, crm: FakeCrm) -> None:
    inputs = [{"id": str(i), "properties": {"score": "bad" if i == 5 else str(i)}} for i in range(8)]
    outcomes = connector.update_contacts(inputs)
    assert [o.key for o in outcomes] == [str(i) for i in range(8)]
    assert [o.ok for o in outcomes] == [i != 5 for i in range(8)]
    bad = outcomes[5]
    assert bad.skippable and "Property values were not valid" in bad.error
    # 8 fails -> [0-3] ok, [4-7] fails -> [4,5] fails -> [4] ok, [5] bad -> [6,7] ok
    assert crm.calls == ["update:8", "update:4", "update:4", "update:2", "update:1", "update:1", "update:2"]


def test_batches_hold_at_most_100(connector: HubSpotConnector, crm: FakeCrm) -> None:
    outcomes = connector.update_contacts([{"id": str(i), "properties": {"score": "1"}} for i in range(250)])
    assert crm.calls == ["update:100", "update:100", "update:50"] and all(o.ok for o in outcomes)


def test_207_blames_named_items_and_asks_about_unconfirmed_ones(connector: HubSpotConnector, crm: FakeCrm) -> None:
    answers = iter(
        [
            Resp(
                207,
                {
                    "results": [{"id": "1"}],
                    "numErrors": 1,
                    "errors": [
                        {
                            "status": "error",
                            "category": "OBJECT_NOT_FOUND",
                            "message": "contact 2 not found",
                            "context": {"ids": ["2"]},
                        }
                    ],
                },
            )
        ]
    )

    def update(body: dict, **kw: Any) -> Resp:
        crm.calls.append(f"update:{len(body['inputs'])}")
        return next(answers, None) or Resp(200, {"results": [{"id": i["id"]} for i in body["inputs"]]})

    crm.update = update  # type: ignore[method-assign]
    outcomes = connector.update_contacts([{"id": i, "properties": {"a": "b"}} for i in ("1", "2", "3")])
    assert [(o.key, o.ok) for o in outcomes] == [("1", True), ("2", False), ("3", True)]
    assert outcomes[1].error == "contact 2 not found" and crm.calls == ["update:3", "update:1"]


def test_search_is_gte_ascending_and_restarts_before_the_10000_cap(connector: HubSpotConnector, crm: FakeCrm) -> None:
    rec = {"id": "7", "properties": {"lastmodifieddate": "2026-01-02T00:00:00.000Z"}, "updatedAt": "x"}
    crm.search_pages = [
        {"results": [rec], "paging": {"next": {"after": "200"}}},
        {"results": [rec], "paging": {"next": {"after": "9900"}}},
        {"results": [rec]},
    ]
    first = connector.search_contacts_modified(1_767_225_600_000, ["email"])
    body = crm.last_search
    assert body["filterGroups"][0]["filters"][0] == {
        "propertyName": "lastmodifieddate",
        "operator": "GTE",
        "value": "1767225600000",
    }
    assert body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert "lastmodifieddate" in body["properties"] and body["limit"] == 200 and first.next == 200
    second = connector.search_contacts_modified(1_767_225_600_000, ["email"], after=first.next)
    assert second.next == SearchRestart("restart", 1_767_312_000_000) == ("restart", 1_767_312_000_000, None)
    last = connector.search_contacts_modified(second.next.since_ms, ["email"])
    assert last.next is None and crm.calls == ["search:None", "search:200", "search:None"]
    assert ("acquire", True) in crm.budget_seen


def test_search_switches_to_paging_by_id_when_10000_share_one_millisecond(
    connector: HubSpotConnector, crm: FakeCrm
) -> None:
    rec = {"id": "7", "properties": {"lastmodifieddate": "1767225600000"}}
    crm.search_pages = [
        {"results": [rec], "paging": {"next": {"after": "9900"}}},
        {"results": [{**rec, "id": "9"}], "paging": {"next": {"after": "9900"}}},
        {"results": [{**rec, "id": "12"}]},
    ]
    page = connector.search_contacts_modified(1_767_225_600_000, ["email"], after=9700)
    assert page.next == SearchRestart("tie", 1_767_225_600_000, "0")
    tied = connector.search_contacts_at(1_767_225_600_000, "0", ["email"], after=9700)
    assert crm.last_search["filterGroups"][0]["filters"] == [
        {"propertyName": "lastmodifieddate", "operator": "EQ", "value": "1767225600000"},
        {"propertyName": "hs_object_id", "operator": "GT", "value": "0"},
    ]
    assert crm.last_search["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert tied.next == SearchRestart("tie", 1_767_225_600_000, "9")
    assert connector.search_contacts_at(1_767_225_600_000, "9", ["email"]).next is None


def test_read_contacts_reports_missing_ids(connector: HubSpotConnector, crm: FakeCrm) -> None:
    result = connector.read_contacts([str(i) for i in range(150)], ["email"])
    assert len(result.records) == 75 and result.missing == [str(i) for i in range(1, 150, 2)]
    assert crm.calls == ["read", "read"]


def test_lost_create_response_is_found_not_duplicated(connector: HubSpotConnector, crm: FakeCrm) -> None:
    crm.lose_next_create_response = True
    task_id = connector.create_task("101", "5001", {"hs_task_subject": "Call", "hs_timestamp": "0"}, "k-1")
    assert list(crm.engagements) == [task_id]  # one task, despite the retry
    assert crm.calls == ["create", "associations", "read"]
    assert markers_in(crm.engagements[task_id]["body"]) == {"k-1"}
    assert connector.stats.snapshot()["retries"] == {"hubspot.tasks.create": 1}


def test_check_existing_and_find_by_key(connector: HubSpotConnector, crm: FakeCrm) -> None:
    first = connector.create_task("101", None, {"hs_task_body": "<p>hot lead</p>"}, "key-a")
    again = connector.create_task("101", None, {"hs_task_body": "<p>hot lead</p>"}, "key-a", check_existing=True)
    assert again == first and len(crm.engagements) == 1
    assert connector.find_by_key("101", "tasks", "key-a") == first
    assert connector.find_by_key("101", "tasks", "key-b") is None
    assert connector.find_by_key("102", "tasks", "key-a") is None
    with pytest.raises(ValueError):
        connector.find_by_key("101", "deals", "key-a")
    with pytest.raises(ValueError):
        connector.create_task("101", None, {}, "")


def test_any_key_survives_as_a_marker(connector: HubSpotConnector, crm: FakeCrm) -> None:
    key = "task:100042:opened+clicked <pricing> & more:1767225600000"
    task = connector.create_task("101", None, {"hs_task_body": "x"}, key)
    assert "<pricing>" not in crm.engagements[task]["body"]
    assert connector.find_by_key("101", "tasks", key) == task
    assert connector.find_by_key("101", "tasks", key + "!") is None


def test_transport_failure_exhausts_into_retriable(connector: HubSpotConnector, crm: FakeCrm) -> None:
    def update(body: dict, **kw: Any) -> Resp:
        crm.calls.append("update")
        raise urllib3.exceptions.ReadTimeoutError(None, "/crm/v3/objects/contacts/batch/update", "timed out")

    crm.update = update  # type: ignore[method-assign]
    with pytest.raises(RetriableError) as info:
        connector.update_contacts([{"id": "1", "properties": {"a": "b"}}])
    assert len(crm.calls) == 6 and "pat-secret" not in str(info.value)
