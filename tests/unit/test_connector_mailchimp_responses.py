"""The Mailchimp connector through the official SDK, with `responses` standing in for the API."""

from __future__ import annotations

import json
from contextlib import nullcontext
from functools import partial

import pytest
import requests
import responses

from connectors.errors import COMPLIANCE, CallStats
from connectors.mailchimp.client import default_base_url, make_mailchimp_client
from connectors.mailchimp.sink import MailchimpConnector
from connectors.mailchimp.translate import MemberWrite, event_id, subscriber_hash
from contracts.errors import FatalError, RetriableError
from syncd.retrying import retry_call

KEY = "0123456789abcdef0123456789abcdef-us9"
BASE = "http://mc.test/3.0"
LIST = "abc123"
MEMBERS = f"{BASE}/lists/{LIST}/members"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def mc(sleeps: list[float]) -> MailchimpConnector:
    return MailchimpConnector(
        make_mailchimp_client(KEY, BASE),
        LIST,
        CallStats(),
        retry=partial(retry_call, sleep=sleeps.append),
        in_flight=nullcontext(),
    )


def problem(status: int, title: str, detail: str = "") -> dict:
    return {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "i",
    }


def member(email: str, status: str = "subscribed") -> dict:
    return {
        "id": subscriber_hash(email),
        "email_address": email,
        "status": status,
        "merge_fields": {},
        "last_changed": "2026-01-01T00:00:00+00:00",
        "_links": [{"rel": "self"}],
    }


@responses.activate
def test_503_503_200_is_retried_and_counted(mc: MailchimpConnector, sleeps: list[float]) -> None:
    gateway = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    responses.get(MEMBERS, body=gateway, status=503, content_type="text/html")
    responses.get(MEMBERS, body=gateway, status=503, content_type="text/html")
    responses.get(MEMBERS, json={"members": [member("a@x.io"), member("b@x.io")], "total_items": 2})
    page = mc.list_members("2026-01-01T00:00:00+00:00", offset=0, count=2)
    assert len(responses.calls) == 3 and len(sleeps) == 2
    assert [m["email_address"] for m in page.records] == ["a@x.io", "b@x.io"]
    assert all("_links" not in m for m in page.records) and page.next == 2
    query = responses.calls[-1].request.url
    assert "since_last_changed=2026-01-01T00%3A00%3A00%2B00%3A00" in query and "sort_field=last_changed" in query
    snap = mc.stats.snapshot()
    assert snap["calls"] == {"mailchimp.members.list": 3} and snap["retries"] == {"mailchimp.members.list": 2}


@responses.activate
def test_429_honours_retry_after(mc: MailchimpConnector, sleeps: list[float]) -> None:
    responses.get(
        MEMBERS,
        json=problem(429, "Too Many Requests", "10 simultaneous connections"),
        status=429,
        headers={"Retry-After": "2"},
        content_type="application/problem+json",
    )
    responses.get(MEMBERS, json={"members": [member("a@x.io")]})
    page = mc.list_members(None, offset=0, count=1000)
    assert sleeps == [2.0] and page.next is None
    assert mc.stats.snapshot()["rate_limited"] == {"mailchimp": 1}


@responses.activate
def test_dropped_connection_is_retriable_then_gives_up(mc: MailchimpConnector, sleeps: list[float]) -> None:
    for _ in range(6):
        responses.get(MEMBERS, body=requests.exceptions.ConnectionError("Connection aborted: reset by peer"))
    with pytest.raises(RetriableError) as info:
        mc.list_members(None, offset=0)
    assert len(responses.calls) == 6 and len(sleeps) == 5
    assert KEY not in str(info.value)


@responses.activate
def test_wrong_key_is_fatal_and_secret_free(mc: MailchimpConnector) -> None:
    responses.get(
        MEMBERS,
        json=problem(401, "API Key Invalid", f"key {KEY} is not valid"),
        status=401,
        content_type="application/problem+json",
    )
    with pytest.raises(FatalError) as info:
        mc.list_members(None, offset=0)
    assert len(responses.calls) == 1 and KEY not in str(info.value)


@responses.activate
def test_a_create_never_sends_status_and_a_refusal_is_an_outcome(mc: MailchimpConnector) -> None:
    url = f"{MEMBERS}/{subscriber_hash('Gone@X.io')}"
    responses.put(
        url,
        json=problem(400, "Member In Compliance State", "gone@x.io is in a compliance state"),
        status=400,
        content_type="application/problem+json",
    )
    (outcome,) = mc.write_members([MemberWrite("k", "Gone@X.io", {"FNAME": "Ada"}, create_as="subscribed")])
    assert (outcome.ok, outcome.skippable, outcome.error, outcome.key) == (False, True, COMPLIANCE, "k")
    sent = json.loads(responses.calls[0].request.body)
    assert "status" not in sent and sent["status_if_new"] == "subscribed" and sent["merge_fields"] == {"FNAME": "Ada"}


def _archive(results: list[dict]) -> bytes:
    import io
    import tarfile

    raw = json.dumps(results).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("./0123456789abcdef0123456789abcdef.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


@responses.activate
def test_many_writes_go_as_batch_operations_polled_until_finished(sleeps: list[float]) -> None:
    waits: list[float] = []
    mc = MailchimpConnector(
        make_mailchimp_client(KEY, BASE),
        LIST,
        CallStats(),
        retry=partial(retry_call, sleep=sleeps.append),
        in_flight=nullcontext(),
        direct_max=2,
        sleep=waits.append,
    )
    started = {}

    def start(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        started["ops"] = json.loads(request.body)["operations"]
        return 200, {}, json.dumps({"id": "b1", "status": "pending"})

    responses.add_callback(responses.POST, f"{BASE}/batches", callback=start, content_type="application/json")
    responses.get(f"{BASE}/batches/b1", json={"id": "b1", "status": "pending"})
    responses.get(f"{BASE}/batches/b1", json={"id": "b1", "status": "started"})
    responses.get(
        f"{BASE}/batches/b1",
        json={"id": "b1", "status": "finished", "response_body_url": "http://storage.test/b1.tar.gz"},
    )
    responses.get(
        "http://storage.test/b1.tar.gz",
        body=_archive(
            [
                {"status_code": 200, "operation_id": "0", "response": json.dumps(member("a@x.io"))},
                {"status_code": 200, "operation_id": "1", "response": json.dumps(member("b@x.io", "unsubscribed"))},
                {
                    "status_code": 400,
                    "operation_id": "2",
                    "response": json.dumps(
                        {
                            **problem(400, "Invalid Resource", "The resource submitted could not be validated."),
                            "errors": [{"field": "FNAME", "message": "Value must be 255 characters or fewer"}],
                        }
                    ),
                },
            ]
        ),
        content_type="application/x-gzip",
    )
    outcomes = mc.write_members(
        [
            MemberWrite("k0", "a@x.io", {"FNAME": "A"}),
            MemberWrite("k1", "b@x.io", {"FNAME": "B"}),
            MemberWrite("k2", "c@x.io", {"FNAME": "x" * 300}, create_as="subscribed"),
        ]
    )
    assert [(o.key, o.ok) for o in outcomes] == [("k0", True), ("k1", True), ("k2", False)]
    assert outcomes[1].detail["status"] == "unsubscribed"
    assert "FNAME: Value must be 255 characters or fewer" in outcomes[2].error
    assert [(op["method"], op["operation_id"]) for op in started["ops"]] == [
        ("PATCH", "0"),
        ("PATCH", "1"),
        ("PUT", "2"),
    ]
    assert all("status" not in json.loads(op["body"]) for op in started["ops"])
    assert waits == [0.25, 0.5]  # polled with backoff, through the injected sleep
    assert mc.stats.snapshot()["calls"] == {
        "mailchimp.batches.start": 1,
        "mailchimp.batches.status": 3,
        "mailchimp.batches.results": 1,
    }


@responses.activate
def test_set_tags_204_and_unknown_member(mc: MailchimpConnector) -> None:
    responses.post(f"{MEMBERS}/{subscriber_hash('a@x.io')}/tags", status=204)
    responses.post(
        f"{MEMBERS}/{subscriber_hash('nobody@x.io')}/tags",
        json=problem(404, "Resource Not Found"),
        status=404,
        content_type="application/problem+json",
    )
    assert mc.set_tags("A@x.io", ["segment:hot"], ["segment:cold"]).ok
    body = json.loads(responses.calls[0].request.body)
    assert body["tags"] == [{"name": "segment:hot", "status": "active"}, {"name": "segment:cold", "status": "inactive"}]
    missing = mc.set_tags("nobody@x.io", ["segment:hot"], [])
    assert not missing.ok and missing.skippable and "404" in missing.error


@responses.activate
def test_email_activity_flattens_with_stable_event_ids(mc: MailchimpConnector) -> None:
    responses.get(
        f"{BASE}/reports/c1/email-activity",
        json={
            "campaign_id": "c1",
            "emails": [
                {
                    "email_address": "a@x.io",
                    "activity": [
                        {"action": "open", "timestamp": "2026-01-02T10:00:00+00:00"},
                        {"action": "click", "timestamp": "2026-01-02T10:01:00+00:00", "url": "https://x.io/p"},
                    ],
                },
                {
                    "email_address": "b@x.io",
                    "activity": [{"action": "bounce", "type": "hard", "timestamp": "2026-01-02T11:00:00+00:00"}],
                },
            ],
        },
    )
    page = mc.email_activity("c1", since="2026-01-01T00:00:00+00:00", offset=0, count=2)
    assert [(r["email_address"], r["action"]) for r in page.records] == [
        ("a@x.io", "open"),
        ("a@x.io", "click"),
        ("b@x.io", "bounce"),
    ]
    assert page.next == 2  # two recipients on a page of two: there may be more
    click = page.records[1]
    assert click["event_id"] == event_id("c1", "A@X.io", "click", "2026-01-02T10:01:00+00:00", "https://x.io/p")
    assert len({r["event_id"] for r in page.records}) == 3 and page.records[2]["type"] == "hard"


@responses.activate
def test_unsubscribes_campaigns_and_merge_fields(mc: MailchimpConnector) -> None:
    responses.get(
        f"{BASE}/reports/c1/unsubscribed",
        json={
            "unsubscribes": [
                {"email_address": "a@x.io", "timestamp": "2026-01-03T00:00:00+00:00", "reason": "N/A", "_links": []}
            ]
        },
    )
    responses.get(f"{BASE}/campaigns", json={"campaigns": [{"id": f"c{i}"} for i in range(1000)]})
    responses.get(f"{BASE}/campaigns", json={"campaigns": [{"id": "last"}]})
    responses.get(f"{BASE}/lists/{LIST}/merge-fields", json={"merge_fields": [{"tag": "FNAME", "name": "First"}]})
    responses.post(f"{BASE}/lists/{LIST}/merge-fields", json={"tag": "SCORE", "name": "Score"})
    unsub = mc.unsubscribes("c1", offset=0)
    assert unsub.next is None and unsub.records[0]["event_id"] and "_links" not in unsub.records[0]
    campaigns = mc.list_campaigns("2026-01-01T00:00:00+00:00")
    assert len(campaigns) == 1001 and "status=sent" in responses.calls[1].request.url
    assert f"list_id={LIST}" in responses.calls[1].request.url
    created = mc.ensure_merge_fields(
        [{"tag": "fname", "name": "First", "type": "text"}, {"tag": "SCORE", "name": "Score", "type": "number"}]
    )
    assert created == ["SCORE"] and json.loads(responses.calls[-1].request.body)["tag"] == "SCORE"


def test_default_base_url_from_the_key() -> None:
    assert default_base_url(KEY) == "https://us9.api.mailchimp.com/3.0"
    with pytest.raises(ValueError):
        default_base_url("nodatacentre")
