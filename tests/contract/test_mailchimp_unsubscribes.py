"""Who unsubscribed matters, as in Mailchimp: a member who unsubscribed themselves (a campaign's link) cannot
be set back to `subscribed` through the API; one unsubscribed by an admin or through the API can be, with a
plain `status: subscribed` write. Cleaned members are always refused. Checked through the official SDK,
for every kind of write that can carry a status."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from sandbox.world import SandboxConfig, World
from tests.contract.mailchimp_spec import validate_problem, validate_response

SHARED_SANDBOX = SandboxConfig(contacts=400, seed=11, start_ms=1_767_225_600_000)
ADMIN = "N/A (Unsubscribed by admin)"
COMPLIANCE = "Member In Compliance State"


@pytest.fixture
def list_id(sandbox) -> str:
    return sandbox.world.list_id


def _subscribed(mailchimp, list_id: str, n: int = 1) -> list[dict]:
    return mailchimp.lists.get_list_members_info(list_id, status="subscribed", count=n)["members"]


def _unsubscribed(mailchimp, list_id: str) -> list[dict]:
    return mailchimp.lists.get_list_members_info(list_id, status="unsubscribed", count=1000)["members"]


def _self_unsubscribe(sandbox, email: str) -> None:
    """The member clicks the unsubscribe link of a campaign."""
    answer = requests.post(
        f"{sandbox.url}/_sandbox/events", timeout=10, json=[{"email": email, "action": "unsubscribe"}]
    )
    assert answer.json() == {"applied": 1}


def _batch_results(mailchimp, sandbox, operations: list[dict]) -> list[dict]:
    started = mailchimp.batches.start({"operations": operations})
    assert sandbox.world.mailchimp.batches.wait(started["id"]) == "finished"
    url = mailchimp.batches.status(started["id"])["response_body_url"]
    with tarfile.open(fileobj=io.BytesIO(requests.get(url, timeout=10).content), mode="r:gz") as tar:
        return [r for e in tar.getmembers() if e.isfile() for r in json.load(tar.extractfile(e))]


# -- ways to write a status ------------------------------------------------------------------------------
def _patch(mailchimp, sandbox, list_id, email, status):
    return mailchimp.lists.update_list_member(list_id, email, {"status": status})


def _put(mailchimp, sandbox, list_id, email, status):
    return mailchimp.lists.set_list_member(
        list_id,
        hashlib.md5(email.lower().encode()).hexdigest(),
        {"email_address": email, "status_if_new": status, "status": status},
    )


def _batch_subscribe(mailchimp, sandbox, list_id, email, status):
    result = mailchimp.lists.batch_list_members(
        list_id, {"members": [{"email_address": email, "status": status}], "update_existing": True}
    )
    validate_response("POST", "/lists/{list_id}", result)
    if result["errors"]:
        error = result["errors"][0]
        raise ApiClientError(
            json.dumps(
                {"title": COMPLIANCE if "compliance state" in error["error"] else "?", "detail": error["error"]}
            ),
            400,
        )
    return result["updated_members"][0]


def _batch_operation(mailchimp, sandbox, list_id, email, status):
    [result] = _batch_results(
        mailchimp,
        sandbox,
        [
            {
                "method": "PATCH",
                "path": f"/lists/{list_id}/members/{hashlib.md5(email.lower().encode()).hexdigest()}",
                "body": json.dumps({"status": status}),
            }
        ],
    )
    if result["status_code"] >= 400:
        raise ApiClientError(result["response"], result["status_code"])
    return json.loads(result["response"])


WRITES = {"PATCH": _patch, "PUT": _put, "batch subscribe": _batch_subscribe, "batch operation": _batch_operation}


def _refused(write, *args) -> dict:
    with pytest.raises(ApiClientError) as caught:
        write(*args)
    problem = json.loads(caught.value.text)
    assert caught.value.status_code == 400 and problem["title"] == COMPLIANCE, problem
    return problem


# -- self-unsubscribes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", list(WRITES))
def test_a_member_who_unsubscribed_themselves_cannot_be_resubscribed(mailchimp, sandbox, list_id, how):
    email = _subscribed(mailchimp, list_id)[0]["email_address"]
    _self_unsubscribe(sandbox, email)
    member = mailchimp.lists.get_list_member(list_id, email)
    validate_response("GET", "/lists/{list_id}/members/{subscriber_hash}", member)
    assert (member["status"], member["unsubscribe_reason"]) == ("unsubscribed", "Unspecified")
    problem = _refused(WRITES[how], mailchimp, sandbox, list_id, email, "subscribed")
    assert problem["detail"].startswith(f"{email} is already a list member in compliance state")
    assert mailchimp.lists.get_list_member(list_id, email)["status"] == "unsubscribed"


def test_a_direct_refusal_is_problem_json(mailchimp, sandbox, list_id):
    email = _subscribed(mailchimp, list_id)[0]["email_address"]
    _self_unsubscribe(sandbox, email)
    with pytest.raises(ApiClientError) as caught:
        _patch(mailchimp, sandbox, list_id, email, "subscribed")
    validate_problem(caught.value.text)


def test_an_admin_write_of_unsubscribed_does_not_make_a_self_unsubscribe_resubscribable(mailchimp, sandbox, list_id):
    email = _subscribed(mailchimp, list_id)[0]["email_address"]
    _self_unsubscribe(sandbox, email)
    assert _patch(mailchimp, sandbox, list_id, email, "unsubscribed")["unsubscribe_reason"] == "Unspecified"
    _refused(_patch, mailchimp, sandbox, list_id, email, "subscribed")


def test_the_simulations_unsubscribes_are_the_members_own(mailchimp, sandbox, list_id):
    world = sandbox.world
    for _ in range(8):
        world.advance_days(7)
        gone = [
            u
            for c in world.mailchimp.campaigns
            for u in mailchimp.reports.get_unsubscribed_list_for_campaign(c.id, count=1000)["unsubscribes"]
        ]
        if gone:
            break
    assert gone, "eight simulated weeks brought no unsubscribe"
    for u in gone[:3]:
        member = mailchimp.lists.get_list_member(list_id, u["email_address"])
        assert member["status"] == "unsubscribed" and member["unsubscribe_reason"] != ADMIN
        _refused(_patch, mailchimp, sandbox, list_id, u["email_address"], "subscribed")


# -- admin and API unsubscribes --------------------------------------------------------------------------
@pytest.mark.parametrize("how", list(WRITES))
def test_a_member_unsubscribed_through_the_api_can_be_resubscribed(mailchimp, sandbox, list_id, how):
    email = _subscribed(mailchimp, list_id)[0]["email_address"]
    unsubscribed = WRITES[how](mailchimp, sandbox, list_id, email, "unsubscribed")
    assert (unsubscribed["status"], unsubscribed.get("unsubscribe_reason", ADMIN)) == ("unsubscribed", ADMIN)
    assert mailchimp.lists.get_list_member(list_id, email)["unsubscribe_reason"] == ADMIN
    again = _patch(mailchimp, sandbox, list_id, email, "subscribed")
    validate_response("PATCH", "/lists/{list_id}/members/{subscriber_hash}", again)
    assert again["status"] == "subscribed" and "unsubscribe_reason" not in again


@pytest.mark.parametrize("how", list(WRITES))
def test_an_admin_unsubscribe_is_undone_by_any_plain_subscribed_write(mailchimp, sandbox, list_id, how):
    email = _subscribed(mailchimp, list_id)[0]["email_address"]
    _patch(mailchimp, sandbox, list_id, email, "unsubscribed")
    WRITES[how](mailchimp, sandbox, list_id, email, "subscribed")
    assert mailchimp.lists.get_list_member(list_id, email)["status"] == "subscribed"


def test_a_member_created_unsubscribed_through_the_api_can_be_subscribed(mailchimp, sandbox, list_id):
    made = mailchimp.lists.add_list_member(list_id, {"email_address": "late@example.org", "status": "unsubscribed"})
    assert (made["status"], made["unsubscribe_reason"]) == ("unsubscribed", ADMIN)
    assert _patch(mailchimp, sandbox, list_id, "late@example.org", "subscribed")["status"] == "subscribed"


def test_resubscribed_then_unsubscribing_themselves_is_refused_again(mailchimp, sandbox, list_id):
    email = _subscribed(mailchimp, list_id)[0]["email_address"]
    _patch(mailchimp, sandbox, list_id, email, "unsubscribed")
    _patch(mailchimp, sandbox, list_id, email, "subscribed")
    _self_unsubscribe(sandbox, email)
    _refused(_patch, mailchimp, sandbox, list_id, email, "subscribed")


def test_status_if_new_is_ignored_for_an_existing_member(mailchimp, sandbox, list_id):
    email = _subscribed(mailchimp, list_id)[0]["email_address"]
    _patch(mailchimp, sandbox, list_id, email, "unsubscribed")
    put = mailchimp.lists.set_list_member(
        list_id,
        hashlib.md5(email.lower().encode()).hexdigest(),
        {"email_address": email, "status_if_new": "subscribed"},
    )
    assert put["status"] == "unsubscribed"
    assert mailchimp.lists.get_list_member(list_id, email)["status"] == "unsubscribed"


def test_an_archive_keeps_who_unsubscribed(mailchimp, sandbox, list_id):
    admin, own = (m["email_address"] for m in _subscribed(mailchimp, list_id, 2))
    _patch(mailchimp, sandbox, list_id, admin, "unsubscribed")
    _self_unsubscribe(sandbox, own)
    for email in (admin, own):
        assert mailchimp.lists.delete_list_member(list_id, email).status_code == 204
    readded = mailchimp.lists.add_list_member(list_id, {"email_address": admin, "status": "subscribed"})
    assert readded["status"] == "subscribed"
    with pytest.raises(ApiClientError) as caught:
        mailchimp.lists.add_list_member(list_id, {"email_address": own, "status": "subscribed"})
    assert json.loads(caught.value.text)["title"] == COMPLIANCE


# -- cleaned, and the initial population -----------------------------------------------------------------
@pytest.mark.parametrize("how", list(WRITES))
def test_cleaned_members_are_refused(mailchimp, sandbox, list_id, how):
    email = mailchimp.lists.get_list_members_info(list_id, status="cleaned", count=1)["members"][0]["email_address"]
    _refused(WRITES[how], mailchimp, sandbox, list_id, email, "subscribed")
    assert mailchimp.lists.get_list_member(list_id, email)["status"] == "cleaned"


def test_the_population_has_a_few_admin_unsubscribes_drawn_from_the_seed(mailchimp, sandbox, list_id):
    members = _unsubscribed(mailchimp, list_id)
    admin = sorted(m["email_address"] for m in members if m["unsubscribe_reason"] == ADMIN)
    own = [m["email_address"] for m in members if m["unsubscribe_reason"] != ADMIN]
    assert 1 <= len(admin) <= len(members) // 4 and own
    assert {m["unsubscribe_reason"] for m in members} == {ADMIN, "Unspecified"}

    def admin_unsubscribed(config: SandboxConfig) -> list[str]:
        store = World(config).mailchimp
        return sorted(
            m.email
            for m in (store.find_slot(int(i)) for i in store.pop.mailchimp_indices_with_status("unsubscribed"))
            if m.unsubscribe_reason == ADMIN
        )

    assert admin_unsubscribed(SHARED_SANDBOX) == admin
    assert admin_unsubscribed(SandboxConfig(contacts=400, seed=12, start_ms=SHARED_SANDBOX.start_ms)) != admin

    assert _patch(mailchimp, sandbox, list_id, admin[0], "subscribed")["status"] == "subscribed"
    _refused(_patch, mailchimp, sandbox, list_id, own[0], "subscribed")
