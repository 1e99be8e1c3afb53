"""MailchimpConnector through the official SDK against the sandbox, over loopback."""

from __future__ import annotations

from functools import partial

import httpx
import pytest

from connectors.errors import COMPLIANCE, CallStats
from connectors.limiter import InFlight
from connectors.mailchimp.client import make_mailchimp_client
from connectors.mailchimp.sink import MailchimpConnector
from connectors.mailchimp.translate import MemberWrite, subscriber_hash
from contracts.errors import FatalError, RetriableError, SkippableError
from sandbox.server import SandboxServer
from syncd.retrying import retry_call


def connector(sb: SandboxServer, *, sleep=lambda s: None, key: str | None = None) -> MailchimpConnector:
    client = make_mailchimp_client(key or sb.world.config.mailchimp_key, f"{sb.url}/3.0")
    return MailchimpConnector(
        client, sb.world.list_id, CallStats(), retry=partial(retry_call, sleep=sleep), in_flight=InFlight(limit=10)
    )


def members_by_email(sb: SandboxServer) -> dict[str, dict]:
    state = httpx.get(f"{sb.url}/_sandbox/state").json()["mailchimp"]
    return {m["email_address"].lower(): m for m in state["members"]}


@pytest.fixture
def mc(sandbox: SandboxServer) -> MailchimpConnector:
    return connector(sandbox)


def all_members(mc: MailchimpConnector, count: int = 1000) -> list[dict]:
    out: list[dict] = []
    offset: int | None = 0
    while offset is not None:
        page = mc.list_members(None, offset, count=count)
        out += page.records
        offset = page.next
    return out


def test_list_members_pages_through_the_audience(mc: MailchimpConnector, sandbox: SandboxServer) -> None:
    small_pages = all_members(mc, count=50)
    assert len(small_pages) == len(sandbox.world.population.mailchimp_indices)
    assert [m["id"] for m in small_pages] == [m["id"] for m in all_members(mc)]
    assert all("_links" not in m for m in small_pages)


def test_tags_and_merge_fields(mc: MailchimpConnector, sandbox: SandboxServer) -> None:
    someone = all_members(mc)[0]["email_address"]
    assert mc.set_tags(someone, ["segment:hot", "cadence:weekly"], []).ok
    assert mc.set_tags(someone, [], ["cadence:weekly"]).ok
    tags = members_by_email(sandbox)[someone.lower()]["tags"]
    assert [t["name"] if isinstance(t, dict) else t for t in tags] == ["segment:hot"]
    missing = mc.set_tags("nobody@nowhere.example", ["x"], [])
    assert not missing.ok and missing.skippable
    defs = [{"tag": "SCORE", "name": "Lead score", "type": "number"}, {"tag": "FNAME", "name": "First", "type": "text"}]
    assert mc.ensure_merge_fields(defs) == ["SCORE"] and mc.ensure_merge_fields(defs) == []
    assert "SCORE" in {f["tag"] for f in mc.get_merge_fields()}


def test_campaign_activity_and_unsubscribes(mc: MailchimpConnector, sandbox: SandboxServer) -> None:
    subscribed = [m["email_address"] for m in all_members(mc) if m["status"] == "subscribed"][:3]
    events = [
        {"email": subscribed[0], "action": "open"},
        {"email": subscribed[1], "action": "click", "url": "https://example.com/pricing"},
        {"email": subscribed[2], "action": "unsubscribe"},
    ]
    assert httpx.post(f"{sandbox.url}/_sandbox/events", json=events).json() == {"applied": 3}
    campaigns = mc.list_campaigns(None)
    assert campaigns and all(c["status"] == "sent" for c in campaigns)
    activity, unsubscribed = [], []
    for c in campaigns:
        activity += mc.email_activity(c["id"], None, 0).records
        unsubscribed += mc.unsubscribes(c["id"], 0).records
    got = {(a["email_address"].lower(), a["action"]) for a in activity}
    assert (subscribed[0].lower(), "open") in got and (subscribed[1].lower(), "click") in got
    assert len({a["event_id"] for a in activity}) == len(activity)
    assert subscribed[2].lower() in {u["email_address"].lower() for u in unsubscribed}
    assert all(u["event_id"] for u in unsubscribed)
    # the same page read twice gives the same event ids: the event log stays idempotent
    again = [a["event_id"] for c in campaigns for a in mc.email_activity(c["id"], None, 0).records]
    assert again == [a["event_id"] for a in activity]


def test_wrong_key_is_fatal_and_never_printed(sandbox: SandboxServer) -> None:
    key = "ffffffffffffffffffffffffffffffff-us1"
    with pytest.raises(FatalError) as info:
        connector(sandbox, key=key).list_members(None, 0)
    assert info.value.status == 401 and key not in str(info.value)


def test_unknown_list_is_fatal(sandbox: SandboxServer) -> None:
    client = make_mailchimp_client(sandbox.world.config.mailchimp_key, f"{sandbox.url}/3.0")
    mc = MailchimpConnector(client, "nosuchlist", CallStats(), retry=partial(retry_call, sleep=lambda s: None))
    with pytest.raises(FatalError) as info:
        mc.list_members(None, 0)
    assert info.value.status == 404


@pytest.mark.parametrize("kind", ["503", "drop", "429"])
def test_faults_are_retried(sandbox: SandboxServer, kind: str) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"rate": 1.0, "kinds": [kind]}).raise_for_status()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"rate": 0.0}).raise_for_status()

    mc = connector(sandbox, sleep=sleep)
    assert mc.list_members(None, 0, count=5).records
    assert len(waits) == 1 and mc.stats.snapshot()["calls"] == {"mailchimp.members.list": 2}
    if kind == "429":
        assert waits == [1.0]  # the sandbox's Retry-After


def test_persistent_outage_gives_up_as_retriable(sandbox: SandboxServer) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"rate": 1.0, "kinds": ["503"]}).raise_for_status()
    mc = connector(sandbox)
    with pytest.raises(RetriableError):
        mc.write_members([MemberWrite("k", "someone@example.org", {}, create_as="subscribed")])
    assert mc.stats.snapshot()["calls"] == {"mailchimp.members.upsert": 6}


def test_compliance_refusal_is_an_outcome(mc: MailchimpConnector, sandbox: SandboxServer) -> None:
    """The refusal answers a PUT carrying `status`, which syncd's own methods never send: drive it through
    the connector's call path to check the wire-level classification."""
    gone = next(
        m
        for m in all_members(mc)  # who unsubscribed themselves: an admin's unsubscribe is not refused
        if m["status"] == "unsubscribed" and m["unsubscribe_reason"] != "N/A (Unsubscribed by admin)"
    )
    body = {"email_address": gone["email_address"], "status_if_new": "subscribed", "status": "subscribed"}
    with pytest.raises(SkippableError) as info:
        mc._call(
            "mailchimp.members.upsert",
            mc.api.lists.set_list_member,
            mc.list_id,
            subscriber_hash(gone["email_address"]),
            body,
            record_key=gone["email_address"],
        )
    assert str(info.value) == COMPLIANCE and info.value.record_key == gone["email_address"]
    assert members_by_email(sandbox)[gone["email_address"].lower()]["status"] == "unsubscribed"
