"""Contact batch endpoints through the SDK: read, create, update, upsert, archive; 207s and size limits."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
)

from sandbox.world import SandboxConfig

SHARED_SANDBOX = SandboxConfig(
    contacts=200, seed=7, start_ms=1_767_225_600_000
)  # one server per module (tests/conftest.py)


def _ids(sandbox, k: int) -> list[str]:
    pop = sandbox.world.population
    return [pop.hubspot_id(int(i)) for i in pop.hubspot_indices[:k]]


def _read(hubspot, ids, **kw):
    return hubspot.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": i} for i in ids],
            properties=kw.pop("properties", ["jobtitle"]),
            properties_with_history=[],
            **kw,
        )
    )


def test_batch_read_all_found_is_200(hubspot, sandbox):
    ids = _ids(sandbox, 5)
    resp = _read(hubspot, ids)
    assert isinstance(resp, BatchResponseSimplePublicObject) and resp.status == "COMPLETE"
    assert sorted(r.id for r in resp.results) == sorted(ids)
    assert all("jobtitle" in r.properties for r in resp.results)


def test_batch_read_by_email(hubspot, sandbox):
    pop = sandbox.world.population
    persona = pop.persona(int(pop.hubspot_indices[4]))
    resp = _read(hubspot, [persona.email.lower()], id_property="email")
    assert [r.id for r in resp.results] == [pop.hubspot_id(persona.index)]


def test_batch_read_with_missing_ids_is_207_with_errors(hubspot, sandbox):
    ids = _ids(sandbox, 2) + ["999999999"]
    resp = _read(hubspot, ids)
    assert isinstance(resp, BatchResponseSimplePublicObjectWithErrors)
    assert resp.num_errors == 1 and len(resp.results) == 2
    err = resp.errors[0]
    assert err.status == "error" and err.category == "OBJECT_NOT_FOUND" and err.context == {"ids": ["999999999"]}


def test_batch_over_100_inputs_is_400(hubspot, sandbox):
    with pytest.raises(ApiException) as err:
        _read(hubspot, [str(100_000 + i) for i in range(101)])
    assert err.value.status == 400 and json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_batch_create_201_and_conflicts_207(hubspot, sandbox):
    inputs = [
        {"properties": {"email": f"batch{k}@example.org", "firstname": f"B{k}"}, "associations": []} for k in range(3)
    ]
    resp = hubspot.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    assert sorted(r.properties["email"] for r in resp.results) == [f"batch{k}@example.org" for k in range(3)]
    again = hubspot.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                {"properties": {"email": "BATCH0@example.org"}, "associations": []},
                {"properties": {"email": "fresh@example.org"}, "associations": []},
            ]
        )
    )
    assert isinstance(again, BatchResponseSimplePublicObjectWithErrors) and again.num_errors == 1
    assert again.errors[0].category == "CONFLICT" and len(again.results) == 1


def test_batch_create_with_an_invalid_value_fails_whole_batch(hubspot):
    inputs = [
        {"properties": {"email": "ok@example.org"}, "associations": []},
        {"properties": {"email": "bad@example.org", "lifecyclestage": "nope"}, "associations": []},
    ]
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    assert err.value.status == 400 and json.loads(err.value.body)["errors"][0]["code"] == "INVALID_OPTION"
    with pytest.raises(ApiException):
        hubspot.crm.contacts.basic_api.get_by_id("ok@example.org", id_property="email")


def test_batch_update_by_id_and_email_with_missing_207(hubspot, sandbox):
    pop = sandbox.world.population
    ids = _ids(sandbox, 2)
    email = pop.persona(int(pop.hubspot_indices[2])).email
    resp = hubspot.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": ids[0], "properties": {"jobtitle": "One"}},
                {"id": ids[1], "properties": {"jobtitle": "Two"}},
                {"id": email, "idProperty": "email", "properties": {"jobtitle": "Three"}},
            ]
        )
    )
    assert isinstance(resp, BatchResponseSimplePublicObject)
    assert sorted(r.properties["jobtitle"] for r in resp.results) == ["One", "Three", "Two"]
    partial = hubspot.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": ids[0], "properties": {"jobtitle": "Again"}},
                {"id": "999999999", "properties": {"jobtitle": "X"}},
            ]
        )
    )
    assert partial.num_errors == 1 and partial.errors[0].category == "OBJECT_NOT_FOUND"
    assert partial.results[0].properties["jobtitle"] == "Again"


def test_batch_update_duplicate_ids_is_400(hubspot, sandbox):
    cid = _ids(sandbox, 1)[0]
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": cid, "properties": {"jobtitle": "A"}}, {"id": cid, "properties": {"jobtitle": "B"}}]
            )
        )
    assert err.value.status == 400


def test_batch_upsert_by_email_reports_new(hubspot, sandbox):
    pop = sandbox.world.population
    existing = pop.persona(int(pop.hubspot_indices[0])).email
    resp = hubspot.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"idProperty": "email", "id": existing.upper(), "properties": {"jobtitle": "Upserted"}},
                {"idProperty": "email", "id": "brand.new@example.org", "properties": {"firstname": "Brand"}},
            ]
        )
    )
    assert isinstance(resp, BatchResponseSimplePublicUpsertObject)
    by_new = {r.new: r for r in resp.results}
    assert by_new[False].id == pop.hubspot_id(int(pop.hubspot_indices[0]))
    assert by_new[False].properties["jobtitle"] == "Upserted"
    assert by_new[True].properties["email"] == "brand.new@example.org"
    assert hubspot.crm.contacts.basic_api.get_by_id("brand.new@example.org", id_property="email").id == by_new[True].id


def test_batch_archive_is_204_and_contacts_disappear(hubspot, sandbox):
    ids = _ids(sandbox, 3)
    hubspot.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(inputs=[{"id": i} for i in ids]))
    resp = _read(hubspot, ids)
    assert resp.num_errors == 1 and sorted(resp.errors[0].context["ids"]) == sorted(ids)
    listed = {r.id for r in hubspot.crm.contacts.get_all()}
    assert listed.isdisjoint(ids)
