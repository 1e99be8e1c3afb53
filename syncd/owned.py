"""The HubSpot properties syncd owns (group `syncd`), created on first run, and the live field definitions
the mappings' conversions read. Nothing else is ever written to HubSpot except `lifecyclestage` (per the
scoring rules, forward only), the properties fields map to HubSpot (direction to_hubspot or both), and
tasks and notes (invariant 3: `Mappings.writable_properties`)."""

from __future__ import annotations

from typing import Any

from syncd.domain.mapping import CHOICE_TYPES, Mappings
from syncd.rules import CADENCE_LEVELS

GROUP = {"name": "syncd", "label": "syncd (lead scoring and email engagement)"}


def _prop(
    name: str,
    label: str,
    type_: str = "string",
    field_type: str = "text",
    description_suffix: str = "",
    **extra: object,
) -> dict:
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "groupName": GROUP["name"],
        "description": f"Written by syncd. {label}" + (f" ({description_suffix})" if description_suffix else "") + ".",
        **extra,
    }


def _enum(name: str, label: str, values: list[str]) -> dict:
    options = [{"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(values)]
    return _prop(name, label, "enumeration", "select", options=options)


CONTACT_PROPERTIES: list[dict] = [
    _prop("syncd_score", "Lead score", "number", "number"),
    _prop("syncd_fit_score", "Fit score", "number", "number"),
    _prop("syncd_engagement_score", "Engagement score", "number", "number"),
    _enum("syncd_segment", "Segment", ["cold", "warm", "hot", "reengage"]),
    _enum("syncd_cadence", "Recommended cadence", list(CADENCE_LEVELS)),
    _prop("syncd_scored_at", "Score changed at", "datetime", "date"),
    _prop("syncd_last_open", "Last email open", "datetime", "date"),
    _prop("syncd_last_click", "Last email click", "datetime", "date"),
    _prop("syncd_opens_30d", "Email opens in the last 30 days", "number", "number"),
    _prop("syncd_clicks_30d", "Email clicks in the last 30 days", "number", "number"),
    _enum(
        "syncd_email_status",
        "Mailchimp status",
        ["subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived", "hard_bounced"],
    ),
    _prop("syncd_source", "Created by syncd from", description_suffix="mailchimp: a Mailchimp subscriber"),
]
OWNED_NAMES = frozenset(p["name"] for p in CONTACT_PROPERTIES)


def mapped_properties(mappings: Mappings) -> list[dict]:
    """The properties the mappings add that syncd creates like its own: the source property of contacts
    created from Mailchimp subscribers, and the multiple-checkbox property each Mailchimp tag rule sets
    (its options: the rule's tags)."""
    defs: list[dict] = []
    created = mappings.contacts_from_mailchimp
    if created.enabled:
        defs.append(
            _prop(created.source_property, "Created by syncd from", description_suffix="mailchimp: a subscriber")
        )
    for rule in mappings.tag_rules:
        if rule.kind == "from_mailchimp":
            options = [{"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(rule.tags)]
            defs.append(_prop(rule.hubspot, "Mailchimp tags", "enumeration", "checkbox", options=options))
    return [d for d in defs if d["name"] not in OWNED_NAMES]


def schemas_json(mappings: Mappings, properties: list[dict[str, Any]], merge_fields: list[dict[str, Any]]) -> dict:
    """The definitions the conversions need of the mapped properties and merge fields, as JSON for the
    setup cursor (read back by syncd.decide.field_schemas)."""
    names = set(mappings.hubspot_properties)
    tags = {f.merge_tag for f in mappings.fields}
    props = {
        p["name"]: {
            "type": p.get("type"),
            "fieldType": p.get("fieldType"),
            "options": [
                [o.get("label", ""), o.get("value", "")] for o in p.get("options") or [] if not o.get("hidden")
            ],
        }
        for p in properties
        if p.get("name") in names
    }
    merge = {
        str(m.get("tag")).upper(): {
            "type": m.get("type"),
            "date_format": (m.get("options") or {}).get("date_format") or "",
            "choices": list((m.get("options") or {}).get("choices") or []) if m.get("type") in CHOICE_TYPES else [],
        }
        for m in merge_fields
        if str(m.get("tag")).upper() in tags
    }
    return {"properties": props, "merge_fields": merge}
