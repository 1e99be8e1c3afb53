"""The wider HubSpot surface through hubspot-api-client 12.0.0 (raw requests where the SDK has no call):
custom object schemas, object type ids and singular names, the legacy properties list, v4 association
batch reads, search filters and hs_object_id, query parameters of reads, and hs_email_optout."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot.crm.associations.v4 import ApiException as AssocApiException
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import BatchReadInputSimplePublicObjectId
from hubspot.crm.objects import PublicObjectSearchRequest as ObjectSearch
from hubspot.crm.objects.tasks import BatchInputSimplePublicObjectBatchInputForCreate
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskCreate

from sandbox.timefmt import hubspot_ts, parse_ts_ms
from sandbox.world import SandboxConfig

# search: 4 requests/s per token; rate_scale lifts it out of the way here
SHARED_SANDBOX = SandboxConfig(contacts=300, seed=7, start_ms=1_767_225_600_000, rate_scale=100)


def _auth(sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.world.config.hubspot_token}"}


def _raw(sandbox, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, sandbox.url + path, headers=_auth(sandbox), timeout=10, **kw)


def _cid(sandbox, k: int = 0) -> str:
    pop = sandbox.world.population
    return pop.hubspot_id(int(pop.hubspot_indices[k]))


def _contacts(sandbox) -> list[dict]:
    return sandbox.world.hubspot.state()["contacts"]


def _search(hubspot, **kw):
    return hubspot.crm.contacts.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(**kw))


def _f(prop: str, op: str, value=None, **extra) -> dict:
    return {"propertyName": prop, "operator": op, **({"value": value} if value is not None else {}), **extra}


def _task(hubspot, cid: str, subject: str):
    return hubspot.crm.objects.tasks.basic_api.create(
        TaskCreate(
            properties={"hs_timestamp": "2026-01-02T09:00:00Z", "hs_task_subject": subject},
            associations=[
                {"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}
            ],
        )
    )


# -- custom object schemas -------------------------------------------------------------------------------
def test_schemas_list_is_empty_without_custom_objects(hubspot, sandbox):
    assert hubspot.crm.schemas.core_api.get_all().results == []
    assert hubspot.crm.schemas.core_api.get_all(archived=True).results == []
    assert _raw(sandbox, "GET", "/crm/v3/schemas").json() == {"results": []}


# -- object type ids and singular names ------------------------------------------------------------------------
def test_object_type_ids_reach_contacts_tasks_and_notes(hubspot, sandbox):
    by_id = hubspot.crm.objects.basic_api.get_page("0-1", limit=5, properties=["jobtitle"])
    by_name = hubspot.crm.contacts.basic_api.get_page(limit=5, properties=["jobtitle"])
    assert [r.to_dict() for r in by_id.results] == [r.to_dict() for r in by_name.results]
    task = _task(hubspot, _cid(sandbox), "Call back")
    found = hubspot.crm.objects.search_api.do_search(
        "0-27", ObjectSearch(filter_groups=[{"filters": [_f("hs_task_subject", "EQ", "Call back")]}])
    )
    assert [r.id for r in found.results] == [task.id]
    note = hubspot.crm.objects.notes.basic_api.create(
        {"properties": {"hs_timestamp": "1767225600000", "hs_note_body": "hello"}}
    )
    read = hubspot.crm.objects.batch_api.read(
        "0-46",
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": note.id}], properties=["hs_note_body"], properties_with_history=[]
        ),
    )
    assert read.results[0].properties["hs_note_body"] == "hello"
    one = hubspot.crm.objects.basic_api.get_by_id("0-1", _cid(sandbox, 1), properties=["email"])
    assert one.properties["email"] == _contacts(sandbox)[1]["properties"]["email"]


def test_singular_names_and_type_ids_on_every_kind_of_route(hubspot, sandbox):
    cid = _cid(sandbox, 2)
    assert _raw(sandbox, "GET", f"/crm/v3/objects/contact/{cid}").json()["id"] == cid
    changed = _raw(sandbox, "PATCH", f"/crm/v3/objects/contact/{cid}", json={"properties": {"jobtitle": "CFO"}})
    assert changed.status_code == 200 and changed.json()["properties"]["jobtitle"] == "CFO"
    body = {"filterGroups": [{"filters": [_f("hs_object_id", "EQ", cid)]}], "properties": ["jobtitle"]}
    hits = _raw(sandbox, "POST", "/crm/v3/objects/0-1/search", json=body).json()
    assert [r["properties"]["jobtitle"] for r in hits["results"]] == ["CFO"]
    made = _raw(sandbox, "POST", "/crm/v3/objects/task", json={"properties": {"hs_timestamp": "1767225600000"}})
    assert made.status_code == 201 and made.json()["id"]
    assert _raw(sandbox, "DELETE", f"/crm/v3/objects/0-27/{made.json()['id']}").status_code == 204
    assert _raw(sandbox, "GET", "/crm/v3/objects/note?limit=1").status_code == 200
    unknown = _raw(sandbox, "GET", "/crm/v3/objects/0-999")
    assert unknown.status_code == 400 and unknown.json()["message"] == "Unable to infer object type from: 0-999"
    assert _raw(sandbox, "POST", "/crm/v3/objects/0-27/merge", json={}).status_code == 405
    # associations v4 paths take them too
    task = _task(hubspot, cid, "S")
    assoc = hubspot.crm.associations.v4.basic_api.get_page("0-1", cid, "task")
    assert [r.to_object_id for r in assoc.results] == [task.id]
    assert hubspot.crm.associations.v4.basic_api.get_page("0-27", task.id, "0-1").results[0].to_object_id == cid


# -- legacy properties ----------------------------------------------------------------------------------------
def test_legacy_contact_properties_are_a_bare_array_consistent_with_v3(hubspot, sandbox):
    legacy = _raw(sandbox, "GET", "/properties/v2/contacts/properties").json()
    assert isinstance(legacy, list)
    v3 = {p.name: p for p in hubspot.crm.properties.core_api.get_all("contacts").results}
    assert [p["name"] for p in legacy] == list(v3)
    for p in legacy:
        current = v3[p["name"]]
        assert (p["label"], p["groupName"], p["type"], p["fieldType"], p["description"]) == (
            current.label,
            current.group_name,
            current.type,
            current.field_type,
            current.description,
        )
        assert [o["value"] for o in p["options"]] == [o.value for o in current.options]
        assert p["readOnlyValue"] is current.modification_metadata.read_only_value
        assert p["hidden"] is False and p["calculated"] is False and p["deleted"] is False
        assert isinstance(p["createdAt"], int) and isinstance(p["displayOrder"], int)
    stage = next(p for p in legacy if p["name"] == "lifecyclestage")
    assert stage["options"][1] == {
        "label": "Lead",
        "value": "lead",
        "displayOrder": 1,
        "hidden": False,
        "description": "",
        "readOnly": False,
    }
    optout = next(p for p in legacy if p["name"] == "hs_email_optout")
    assert (optout["type"], optout["fieldType"], optout["readOnlyValue"]) == ("bool", "booleancheckbox", True)
    assert _raw(sandbox, "GET", "/properties/v2/tasks/properties").status_code == 404


def test_v3_property_list_honours_archived_properties_and_sensitivity(hubspot, sandbox):
    assert hubspot.crm.properties.core_api.get_all("contacts", archived=True).results == []
    named = hubspot.crm.properties.core_api.get_all("contacts", properties="email,hs_email_optout")
    assert [p.name for p in named.results] == ["email", "hs_email_optout"]
    assert _raw(sandbox, "GET", "/crm/v3/properties/contacts?dataSensitivity=sensitive").json() == {"results": []}
    bad = _raw(sandbox, "GET", "/crm/v3/properties/contacts?dataSensitivity=secret")
    assert bad.status_code == 400 and bad.json()["category"] == "VALIDATION_ERROR"


# -- associations v4 batch read -------------------------------------------------------------------------------
def _batch(hubspot, from_type: str, to_type: str, inputs: list[dict]):
    return hubspot.crm.associations.v4.batch_api.get_page(
        from_type, to_type, BatchInputPublicFetchAssociationsBatchRequest(inputs=inputs)
    )


def test_batch_read_contacts_to_companies_has_none(hubspot, sandbox):
    ids = [_cid(sandbox, k) for k in range(3)]
    resp = _batch(hubspot, "contacts", "companies", [{"id": i} for i in ids])
    assert resp.results == [] and resp.num_errors == 3 and resp.status == "COMPLETE"
    first = resp.errors[0]
    assert first.category == "OBJECT_NOT_FOUND" and first.sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert first.message == f"No company is associated with contact {ids[0]}."
    assert first.context == {"fromObjectId": [ids[0]], "fromObjectType": ["contact"], "toObjectType": ["company"]}


def test_batch_read_contacts_to_tasks_pages_each_result(hubspot, sandbox):
    busy, quiet, other = _cid(sandbox, 4), _cid(sandbox, 5), _cid(sandbox, 6)
    tasks = [_task(hubspot, busy, f"T{k}").id for k in range(3)]
    single = _task(hubspot, other, "only").id
    contacts = sandbox.world.hubspot.contacts
    link = [{"to": {"id": busy}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]
    for _ in range(6):  # 600 more: more than one page of 500 for `busy`
        hubspot.crm.objects.tasks.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[{"properties": {"hs_timestamp": "1767225600000"}, "associations": link}] * 100
            )
        )
    resp = _batch(hubspot, "contacts", "tasks", [{"id": busy}, {"id": quiet}, {"id": other}, {"id": "999"}])
    by_id = {r._from.id: r for r in resp.results}
    assert set(by_id) == {busy, other} and resp.num_errors == 2
    assert {e.context["fromObjectId"][0] for e in resp.errors} == {quiet, "999"}
    assert [t.to_object_id for t in by_id[other].to] == [single] and by_id[other].paging is None
    first = by_id[busy]
    assert len(first.to) == 500 and first.to[0].association_types[0].type_id == 203
    assert [t.to_object_id for t in first.to[:3]] == tasks
    after = first.paging.next.after
    assert first.paging.next.link.startswith(sandbox.url + f"/crm/v4/objects/0-1/{busy}/associations/0-27")
    rest = _batch(hubspot, "contacts", "tasks", [{"id": busy, "after": after}])
    assert len(rest.results[0].to) == 103 and rest.results[0].paging is None
    seen = [t.to_object_id for t in first.to] + [t.to_object_id for t in rest.results[0].to]
    assert len(set(seen)) == 603
    back = _batch(hubspot, "tasks", "contacts", [{"id": tasks[0]}])
    assert back.results[0].to[0].to_object_id == busy and back.results[0].to[0].association_types[0].type_id == 204
    assert contacts.rows == {}  # reading associations materializes no contact


def test_batch_read_notes_and_limits(hubspot, sandbox):
    cid = _cid(sandbox, 7)
    note = hubspot.crm.objects.notes.basic_api.create(
        {
            "properties": {"hs_timestamp": "1767225600000"},
            "associations": [
                {"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}
            ],
        }
    )
    resp = _batch(hubspot, "0-1", "notes", [{"id": cid}])
    assert [t.to_object_id for t in resp.results[0].to] == [note.id]
    assert resp.results[0].to[0].association_types[0].type_id == 201
    with pytest.raises(AssocApiException) as err:
        _batch(hubspot, "contacts", "notes", [{"id": str(k)} for k in range(1001)])
    assert err.value.status == 400
    with pytest.raises(AssocApiException) as err:
        _batch(hubspot, "contacts", "widgets", [{"id": cid}])
    assert err.value.status == 400


# -- search -----------------------------------------------------------------------------------------------------
def _search_raw(sandbox, body: dict) -> requests.Response:
    return _raw(sandbox, "POST", "/crm/v3/objects/contacts/search", json=body)


def test_top_level_filters_are_anded(hubspot, sandbox):
    body = {
        "filters": [_f("lifecyclestage", "EQ", "lead"), _f("hubspot_owner_id", "HAS_PROPERTY")],
        "limit": 200,
        "properties": ["lifecyclestage", "hubspot_owner_id"],
    }
    got = _search_raw(sandbox, body).json()
    expected = {
        c["id"]
        for c in _contacts(sandbox)
        if c["properties"].get("lifecyclestage") == "lead" and c["properties"].get("hubspot_owner_id")
    }
    assert {r["id"] for r in got["results"]} == expected and got["total"] == len(expected)
    leads = sum(1 for c in _contacts(sandbox) if c["properties"].get("lifecyclestage") == "lead")
    assert 0 < len(expected) < leads  # both filters applied
    both = _search_raw(sandbox, {**body, "filterGroups": [{"filters": [_f("email", "HAS_PROPERTY")]}]})
    assert both.status_code == 400 and both.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filter": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}, "filter"),
        ({"filterGroups": [{"filters": [], "filter": []}]}, "filter"),
        (
            {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x", "valueX": "y"}]}]},
            "valueX",
        ),
        ({"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY", "negate": True}]}, "negate"),
        ({"sorts": [{"propertyName": "email", "order": "DESC"}]}, "order"),
        ({"propertiesWithHistory": ["email"]}, "propertiesWithHistory"),
        ({"offset": 10}, "offset"),
    ],
)
def test_unknown_search_fields_are_refused_never_ignored(sandbox, body, field):
    resp = _search_raw(sandbox, body)
    assert resp.status_code == 400
    err = resp.json()
    assert err["category"] == "VALIDATION_ERROR" and err["status"] == "error" and err["correlationId"]
    assert err["message"].startswith("Invalid input JSON on line 1, column ")
    assert f'Unrecognized field "{field}"' in err["message"]


def test_hs_object_id_filters_and_sort(hubspot, sandbox):
    ids = sorted(int(c["id"]) for c in _contacts(sandbox))
    pivot = ids[40]
    cases = {
        "EQ": [pivot],
        "GT": [i for i in ids if i > pivot],
        "GTE": [i for i in ids if i >= pivot],
        "LT": [i for i in ids if i < pivot],
        "LTE": [i for i in ids if i <= pivot],
    }
    for op, expected in cases.items():
        got, after = [], None
        while True:
            page = _search(
                hubspot,
                filter_groups=[{"filters": [_f("hs_object_id", op, str(pivot))]}],
                limit=200,
                after=after,
                sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            )
            got += [int(r.id) for r in page.results]
            if page.paging is None:
                break
            after = page.paging.next.after
        assert got == expected and page.total == len(expected), op
    picked = [str(ids[3]), str(ids[9]), "1"]
    assert [
        r.id for r in _search(hubspot, filter_groups=[{"filters": [_f("hs_object_id", "IN", values=picked)]}]).results
    ] == picked[:2]
    between = _search(
        hubspot, filter_groups=[{"filters": [_f("hs_object_id", "BETWEEN", str(ids[5]), highValue=str(ids[7]))]}]
    )
    assert [int(r.id) for r in between.results] == ids[5:8]
    desc = _search(
        hubspot,
        filter_groups=[{"filters": [_f("hs_object_id", "LT", str(ids[10]))]}],
        sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
        limit=3,
    )
    assert [int(r.id) for r in desc.results] == ids[9:6:-1]
    with_other = _search(
        hubspot,
        filter_groups=[{"filters": [_f("hs_object_id", "GT", str(pivot)), _f("lifecyclestage", "EQ", "lead")]}],
        properties=["lifecyclestage"],
        limit=200,
    )
    assert {r.id for r in with_other.results} == {
        c["id"] for c in _contacts(sandbox) if int(c["id"]) > pivot and c["properties"].get("lifecyclestage") == "lead"
    }


def test_paging_contacts_that_share_one_lastmodifieddate(hubspot, sandbox):
    """syncd's pattern: lastmodifieddate EQ t AND hs_object_id GT x, sorted by hs_object_id ascending."""
    contacts = sandbox.world.hubspot.contacts
    shared = 1_767_225_000_000
    ids = [c["id"] for c in _contacts(sandbox)[10:25]]
    for cid in ids:  # 15 contacts with one modification time (as a bulk import or a workflow leaves them)
        rec = contacts.materialize(cid)
        rec.updated_ms, rec.props["lastmodifieddate"] = shared, hubspot_ts(shared)
        contacts._reindex(rec)
    seen, cursor = [], "0"
    while True:
        page = _search(
            hubspot,
            filter_groups=[{"filters": [_f("lastmodifieddate", "EQ", str(shared)), _f("hs_object_id", "GT", cursor)]}],
            sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            limit=4,
        )
        seen += [r.id for r in page.results]
        if not page.results:
            break
        cursor = page.results[-1].id
        assert page.total == 15 - len(seen) + len(page.results)
    assert seen == sorted(ids, key=int)


def test_more_than_one_sort_and_the_10000_cap(hubspot, sandbox):
    two = _search_raw(sandbox, {"sorts": [{"propertyName": "hs_object_id"}, {"propertyName": "email"}]})
    assert two.status_code == 400
    cap = _search_raw(sandbox, {"filters": [_f("hs_object_id", "GT", "0")], "after": "9900", "limit": 101})
    assert cap.status_code == 400 and "10000" in cap.json()["message"]
    edge = _search_raw(sandbox, {"filters": [_f("hs_object_id", "GT", "0")], "after": "9900", "limit": 100})
    assert edge.status_code == 200 and edge.json()["results"] == []


# -- query parameters -------------------------------------------------------------------------------------------
def test_associations_parameter_on_list_and_get(hubspot, sandbox):
    cid = _cid(sandbox, 30)
    task = _task(hubspot, cid, "A")
    one = hubspot.crm.contacts.basic_api.get_by_id(cid, associations=["tasks", "notes", "companies"])
    assert [(a.id, a.type) for a in one.associations["tasks"].results] == [(task.id, "contact_to_task")]
    assert set(one.associations) == {"tasks"}
    by_id = hubspot.crm.contacts.basic_api.get_by_id(cid, associations=["0-27"])
    assert [a.id for a in by_id.associations["tasks"].results] == [task.id]
    page = hubspot.crm.contacts.basic_api.get_page(limit=100, associations=["tasks"])
    linked = {r.id: r.associations for r in page.results}
    assert linked[cid]["tasks"].results[0].id == task.id
    assert all(v is None for k, v in linked.items() if k != cid)
    back = hubspot.crm.objects.tasks.basic_api.get_by_id(task.id, associations=["contacts"])
    assert back.associations["contacts"].results[0].type == "task_to_contact"


def test_archived_and_id_property_parameters(hubspot, sandbox):
    cid, email = _cid(sandbox, 31), _contacts(sandbox)[31]["properties"]["email"]
    assert hubspot.crm.contacts.basic_api.get_by_id(email, id_property="email").id == cid
    hubspot.crm.contacts.basic_api.archive(cid)
    archived = hubspot.crm.contacts.basic_api.get_page(archived=True)
    assert [r.id for r in archived.results] == [cid] and archived.results[0].archived is True
    assert hubspot.crm.contacts.basic_api.get_by_id(cid, archived=True).archived_at is not None
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.get_by_id(cid)
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.get_by_id(email, id_property="jobtitle")
    assert err.value.status == 400
    assert cid not in [r.id for r in hubspot.crm.contacts.basic_api.get_page(limit=100).results]


def test_history_parameter_limits_pages_to_50_and_unknown_parameters_are_ignored(hubspot, sandbox):
    assert len(hubspot.crm.contacts.basic_api.get_page(limit=50, properties_with_history=["email"]).results) == 50
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.get_page(limit=51, properties_with_history=["email"])
    assert err.value.status == 400 and json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
    plain = _raw(sandbox, "GET", "/crm/v3/objects/contacts?limit=3").json()
    extra = _raw(sandbox, "GET", "/crm/v3/objects/contacts?limit=3&portalId=123&hapikey=x").json()
    assert [r["id"] for r in extra["results"]] == [r["id"] for r in plain["results"]]


# -- hs_email_optout ----------------------------------------------------------------------------------------------
def test_email_optout_share_readable_and_searchable(hubspot, sandbox):
    everyone = {c["id"]: c["properties"].get("hs_email_optout") for c in _contacts(sandbox)}
    opted = {cid for cid, v in everyone.items() if v == "true"}
    assert 0 < len(opted) < len(everyone) * 0.08 and set(everyone.values()) == {None, "true"}
    hits = _search(
        hubspot,
        filter_groups=[{"filters": [_f("hs_email_optout", "EQ", "true")]}],
        limit=200,
        properties=["hs_email_optout"],
    )
    assert {r.id for r in hits.results} == opted and all(
        r.properties["hs_email_optout"] == "true" for r in hits.results
    )
    others = _search(hubspot, filter_groups=[{"filters": [_f("hs_email_optout", "NEQ", "true")]}])
    assert others.total == len(everyone) - len(opted)
    one = next(iter(opted))
    assert (
        hubspot.crm.contacts.basic_api.get_by_id(one, properties=["hs_email_optout"]).properties["hs_email_optout"]
        == "true"
    )
    prop = hubspot.crm.properties.core_api.get_by_name("contacts", "hs_email_optout")
    assert prop.type == "bool" and prop.modification_metadata.read_only_value is True


def test_email_optout_cannot_be_written_through_the_api(hubspot, sandbox):
    cid = _cid(sandbox, 40)
    with pytest.raises(ApiException) as err:
        hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"hs_email_optout": "true"}))
    body = json.loads(err.value.body)
    assert err.value.status == 400 and body["errors"][0]["code"] == "READ_ONLY_VALUE"
    assert "hs_email_optout is a read only property" in body["message"]
    assert sandbox.world.hubspot.contacts.get(cid).props.get("hs_email_optout") is None


def test_email_optout_event_opts_a_contact_out(hubspot, sandbox):
    contact = next(c for c in _contacts(sandbox) if not c["properties"].get("hs_email_optout"))
    email, before = contact["properties"]["email"], contact["properties"]["lastmodifieddate"]
    resp = requests.post(
        sandbox.url + "/_sandbox/events", json=[{"email": email.upper(), "action": "email_optout"}], timeout=5
    )
    assert resp.json() == {"applied": 1}
    got = hubspot.crm.contacts.basic_api.get_by_id(contact["id"], properties=["hs_email_optout"])
    assert got.properties["hs_email_optout"] == "true"
    assert parse_ts_ms(got.properties["lastmodifieddate"]) > parse_ts_ms(before)
    for bad in (
        [{"email": "nobody@example.org", "action": "email_optout"}],
        [{"email": email, "action": "email_optout", "timestamp": "soon"}],
    ):
        resp = requests.post(sandbox.url + "/_sandbox/events", json=bad, timeout=5)
        assert resp.status_code == 400 and "event 0" in resp.json()["error"]


def test_objects_api_errors_are_hubspot_bodies(hubspot):
    with pytest.raises(ObjectsApiException) as err:
        hubspot.crm.objects.basic_api.get_page("widgets")
    assert err.value.status == 400 and json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
