"""Contacts through hubspot-api-client 12.0.0 against the sandbox: list, get, create, update, archive, merge."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot.crm.contacts import (
    ApiException,
    PublicMergeInput,
    SimplePublicObject,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from sandbox.world import SandboxConfig

SHARED_SANDBOX = SandboxConfig(
    contacts=200, seed=7, start_ms=1_767_225_600_000
)  # one server per module (tests/conftest.py)


def _body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def _create(hubspot, **props) -> SimplePublicObject:
    return hubspot.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))


def test_list_defaults_to_ten_typed_contacts_with_default_properties(hubspot, sandbox):
    page = hubspot.crm.contacts.basic_api.get_page()
    assert len(page.results) == 10
    first = page.results[0]
    assert first.id == sandbox.world.population.hubspot_id(int(sandbox.world.population.hubspot_indices[0]))
    assert set(first.properties) == {"createdate", "email", "firstname", "lastname", "hs_object_id", "lastmodifieddate"}
    assert first.properties["hs_object_id"] == first.id
    assert first.created_at.year >= 2025 and first.archived is False
    ids = [int(r.id) for r in page.results]
    assert ids == sorted(ids)


def test_list_returns_requested_properties_as_strings_or_null(hubspot, sandbox):
    page = hubspot.crm.contacts.basic_api.get_page(
        limit=100, properties=["jobtitle", "numemployees", "hubspot_owner_id", "hs_legal_basis"]
    )
    pop = sandbox.world.population
    for rec in page.results:
        persona = pop.persona(pop.index_of_hubspot_id(rec.id))
        assert rec.properties["jobtitle"] == persona.jobtitle
        assert rec.properties["numemployees"] in ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")
        assert rec.properties["hubspot_owner_id"] == persona.owner_id
        assert rec.properties["hs_legal_basis"] == ("Freely given consent from contact" if persona.consent else None)


def test_paging_links_are_absolute_and_fetchable(hubspot, sandbox):
    page = hubspot.crm.contacts.basic_api.get_page(limit=7, properties=["city"])
    link = page.paging.next.link
    assert link.startswith(sandbox.url + "/crm/v3/objects/contacts?")
    fetched = requests.get(
        link, headers={"Authorization": f"Bearer {sandbox.world.config.hubspot_token}"}, timeout=5
    ).json()
    via_sdk = hubspot.crm.contacts.basic_api.get_page(limit=7, after=page.paging.next.after, properties=["city"])
    assert [r["id"] for r in fetched["results"]] == [r.id for r in via_sdk.results]
    assert "city" in fetched["results"][0]["properties"]
    assert int(via_sdk.results[0].id) > int(page.results[-1].id)


def test_walking_every_page_sees_every_contact_once_and_ends_with_a_short_page(hubspot, sandbox):
    seen, after = [], None
    while True:
        page = hubspot.crm.contacts.basic_api.get_page(limit=100, after=after)
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(page.results) < 100
    assert len(seen) == len(set(seen)) == len(sandbox.world.population.hubspot_indices)
    assert hubspot.crm.contacts.get_all() and len(hubspot.crm.contacts.get_all()) == len(seen)


def test_list_limit_over_100_is_a_400(hubspot):
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.get_page(limit=101)
    assert err.value.status == 400 and _body(err.value)["category"] == "VALIDATION_ERROR"


def test_get_by_id_and_by_email_case_insensitively(hubspot, sandbox):
    pop = sandbox.world.population
    persona = pop.persona(int(pop.hubspot_indices[3]))
    by_id = hubspot.crm.contacts.basic_api.get_by_id(pop.hubspot_id(persona.index), properties=["company"])
    by_email = hubspot.crm.contacts.basic_api.get_by_id(persona.email.upper(), id_property="email")
    assert by_id.id == by_email.id == pop.hubspot_id(persona.index)
    assert by_id.properties["company"] == persona.company
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.get_by_id("nobody@nowhere.example", id_property="email")
    assert err.value.status == 404 and _body(err.value)["category"] == "OBJECT_NOT_FOUND"


def test_mailchimp_only_persona_is_not_a_contact(hubspot, sandbox):
    pop = sandbox.world.population
    outsider = next(i for i in range(pop.n) if not pop.persona(i).in_hubspot)
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.get_by_id(str(100_000 + outsider))
    assert err.value.status == 404


def test_create_returns_201_and_the_contact_is_readable(hubspot):
    created = _create(hubspot, email="new.person@example.org", firstname="New", lifecyclestage="lead")
    assert created.properties["email"] == "new.person@example.org"
    assert created.properties["lifecyclestage"] == "lead"
    again = hubspot.crm.contacts.basic_api.get_by_id(created.id, properties=["lifecyclestage"])
    assert again.properties["firstname"] == "New" and again.properties["lifecyclestage"] == "lead"


def test_create_with_an_existing_email_in_other_case_is_a_409_naming_the_id(hubspot, sandbox):
    pop = sandbox.world.population
    persona = pop.persona(int(pop.hubspot_indices[0]))
    with pytest.raises(ApiException) as err:
        _create(hubspot, email=persona.email.swapcase())
    body = _body(err.value)
    assert err.value.status == 409 and body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {pop.hubspot_id(persona.index)}"


def test_update_bumps_lastmodifieddate_and_updated_at(hubspot, sandbox):
    cid = sandbox.world.population.hubspot_id(int(sandbox.world.population.hubspot_indices[1]))
    before = hubspot.crm.contacts.basic_api.get_by_id(cid)
    after = hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"jobtitle": "CTO"}))
    assert after.properties["jobtitle"] == "CTO"
    assert after.updated_at > before.updated_at
    assert after.properties["lastmodifieddate"] > before.properties["lastmodifieddate"]
    assert hubspot.crm.contacts.basic_api.get_by_id(cid, properties=["jobtitle"]).properties["jobtitle"] == "CTO"


def test_update_by_email_and_empty_string_clears(hubspot, sandbox):
    persona = sandbox.world.population.persona(int(sandbox.world.population.hubspot_indices[2]))
    hubspot.crm.contacts.basic_api.update(
        persona.email, SimplePublicObjectInput(properties={"city": ""}), id_property="email"
    )
    got = hubspot.crm.contacts.basic_api.get_by_id(persona.email, id_property="email", properties=["city"])
    assert got.properties["city"] is None


def _stage(hubspot, cid: str) -> str | None:
    return hubspot.crm.contacts.basic_api.get_by_id(cid, properties=["lifecyclestage"]).properties["lifecyclestage"]


def _set_stage(hubspot, cid: str, stage: str) -> None:
    hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"lifecyclestage": stage}))


def test_lifecycle_moves_forward_ignores_backward_unless_cleared_first(hubspot):
    cid = _create(hubspot, email="stage@example.org", lifecyclestage="lead").id
    _set_stage(hubspot, cid, "opportunity")
    assert _stage(hubspot, cid) == "opportunity"
    _set_stage(hubspot, cid, "subscriber")  # backward: silently ignored (still 200)
    assert _stage(hubspot, cid) == "opportunity"
    _set_stage(hubspot, cid, "")  # cleared ...
    assert _stage(hubspot, cid) is None
    _set_stage(hubspot, cid, "subscriber")  # ... then an earlier stage is accepted
    assert _stage(hubspot, cid) == "subscriber"
    got = hubspot.crm.contacts.basic_api.get_by_id(cid, properties=["hs_lifecyclestage_opportunity_date"])
    assert got.properties["hs_lifecyclestage_opportunity_date"]


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"favourite_colour": "blue"}, "PROPERTY_DOESNT_EXIST"),
        ({"lifecyclestage": "superfan"}, "INVALID_OPTION"),
        ({"numemployees": "lots"}, "INVALID_OPTION"),
        ({"num_conversion_events": "3"}, "READ_ONLY_VALUE"),
        ({"lastmodifieddate": "1767225600000"}, "READ_ONLY_VALUE"),
        ({"firstname": "x" * 65_537}, "INVALID_LENGTH"),
        ({"email": "not-an-email"}, "INVALID_EMAIL"),
        ({"hubspot_owner_id": "999"}, "INVALID_OPTION"),
    ],
)
def test_invalid_property_values_are_a_400_with_the_code(hubspot, props, code):
    with pytest.raises(ApiException) as err:
        _create(hubspot, **props)
    body = _body(err.value)
    assert err.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    assert body["errors"][0]["code"] == code


def test_unknown_property_message_names_it(hubspot):
    with pytest.raises(ApiException) as err:
        _create(hubspot, email="u@example.org", x="1")
    assert _body(err.value)["errors"][0]["message"] == 'Property "x" does not exist'


def test_number_property_rejects_text(hubspot):
    hubspot.crm.properties.core_api.create(
        "contacts",
        {
            "name": "score_points",
            "label": "Score",
            "type": "number",
            "fieldType": "number",
            "groupName": "contactinformation",
        },
    )
    created = _create(hubspot, email="n@example.org", score_points="12.5")
    assert created.properties.get("score_points") == "12.5"
    with pytest.raises(ApiException) as err:
        _create(hubspot, email="m@example.org", score_points="twelve")
    assert err.value.status == 400 and _body(err.value)["errors"][0]["code"] == "INVALID_DECIMAL"


def test_archive_is_204_then_404_and_listed_only_with_archived_true(hubspot):
    cid = _create(hubspot, email="gone@example.org").id
    hubspot.crm.contacts.basic_api.archive(cid)
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.get_by_id(cid)
    assert err.value.status == 404
    archived = hubspot.crm.contacts.basic_api.get_page(archived=True)
    assert [r.id for r in archived.results] == [cid] and archived.results[0].archived is True
    assert archived.results[0].archived_at is not None
    live = hubspot.crm.contacts.get_all()
    assert cid not in {r.id for r in live}
    # its email is free again
    assert _create(hubspot, email="gone@example.org").id != cid


def test_merge_keeps_primary_lists_merged_ids_and_removes_the_other(hubspot):
    a = _create(hubspot, email="a@merge.example", firstname="A").id
    b = _create(hubspot, email="b@merge.example", lastname="Bee").id
    merged = hubspot.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge=b))
    assert merged.id == a and merged.properties["hs_merged_object_ids"] == b
    c = _create(hubspot, email="c@merge.example").id
    hubspot.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge=c))
    got = hubspot.crm.contacts.basic_api.get_by_id(a, properties=["hs_merged_object_ids", "lastname"])
    assert got.properties["hs_merged_object_ids"] == f"{b};{c}"
    assert got.properties["lastname"] == "Bee" and got.properties["email"] == "a@merge.example"
    for gone in (b, c):
        with pytest.raises(ApiException) as err:
            hubspot.crm.contacts.basic_api.get_by_id(gone)
        assert err.value.status == 404
    assert {b, c}.isdisjoint(r.id for r in hubspot.crm.contacts.get_all())
    # the merged-away address now identifies the primary
    assert hubspot.crm.contacts.basic_api.get_by_id("b@merge.example", id_property="email").id == a


def test_merge_with_itself_or_unknown_is_rejected(hubspot):
    a = _create(hubspot, email="self@merge.example").id
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge=a))
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge="999999999"))
    assert err.value.status == 404


def _post(sandbox, path: str, data: bytes | str, method: str = "POST") -> requests.Response:
    return requests.request(
        method,
        sandbox.url + path,
        data=data,
        timeout=5,
        headers={"Authorization": f"Bearer {sandbox.world.config.hubspot_token}", "Content-Type": "application/json"},
    )


def test_malformed_json_is_a_400_with_line_and_column(sandbox):
    resp = _post(sandbox, "/crm/v3/objects/contacts", '{"properties": {"email": "x@y.z",}}')
    body = resp.json()
    assert resp.status_code == 400 and body["category"] == "VALIDATION_ERROR" and body["status"] == "error"
    assert body["message"].startswith("Invalid input JSON on line 1, column ")
    assert "Traceback" not in resp.text


def test_wrong_types_are_a_400(sandbox):
    for payload in (
        '{"properties": ["email"]}',
        '{"properties": {"email": {"nested": 1}}}',
        "[1, 2]",
        '{"filterGroups": "nope"}',
    ):
        path = "/crm/v3/objects/contacts/search" if "filterGroups" in payload else "/crm/v3/objects/contacts"
        resp = _post(sandbox, path, payload)
        assert resp.status_code == 400, payload
        assert resp.json()["category"] == "VALIDATION_ERROR"


def test_get_with_a_body_is_accepted_and_the_body_ignored(sandbox):
    resp = _post(sandbox, "/crm/v3/objects/contacts?limit=3", "{not json", method="GET")
    assert resp.status_code == 200 and len(resp.json()["results"]) == 3


def test_unknown_route_and_wrong_method_are_vendor_shaped(sandbox):
    assert _post(sandbox, "/crm/v3/objects/contacts/batch/explode", "{}").status_code == 404
    resp = _post(sandbox, "/crm/v3/objects/contacts/search", "", method="PUT")
    assert resp.status_code == 405 and resp.json()["status"] == "error"
