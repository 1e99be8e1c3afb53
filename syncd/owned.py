"""The HubSpot properties syncd owns (group `syncd`), created on first run. Nothing else is ever written
to HubSpot except `lifecyclestage` (per the scoring rules, forward only) and tasks and notes."""

from __future__ import annotations

from syncd.rules import CADENCE_LEVELS

GROUP = {"name": "syncd", "label": "syncd (lead scoring and email engagement)"}


def _prop(name: str, label: str, type_: str = "string", field_type: str = "text", **extra: object) -> dict:
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "groupName": GROUP["name"],
        "description": f"Written by syncd. {label}.",
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
]
OWNED_NAMES = frozenset(p["name"] for p in CONTACT_PROPERTIES)
