"""Merge fields of existing members go out 500 per call, carrying the status syncd read; a member who
unsubscribed themselves in between is refused by Mailchimp (compliance) and never re-subscribed."""
from __future__ import annotations

import pytest
import requests

from connectors.errors import COMPLIANCE
from tests.contract.test_connector_mailchimp import all_members, connector, members_by_email


def test_batch_update_changes_merge_fields_and_never_status(sandbox):
    mc = connector(sandbox)
    members = [m for m in all_members(mc) if m["status"] == "subscribed"][:3]
    racer = members[2]
    # between syncd's read and its push, this member unsubscribes (the link in a campaign: Mailchimp then
    # refuses `subscribed`; an admin's unsubscribe it would not refuse)
    answer = requests.post(f"{sandbox.url}/_sandbox/events", timeout=10,
                           json=[{"email": racer["email_address"], "action": "unsubscribe"}])
    assert answer.json() == {"applied": 1}

    outcomes = mc.batch_update_members([{"email_address": m["email_address"], "status": "subscribed",
                                         "merge_fields": {"FNAME": f"Renamed{i}"}} for i, m in enumerate(members)])

    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[2].error == COMPLIANCE and outcomes[2].skippable
    after = members_by_email(sandbox)
    assert after[members[0]["email_address"].lower()]["merge_fields"]["FNAME"] == "Renamed0"
    assert after[members[0]["email_address"].lower()]["merge_fields"]["LNAME"] == members[0]["merge_fields"]["LNAME"]
    assert after[racer["email_address"].lower()]["status"] == "unsubscribed"
    assert mc.stats.snapshot()["calls"]["mailchimp.members.batch"] == 1


def test_batch_update_refuses_statuses_it_could_change():
    from connectors.mailchimp.sink import MailchimpConnector

    with pytest.raises(ValueError, match="unsubscribed"):
        MailchimpConnector.batch_update_members(None, [{"email_address": "a@b.co", "status": "unsubscribed"}])


def test_tags_as_segments_tag_and_untag_many_members_per_call(sandbox):
    mc = connector(sandbox)
    members = [m["email_address"] for m in all_members(mc) if m["status"] == "subscribed"][:5]
    tag_id = mc.create_tag("segment:hot")
    assert mc.tag_ids()["segment:hot"] == tag_id

    errors = mc.update_tag_members(tag_id, add=[*members, "nobody@nowhere.example.com"], remove=[])
    assert list(errors) == ["nobody@nowhere.example.com"]
    after = members_by_email(sandbox)
    assert all("segment:hot" in [tg["name"] for tg in after[e.lower()]["tags"]] for e in members)

    assert mc.update_tag_members(tag_id, add=[], remove=members[:2]) == {}
    after = members_by_email(sandbox)
    assert [("segment:hot" in [tg["name"] for tg in after[e.lower()]["tags"]]) for e in members] == \
        [False, False, True, True, True]
    calls = mc.stats.snapshot()["calls"]
    assert calls["mailchimp.segments.members"] == 2 and "mailchimp.members.tags" not in calls
