"""Member writes through the connector never carry `status` (invariant 1): creates are PUTs with
`status_if_new`, updates PATCH the merge fields alone. Up to `direct_max` go one call each; more go as
Mailchimp batch operations, polled until finished, their results read from the archive. An admin's
unsubscribe between syncd's read and its write is kept, which a `status: subscribed` write would undo."""

from __future__ import annotations

import pytest

from connectors.mailchimp.translate import MemberWrite, member_write
from tests.contract.test_connector_mailchimp import all_members, connector, members_by_email

ADMIN = "N/A (Unsubscribed by admin)"


def _admin_unsubscribe(sandbox, mc, email: str) -> None:
    from connectors.mailchimp.translate import subscriber_hash

    mc.api.lists.update_list_member(mc.list_id, subscriber_hash(email), {"status": "unsubscribed"})
    assert members_by_email(sandbox)[email.lower()]["unsubscribe_reason"] == ADMIN


@pytest.mark.parametrize("direct_max", [100, 0], ids=["one call each", "batch operations"])
def test_merge_field_updates_keep_an_unsubscribe_made_after_the_read(sandbox, direct_max):
    mc = connector(sandbox)
    mc.direct_max = direct_max
    members = [m for m in all_members(mc) if m["status"] == "subscribed"][:3]
    racer = members[2]
    _admin_unsubscribe(sandbox, mc, racer["email_address"])  # after syncd read it as subscribed

    outcomes = mc.write_members(
        [
            MemberWrite(key=f"k{i}", email=m["email_address"], merge_fields={"FNAME": f"Renamed{i}"})
            for i, m in enumerate(members)
        ]
    )

    assert [(o.key, o.ok) for o in outcomes] == [("k0", True), ("k1", True), ("k2", True)]
    assert [o.detail["status"] for o in outcomes] == ["subscribed", "subscribed", "unsubscribed"]
    after = members_by_email(sandbox)
    assert after[members[0]["email_address"].lower()]["merge_fields"]["FNAME"] == "Renamed0"
    assert after[members[0]["email_address"].lower()]["merge_fields"]["LNAME"] == members[0]["merge_fields"]["LNAME"]
    assert after[racer["email_address"].lower()]["status"] == "unsubscribed"
    calls = mc.stats.snapshot()["calls"]
    if direct_max:
        assert calls.get("mailchimp.members.update") == 3 and "mailchimp.batches.start" not in calls
    else:
        assert calls["mailchimp.batches.start"] == 1 and calls["mailchimp.batches.results"] == 1
        assert calls["mailchimp.batches.status"] >= 1 and "mailchimp.members.update" not in calls


@pytest.mark.parametrize("direct_max", [100, 0], ids=["one call each", "batch operations"])
def test_creates_use_status_if_new_so_existing_members_keep_their_status(sandbox, direct_max):
    mc = connector(sandbox)
    mc.direct_max = direct_max
    everyone = all_members(mc)
    admin_gone = next(m for m in everyone if m["status"] == "subscribed")
    _admin_unsubscribe(sandbox, mc, admin_gone["email_address"])
    self_gone = next(m for m in everyone if m["status"] == "unsubscribed" and m["unsubscribe_reason"] != ADMIN)
    cleaned = next(m for m in everyone if m["status"] == "cleaned")
    writes = [
        MemberWrite("new", "new.lead@example.org", {"FNAME": "New"}, create_as="subscribed"),
        MemberWrite("admin", admin_gone["email_address"], {"FNAME": "A"}, create_as="subscribed"),
        MemberWrite("self", self_gone["email_address"], {"FNAME": "S"}, create_as="subscribed"),
        MemberWrite("cleaned", cleaned["email_address"], {}, create_as="subscribed"),
        MemberWrite("bad", "not-an-email@", {}, create_as="subscribed"),
    ]
    outcomes = {o.key: o for o in mc.write_members(writes)}
    state = members_by_email(sandbox)
    assert outcomes["new"].ok and state["new.lead@example.org"]["status"] == "subscribed"
    for key, m in (("admin", admin_gone), ("self", self_gone), ("cleaned", cleaned)):
        assert outcomes[key].ok and outcomes[key].detail["status"] == state[m["email_address"].lower()]["status"]
        assert state[m["email_address"].lower()]["status"] in ("unsubscribed", "cleaned"), key
    assert not outcomes["bad"].ok and outcomes["bad"].skippable
    assert "400" in outcomes["bad"].error and "email" in outcomes["bad"].error.lower()


def test_a_merge_value_mailchimp_refuses_names_the_field(sandbox):
    mc = connector(sandbox)
    mc.direct_max = 0
    someone = next(m for m in all_members(mc) if m["status"] == "subscribed")
    (outcome,) = mc.write_members([MemberWrite("k", someone["email_address"], {"NOSUCHTAG": "x"})])
    assert not outcome.ok and "NOSUCHTAG" in outcome.error, outcome.error


def test_no_member_write_can_carry_a_status():
    for write in (MemberWrite("a", "a@b.co", {"FNAME": "A"}), MemberWrite("b", "b@b.co", {}, create_as="pending")):
        method, body = member_write(write)
        assert "status" not in body and method in ("PUT", "PATCH")
    assert member_write(MemberWrite("c", "c@b.co", {}, create_as="subscribed"))[1]["status_if_new"] == "subscribed"
    with pytest.raises(ValueError, match="status_if_new"):
        member_write(MemberWrite("d", "d@b.co", {}, create_as="cleaned"))


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
    assert [("segment:hot" in [tg["name"] for tg in after[e.lower()]["tags"]]) for e in members] == [
        False,
        False,
        True,
        True,
        True,
    ]
    calls = mc.stats.snapshot()["calls"]
    assert calls["mailchimp.segments.members"] == 2 and "mailchimp.members.tags" not in calls
