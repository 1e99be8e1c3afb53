"""The request journal (SandboxConfig(journal=True)): every Mailchimp write, with the status of each member
it targets before and after, so a compliance test can prove that no request re-subscribed anyone."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

SHARED_SANDBOX = SandboxConfig(contacts=200, seed=7, start_ms=1_767_225_600_000, journal=True)
MEMBER = "/3.0/lists/{list_id}/members/{subscriber_hash}"


@pytest.fixture
def list_id(sandbox) -> str:
    return sandbox.world.list_id


def _journal(sandbox) -> list[dict]:
    answer = requests.get(f"{sandbox.url}/_sandbox/journal", timeout=10)
    assert answer.status_code == 200
    return answer.json()["entries"]


def _subscribed(mailchimp, list_id: str, n: int) -> list[dict]:
    return mailchimp.lists.get_list_members_info(list_id, status="subscribed", count=n)["members"]


def _resubscribed(entries: list[dict]) -> list[tuple[str, str]]:
    """(address, request) for every member a request moved from unsubscribed or cleaned to subscribed."""
    return [
        (m["email_address"], f"{e['method']} {e['path']}")
        for e in entries
        for m in e["members"]
        if m["before"] in ("unsubscribed", "cleaned") and m["after"] == "subscribed"
    ]


def test_each_write_is_recorded_with_its_members_before_and_after(mailchimp, sandbox, list_id):
    a, b, c = _subscribed(mailchimp, list_id, 3)
    mailchimp.lists.get_list_member(list_id, a["id"])  # a read: not recorded
    mailchimp.lists.update_list_member(list_id, a["id"], {"status": "unsubscribed"})
    mailchimp.lists.set_list_member(
        list_id,
        hashlib.md5(b"fresh@example.org").hexdigest(),
        {"email_address": "fresh@example.org", "status_if_new": "subscribed"},
        skip_merge_validation=True,
    )
    mailchimp.lists.batch_list_members(
        list_id,
        {
            "members": [
                {"email_address": b["email_address"], "status": "unsubscribed"},
                {"email_address": "batch-new@example.org", "status": "subscribed"},
            ],
            "update_existing": True,
        },
    )
    mailchimp.lists.update_list_member_tags(list_id, c["id"], {"tags": [{"name": "vip", "status": "active"}]})
    mailchimp.lists.delete_list_member(list_id, c["id"])

    entries = _journal(sandbox)
    assert [(e["method"], e["template"], e["status"]) for e in entries] == [
        ("PATCH", MEMBER, 200),
        ("PUT", MEMBER, 200),
        ("POST", "/3.0/lists/{list_id}", 200),
        ("POST", MEMBER + "/tags", 204),
        ("DELETE", MEMBER, 204),
    ]
    patch, put, batch, tags, delete = entries
    assert patch["path"] == f"/3.0/lists/{list_id}/members/{a['id']}" and patch["body"] == {"status": "unsubscribed"}
    assert patch["members"] == [
        {
            "key": a["id"],
            "before": "subscribed",
            "after": "unsubscribed",
            "email_address": a["email_address"],
            "subscriber_hash": a["id"],
        }
    ]
    assert put["query"] == {"skip_merge_validation": "True"}  # as the SDK writes it
    assert [(m["email_address"], m["before"], m["after"]) for m in put["members"]] == [
        ("fresh@example.org", None, "subscribed")
    ]
    assert [(m["key"], m["before"], m["after"]) for m in batch["members"]] == [
        (b["email_address"], "subscribed", "unsubscribed"),
        ("batch-new@example.org", None, "subscribed"),
    ]
    assert [(m["before"], m["after"]) for m in tags["members"] + delete["members"]] == [
        ("subscribed", "subscribed"),
        ("subscribed", "archived"),
    ]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5] and all(e["via"] == "api" for e in entries)
    assert sandbox.world.journal.entries() == entries
    json.dumps(entries)  # plain JSON data


def test_refused_writes_are_recorded_with_their_answer(mailchimp, sandbox, list_id):
    gone = next(m for m in mailchimp.lists.get_list_members_info(list_id, status="cleaned", count=1)["members"])
    with pytest.raises(ApiClientError):
        mailchimp.lists.update_list_member(list_id, gone["id"], {"status": "subscribed"})
    bad_key = requests.patch(
        f"{sandbox.url}/3.0/lists/{list_id}/members/{gone['id']}",
        json={"status": "subscribed"},
        auth=("any", "wrong-us1"),
        timeout=10,
    )
    garbled = requests.patch(
        f"{sandbox.url}/3.0/lists/{list_id}/members/{gone['id']}",
        data=b"{oops",
        auth=("any", sandbox.world.config.mailchimp_key),
        timeout=10,
    )
    assert (bad_key.status_code, garbled.status_code) == (401, 400)
    refused, unauthenticated, unparsed = _journal(sandbox)
    assert [e["status"] for e in (refused, unauthenticated, unparsed)] == [400, 401, 400]
    assert refused["members"][0]["before"] == refused["members"][0]["after"] == "cleaned"
    assert (unparsed["body"], unparsed["body_text"]) == (None, "{oops")


def test_batch_operations_are_recorded_when_they_run(mailchimp, sandbox, list_id):
    a, b = _subscribed(mailchimp, list_id, 2)
    book = sandbox.world.mailchimp.batches
    started = mailchimp.batches.start(
        {
            "operations": [
                {
                    "method": "PATCH",
                    "path": f"/lists/{list_id}/members/{a['id']}",
                    "body": json.dumps({"status": "unsubscribed"}),
                    "operation_id": "unsub-a",
                },
                {"method": "GET", "path": f"/lists/{list_id}/members/{b['id']}", "operation_id": "read-b"},
                {
                    "method": "PATCH",
                    "path": f"/lists/{list_id}/members/{a['id']}",
                    "body": json.dumps({"status": "subscribed"}),
                    "operation_id": "resub-a",
                },
            ]
        }
    )
    book.wait(started["id"])
    post, unsub, resub = _journal(sandbox)
    assert (post["method"], post["template"], post["members"]) == ("POST", "/3.0/batches", [])
    assert post["body"]["operations"][0]["operation_id"] == "unsub-a"
    assert [(e["via"], e["batch_id"], e["operation_id"], e["status"]) for e in (unsub, resub)] == [
        ("batch", started["id"], "unsub-a", 200),
        ("batch", started["id"], "resub-a", 200),
    ]
    assert [(m["before"], m["after"]) for m in unsub["members"] + resub["members"]] == [
        ("subscribed", "unsubscribed"),
        ("unsubscribed", "subscribed"),
    ]
    assert _resubscribed(_journal(sandbox)) == [(a["email_address"], f"PATCH /3.0/lists/{list_id}/members/{a['id']}")]


def test_a_compliance_check_over_the_journal_finds_a_resubscribe_and_only_that(mailchimp, sandbox, list_id):
    admin = next(
        m
        for m in mailchimp.lists.get_list_members_info(list_id, status="unsubscribed", count=1000)["members"]
        if m["unsubscribe_reason"] == "N/A (Unsubscribed by admin)"
    )
    others = _subscribed(mailchimp, list_id, 2)
    for m in others:
        mailchimp.lists.update_list_member(list_id, m["id"], {"merge_fields": {"FNAME": "Fine"}})
    assert _resubscribed(_journal(sandbox)) == []
    mailchimp.lists.update_list_member(list_id, admin["id"], {"status": "subscribed"})  # Mailchimp accepts it
    assert [email for email, _ in _resubscribed(_journal(sandbox))] == [admin["email_address"]]


def test_delete_clears_the_journal(mailchimp, sandbox, list_id):
    member = _subscribed(mailchimp, list_id, 1)[0]
    mailchimp.lists.update_list_member(list_id, member["id"], {"merge_fields": {"LNAME": "X"}})
    assert len(sandbox.world.journal) == 1
    cleared = requests.delete(f"{sandbox.url}/_sandbox/journal", timeout=10)
    assert cleared.status_code == 200 and cleared.json() == {"entries": []}
    assert _journal(sandbox) == [] and sandbox.world.journal.entries() == []


def test_the_journal_is_thread_safe(sandbox, list_id):
    journal = sandbox.world.journal
    auth = ("any", sandbox.world.config.mailchimp_key)
    emails = [f"t{i}@example.org" for i in range(40)]

    def write(chunk: list[str]) -> None:
        with requests.Session() as http:
            for e in chunk:
                http.post(
                    f"{sandbox.url}/3.0/lists/{list_id}/members",
                    json={"email_address": e, "status": "subscribed"},
                    auth=auth,
                    timeout=10,
                ).raise_for_status()

    threads = [threading.Thread(target=write, args=(emails[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    reads = [len(journal.entries()) for _ in range(20)]  # reading while others write
    for t in threads:
        t.join()
    entries = journal.entries()
    assert reads == sorted(reads) and len(entries) == 40
    assert sorted(e["members"][0]["email_address"] for e in entries) == sorted(emails)
    assert [e["seq"] for e in entries] == list(range(1, 41))


def test_off_by_default_with_a_json_404_saying_how_to_turn_it_on():
    with SandboxServer(SandboxConfig(contacts=10, seed=1)) as sb:
        assert sb.world.journal is None
        for method in ("GET", "DELETE"):
            answer = requests.request(method, f"{sb.url}/_sandbox/journal", timeout=10)
            assert answer.status_code == 404 and "SandboxConfig(journal=True)" in answer.json()["error"]
