"""Every Mailchimp endpoint of the sandbox, called through mailchimp-marketing and checked against the spec."""

from __future__ import annotations

import hashlib

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from tests.contract.mailchimp_spec import validate_problem, validate_response

CLICK_URL = "https://example.com/pricing"


@pytest.fixture
def list_id(sandbox) -> str:
    return sandbox.world.list_id


@pytest.fixture
def first_member(mailchimp, list_id) -> dict:
    return mailchimp.lists.get_list_members_info(list_id, count=1, status="subscribed")["members"][0]


@pytest.fixture
def campaign(sandbox, first_member) -> str:
    store = sandbox.world.mailchimp
    cid = store.add_campaign(sandbox.world.clock.now_ms(), "Spring launch", [CLICK_URL])
    store.record_open(first_member["email_address"], cid, sandbox.world.clock.now_ms())
    store.record_click(first_member["email_address"], cid, sandbox.world.clock.now_ms(), CLICK_URL)
    return cid


def test_ping(mailchimp):
    body = mailchimp.ping.get()
    validate_response("GET", "/ping", body)
    assert body["health_status"] == "Everything's Chimpy!"


def test_lists_and_list(mailchimp, sandbox, list_id):
    lists = mailchimp.lists.get_all_lists()
    validate_response("GET", "/lists", lists)
    assert [item["id"] for item in lists["lists"]] == [list_id] and lists["total_items"] == 1
    one = mailchimp.lists.get_list(list_id)
    validate_response("GET", "/lists/{list_id}", one)
    counts = sandbox.world.mailchimp.status_counts()
    assert one["stats"]["member_count"] == counts["subscribed"]
    assert one["stats"]["unsubscribe_count"] == counts["unsubscribed"]
    assert all(link["href"].startswith(sandbox.url + "/3.0/") for link in one["_links"])


def test_unknown_list_is_a_problem_404(mailchimp):
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.get_list("0000000000")
    assert caught.value.status_code == 404
    validate_problem(caught.value.text)
    assert '"Resource Not Found"' in caught.value.text


def test_members_page_and_member(mailchimp, sandbox, list_id):
    page = mailchimp.lists.get_list_members_info(list_id, count=25, offset=5)
    validate_response("GET", "/lists/{list_id}/members", page)
    assert len(page["members"]) == 25
    assert page["total_items"] == len(sandbox.world.population.mailchimp_indices)
    member = page["members"][0]
    assert member["id"] == hashlib.md5(member["email_address"].lower().encode()).hexdigest()
    one = mailchimp.lists.get_list_member(list_id, member["id"])
    validate_response("GET", "/lists/{list_id}/members/{subscriber_hash}", one)
    assert one["email_address"] == member["email_address"] and one["unique_email_id"] == member["unique_email_id"]
    assert all(link["href"].startswith("http://127.0.0.1:") for link in one["_links"])


def test_member_fields_are_honoured(mailchimp, list_id):
    page = mailchimp.lists.get_list_members_info(list_id, count=3, fields=["members.email_address", "total_items"])
    assert set(page) == {"members", "total_items"}
    assert all(set(m) == {"email_address"} for m in page["members"])


def test_add_put_patch_delete_member(mailchimp, list_id):
    added = mailchimp.lists.add_list_member(
        list_id, {"email_address": "New.Lead@Example.org", "status": "pending", "merge_fields": {"FNAME": "New"}}
    )
    validate_response("POST", "/lists/{list_id}/members", added)
    assert added["status"] == "pending" and added["merge_fields"]["FNAME"] == "New"
    put = mailchimp.lists.set_list_member(
        list_id,
        added["id"],
        {"email_address": "new.lead@example.org", "status_if_new": "subscribed", "merge_fields": {"LNAME": "Lead"}},
    )
    validate_response("PUT", "/lists/{list_id}/members/{subscriber_hash}", put)
    assert put["status"] == "pending" and put["merge_fields"] == {**added["merge_fields"], "LNAME": "Lead"}
    patched = mailchimp.lists.update_list_member(list_id, added["id"], {"status": "subscribed"})
    validate_response("PATCH", "/lists/{list_id}/members/{subscriber_hash}", patched)
    assert patched["status"] == "subscribed"
    gone = mailchimp.lists.delete_list_member(list_id, added["id"])
    assert isinstance(gone, requests.Response) and gone.status_code == 204
    assert mailchimp.lists.get_list_member(list_id, added["id"])["status"] == "archived"
    listed = mailchimp.lists.get_list_members_info(list_id, count=1000)
    assert added["id"] not in {m["id"] for m in listed["members"]}


def test_put_creates_with_status_if_new(mailchimp, list_id):
    body = {"email_address": "fresh@example.net", "status_if_new": "subscribed", "status": "unsubscribed"}
    created = mailchimp.lists.set_list_member(list_id, "FRESH@example.net", body)
    assert created["status"] == "subscribed"


def test_member_tags(mailchimp, list_id, first_member):
    h = first_member["id"]
    answer = mailchimp.lists.update_list_member_tags(
        list_id,
        h,
        {
            "tags": [{"name": "segment:hot", "status": "active"}, {"name": "never-seen", "status": "inactive"}],
            "is_syncing": True,
        },
    )
    assert isinstance(answer, requests.Response) and answer.status_code == 204 and answer.text == ""
    tags = mailchimp.lists.get_list_member_tags(list_id, h)
    validate_response("GET", "/lists/{list_id}/members/{subscriber_hash}/tags", tags)
    assert [t["name"] for t in tags["tags"]] == ["segment:hot"] and tags["total_items"] == 1
    mailchimp.lists.update_list_member_tags(list_id, h, {"tags": [{"name": "segment:hot", "status": "inactive"}]})
    assert mailchimp.lists.get_list_member_tags(list_id, h)["total_items"] == 0
    found = mailchimp.lists.tag_search(list_id, name="hot")
    validate_response("GET", "/lists/{list_id}/tag-search", found)
    assert [t["name"] for t in found["tags"]] == ["segment:hot"]


def test_merge_fields(mailchimp, list_id):
    listed = mailchimp.lists.get_list_merge_fields(list_id)
    validate_response("GET", "/lists/{list_id}/merge-fields", listed)
    assert [f["tag"] for f in listed["merge_fields"]] == ["FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY"]
    made = mailchimp.lists.add_list_merge_field(list_id, {"name": "Score", "type": "number", "tag": "SCORE"})
    validate_response("POST", "/lists/{list_id}/merge-fields", made)
    one = mailchimp.lists.get_list_merge_field(list_id, made["merge_id"])
    validate_response("GET", "/lists/{list_id}/merge-fields/{merge_id}", one)
    assert one["tag"] == "SCORE" and one["type"] == "number"


def test_campaigns(mailchimp, list_id, campaign):
    listed = mailchimp.campaigns.list(status="sent", list_id=list_id, count=1000)
    validate_response("GET", "/campaigns", listed)
    assert [c["id"] for c in listed["campaigns"]] == [campaign]
    one = mailchimp.campaigns.get(campaign)
    validate_response("GET", "/campaigns/{campaign_id}", one)
    assert one["status"] == "sent" and one["report_summary"]["unique_opens"] == 1
    assert one["emails_sent"] == one["recipients"]["recipient_count"] > 0
    later = mailchimp.campaigns.list(since_send_time="2100-01-01T00:00:00+00:00")
    assert later["total_items"] == 0


def test_email_activity(mailchimp, campaign, first_member):
    report = mailchimp.reports.get_email_activity_for_campaign(campaign, count=1000)
    validate_response("GET", "/reports/{campaign_id}/email-activity", report)
    mine = [e for e in report["emails"] if e["email_address"] == first_member["email_address"]]
    assert [a["action"] for a in mine[0]["activity"]] == ["open", "click"]
    assert mine[0]["activity"][1]["url"] == CLICK_URL
    assert report["total_items"] == mailchimp.campaigns.get(campaign)["emails_sent"]


def test_unsubscribed_report_and_activity_feed(mailchimp, sandbox, list_id, campaign, first_member):
    email = first_member["email_address"]
    sandbox.world.mailchimp.record_unsubscribe(email, campaign, sandbox.world.clock.now_ms(), "Too many emails")
    report = mailchimp.reports.get_unsubscribed_list_for_campaign(campaign)
    validate_response("GET", "/reports/{campaign_id}/unsubscribed", report)
    assert [(u["email_address"], u["reason"]) for u in report["unsubscribes"]] == [(email, "Too many emails")]
    assert mailchimp.lists.get_list_member(list_id, email)["status"] == "unsubscribed"
    feed = mailchimp.lists.get_list_member_activity_feed(list_id, first_member["id"])
    validate_response("GET", "/lists/{list_id}/members/{subscriber_hash}/activity-feed", feed)
    assert [a["activity_type"] for a in feed["activity"]][0] == "unsub"
    assert {"sent", "open", "click", "unsub"} == {a["activity_type"] for a in feed["activity"]}
    clicks = mailchimp.lists.get_list_member_activity_feed(list_id, first_member["id"], activity_filters=["click"])
    assert [a["link_clicked"] for a in clicks["activity"]] == [CLICK_URL]


def test_batch_subscribe(mailchimp, list_id, first_member):
    body = {
        "members": [
            {"email_address": "batch.one@example.org", "status": "subscribed"},
            {"email_address": first_member["email_address"], "status": "subscribed"},
        ],
        "update_existing": False,
    }
    result = mailchimp.lists.batch_list_members(list_id, body)
    validate_response("POST", "/lists/{list_id}", result)
    assert result["total_created"] == 1 and result["error_count"] == 1
    assert result["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"
    body["update_existing"] = True
    again = mailchimp.lists.batch_list_members(list_id, body)
    assert (again["total_created"], again["total_updated"], again["error_count"]) == (0, 2, 0)


def test_sandbox_state_lists_members_and_campaigns(sandbox, campaign):
    state = sandbox.world.state()["mailchimp"]
    assert state["list_id"] == sandbox.world.list_id
    assert len(state["members"]) == len(sandbox.world.population.mailchimp_indices)
    assert {"email_address", "status", "merge_fields", "tags", "last_changed", "id"} <= set(state["members"][0])
    assert [c["id"] for c in state["campaigns"]] == [campaign]


def test_campaign_reports_list_totals_that_move_with_each_event(mailchimp, sandbox, campaign, first_member):
    listed = mailchimp.reports.get_all_campaign_reports(count=1000)
    validate_response("GET", "/reports", listed)
    assert listed["total_items"] == 1 and [r["id"] for r in listed["reports"]] == [campaign]
    before = listed["reports"][0]
    assert before["opens"]["opens_total"] == 1 and before["clicks"]["clicks_total"] == 1
    assert before["emails_sent"] == mailchimp.campaigns.get(campaign)["emails_sent"]
    one = mailchimp.reports.get_campaign_report(campaign)
    validate_response("GET", "/reports/{campaign_id}", one)
    assert {k: v for k, v in one.items() if k != "_links"} == {k: v for k, v in before.items() if k != "_links"}
    email, now = first_member["email_address"], sandbox.world.clock.now_ms()
    sandbox.world.mailchimp.record_open(email, campaign, now)
    sandbox.world.mailchimp.record_unsubscribe(email, campaign, now, "Too many emails")
    after = mailchimp.reports.get_all_campaign_reports(fields=["reports.id", "reports.opens", "reports.unsubscribed"])
    assert after["reports"] == [{"id": campaign, "opens": {**before["opens"], "opens_total": 2}, "unsubscribed": 1}]
    assert mailchimp.reports.get_all_campaign_reports(since_send_time="2100-01-01T00:00:00+00:00")["reports"] == []
