"""A create whose answer is lost (the service applied it, the connection dropped mid-response) is retried
by the one retry policy without failing the call and without creating a second object.

The random 10% faults of test_faults only sometimes hit a create; here the sandbox drops exactly the
answer of the first attempt of each create syncd makes.
"""

from __future__ import annotations

from functools import partial

import pytest
from rel_support import ref_of, state, world_config

from connectors.errors import CallStats
from connectors.hubspot.client import make_hubspot_client
from connectors.hubspot.sink import HubSpotConnector
from connectors.limiter import InFlight
from connectors.mailchimp.client import make_mailchimp_client
from connectors.mailchimp.sink import MailchimpConnector
from sandbox.faults import Fault
from sandbox.server import SandboxServer
from syncd.retrying import retry_call


class DropNth:
    """Stands in for the sandbox's FaultInjector: drops the answer of the n-th API request (1-based)."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0
        self.served = {"drop": 0}

    def draw(self) -> Fault | None:
        self.seen += 1
        if self.seen == self.n:
            self.served["drop"] += 1
            return Fault("drop")
        return None


@pytest.fixture
def sb():
    with SandboxServer(world_config(contacts=30)) as server:
        yield server


def _hubspot(sb: SandboxServer) -> HubSpotConnector:
    return HubSpotConnector(
        make_hubspot_client(sb.world.config.hubspot_token, sb.url),
        CallStats(),
        retry=partial(retry_call, sleep=lambda s: None),
    )


def _mailchimp(sb: SandboxServer) -> MailchimpConnector:
    return MailchimpConnector(
        make_mailchimp_client(sb.world.config.mailchimp_key, f"{sb.url}/3.0"),
        sb.world.list_id,
        CallStats(),
        retry=partial(retry_call, sleep=lambda s: None),
        in_flight=InFlight(limit=10),
    )


def _drop(sb: SandboxServer, n: int) -> DropNth:
    sb.world.faults = DropNth(n)
    return sb.world.faults


def _retried(stats: CallStats, endpoint: str) -> int:
    return stats.snapshot()["retries"].get(endpoint, 0)


def test_merge_field_create_answer_lost(sb: SandboxServer) -> None:
    mc = _mailchimp(sb)
    drop = _drop(sb, 2)  # 1: GET merge-fields, 2: POST merge-fields
    created = mc.ensure_merge_fields([{"tag": "SCORE", "name": "Score", "type": "number"}])
    assert drop.served["drop"] == 1 and _retried(mc.stats, "mailchimp.merge_fields.create") == 1
    assert created == ["SCORE"]
    assert [f["tag"] for f in mc.get_merge_fields()].count("SCORE") == 1


def test_tag_create_answer_lost(sb: SandboxServer) -> None:
    mc = _mailchimp(sb)
    _drop(sb, 1)  # the POST segments: the tag is created, its id never arrives
    tag_id = mc.create_tag("segment:probe")
    assert _retried(mc.stats, "mailchimp.segments.create") == 1
    tags = {name: i for name, i in mc.tag_ids().items() if name == "segment:probe"}
    assert tags == {"segment:probe": tag_id}


def test_property_and_group_create_answers_lost(sb: SandboxServer) -> None:
    hs = _hubspot(sb)
    _drop(sb, 1)
    hs.ensure_property_group("contacts", "syncd", "syncd")
    _drop(sb, 2)  # 1: GET properties, 2: POST property
    hs.ensure_properties(
        "contacts",
        [{"name": "syncd_probe", "label": "Probe", "type": "string", "fieldType": "text", "groupName": "syncd"}],
    )
    names = [p["name"] for p in hs.get_properties("contacts")]
    assert names.count("syncd_probe") == 1
    assert _retried(hs.stats, "hubspot.property_groups.create") == 1
    assert _retried(hs.stats, "hubspot.properties.create") == 1


@pytest.mark.parametrize("kind", ["tasks", "notes"])
def test_task_and_note_create_answer_lost(sb: SandboxServer, kind: str) -> None:
    hs = _hubspot(sb)
    contact = next(c for c in state(sb)["hubspot"]["contacts"])
    _drop(sb, 1)
    if kind == "tasks":
        first = hs.create_task(
            contact["id"], None, {"hs_timestamp": "1767225600000", "hs_task_subject": "Call"}, "task:probe:1"
        )
    else:
        first = hs.create_note(contact["id"], "<p>hello</p>", 1_767_225_600_000, "note:probe:1")
    assert _retried(hs.stats, f"hubspot.{kind}.create") == 1
    objects = state(sb)["hubspot"][kind]
    body = "hs_task_body" if kind == "tasks" else "hs_note_body"
    refs = [ref_of(o["properties"].get(body)) for o in objects]
    assert len(objects) == 1 and refs == [f"{kind[:-1]}:probe:1"] and objects[0]["id"] == first


@pytest.mark.parametrize("direct_max", [100, 0], ids=["one call each", "batch operations"])
def test_member_create_answer_lost(sb: SandboxServer, direct_max: int) -> None:
    from connectors.mailchimp.translate import MemberWrite

    mc = _mailchimp(sb)
    mc.direct_max = direct_max
    known = {m["email_address"].lower() for m in state(sb)["mailchimp"]["members"]}
    new = [MemberWrite(f"k{i}", f"new{i}.{direct_max}@example.org", {}, create_as="subscribed") for i in range(3)]
    assert not {w.email for w in new} & known
    _drop(sb, 1)
    outcomes = mc.write_members(new)
    assert all(o.ok for o in outcomes), outcomes
    members = [m["email_address"].lower() for m in state(sb)["mailchimp"]["members"]]
    assert all(members.count(w.email) == 1 for w in new)
