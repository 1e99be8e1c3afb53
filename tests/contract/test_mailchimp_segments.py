"""Static segments through mailchimp-marketing, checked against the spec; a tag is a static segment."""

from __future__ import annotations

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from tests.contract.mailchimp_spec import validate_problem, validate_response

SEGMENTS = "/lists/{list_id}/segments"
SEGMENT = "/lists/{list_id}/segments/{segmentId}"  # the spec copy names this parameter segmentId
SEGMENT_MEMBERS = "/lists/{list_id}/segments/{segmentId}/members"


@pytest.fixture
def list_id(sandbox) -> str:
    return sandbox.world.list_id


@pytest.fixture
def subscribed(mailchimp, list_id) -> list[dict]:
    return mailchimp.lists.get_list_members_info(list_id, count=5, status="subscribed")["members"]


def _error(call) -> ApiClientError:
    with pytest.raises(ApiClientError) as caught:
        call()
    validate_problem(caught.value.text)
    return caught.value


def _raw_get(sandbox, path: str, **params) -> requests.Response:
    """A GET the SDK would refuse to send (it checks count <= 1000 itself)."""
    return requests.get(
        f"{sandbox.url}/3.0{path}", params=params, timeout=10, auth=("any", sandbox.world.config.mailchimp_key)
    )


def _tag_names(mailchimp, list_id, member_id) -> list[str]:
    tags = mailchimp.lists.get_list_member_tags(list_id, member_id)
    validate_response("GET", "/lists/{list_id}/members/{subscriber_hash}/tags", tags)
    return [t["name"] for t in tags["tags"]]


def test_create_get_and_list_static_segments(mailchimp, sandbox, list_id, subscribed):
    emails = [m["email_address"] for m in subscribed[:2]]
    body = {"name": "Webinar", "static_segment": [*emails, "nobody@nowhere.example"]}  # unknown: ignored
    made = mailchimp.lists.create_segment(list_id, body)
    validate_response("POST", SEGMENTS, made)
    assert (made["name"], made["type"], made["member_count"], made["list_id"]) == ("Webinar", "static", 2, list_id)
    assert isinstance(made["id"], int)
    empty = mailchimp.lists.create_segment(list_id, {"name": "Empty", "static_segment": []})
    assert empty["member_count"] == 0

    one = mailchimp.lists.get_segment(list_id, str(made["id"]))
    validate_response("GET", SEGMENT, one)
    assert one == made

    listed = mailchimp.lists.list_segments(list_id, count=1000)
    validate_response("GET", SEGMENTS, listed)
    assert [(s["name"], s["member_count"]) for s in listed["segments"]] == [("Webinar", 2), ("Empty", 0)]
    assert listed["total_items"] == 2 and listed["list_id"] == list_id
    page = mailchimp.lists.list_segments(list_id, count=1, offset=1)
    assert [s["name"] for s in page["segments"]] == ["Empty"] and page["total_items"] == 2
    assert mailchimp.lists.list_segments(list_id, type="static")["total_items"] == 2
    assert mailchimp.lists.list_segments(list_id, type="saved")["total_items"] == 0
    assert _error(lambda: mailchimp.lists.list_segments(list_id, type="dynamic")).status_code == 400
    too_many = _raw_get(sandbox, f"/lists/{list_id}/segments", count=1001)
    assert too_many.status_code == 400
    validate_problem(too_many.json())


def test_segment_refusals(mailchimp, list_id):
    mailchimp.lists.create_segment(list_id, {"name": "VIP", "static_segment": []})
    duplicate = _error(lambda: mailchimp.lists.create_segment(list_id, {"name": "vip", "static_segment": []}))
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    assert _error(lambda: mailchimp.lists.create_segment(list_id, {"static_segment": []})).status_code == 400
    saved = {"name": "Rules", "options": {"match": "any", "conditions": []}}
    assert _error(lambda: mailchimp.lists.create_segment(list_id, saved)).status_code == 400
    for bad in ("999", "abc"):
        missing = _error(lambda: mailchimp.lists.get_segment(list_id, bad))
        assert missing.status_code == 404
    assert _error(lambda: mailchimp.lists.get_segment("0000000000", "100001")).status_code == 404
    assert mailchimp.lists.list_segments(list_id)["total_items"] == 1


def test_batch_add_and_remove_members(mailchimp, sandbox, list_id, subscribed):
    a, b, c = (m["email_address"] for m in subscribed[:3])
    seg = mailchimp.lists.create_segment(list_id, {"name": "Trial", "static_segment": [a]})
    sid = str(seg["id"])
    answer = mailchimp.lists.batch_segment_members(
        {"members_to_add": [a, b.upper(), c, "ghost@nowhere.example", "not-an-address"]}, list_id, sid
    )
    validate_response("POST", SEGMENT, answer)
    # a was already in the segment: neither added again nor an error
    assert [m["email_address"] for m in answer["members_added"]] == [b, c]
    assert all(
        m["status"] == "subscribed" and "Trial" in [t["name"] for t in m["tags"]] for m in answer["members_added"]
    )
    assert answer["errors"] == [
        {"email_addresses": ["ghost@nowhere.example", "not-an-address"], "error": answer["errors"][0]["error"]}
    ]
    assert (answer["total_added"], answer["total_removed"], answer["error_count"]) == (2, 0, 2)
    assert mailchimp.lists.get_segment(list_id, sid)["member_count"] == 3

    body = {"members_to_remove": [a, a, "ghost@nowhere.example"]}
    removed = mailchimp.lists.batch_segment_members(body, list_id, sid)
    validate_response("POST", SEGMENT, removed)
    assert [m["email_address"] for m in removed["members_removed"]] == [a] and removed["members_added"] == []
    assert (removed["total_added"], removed["total_removed"], removed["error_count"]) == (0, 1, 1)
    assert mailchimp.lists.get_segment(list_id, sid)["member_count"] == 2

    too_many = {"members_to_add": [f"p{i}@example.com" for i in range(501)]}
    refused = _error(lambda: mailchimp.lists.batch_segment_members(too_many, list_id, sid))
    assert refused.status_code == 400 and "500" in refused.text
    unknown = _error(lambda: mailchimp.lists.batch_segment_members({"members_to_add": [a]}, list_id, "424242"))
    assert unknown.status_code == 404


def test_segment_members_page_and_status_filter(mailchimp, sandbox, list_id, subscribed):
    gone = mailchimp.lists.add_list_member(list_id, {"email_address": "gone@example.org", "status": "unsubscribed"})
    emails = [m["email_address"] for m in subscribed] + [gone["email_address"]]
    seg = mailchimp.lists.create_segment(list_id, {"name": "Everyone", "static_segment": emails})
    sid = str(seg["id"])
    assert seg["member_count"] == len(subscribed)  # active subscribers only

    first = mailchimp.lists.get_segment_members_list(list_id, sid, count=2)
    validate_response("GET", SEGMENT_MEMBERS, first)
    assert first["total_items"] == len(subscribed)
    assert [m["email_address"] for m in first["members"]] == emails[:2]
    rest = mailchimp.lists.get_segment_members_list(list_id, sid, count=1000, offset=2)
    assert [m["email_address"] for m in rest["members"]] == emails[2 : len(subscribed)]

    everyone = mailchimp.lists.get_segment_members_list(list_id, sid, count=1000, include_unsubscribed=True)
    validate_response("GET", SEGMENT_MEMBERS, everyone)
    assert [m["email_address"] for m in everyone["members"]] == emails
    assert mailchimp.lists.get_segment(list_id, sid, include_unsubscribed=True)["member_count"] == len(emails)
    assert _raw_get(sandbox, f"/lists/{list_id}/segments/{sid}/members", count=1001).status_code == 400


def test_member_tags_are_static_segments(mailchimp, sandbox, list_id, subscribed):
    member = subscribed[0]
    sandbox.world.clock.advance_ms(5_000)
    hot = {"tags": [{"name": "segment:hot", "status": "active"}]}
    mailchimp.lists.update_list_member_tags(list_id, member["id"], hot)
    tag = mailchimp.lists.get_list_member_tags(list_id, member["id"])["tags"][0]

    listed = mailchimp.lists.list_segments(list_id)
    validate_response("GET", SEGMENTS, listed)
    assert [(s["id"], s["name"], s["type"], s["member_count"]) for s in listed["segments"]] == [
        (tag["id"], "segment:hot", "static", 1)
    ]
    members = mailchimp.lists.get_segment_members_list(list_id, str(tag["id"]))
    assert [m["id"] for m in members["members"]] == [member["id"]]
    assert mailchimp.lists.get_list_member(list_id, member["id"])["last_changed"] == member["last_changed"]

    # creating the tag again through the segments endpoint is a duplicate
    assert (
        _error(
            lambda: mailchimp.lists.create_segment(list_id, {"name": "Segment:Hot", "static_segment": []})
        ).status_code
        == 400
    )

    cooled = {"tags": [{"name": "segment:hot", "status": "inactive"}]}
    mailchimp.lists.update_list_member_tags(list_id, member["id"], cooled)
    assert mailchimp.lists.get_segment(list_id, str(tag["id"]))["member_count"] == 0
    # the tag outlives its last member
    assert [s["name"] for s in mailchimp.lists.list_segments(list_id)["segments"]] == ["segment:hot"]


def test_static_segment_membership_is_tagging(mailchimp, sandbox, list_id, subscribed):
    member, other = subscribed[0], subscribed[1]
    sandbox.world.clock.advance_ms(5_000)
    seg = mailchimp.lists.create_segment(list_id, {"name": "Webinar", "static_segment": [member["email_address"]]})
    mailchimp.lists.update_list_member_tags(list_id, member["id"], {"tags": [{"name": "Later", "status": "active"}]})
    assert _tag_names(mailchimp, list_id, member["id"]) == ["Webinar", "Later"]
    assert _tag_names(mailchimp, list_id, other["id"]) == []
    got = mailchimp.lists.get_list_member(list_id, member["id"])
    validate_response("GET", "/lists/{list_id}/members/{subscriber_hash}", got)
    assert (got["tags_count"], got["tags"][0]) == (2, {"id": seg["id"], "name": "Webinar"})
    assert got["last_changed"] == member["last_changed"]  # tagging never moves last_changed
    found = mailchimp.lists.tag_search(list_id, name="web")
    assert [(t["id"], t["name"]) for t in found["tags"]] == [(seg["id"], "Webinar")]

    mailchimp.lists.batch_segment_members(
        {"members_to_add": [other["email_address"]], "members_to_remove": [member["email_address"]]},
        list_id,
        str(seg["id"]),
    )
    assert _tag_names(mailchimp, list_id, member["id"]) == ["Later"]
    assert _tag_names(mailchimp, list_id, other["id"]) == ["Webinar"]
    state = {m["id"]: m for m in sandbox.world.state()["mailchimp"]["members"]}
    assert [t["name"] for t in state[member["id"]]["tags"]] == ["Later"]
    assert [t["name"] for t in state[other["id"]]["tags"]] == ["Webinar"]
    assert state[other["id"]]["tags_count"] == 1 and state[other["id"]]["last_changed"] == other["last_changed"]


def test_batch_subscribe_tags_and_sync_tags_share_the_segments(mailchimp, list_id, subscribed):
    email = subscribed[0]["email_address"]
    mailchimp.lists.batch_list_members(
        list_id, {"members": [{"email_address": email, "tags": ["A", "B"]}], "update_existing": True}
    )
    names = {s["name"]: s for s in mailchimp.lists.list_segments(list_id)["segments"]}
    assert {n: s["member_count"] for n, s in names.items()} == {"A": 1, "B": 1}
    mailchimp.lists.batch_list_members(
        list_id, {"members": [{"email_address": email, "tags": ["B"]}], "update_existing": True, "sync_tags": True}
    )
    assert mailchimp.lists.get_segment(list_id, str(names["A"]["id"]))["member_count"] == 0
    assert _tag_names(mailchimp, list_id, subscribed[0]["id"]) == ["B"]


def test_tagging_keeps_persona_members_lazy(mailchimp, sandbox, list_id):
    """Membership lives per tag: tagging hundreds of persona-backed members materializes none of them."""
    store = sandbox.world.mailchimp
    page = mailchimp.lists.get_list_members_info(list_id, count=150, fields=["members.email_address"])
    emails = [m["email_address"] for m in page["members"]]
    seg = mailchimp.lists.create_segment(list_id, {"name": "Bulk", "static_segment": emails[:100]})
    mailchimp.lists.batch_segment_members({"members_to_add": emails[100:]}, list_id, str(seg["id"]))
    assert store._overlay == {}
    assert mailchimp.lists.get_segment_members_list(
        list_id, str(seg["id"]), include_unsubscribed=True, include_cleaned=True
    )["total_items"] == len(emails)
