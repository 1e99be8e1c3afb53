"""What the field mappings mean, as pure functions: which merge fields a contact's HubSpot properties
give, and whether they show marketing consent. The admin's file is read and checked by syncd/mappings.py;
this module only takes its frozen result and plain values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.timeparse import utc_datetime
from syncd.domain.text import clean_text

SIMPLE_TRANSFORMS = ("none", "upper", "lower", "title")
DATE_TRANSFORM = re.compile(r"^date:((?:YYYY|MM|DD)(?:[-/.](?:YYYY|MM|DD)){0,2})$")
TRUNCATE_TRANSFORM = re.compile(r"^truncate:([1-9][0-9]*)$")


class MappingValueError(ValueError):
    """A property value cannot become its merge field (e.g. text in a number field)."""


@dataclass(frozen=True)
class FieldMapping:
    hubspot: str
    merge_tag: str
    type: str
    transform: str = "none"
    line: int = 0


@dataclass(frozen=True)
class Consent:
    hubspot_property: str
    granted_values: tuple[str, ...]


@dataclass(frozen=True)
class Mappings:
    fields: tuple[FieldMapping, ...]
    consent: Consent
    owned_properties: tuple[str, ...]
    source: str = ""

    @property
    def merge_tags(self) -> frozenset[str]:
        return frozenset(f.merge_tag for f in self.fields)

    def merge_field_defs(self) -> list[dict[str, str]]:
        """Merge field definitions for the audience, created by syncd when missing ({tag, name, type})."""
        return [{"tag": f.merge_tag, "name": f.hubspot.replace("_", " ").title(), "type": f.type} for f in self.fields]

    @property
    def hubspot_properties(self) -> tuple[str, ...]:
        """Every HubSpot property syncd needs to read for these mappings (mapped, consent, owned)."""
        names = [f.hubspot for f in self.fields] + [self.consent.hubspot_property, *self.owned_properties]
        return tuple(dict.fromkeys(names))


def apply(mappings: Mappings, properties: Mapping[str, str | None]) -> dict[str, Any]:
    """Return the merge fields for a contact's HubSpot `properties`: only mapped tags, in mapping order.

    A property missing from `properties` is left out (unknown, so not overwritten); a None or "" value
    becomes "" (Mailchimp clears the field). Raises MappingValueError when a value does not fit its
    field's type or transform (the caller quarantines that record).
    """
    merged: dict[str, Any] = {}
    for field in mappings.fields:
        if field.hubspot not in properties:
            continue
        value = properties[field.hubspot]
        if value is None or value == "":
            merged[field.merge_tag] = ""
            continue
        try:
            merged[field.merge_tag] = _as_type(field.type, _transform(field.transform, clean_text(str(value))))
        except ValueError as exc:
            raise MappingValueError(f"{field.hubspot} -> {field.merge_tag}: {exc}") from None
    return merged


def _transform(transform: str, value: str) -> str:
    if transform == "upper":
        return value.upper()
    if transform == "lower":
        return value.lower()
    if transform == "title":
        return value.title()
    if match := TRUNCATE_TRANSFORM.match(transform):
        return value[: int(match.group(1))]
    if match := DATE_TRANSFORM.match(transform):
        fmt = match.group(1).replace("YYYY", "%Y").replace("MM", "%m").replace("DD", "%d")
        return _parse_hubspot_date(value).strftime(fmt)
    return value


def _parse_hubspot_date(value: str) -> datetime:
    # HubSpot sends date properties as epoch milliseconds or ISO 8601 (datetime properties end in Z).
    parsed = utc_datetime(value)
    if parsed is None:
        raise ValueError(f"{value[:40]!r} is not a date")
    return parsed


def _as_type(kind: str, value: str) -> Any:
    if kind != "number":
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{value[:40]!r} is not a finite number")
    return int(number) if number.is_integer() else number


def consent_granted(mappings: Mappings, properties: Mapping[str, str | None]) -> bool:
    """Return whether `properties` show marketing consent (a multi-select value is split on ';')."""
    value = properties.get(mappings.consent.hubspot_property)
    if not value:
        return False
    return any(part.strip() in mappings.consent.granted_values for part in str(value).split(";"))
