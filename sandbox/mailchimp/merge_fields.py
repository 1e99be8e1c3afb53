"""An audience's merge fields: their definitions and the validation of values written to them.

Mailchimp answers a bad merge value with 400 "Invalid Resource", detail "Your merge fields were
invalid." and one `{field: TAG, message}` per bad field (e.g. `Please enter a value` for a missing
required field, `Please enter a complete address`). A value of a JSON type no merge field accepts
(a boolean, a list, null) fails the request schema instead: field `merge_fields.TAG`, message "Data
did not match any of the schemas described in anyOf.".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TYPES = ("text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown", "birthday", "zip")
INVALID_MERGE = "Your merge fields were invalid."
ANYOF_MESSAGE = "Data did not match any of the schemas described in anyOf."
ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")
ADDRESS_KEYS = ("addr1", "addr2", "city", "state", "zip", "country")
_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)
_US_PHONE = re.compile(r"^\(?\d{3}\)?[-. ]?\d{3}[-. ]?\d{4}$")
_DATE_FORMATS = {
    "MM/DD/YYYY": "%m/%d/%Y",
    "DD/MM/YYYY": "%d/%m/%Y",
    "YYYY-MM-DD": "%Y-%m-%d",
    "MM/DD": "%m/%d",
    "DD/MM": "%d/%m",
}


@dataclass
class MergeField:
    merge_id: int
    tag: str
    name: str
    type: str
    required: bool = False
    default_value: str = ""
    public: bool = True
    display_order: int = 0
    help_text: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def as_api(self, list_id: str) -> dict[str, Any]:
        """The MergeField object as GET /lists/{id}/merge-fields returns it (without _links)."""
        return {
            "merge_id": self.merge_id,
            "tag": self.tag,
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default_value": self.default_value,
            "public": self.public,
            "display_order": self.display_order,
            "options": dict(self.options),
            "help_text": self.help_text,
            "list_id": list_id,
        }


class MergeValueError(Exception):
    """One or more bad merge values: `errors` is Mailchimp's [{field, message}], `detail` its detail."""

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail)
        self.detail, self.errors = detail, errors


def default_fields() -> list[MergeField]:
    """The five fields every new Mailchimp audience starts with."""
    return [
        MergeField(1, "FNAME", "First Name", "text", display_order=2, options={"size": 25}),
        MergeField(2, "LNAME", "Last Name", "text", display_order=3, options={"size": 25}),
        MergeField(3, "ADDRESS", "Address", "address", display_order=4, options={"default_country": 164}),
        MergeField(4, "PHONE", "Phone Number", "phone", display_order=5, options={"phone_format": "none"}),
        MergeField(5, "BIRTHDAY", "Birthday", "birthday", display_order=6, options={"date_format": "MM/DD"}),
    ]


class MergeFieldSet:
    """The audience's merge fields, in merge_id order, with tag lookup."""

    def __init__(self) -> None:
        self.fields: list[MergeField] = default_fields()

    def by_tag(self, tag: str) -> MergeField | None:
        tag = tag.upper()
        return next((f for f in self.fields if f.tag == tag), None)

    def by_id(self, merge_id: int) -> MergeField | None:
        return next((f for f in self.fields if f.merge_id == merge_id), None)

    def add(self, name: str, type_: str, tag: str | None, **attrs: Any) -> MergeField:
        """Create a field; the tag defaults to MMERGE<n> as Mailchimp names untagged fields.

        Raises ValueError naming the problem (unknown type, tag in use, tag too long).
        """
        if type_ not in TYPES:
            raise ValueError(f"type must be one of: {', '.join(TYPES)}")
        merge_id = max((f.merge_id for f in self.fields), default=0) + 1
        tag = (tag or f"MMERGE{merge_id}").upper()
        if len(tag) > 10 or not re.fullmatch(r"[A-Z0-9_]+", tag):  # tags: up to 10 characters
            raise ValueError("Merge tags must be 10 characters or fewer, letters, digits or underscores.")
        if self.by_tag(tag) is not None:
            raise ValueError(f'A Merge Field with the tag "{tag}" already exists for this list.')
        options = dict(attrs.pop("options", None) or {})
        if type_ in ("dropdown", "radio"):
            options.setdefault("choices", [])
        if type_ in ("date", "birthday"):
            options.setdefault("date_format", "MM/DD/YYYY" if type_ == "date" else "MM/DD")
        if type_ == "phone":
            options.setdefault("phone_format", "none")
        if type_ == "text":
            options.setdefault("size", 25)
        mf = MergeField(
            merge_id,
            tag,
            name,
            type_,
            options=options,
            display_order=attrs.pop("display_order", None) or merge_id + 1,
            **attrs,
        )
        self.fields.append(mf)
        return mf

    def render(self, values: dict[str, Any]) -> dict[str, Any]:
        """Every defined field keyed by tag, with the member's value or "" (address included)."""
        return {f.tag: values.get(f.tag, "") for f in self.fields}

    def validate(self, given: Any, current: dict[str, Any] | None, skip_required: bool) -> dict[str, Any]:
        """Check `given` (the request's merge_fields) and return the member's new merge values.

        `current` is None on create. Required fields are checked unless `skip_required`
        (the `skip_merge_validation` query parameter only relaxes required-ness).
        Raises MergeValueError with Mailchimp's errors list.
        """
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise MergeValueError(
                SCHEMA_DETAIL,
                [{"field": "merge_fields", "message": f"Schema describes object, {json_type(given)} found instead"}],
            )
        schema_errors = [
            {"field": f"merge_fields.{k}", "message": ANYOF_MESSAGE}
            for k, v in given.items()
            if isinstance(v, (bool, list)) or v is None
        ]
        if schema_errors:
            raise MergeValueError(SCHEMA_DETAIL, schema_errors)
        values = dict(current or {})
        errors: list[dict[str, str]] = []
        for key, raw in given.items():
            mf = self.by_tag(str(key))
            if mf is None:
                errors.append({"field": str(key), "message": f"Merge field {key} does not exist."})
                continue
            try:
                values[mf.tag] = _normalize(mf, raw)
            except ValueError as exc:
                errors.append({"field": mf.tag, "message": str(exc)})
        if not skip_required:
            for mf in self.fields:
                if mf.required and values.get(mf.tag, "") in ("", None):
                    if current is None and mf.default_value:
                        values[mf.tag] = mf.default_value
                    else:
                        errors.append({"field": mf.tag, "message": "Please enter a value"})
        if errors:
            raise MergeValueError(INVALID_MERGE, errors)
        return values


SCHEMA_DETAIL = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."


def json_type(value: Any) -> str:
    """The JSON type name Mailchimp's schema messages use."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _normalize(mf: MergeField, raw: Any) -> Any:
    """The stored form of one value; "" clears. Raises ValueError with Mailchimp's message."""
    if raw == "":
        return ""
    if mf.type == "address":
        return _address(raw)
    if isinstance(raw, dict):
        raise ValueError("Please enter a valid value")
    if mf.type == "number":
        return _number(raw)
    text = str(raw).strip()
    if mf.type in ("date", "birthday"):
        return _date(mf, text)
    if mf.type in ("dropdown", "radio"):
        choices = [str(c) for c in mf.options.get("choices", [])]
        if text not in choices:
            raise ValueError(f"Please choose one of the options: {', '.join(choices)}")
        return text
    if mf.type in ("url", "imageurl") and not _URL.match(text):
        raise ValueError("Please enter a valid URL")
    if mf.type == "phone" and mf.options.get("phone_format") == "US" and not _US_PHONE.match(text):
        raise ValueError("Please enter a valid phone number (###-###-####)")
    if mf.type == "zip" and not re.fullmatch(r"\d{5}(-\d{4})?", text):
        raise ValueError("Please enter a valid zip code")
    if mf.type == "text" and len(text) > 255:  # text merge values: at most 255 characters
        raise ValueError("Please enter 255 characters or fewer")
    return text


def _number(raw: Any) -> int | float:
    if isinstance(raw, (int, float)):
        return raw
    try:
        num = float(str(raw).strip())
    except ValueError:
        raise ValueError("Please enter a number") from None
    return int(num) if num.is_integer() else num


def _date(mf: MergeField, text: str) -> str:
    """Accept the field's date format or ISO YYYY-MM-DD; store in the field's format."""
    fmt = _DATE_FORMATS.get(
        str(mf.options.get("date_format", "")).upper(), "%m/%d" if mf.type == "birthday" else "%m/%d/%Y"
    )
    # a birthday has no year: parse it inside a leap year so 02/29 is accepted
    own = (fmt + "/%Y", f"{text}/2000") if "%Y" not in fmt else (fmt, text)
    for pattern, value in (own, ("%Y-%m-%d", text)):
        try:
            return datetime.strptime(value, pattern).strftime(fmt)
        except ValueError:
            continue
    raise ValueError("Please enter a date")


def _address(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or any(not str(raw.get(k, "")).strip() for k in ADDRESS_REQUIRED):
        raise ValueError("Please enter a complete address")
    out = {k: str(raw.get(k, "") or "") for k in ADDRESS_KEYS}
    out["country"] = out["country"] or "US"
    return out
