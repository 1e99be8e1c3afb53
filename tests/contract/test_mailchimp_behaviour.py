"""Behaviours of the sandbox's Mailchimp side that syncd relies on (through the SDK where it can go)."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from sandbox.timefmt import DAY_MS, mailchimp_ts
from tests.contract.mailchimp_spec import validate_problem, validate_response


@pytest.fixture
def list_id(sandbox) -> str:
    return sandbox.world.list_id


def _member_with(mailchimp, list_id: str, status: str) -> dict:
    return mailchimp.lists.get_list_members_info(list_id, status=status, count=1)["members"][0]


def _in_compliance_state(mailchimp, list_id: str, status: str) -> dict:
    """A cleaned member, or one who unsubscribed themselves (Mailchimp accepts `subscribed` for a member an
    admin unsubscribed: tests/contract/test_mailchimp_unsubscribes.py)."""
    members = mailchimp.lists.get_list_members_info(list_id, status=status, count=1000)["members"]
    return next(m for m in members if m.get("unsubscribe_reason") != "N/A (Unsubscribed by admin)")


def _problem(caught: pytest.ExceptionInfo) -> dict:
    validate_problem(caught.value.text)
    return json.loads(caught.value.text)


def _raw(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    """A direct HTTP call, for what the SDK refuses to send (count > 1000, broken JSON, a GET body)."""
    return requests.request(
        method, f"{sandbox.url}/3.0{path}", auth=("any", sandbox.world.config.mailchimp_key), timeout=10, **kwargs
    )


def test_hash_and_email_are_case_insensitive(mailchimp, list_id):
    member = _member_with(mailchimp, list_id, "subscribed")
    email = member["email_address"]
    for key in (member["id"], member["id"].upper(), email.upper(), email.lower()):
        assert mailchimp.lists.get_list_member(list_id, key)["id"] == member["id"]
    assert member["id"] == hashlib.md5(email.lower().encode()).hexdigest()


def test_unknown_member_is_404(mailchimp, list_id):
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.get_list_member(list_id, "nobody@example.invalid")
    assert caught.value.status_code == 404 and _problem(caught)["title"] == "Resource Not Found"


@pytest.mark.parametrize("status", ["unsubscribed", "cleaned"])
def test_compliance_state_refuses_subscribed_but_allows_pending(mailchimp, list_id, status):
    member = _in_compliance_state(mailchimp, list_id, status)
    email = member["email_address"]
    for call in (
        lambda: mailchimp.lists.update_list_member(list_id, member["id"], {"status": "subscribed"}),
        lambda: mailchimp.lists.set_list_member(
            list_id, member["id"], {"email_address": email, "status_if_new": "subscribed", "status": "subscribed"}
        ),
    ):
        with pytest.raises(ApiClientError) as caught:
            call()
        problem = _problem(caught)
        assert caught.value.status_code == 400 and problem["title"] == "Member In Compliance State"
        assert problem["detail"].startswith(f"{email} is already a list member in compliance state")
    assert mailchimp.lists.get_list_member(list_id, email)["status"] == status
    pending = mailchimp.lists.update_list_member(list_id, member["id"], {"status": "pending"})
    assert pending["status"] == "pending"


def test_batch_reports_compliance_members_as_errors(mailchimp, list_id):
    gone = _in_compliance_state(mailchimp, list_id, "unsubscribed")["email_address"]
    result = mailchimp.lists.batch_list_members(
        list_id,
        {
            "members": [
                {"email_address": gone, "status": "subscribed"},
                {"email_address": "not-an-email", "status": "subscribed"},
            ],
            "update_existing": True,
        },
    )
    validate_response("POST", "/lists/{list_id}", result)
    assert result["error_count"] == 2 and result["total_updated"] == 0
    by_email = {e["email_address"]: e for e in result["errors"]}
    assert "compliance state" in by_email[gone]["error"] and by_email[gone]["error_code"] == "ERROR_GENERIC"
    assert by_email["not-an-email"]["field"] == "email_address"
    assert mailchimp.lists.get_list_member(list_id, gone)["status"] == "unsubscribed"


def test_batch_over_500_members_is_400(mailchimp, list_id):
    members = [{"email_address": f"bulk{i}@example.org", "status": "subscribed"} for i in range(501)]
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.batch_list_members(list_id, {"members": members})
    problem = _problem(caught)
    assert caught.value.status_code == 400 and problem["errors"][0]["field"] == "members"
    assert mailchimp.lists.batch_list_members(list_id, {"members": members[:500]})["total_created"] == 500


def test_invalid_email_is_invalid_resource(mailchimp, list_id):
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.add_list_member(list_id, {"email_address": "bad@@example", "status": "subscribed"})
    problem = _problem(caught)
    assert problem["title"] == "Invalid Resource" and problem["errors"][0]["field"] == "email_address"


def test_put_hash_must_match_email(mailchimp, list_id):
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.set_list_member(
            list_id,
            hashlib.md5(b"a@example.org").hexdigest(),
            {"email_address": "b@example.org", "status_if_new": "subscribed"},
        )
    assert caught.value.status_code == 400 and _problem(caught)["title"] == "Invalid Resource"


def test_wrong_types_are_listed_in_errors(mailchimp, list_id):
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.set_list_member(
            list_id, "typed@example.org", {"email_address": "typed@example.org", "status_if_new": "maybe", "vip": "yes"}
        )
    fields = {e["field"] for e in _problem(caught)["errors"]}
    assert fields == {"status_if_new", "vip"}


@pytest.fixture
def typed_fields(mailchimp, list_id) -> None:
    mailchimp.lists.add_list_merge_field(list_id, {"name": "Score", "type": "number", "tag": "SCORE"})
    mailchimp.lists.add_list_merge_field(
        list_id, {"name": "Renewal", "type": "date", "tag": "RENEWAL", "options": {"date_format": "MM/DD/YYYY"}}
    )
    mailchimp.lists.add_list_merge_field(
        list_id,
        {"name": "Cadence", "type": "dropdown", "tag": "CADENCE", "options": {"choices": ["weekly", "monthly"]}},
    )


@pytest.mark.parametrize(
    "values, bad_field",
    [
        ({"SCORE": "high"}, "SCORE"),
        ({"RENEWAL": "31/31/2026"}, "RENEWAL"),
        ({"CADENCE": "daily"}, "CADENCE"),
        ({"NOPE": "x"}, "NOPE"),
        ({"ADDRESS": {"addr1": "1 Main St"}}, "ADDRESS"),
    ],
)
def test_merge_values_are_validated_by_type(mailchimp, list_id, typed_fields, values, bad_field):
    member = _member_with(mailchimp, list_id, "subscribed")
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.update_list_member(list_id, member["id"], {"merge_fields": values})
    problem = _problem(caught)
    assert (problem["title"], problem["detail"]) == ("Invalid Resource", "Your merge fields were invalid.")
    assert [e["field"] for e in problem["errors"]] == [bad_field]


def test_good_merge_values_are_stored_normalized(mailchimp, list_id, typed_fields):
    member = _member_with(mailchimp, list_id, "subscribed")
    updated = mailchimp.lists.update_list_member(
        list_id, member["id"], {"merge_fields": {"SCORE": "42", "RENEWAL": "2026-03-05", "CADENCE": "weekly"}}
    )
    assert updated["merge_fields"]["SCORE"] == 42
    assert updated["merge_fields"]["RENEWAL"] == "03/05/2026"
    assert updated["merge_fields"]["FNAME"] == member["merge_fields"]["FNAME"]


def test_boolean_merge_value_fails_the_schema(mailchimp, list_id):
    member = _member_with(mailchimp, list_id, "subscribed")
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.update_list_member(list_id, member["id"], {"merge_fields": {"FNAME": True}})
    assert _problem(caught)["errors"] == [
        {"field": "merge_fields.FNAME", "message": "Data did not match any of the schemas described in anyOf."}
    ]


def test_required_merge_field_and_skip_merge_validation(mailchimp, list_id):
    mailchimp.lists.add_list_merge_field(
        list_id, {"name": "Company", "type": "text", "tag": "COMPANY", "required": True}
    )
    body = {"email_address": "req@example.org", "status_if_new": "subscribed"}
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.set_list_member(list_id, "req@example.org", body)
    assert _problem(caught)["errors"] == [{"field": "COMPANY", "message": "Please enter a value"}]
    made = mailchimp.lists.set_list_member(list_id, "req@example.org", body, skip_merge_validation=True)
    assert made["merge_fields"]["COMPANY"] == ""


def test_count_over_1000_is_400(sandbox, list_id):
    answer = _raw(sandbox, "GET", f"/lists/{list_id}/members", params={"count": 1001})
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("application/problem+json")
    validate_problem(answer.json())
    assert answer.json()["errors"][0]["field"] == "count"


def test_malformed_json_is_a_parse_error(sandbox, list_id):
    answer = _raw(sandbox, "PATCH", f"/lists/{list_id}/members/x@example.org", data=b"{not json")
    assert answer.status_code == 404  # the member does not exist: looked up before the body is read
    member = sandbox.world.mailchimp.list_members(count=1)[1][0]
    answer = _raw(sandbox, "PATCH", f"/lists/{list_id}/members/{member.hash}", data=b"{not json")
    assert answer.status_code == 400 and answer.json()["title"] == "JSON Parse Error"
    validate_problem(answer.json())


def test_get_with_a_body_is_accepted(sandbox, list_id):
    answer = _raw(sandbox, "GET", f"/lists/{list_id}/members", params={"count": 2}, data=b'{"ignored": true}')
    assert answer.status_code == 200 and len(answer.json()["members"]) == 2


def test_since_last_changed_filters_and_writes_move_last_changed(mailchimp, sandbox, list_id):
    clock = sandbox.world.clock
    clock.advance_days(1)
    cutoff = mailchimp_ts(clock.now_ms())
    assert mailchimp.lists.get_list_members_info(list_id, since_last_changed=cutoff)["total_items"] == 0
    clock.advance_ms(2000)
    a, b = mailchimp.lists.get_list_members_info(list_id, status="subscribed", count=2)["members"]
    mailchimp.lists.update_list_member(list_id, a["id"], {"merge_fields": {"FNAME": "Changed"}})
    sandbox.world.mailchimp.inject_event(b["email_address"], "bounce", bounce_type="hard")
    changed = mailchimp.lists.get_list_members_info(list_id, since_last_changed=cutoff, sort_field="last_changed")
    validate_response("GET", "/lists/{list_id}/members", changed)
    assert [m["id"] for m in changed["members"]] == [a["id"], b["id"]]
    assert changed["members"][1]["status"] == "cleaned"
    before = mailchimp.lists.get_list_members_info(list_id, before_last_changed=cutoff, count=1)["total_items"]
    assert before == len(sandbox.world.population.mailchimp_indices) - 2


def test_opens_do_not_move_last_changed_but_feed_stats(mailchimp, sandbox, list_id):
    member = _member_with(mailchimp, list_id, "subscribed")
    sandbox.world.mailchimp.inject_event(member["email_address"], "open")
    after = mailchimp.lists.get_list_member(list_id, member["id"])
    assert after["last_changed"] == member["last_changed"]
    assert after["stats"]["avg_open_rate"] == 1.0


def test_email_activity_since_keeps_later_events_only(mailchimp, sandbox):
    store, clock = sandbox.world.mailchimp, sandbox.world.clock
    subscribed = store.subscribed_persona_indices()
    first, second = (sandbox.world.population.persona(int(i)).mc_email for i in subscribed[:2])
    cid = store.add_campaign(clock.now_ms(), "Digest", ["https://example.com/a"])
    store.record_open(first, cid, clock.now_ms())
    clock.advance_days(1)
    since = mailchimp_ts(clock.now_ms())
    clock.advance_ms(1500)
    store.record_open(second, cid, clock.now_ms())
    store.record_click(first, cid, clock.now_ms(), "https://example.com/a")
    report = mailchimp.reports.get_email_activity_for_campaign(cid, since=since)
    validate_response("GET", "/reports/{campaign_id}/email-activity", report)
    got = {e["email_address"]: [a["action"] for a in e["activity"]] for e in report["emails"]}
    assert got == {first: ["click"], second: ["open"]} and report["total_items"] == 2
    everything = mailchimp.reports.get_email_activity_for_campaign(cid, count=1000)
    assert everything["total_items"] == len(subscribed)


def test_inject_event_rules(sandbox):
    store = sandbox.world.mailchimp
    with pytest.raises(KeyError):
        store.inject_event("nobody@example.invalid", "open")
    email = sandbox.world.population.persona(int(store.subscribed_persona_indices()[0])).mc_email
    store.inject_event(email, "open", ts_ms=sandbox.world.clock.now_ms() - DAY_MS)
    assert len(store.campaigns) == 1
    store.inject_event(email.upper(), "unsubscribe")
    assert store.find(email).status == "unsubscribed"
    assert store.find(email).slot not in set(store.subscribed_persona_indices().tolist())


def test_sandbox_events_endpoint_reaches_the_store(sandbox):
    store = sandbox.world.mailchimp
    email = sandbox.world.population.persona(int(store.subscribed_persona_indices()[0])).mc_email
    answer = requests.post(
        f"{sandbox.url}/_sandbox/events",
        timeout=10,
        json=[
            {"email": email, "action": "click", "url": "https://example.com/x"},
            {"email": email, "action": "bounce", "type": "soft"},
        ],
    )
    assert answer.json() == {"applied": 2}
    assert store.find(email).status == "subscribed"  # a soft bounce does not clean
    assert store.campaigns[-1].clicks == 1 and store.campaigns[-1].soft_bounces == 1
