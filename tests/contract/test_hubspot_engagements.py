"""Tasks, notes, v4 association reads and owners through the SDK."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate as NoteCreate
from hubspot.crm.objects.tasks import ApiException as TaskApiException
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskCreate
from hubspot.crm.owners import ApiException as OwnerApiException
from hubspot.crm.properties import PropertyCreate

from sandbox.world import SandboxConfig

SHARED_SANDBOX = SandboxConfig(
    contacts=200, seed=7, start_ms=1_767_225_600_000, rate_scale=100
)  # one server per module (tests/conftest.py)


def _contact(sandbox, k: int = 0) -> str:
    pop = sandbox.world.population
    return pop.hubspot_id(int(pop.hubspot_indices[k]))


def _to_contact(cid: str, type_id: int) -> list[dict]:
    return [{"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}]


def _task(hubspot, cid: str, **props):
    props = {
        "hs_timestamp": "2026-01-02T09:00:00Z",
        "hs_task_subject": "Call",
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_task_type": "CALL",
        **props,
    }
    return hubspot.crm.objects.tasks.basic_api.create(TaskCreate(properties=props, associations=_to_contact(cid, 204)))


def test_task_create_associates_and_reads_back(hubspot, sandbox):
    cid = _contact(sandbox)
    task = _task(hubspot, cid, hs_task_body="hot lead\nsyncd-ref: k1")
    assert task.properties["hs_timestamp"] == "2026-01-02T09:00:00.000Z"
    assert task.properties["hs_object_id"] == task.id
    got = hubspot.crm.objects.tasks.basic_api.get_by_id(
        task.id, properties=["hs_task_body", "hs_task_status"], associations=["contacts"]
    )
    assert got.properties["hs_task_body"].endswith("syncd-ref: k1")
    assert [a.id for a in got.associations["contacts"].results] == [cid]
    state = sandbox.world.hubspot.state()["tasks"]
    assert state[0]["id"] == task.id and state[0]["associations"] == {"contacts": [cid]}


@pytest.mark.parametrize(
    "props",
    [
        {"hs_task_status": "DONE"},
        {"hs_task_priority": "URGENT"},
        {"hs_task_type": "MEETING"},
        {"hs_timestamp": ""},
        {"hs_timestamp": "soon"},
        {"no_such": "1"},
    ],
)
def test_task_validation_is_400(hubspot, sandbox, props):
    with pytest.raises(TaskApiException) as err:
        _task(hubspot, _contact(sandbox), **props)
    assert err.value.status == 400 and json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_task_to_unknown_contact_or_wrong_type_is_400(hubspot, sandbox):
    with pytest.raises(TaskApiException) as err:
        _task(hubspot, "999999999")
    assert err.value.status == 400
    with pytest.raises(TaskApiException) as err:
        hubspot.crm.objects.tasks.basic_api.create(
            TaskCreate(properties={"hs_timestamp": "1767225600000"}, associations=_to_contact(_contact(sandbox), 202))
        )
    assert err.value.status == 400
    assert sandbox.world.hubspot.state()["tasks"] == []


def test_note_create_with_association(hubspot, sandbox):
    cid = _contact(sandbox, 1)
    note = hubspot.crm.objects.notes.basic_api.create(
        NoteCreate(
            properties={"hs_timestamp": "1767225600000", "hs_note_body": "<p>opened 3 emails</p>"},
            associations=_to_contact(cid, 202),
        )
    )
    assert note.properties["hs_timestamp"] == "2026-01-01T00:00:00.000Z"
    assoc = hubspot.crm.associations.v4.basic_api.get_page("contacts", cid, "notes")
    assert [r.to_object_id for r in assoc.results] == [note.id]
    assert assoc.results[0].association_types[0].type_id == 201
    assert assoc.results[0].association_types[0].category == "HUBSPOT_DEFINED"
    back = hubspot.crm.associations.v4.basic_api.get_page("notes", note.id, "contacts")
    assert back.results[0].to_object_id == cid and back.results[0].association_types[0].type_id == 202


def test_note_requires_timestamp(hubspot, sandbox):
    from hubspot.crm.objects.notes import ApiException as NoteApiException

    with pytest.raises(NoteApiException) as err:
        hubspot.crm.objects.notes.basic_api.create(NoteCreate(properties={"hs_note_body": "x"}))
    assert err.value.status == 400


def test_batch_create_list_batch_read_and_search_tasks(hubspot, sandbox):
    cid = _contact(sandbox, 2)
    inputs = [
        {
            "properties": {
                "hs_timestamp": str(1_767_225_600_000 + k),
                "hs_task_subject": f"T{k}",
                "hs_task_body": f"body {k}\nsyncd-ref: key-{k}",
            },
            "associations": _to_contact(cid, 204),
        }
        for k in range(4)
    ]
    created = hubspot.crm.objects.tasks.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    ids = sorted(r.id for r in created.results)
    assert len(ids) == 4
    listed = hubspot.crm.objects.tasks.basic_api.get_page(limit=3)
    assert [r.id for r in listed.results] == ids[:3] and listed.paging.next.after
    read = hubspot.crm.objects.tasks.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": i} for i in ids], properties=["hs_task_body"], properties_with_history=[]
        )
    )
    assert sorted(r.properties["hs_task_body"] for r in read.results)[0] == "body 0\nsyncd-ref: key-0"
    found = hubspot.crm.objects.tasks.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "hs_task_subject", "operator": "EQ", "value": "t2"}]}]
        )
    )
    assert found.total == 1 and found.results[0].properties["hs_createdate"]
    by_query = hubspot.crm.objects.tasks.search_api.do_search(PublicObjectSearchRequest(query="key-3"))
    assert by_query.total == 1


def test_associations_page_with_after_and_limit(hubspot, sandbox):
    cid = _contact(sandbox, 3)
    ids = [_task(hubspot, cid, hs_task_subject=f"S{k}").id for k in range(5)]
    first = hubspot.crm.associations.v4.basic_api.get_page("contacts", cid, "tasks", limit=2)
    assert [r.to_object_id for r in first.results] == ids[:2]
    assert first.results[0].association_types[0].type_id == 203
    link = first.paging.next.link
    assert link.startswith(sandbox.url + "/crm/v4/objects/contacts/")
    rest = hubspot.crm.associations.v4.basic_api.get_page(
        "contacts", cid, "tasks", after=first.paging.next.after, limit=500
    )
    assert [r.to_object_id for r in rest.results] == ids[2:] and rest.paging is None


def test_custom_task_property_can_be_written(hubspot, sandbox):
    hubspot.crm.properties.core_api.create(
        "tasks",
        PropertyCreate(name="syncd_key", label="syncd key", type="string", field_type="text", group_name="task"),
    )
    task = _task(hubspot, _contact(sandbox), syncd_key="abc")
    assert task.properties["syncd_key"] == "abc"


def test_owners_list_filter_get_and_paging(hubspot, sandbox):
    owners = sandbox.world.population.owners
    page = hubspot.crm.owners.owners_api.get_page()
    assert [o.id for o in page.results] == [o["id"] for o in owners] and page.paging is None
    assert page.results[0].type == "PERSON" and page.results[0].created_at is not None
    one = hubspot.crm.owners.owners_api.get_page(email=owners[1]["email"].upper())
    assert [o.id for o in one.results] == [owners[1]["id"]]
    small = hubspot.crm.owners.owners_api.get_page(limit=2)
    assert len(small.results) == 2 and small.paging.next.link.startswith(sandbox.url)
    assert hubspot.crm.owners.owners_api.get_by_id(owners[0]["id"]).email == owners[0]["email"]
    by_user = hubspot.crm.owners.owners_api.get_by_id(str(owners[0]["userId"]), id_property="userId")
    assert by_user.id == owners[0]["id"]
    assert hubspot.crm.owners.owners_api.get_page(archived=True).results == []
    with pytest.raises(OwnerApiException) as err:
        hubspot.crm.owners.owners_api.get_page(limit=501)
    assert err.value.status == 400
    with pytest.raises(OwnerApiException) as err:
        hubspot.crm.owners.owners_api.get_by_id("1")
    assert err.value.status == 404
