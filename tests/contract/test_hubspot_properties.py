"""Properties and property groups through the SDK; custom properties become writable."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from hubspot.crm.properties import ApiException, PropertyCreate, PropertyGroupCreate

from sandbox.world import SandboxConfig

STAGES = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]


SHARED_SANDBOX = SandboxConfig(
    contacts=200, seed=7, start_ms=1_767_225_600_000
)  # one server per module (tests/conftest.py)


def test_contact_defaults_are_listed_with_types(hubspot):
    props = {p.name: p for p in hubspot.crm.properties.core_api.get_all("contacts").results}
    for name in (
        "email",
        "firstname",
        "lastname",
        "phone",
        "city",
        "country",
        "jobtitle",
        "company",
        "lifecyclestage",
        "hs_lead_status",
        "hubspot_owner_id",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
        "num_conversion_events",
        "recent_conversion_event_name",
        "recent_conversion_date",
        "first_conversion_event_name",
        "first_conversion_date",
        "hs_merged_object_ids",
        "industry",
        "numemployees",
        "hs_legal_basis",
        "seniority",
    ):
        assert name in props, name
    assert props["createdate"].type == "datetime" and props["hs_object_id"].type == "number"
    assert props["createdate"].modification_metadata.read_only_value is True
    assert props["seniority"].hubspot_defined is None  # a custom property


def test_lifecyclestage_options_are_the_eight_defaults_in_order(hubspot):
    prop = hubspot.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    assert prop.type == "enumeration" and [o.value for o in prop.options] == STAGES
    assert [o.value for o in hubspot.crm.properties.core_api.get_by_name("contacts", "numemployees").options] == [
        "1-5",
        "5-25",
        "25-50",
        "50-100",
        "100-500",
        "500-1000",
        "1000+",
    ]


def test_unknown_property_and_object_type(hubspot):
    with pytest.raises(ApiException) as err:
        hubspot.crm.properties.core_api.get_by_name("contacts", "nope")
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        hubspot.crm.properties.core_api.get_all("widgets")
    assert err.value.status == 400


def test_task_and_note_defaults(hubspot):
    tasks = {p.name for p in hubspot.crm.properties.core_api.get_all("tasks").results}
    assert {
        "hs_timestamp",
        "hs_task_subject",
        "hs_task_body",
        "hs_task_status",
        "hs_task_priority",
        "hs_task_type",
        "hubspot_owner_id",
        "hs_createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    } <= tasks
    notes = {p.name for p in hubspot.crm.properties.core_api.get_all("notes").results}
    assert {
        "hs_timestamp",
        "hs_note_body",
        "hubspot_owner_id",
        "hs_attachment_ids",
        "hs_createdate",
        "hs_lastmodifieddate",
    } <= notes


def test_create_group_then_enumeration_property_then_write_it(hubspot):
    group = hubspot.crm.properties.groups_api.create("contacts", PropertyGroupCreate(name="syncd", label="syncd"))
    assert group.name == "syncd" and group.archived is False
    assert "syncd" in {g.name for g in hubspot.crm.properties.groups_api.get_all("contacts").results}
    created = hubspot.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(
            name="syncd_segment",
            label="Segment",
            type="enumeration",
            field_type="select",
            group_name="syncd",
            options=[
                {"label": "Hot", "value": "hot", "hidden": False, "displayOrder": 0},
                {"label": "Cold", "value": "cold", "hidden": False, "displayOrder": 1},
            ],
        ),
    )
    assert created.name == "syncd_segment" and [o.value for o in created.options] == ["hot", "cold"]
    contact = hubspot.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "seg@example.org", "syncd_segment": "hot"})
    )
    assert contact.properties["syncd_segment"] == "hot"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {
                "name": "x_enum",
                "label": "X",
                "type": "enumeration",
                "fieldType": "select",
                "groupName": "contactinformation",
            },
            400,
        ),  # enumeration without options
        (
            {
                "name": "Bad Name",
                "label": "X",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
            },
            400,
        ),
        ({"name": "x_str", "label": "X", "type": "text", "fieldType": "text", "groupName": "contactinformation"}, 400),
        ({"name": "x_str", "label": "X", "type": "string", "fieldType": "text", "groupName": "no_group"}, 400),
        ({"label": "X", "type": "string", "fieldType": "text", "groupName": "contactinformation"}, 400),
        (
            {
                "name": "email",
                "label": "Email",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
            },
            409,
        ),
    ],
)
def test_property_create_validation(hubspot, body, status):
    with pytest.raises(ApiException) as err:
        hubspot.crm.properties.core_api.create("contacts", body)
    assert err.value.status == status
    assert json.loads(err.value.body)["category"] in ("VALIDATION_ERROR", "OBJECT_ALREADY_EXISTS")


def test_duplicate_group_is_409(hubspot):
    with pytest.raises(ApiException) as err:
        hubspot.crm.properties.groups_api.create(
            "contacts", PropertyGroupCreate(name="contactinformation", label="Again")
        )
    assert err.value.status == 409
