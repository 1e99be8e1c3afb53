"""Tasks and notes 100 a call (POST /crm/v3/objects/{type}/batch/create), each at most once per key, through
the official SDK against the sandbox: results matched by their markers, a lost answer looked up before the
batch is sent again, `maybe` items found instead of created twice, one refused item isolated."""

from __future__ import annotations

from functools import partial

import pytest

from connectors.errors import CallStats
from connectors.hubspot.client import make_hubspot_client
from connectors.hubspot.sink import HubSpotConnector
from connectors.hubspot.translate import markers_in
from sandbox.faults import Fault
from sandbox.server import SandboxServer
from syncd.retrying import retry_call


class DropNth:
    """Stands in for the sandbox's FaultInjector: drops the answer of the n-th API request (1-based) after
    the request was applied."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0
        self.served = {"drop": 0}

    def draw(self) -> Fault | None:
        self.seen += 1
        if self.seen == self.n:
            self.served["drop"] += 1
            return Fault("drop")
        return None


def _hubspot(sb: SandboxServer) -> HubSpotConnector:
    return HubSpotConnector(
        make_hubspot_client(sb.world.config.hubspot_token, sb.url),
        CallStats(),
        retry=partial(retry_call, sleep=lambda s: None),
    )


def _contacts(sb: SandboxServer, n: int) -> list[str]:
    pop = sb.world.population
    return [pop.hubspot_id(i) for i in pop.hubspot_indices[:n]]


def _notes(contacts: list[str], n: int, prefix: str = "note") -> list[dict]:
    return [
        {
            "key": f"{prefix}:{i}",
            "contact_id": contacts[i % len(contacts)],
            "properties": {"hs_timestamp": str(1_767_225_600_000 + i), "hs_note_body": f"<p>Opened email {i}</p>"},
        }
        for i in range(n)
    ]


def _stored(sb: SandboxServer, object_type: str) -> dict[str, list[str]]:
    """marker -> ids of the stored engagements carrying it (two ids would be a duplicate)."""
    prop = "hs_note_body" if object_type == "notes" else "hs_task_body"
    found: dict[str, list[str]] = {}
    for rec in sb.world.hubspot.table(object_type).iter_live():
        for marker in markers_in(rec.props.get(prop)):
            found.setdefault(marker, []).append(str(rec.id))
    return found


def _calls(hs: HubSpotConnector) -> dict[str, int]:
    return hs.stats.snapshot()["calls"]


def test_250_notes_take_three_calls_and_each_outcome_is_its_own_note(sandbox: SandboxServer) -> None:
    hs = _hubspot(sandbox)
    contacts = _contacts(sandbox, 10)
    items = _notes(contacts, 250)
    outcomes = hs.create_engagements("notes", items)
    assert _calls(hs) == {"hubspot.notes.batch_create": 3}
    stored = _stored(sandbox, "notes")
    assert all(o.ok for o in outcomes)
    for item, outcome in zip(items, outcomes):
        assert stored[item["key"]] == [outcome.detail["id"]]  # the note that carries this item's key
        assert not outcome.detail.get("recovered")
    links = sandbox.world.hubspot.associations("notes", outcomes[7].detail["id"], "contacts")
    assert [to for to, _ in links] == [items[7]["contact_id"]]


def test_a_lost_answer_is_looked_up_before_the_batch_is_sent_again(sandbox: SandboxServer) -> None:
    hs = _hubspot(sandbox)
    items = _notes(_contacts(sandbox, 5), 100, prefix="lost")
    sandbox.world.faults = DropNth(1)  # the batch create lands; its answer never arrives
    outcomes = hs.create_engagements("notes", items)
    assert sandbox.world.faults.served["drop"] == 1
    calls = _calls(hs)
    assert calls["hubspot.notes.batch_create"] == 1  # found every note: nothing was sent twice
    assert calls["hubspot.associations.batch_read"] == 1
    stored = _stored(sandbox, "notes")
    assert all(len(stored[i["key"]]) == 1 for i in items)
    assert all(o.ok and o.detail["recovered"] and stored[o.key] == [o.detail["id"]] for o in outcomes)


def test_maybe_items_are_found_and_only_the_missing_ones_created(sandbox: SandboxServer) -> None:
    hs = _hubspot(sandbox)
    items = _notes(_contacts(sandbox, 4), 40, prefix="crash")
    first = hs.create_engagements("notes", items[:25])  # created before "the crash"
    again = hs.create_engagements("notes", [{**i, "maybe": True} for i in items])
    stored = _stored(sandbox, "notes")
    assert all(len(stored[i["key"]]) == 1 for i in items)
    assert [o.detail["id"] for o in again[:25]] == [o.detail["id"] for o in first]
    assert all(o.detail.get("recovered") for o in again[:25])
    assert not any(o.detail.get("recovered") for o in again[25:])
    assert _calls(hs)["hubspot.notes.batch_create"] == 2  # one for the first 25, one for the 15 missing


def test_one_refused_task_is_isolated_and_the_rest_created_once(sandbox: SandboxServer) -> None:
    hs = _hubspot(sandbox)
    contacts = _contacts(sandbox, 8)
    items = [
        {
            "key": f"task:{i}",
            "contact_id": "999999999" if i == 13 else contacts[i % 8],  # a contact that does not exist
            "properties": {"hs_timestamp": "1767225600000", "hs_task_subject": f"Call {i}", "hs_task_body": "hot"},
        }
        for i in range(40)
    ]
    outcomes = hs.create_engagements("tasks", items)
    bad = outcomes[13]
    assert not bad.ok and bad.skippable and "999999999" in bad.error
    stored = _stored(sandbox, "tasks")
    assert "task:13" not in stored
    assert all(o.ok and stored[o.key] == [o.detail["id"]] for k, o in enumerate(outcomes) if k != 13)
    # halving: 40 -> 20 -> 10 -> 5 -> 3 -> 2 -> 1 refused, the other halves created: far fewer than 40 calls
    assert _calls(hs)["hubspot.tasks.batch_create"] <= 13


def test_bad_object_type_and_empty_key_are_refused_before_any_call(sandbox: SandboxServer) -> None:
    hs = _hubspot(sandbox)
    with pytest.raises(ValueError, match="tasks' or 'notes"):
        hs.create_engagements("deals", [])
    with pytest.raises(ValueError, match="idempotency key"):
        hs.create_engagements("notes", [{"key": "", "contact_id": "1", "properties": {}}])
    assert _calls(hs) == {}
