"""A sandbox with a history (history_days), read through the official SDKs as a first syncd run reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hubspot.crm.contacts import PublicObjectSearchRequest

from sandbox.timefmt import DAY_MS, mailchimp_ts, parse_ts_ms
from sandbox.world import SandboxConfig
from tests.contract.mailchimp_spec import validate_response

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# one server per module (tests/conftest.py), rebuilt with its history before each test
SHARED_SANDBOX = SandboxConfig(contacts=1000, seed=13, start_ms=START, history_days=42, rate_scale=100)


def _seconds(ts: str) -> int:
    return parse_ts_ms(ts) // 1000


def _all_activity(mailchimp, campaign_id: str, **kw) -> tuple[int, list[dict]]:
    emails, offset = [], 0
    while True:
        page = mailchimp.reports.get_email_activity_for_campaign(campaign_id, count=250, offset=offset, **kw)
        validate_response("GET", "/reports/{campaign_id}/email-activity", page)
        emails += page["emails"]
        offset += 250
        if offset >= page["total_items"]:
            return page["total_items"], emails


def test_campaign_list_shows_the_sent_calendar_before_now(mailchimp, sandbox):
    listed = mailchimp.campaigns.list(
        status="sent", list_id=sandbox.world.list_id, count=1000, sort_field="send_time", sort_dir="ASC"
    )
    validate_response("GET", "/campaigns", listed)
    campaigns = listed["campaigns"]
    assert listed["total_items"] == len(campaigns) == len(sandbox.world.mailchimp.campaigns) == 9  # 6 + 3
    sends = [datetime.fromisoformat(c["send_time"]) for c in campaigns]
    assert sends == sorted(sends) and {d.strftime("%a %H:%M") for d in sends} == {"Tue 15:00", "Thu 15:00"}
    assert all(START - 42 * DAY_MS < parse_ts_ms(c["send_time"]) < START for c in campaigns)
    for c in campaigns:
        r = c["report_summary"]
        assert c["status"] == "sent" and c["emails_sent"] == c["recipients"]["recipient_count"] > 500
        assert r["opens"] > r["unique_opens"] > 0 and 0.15 < r["open_rate"] < 0.4
        assert 0 < r["subscriber_clicks"] <= r["clicks"] and 0.01 < r["click_rate"] < 0.07
    later = mailchimp.campaigns.list(since_send_time=campaigns[5]["send_time"], count=1000)
    assert [c["id"] for c in later["campaigns"]] == [c["id"] for c in campaigns[6:]]


def test_email_activity_with_since_is_the_activity_after_it(mailchimp, sandbox):
    campaign = mailchimp.campaigns.list(count=1000, sort_field="send_time")["campaigns"][-2]
    total, everyone = _all_activity(mailchimp, campaign["id"])
    assert total == len(everyone) == campaign["emails_sent"]  # every recipient, most with no activity
    acted = [e for e in everyone if e["activity"]]
    assert len(acted) == campaign["report_summary"]["unique_opens"] + sum(
        1 for e in acted if {a["action"] for a in e["activity"]} == {"bounce"}
    )
    since = mailchimp_ts(parse_ts_ms(campaign["send_time"]) + 6 * 3_600_000)
    total_since, recent = _all_activity(mailchimp, campaign["id"], since=since)
    expected = {
        e["email_address"]: [a for a in e["activity"] if _seconds(a["timestamp"]) > _seconds(since)] for e in everyone
    }
    assert {e["email_address"]: e["activity"] for e in recent} == {k: v for k, v in expected.items() if v}
    assert 0 < total_since == len(recent) < len(acted)
    assert all(_seconds(a["timestamp"]) < START // 1000 for e in recent for a in e["activity"])


def test_unsubscribes_are_unsubscribed_members_with_that_last_changed(mailchimp, sandbox):
    list_id = sandbox.world.list_id
    seen = 0
    for campaign in mailchimp.campaigns.list(count=1000)["campaigns"]:
        report = mailchimp.reports.get_unsubscribed_list_for_campaign(campaign["id"], count=1000)
        validate_response("GET", "/reports/{campaign_id}/unsubscribed", report)
        for u in report["unsubscribes"]:
            member = mailchimp.lists.get_list_member(list_id, u["email_id"])
            assert member["status"] == "unsubscribed" and member["last_changed"] == u["timestamp"]
            assert parse_ts_ms(campaign["send_time"]) < parse_ts_ms(u["timestamp"]) < START
            feed = mailchimp.lists.get_list_member_activity_feed(list_id, u["email_id"], activity_filters=["unsub"])
            assert [(a["campaign_id"], a["created_at_timestamp"]) for a in feed["activity"]] == [
                (campaign["id"], u["timestamp"])
            ]
            seen += 1
    counts = mailchimp.lists.get_list(list_id)["stats"]
    assert 0 < seen <= counts["unsubscribe_count"]
    assert counts["campaign_count"] == 9 and _seconds(counts["campaign_last_sent"]) < START // 1000


def test_a_members_open_rate_counts_the_campaigns_it_received(mailchimp, sandbox):
    list_id, store = sandbox.world.list_id, sandbox.world.mailchimp
    opener = next(
        s
        for s in sorted(store.campaigns[0].recipients.tolist())
        if store.member_dict(store.find_slot(s))["stats"]["avg_open_rate"] > 0
    )
    member = mailchimp.lists.get_list_member(list_id, store.find_slot(opener).hash)
    feed = mailchimp.lists.get_list_member_activity_feed(list_id, member["id"], count=1000)
    kinds = [a["activity_type"] for a in feed["activity"]]
    opened = {a["campaign_id"] for a in feed["activity"] if a["activity_type"] == "open"}
    assert member["stats"]["avg_open_rate"] == round(len(opened) / kinds.count("sent"), 4)


def test_hubspot_contacts_carry_their_past_form_submissions(hubspot, sandbox):
    converted = sorted(sandbox.world.hubspot.contacts.rows, key=int)
    assert converted
    names = [
        "num_conversion_events",
        "first_conversion_date",
        "first_conversion_event_name",
        "recent_conversion_date",
        "recent_conversion_event_name",
        "createdate",
        "lastmodifieddate",
    ]
    contact = hubspot.crm.contacts.basic_api.get_by_id(converted[0], properties=names)
    p = contact.properties
    assert int(p["num_conversion_events"]) >= 1
    assert p["recent_conversion_event_name"] in ("Contact us", "Demo request", "Webinar registration")
    first, recent = parse_ts_ms(p["first_conversion_date"]), parse_ts_ms(p["recent_conversion_date"])
    assert parse_ts_ms(p["createdate"]) <= first <= recent <= parse_ts_ms(p["lastmodifieddate"]) < START
    assert contact.updated_at == datetime.fromtimestamp(parse_ts_ms(p["lastmodifieddate"]) / 1000, tz=UTC)
    # the search index knows the past lastmodifieddate: a first run's "modified since" reads find it
    modified = datetime.fromtimestamp(parse_ts_ms(p["lastmodifieddate"]) / 1000, tz=UTC)
    window = [
        {
            "propertyName": "lastmodifieddate",
            "operator": "BETWEEN",
            "value": str(int((modified - timedelta(seconds=1)).timestamp() * 1000)),
            "highValue": str(int((modified + timedelta(seconds=1)).timestamp() * 1000)),
        }
    ]
    found = hubspot.crm.contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(filter_groups=[{"filters": window}], limit=100)
    )
    assert contact.id in [c.id for c in found.results]
