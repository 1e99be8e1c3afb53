"""Property definitions and groups per object type, and validation of written property values.

Defaults mirror what a fresh HubSpot portal has for contacts, tasks and notes (names, types, field
types, enumeration options); custom properties and groups are added through the properties API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.timefmt import hubspot_ts, parse_ts_ms

OBJECT_TYPES = {
    "contacts": "contacts",
    "0-1": "contacts",
    "contact": "contacts",
    "tasks": "tasks",
    "0-27": "tasks",
    "task": "tasks",
    "notes": "notes",
    "0-46": "notes",
    "note": "notes",
}
PROPERTY_TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
FIELD_TYPES = (
    "booleancheckbox",
    "calculation_equation",
    "checkbox",
    "date",
    "file",
    "html",
    "number",
    "phonenumber",
    "radio",
    "select",
    "text",
    "textarea",
)
MAX_VALUE_CHARS = 65_536  # HubSpot: a property value holds at most 65,536 characters
PORTAL_CREATED_AT = "2024-01-01T00:00:00.000Z"
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
EMPLOYEE_BUCKETS = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")
LEGAL_BASES = (
    "Legitimate interest – prospect/lead",
    "Legitimate interest – existing customer",
    "Legitimate interest - other",
    "Performance of a contract",
    "Freely given consent from contact",
    "Not applicable",
)
CONSENT_GRANTED = "Freely given consent from contact"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    read_only: bool = False
    hubspot_defined: bool = True
    created_at: str = PORTAL_CREATED_AT
    display_order: int = -1
    has_unique_value: bool = False

    def option_values(self) -> list[str]:
        return [o["value"] for o in self.options]

    def api(self) -> dict[str, Any]:
        """The Property object as GET /crm/v3/properties/{objectType}/{name} returns it."""
        body: dict[str, Any] = {
            "updatedAt": self.created_at,
            "createdAt": self.created_at,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
        }
        if not self.hubspot_defined:
            body.pop("hubspotDefined")
        return body


def _options(values: tuple[str, ...] | list[str], labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    labels = labels or {}
    return [{"label": labels.get(v, v), "value": v, "displayOrder": k, "hidden": False} for k, v in enumerate(values)]


def _p(
    name: str, label: str, kind: str = "string", field_type: str = "text", group: str = "contactinformation", **kw: Any
) -> PropertyDef:
    return PropertyDef(name=name, label=label, type=kind, field_type=field_type, group_name=group, **kw)


_STAGE_LABELS = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}


def _contact_defaults() -> list[PropertyDef]:
    ro = {"read_only": True}
    props = [
        _p("email", "Email", has_unique_value=True),
        _p("firstname", "First Name"),
        _p("lastname", "Last Name"),
        _p("phone", "Phone Number", "string", "phonenumber"),
        _p("city", "City"),
        _p("country", "Country/Region"),
        _p("jobtitle", "Job Title"),
        _p("company", "Company Name"),
        _p("industry", "Industry"),
        _p("numemployees", "Number of Employees", "enumeration", "select", options=_options(EMPLOYEE_BUCKETS)),
        _p(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            options=_options(LIFECYCLE_STAGES, _STAGE_LABELS),
        ),
        _p(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            group="sales_properties",
            options=_options(LEAD_STATUSES, {v: v.replace("_", " ").title() for v in LEAD_STATUSES}),
        ),
        _p("hubspot_owner_id", "Contact owner", "enumeration", "select", group="sales_properties"),
        _p(
            "hs_legal_basis",
            "Legal basis for processing contact's data",
            "enumeration",
            "checkbox",
            options=_options(LEGAL_BASES),
        ),
        # Opted out of all email. Read-only through the CRM API ("... is a read only property; its value cannot
        # be set", HubSpot community); set through the subscriptions API, here by the `email_optout` event.
        _p(
            "hs_email_optout",
            "Unsubscribed from all email",
            "bool",
            "booleancheckbox",
            group="emailinformation",
            options=_options(("true", "false"), {"true": "Yes", "false": "No"}),
            **ro,
        ),
        # Custom (not HubSpot-defined): no stock `hs_seniority` could be confirmed for contacts.
        _p("seniority", "Seniority", hubspot_defined=False),
        _p("createdate", "Create Date", "datetime", "date", **ro),
        _p("lastmodifieddate", "Last Modified Date", "datetime", "date", **ro),
        _p("hs_object_id", "Record ID", "number", "number", **ro),
        _p(
            "num_conversion_events",
            "Number of Form Submissions",
            "number",
            "number",
            group="conversioninformation",
            **ro,
        ),
        _p("recent_conversion_event_name", "Recent Conversion", group="conversioninformation", **ro),
        _p("recent_conversion_date", "Recent Conversion Date", "datetime", "date", group="conversioninformation", **ro),
        _p("first_conversion_event_name", "First Conversion", group="conversioninformation", **ro),
        _p("first_conversion_date", "First Conversion Date", "datetime", "date", group="conversioninformation", **ro),
        _p("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", **ro),
        _p("hs_additional_emails", "Additional email addresses", "enumeration", "checkbox", **ro),
    ]
    props += [
        _p(f"hs_lifecyclestage_{s}_date", f"Became a {_STAGE_LABELS[s]} Date", "datetime", "date", **ro)
        for s in LIFECYCLE_STAGES
    ]
    return props


def _engagement_common() -> list[PropertyDef]:
    ro = {"read_only": True}
    return [
        _p("hs_timestamp", "Activity date", "datetime", "date", group="engagement"),
        _p("hubspot_owner_id", "Activity assigned to", "enumeration", "select", group="engagement"),
        _p("hs_createdate", "Create date", "datetime", "date", group="engagement", **ro),
        _p("hs_lastmodifieddate", "Last modified date", "datetime", "date", group="engagement", **ro),
        _p("hs_object_id", "Record ID", "number", "number", group="engagement", **ro),
    ]


def _task_defaults() -> list[PropertyDef]:
    return _engagement_common() + [
        _p("hs_task_subject", "Task Title", group="task"),
        _p("hs_task_body", "Task notes", "string", "html", group="task"),
        _p(
            "hs_task_status",
            "Task Status",
            "enumeration",
            "select",
            group="task",
            options=_options(("NOT_STARTED", "COMPLETED", "IN_PROGRESS", "WAITING", "DEFERRED")),
        ),
        _p(
            "hs_task_priority",
            "Priority",
            "enumeration",
            "select",
            group="task",
            options=_options(("LOW", "MEDIUM", "HIGH", "NONE")),
        ),
        _p(
            "hs_task_type",
            "Task Type",
            "enumeration",
            "select",
            group="task",
            options=_options(("EMAIL", "CALL", "TODO")),
        ),
        _p("hs_task_reminders", "Reminder", "enumeration", "checkbox", group="task"),
    ]


def _note_defaults() -> list[PropertyDef]:
    return _engagement_common() + [
        _p("hs_note_body", "Note body", "string", "html", group="note"),
        _p("hs_attachment_ids", "Attachment IDs", "enumeration", "checkbox", group="note"),
    ]


_GROUPS = {
    "contacts": [
        ("contactinformation", "Contact information"),
        ("sales_properties", "Sales properties"),
        ("conversioninformation", "Conversion information"),
        ("emailinformation", "Email information"),
    ],
    "tasks": [("engagement", "Engagement"), ("task", "Task information")],
    "notes": [("engagement", "Engagement"), ("note", "Note information")],
}
_DEFAULTS = {"contacts": _contact_defaults, "tasks": _task_defaults, "notes": _note_defaults}


class InvalidValue(Exception):
    """One invalid property value: `code` is HubSpot's error code, `name` the property."""

    def __init__(self, name: str, code: str, message: str) -> None:
        super().__init__(message)
        self.name, self.code, self.message = name, code, message


class Schema:
    """Properties and groups of one object type."""

    def __init__(self, object_type: str, owner_ids: set[str]) -> None:
        self.object_type = object_type
        self.owner_ids = owner_ids
        self.properties: dict[str, PropertyDef] = {}
        for k, prop in enumerate(_DEFAULTS[object_type]()):
            prop.display_order = k
            self.properties[prop.name] = prop
        self.groups: dict[str, dict[str, Any]] = {
            name: {"name": name, "label": label, "displayOrder": k, "archived": False}
            for k, (name, label) in enumerate(_GROUPS[object_type])
        }

    # -- values ---------------------------------------------------------------------------------
    def clean(self, name: str, raw: Any, allow_read_only: bool = False) -> str:
        """The stored form of `raw` for property `name` ("" clears). Raises InvalidValue when invalid."""
        prop = self.properties.get(name)
        if prop is None:
            raise InvalidValue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        if prop.read_only and not allow_read_only:
            raise InvalidValue(name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set.")
        value = _as_text(raw)
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidValue(
                name, "INVALID_LENGTH", f"{name} was {len(value)} characters long; the maximum is {MAX_VALUE_CHARS}"
            )
        if value == "":
            return ""
        return self._typed(prop, value)

    def _typed(self, prop: PropertyDef, value: str) -> str:
        name = prop.name
        if name == "email":
            if not _EMAIL_RE.match(value.strip()):
                raise InvalidValue(name, "INVALID_EMAIL", f"Email address {value} is invalid")
            return value.strip()
        if name == "hubspot_owner_id":
            if value not in self.owner_ids:
                raise InvalidValue(
                    name,
                    "INVALID_OPTION",
                    f"{value} was not one of the allowed options: [{', '.join(sorted(self.owner_ids))}]",
                )
            return value
        if prop.type == "number":
            try:
                number = float(value)
            except ValueError:
                raise InvalidValue(name, "INVALID_DECIMAL", f"{value} is not a valid number") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise InvalidValue(name, "INVALID_DECIMAL", f"{value} is not a valid number")
            return value.strip()
        if prop.type == "bool":
            if value.lower() not in ("true", "false"):
                raise InvalidValue(name, "INVALID_BOOLEAN", f"{value} is not a valid boolean value")
            return value.lower()
        if prop.type in ("datetime", "date"):
            return _clean_time(prop, value)
        if prop.type == "enumeration" and prop.options:
            return self._clean_option(prop, value)
        return value

    @staticmethod
    def _clean_option(prop: PropertyDef, value: str) -> str:
        allowed = prop.option_values()
        chosen = value.split(";") if prop.field_type == "checkbox" else [value]
        for v in chosen:
            if v not in allowed:
                raise InvalidValue(
                    prop.name, "INVALID_OPTION", f"{v} was not one of the allowed options: [{', '.join(allowed)}]"
                )
        return value

    # -- definitions -----------------------------------------------------------------------------
    def create_property(self, body: dict[str, Any]) -> PropertyDef:
        """Validate a PropertyCreate and add it. Raises KeyError (duplicate) or ValueError (invalid)."""
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise ValueError(f"Missing required fields: {', '.join(missing)}")
        for key in ("name", "label", "type", "fieldType", "groupName", "description"):
            if key in body and not isinstance(body[key], str):
                raise ValueError(f"{key} must be a string")
        name = body["name"]
        if not _NAME_RE.match(name):
            raise ValueError(
                f"Property name '{name}' is invalid: use lowercase letters, digits and underscores, "
                "starting with a letter"
            )
        if body["type"] not in PROPERTY_TYPES:
            raise ValueError(f"type '{body['type']}' is not one of {list(PROPERTY_TYPES)}")
        if body["fieldType"] not in FIELD_TYPES:
            raise ValueError(f"fieldType '{body['fieldType']}' is not one of {list(FIELD_TYPES)}")
        if body["groupName"] not in self.groups:
            raise ValueError(f"Property group '{body['groupName']}' does not exist")
        options = _parse_options(body.get("options"), body["type"])
        if name in self.properties:
            raise KeyError(name)
        prop = PropertyDef(
            name=name,
            label=body["label"],
            type=body["type"],
            field_type=body["fieldType"],
            group_name=body["groupName"],
            options=options,
            description=body.get("description") or "",
            hubspot_defined=False,
            display_order=len(self.properties),
            has_unique_value=bool(body.get("hasUniqueValue", False)),
        )
        self.properties[name] = prop
        return prop

    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a PropertyGroupCreate and add it. Raises KeyError (duplicate) or ValueError."""
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not name or not isinstance(label, str) or not label:
            raise ValueError("name and label are required strings")
        if not _NAME_RE.match(name):
            raise ValueError(f"Group name '{name}' is invalid: use lowercase letters, digits and underscores")
        if name in self.groups:
            raise KeyError(name)
        order = body.get("displayOrder", -1)
        group = {
            "name": name,
            "label": label,
            "displayOrder": order if isinstance(order, int) else -1,
            "archived": False,
        }
        self.groups[name] = group
        return group


def _parse_options(raw: Any, kind: str) -> list[dict[str, Any]]:
    if kind != "enumeration":
        return []
    if not isinstance(raw, list) or not raw:
        raise ValueError("Enumeration properties need at least one option in 'options'")
    options = []
    for k, opt in enumerate(raw):
        if not isinstance(opt, dict) or not isinstance(opt.get("label"), str) or not isinstance(opt.get("value"), str):
            raise ValueError(f"options[{k}] needs a string 'label' and 'value'")
        options.append(
            {
                "label": opt["label"],
                "value": opt["value"],
                "hidden": bool(opt.get("hidden", False)),
                "displayOrder": opt.get("displayOrder", k),
                "description": opt.get("description", ""),
            }
        )
    values = [o["value"] for o in options]
    if len(set(values)) != len(values):
        raise ValueError("Option values must be unique")
    return options


def _as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float, str)):
        return str(raw)
    raise InvalidValue("", "INVALID_VALUE", "property values must be strings, numbers or booleans")


def _clean_time(prop: PropertyDef, value: str) -> str:
    """Datetimes are stored as HubSpot returns them (ISO, ms, Z); dates as YYYY-MM-DD at midnight UTC."""
    try:
        ms = parse_ts_ms(value)
    except (TypeError, ValueError):
        code = "INVALID_DATE" if prop.type == "date" else "INVALID_DATETIME"
        raise InvalidValue(prop.name, code, f"{value} is not a valid {prop.type}") from None
    if prop.type == "date":
        day = datetime.fromtimestamp(ms / 1000, tz=UTC)
        return day.strftime("%Y-%m-%d")
    return hubspot_ts(ms)


def compare_key(prop: PropertyDef | None, value: str) -> tuple[int, Any]:
    """A sortable key for a stored value: numbers and times numerically, text case-insensitively."""
    if prop is not None:
        if prop.type == "number":
            try:
                return (0, float(value))
            except ValueError:
                return (1, value.lower())
        if prop.type in ("datetime", "date"):
            try:
                return (0, parse_ts_ms(value))
            except (TypeError, ValueError):
                return (1, value.lower())
    return (1, value.lower())
