"""What the field mappings mean, as pure functions: which merge fields a contact's HubSpot properties
give and which HubSpot properties a member's merge fields give (both ways, typed), whether a contact shows
marketing consent or opted out, and which tags the tag rules ask for. The admin's file is read and
checked by syncd/mappings.py; this module only takes its frozen result and plain values.

Values cross in two directions:
* HubSpot -> Mailchimp (`to_merge`): the property's value, its option label (or value) for enumerations,
  multiple checkboxes ("a;b") as "a, b", through the field's transform, then into the merge field's type:
  numbers as numbers, dates in the audience's date format, birthdays as MM/DD, choices checked against the
  merge field's, text cut at 255 characters (with a warning).
* Mailchimp -> HubSpot (`to_property`): the reverse, into the property's type (a number, a YYYY-MM-DD date,
  an option's value for an enumeration, "a;b" for multiple checkboxes).
A value that cannot be converted raises ConversionError naming why; callers skip that field of that
record (and quarantine it), never the record or the cycle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.timeparse import utc_datetime
from syncd.domain.text import clean_text

SIMPLE_TRANSFORMS = ("none", "upper", "lower", "title")
DATE_TRANSFORM = re.compile(r"^date:((?:YYYY|MM|DD)(?:[-/.](?:YYYY|MM|DD)){0,2})$")
TRUNCATE_TRANSFORM = re.compile(r"^truncate:([1-9][0-9]*)$")

DIRECTIONS = ("to_mailchimp", "to_hubspot", "both")
CONFLICTS = ("newest", "hubspot", "mailchimp")
SENDS = ("label", "value")
CHOICE_TYPES = ("radio", "dropdown")
# merge field types whose values cannot come back to a HubSpot property as one string
ONE_WAY_TYPES = ("address",)
TEXT_MAX = 255  # Mailchimp text merge values: at most 255 characters
TAG_MAX = 100  # Mailchimp tag names: at most 100 characters
CONDITION_OPS = ("eq", "ne", "in", "gte", "gt", "lte", "lt", "contains", "known")
# Properties syncd never writes, whatever the mappings say: identity and bookkeeping (HubSpot keeps them),
# and the opt-out (read-only in HubSpot, and writing "false" would be a re-subscribe).
NEVER_WRITTEN = frozenset(
    {"email", "hs_object_id", "createdate", "lastmodifieddate", "hs_email_optout", "hs_additional_emails"}
)
# Mailchimp's date_format options for date and birthday merge fields -> strftime
_DATE_FORMATS = {
    "MM/DD/YYYY": "%m/%d/%Y",
    "DD/MM/YYYY": "%d/%m/%Y",
    "YYYY-MM-DD": "%Y-%m-%d",
    "YYYY/MM/DD": "%Y/%m/%d",
    "MM/DD": "%m/%d",
    "DD/MM": "%d/%m",
}
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_ZIP = re.compile(r"^\d{5}(?:-\d{4})?$")
_LEADING_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


class ConversionError(ValueError):
    """A value cannot become its target's type (text in a number field, an unknown choice...)."""


class MappingValueError(ValueError):
    """A property value cannot become its merge field (raised by `apply`, which keeps the old contract)."""


@dataclass(frozen=True)
class FieldMapping:
    hubspot: str
    merge_tag: str
    type: str
    transform: str = "none"
    line: int = 0
    direction: str = "to_mailchimp"  # to_mailchimp | to_hubspot | both
    conflict: str = "newest"  # with both: newest | hubspot | mailchimp
    choices: str | tuple[str, ...] = "hubspot"  # radio/dropdown: the property's options, or this list
    send: str = "label"  # which side of a HubSpot option Mailchimp sees

    @property
    def to_mailchimp(self) -> bool:
        return self.direction in ("to_mailchimp", "both")

    @property
    def to_hubspot(self) -> bool:
        return self.direction in ("to_hubspot", "both")


@dataclass(frozen=True)
class Consent:
    hubspot_property: str
    granted_values: tuple[str, ...]


@dataclass(frozen=True)
class ContactsFromMailchimp:
    """Mailchimp members not in HubSpot become HubSpot contacts (off unless the mappings say so)."""

    enabled: bool = False
    statuses: tuple[str, ...] = ("subscribed",)
    source_property: str = "syncd_source"


@dataclass(frozen=True)
class OptOuts:
    """A contact whose `hubspot_property` is "true" is unsubscribed in Mailchimp (None: never)."""

    hubspot_property: str | None = "hs_email_optout"


@dataclass(frozen=True)
class Condition:
    hubspot: str
    op: str  # one of CONDITION_OPS
    value: Any = None


@dataclass(frozen=True)
class TagRule:
    """One tag rule: `family` (tag "<family>:<value of hubspot>"), `tag` while `when` holds, or
    `from_mailchimp` (the member's tags among `tags` set the multiple-checkbox property `hubspot`)."""

    kind: str  # "family" | "condition" | "from_mailchimp"
    hubspot: str
    family: str = ""
    tag: str = ""
    when: Condition | None = None
    tags: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class PropertyInfo:
    """A HubSpot property as syncd needs it: its type, field type and options ((label, value) pairs)."""

    type: str = "string"
    field_type: str = "text"
    options: tuple[tuple[str, str], ...] = ()

    @property
    def multiple(self) -> bool:
        return self.type == "enumeration" and self.field_type == "checkbox"


@dataclass(frozen=True)
class MergeInfo:
    """A Mailchimp merge field as syncd needs it: its type, date format and choices."""

    type: str = "text"
    date_format: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldSchemas:
    """The live definitions conversions read (empty: nothing known, values pass with defaults)."""

    properties: Mapping[str, PropertyInfo] = field(default_factory=dict)
    merge_fields: Mapping[str, MergeInfo] = field(default_factory=dict)


NO_SCHEMAS = FieldSchemas()


@dataclass(frozen=True)
class Mappings:
    fields: tuple[FieldMapping, ...]
    consent: Consent
    owned_properties: tuple[str, ...]
    source: str = ""
    contacts_from_mailchimp: ContactsFromMailchimp = ContactsFromMailchimp()
    opt_outs: OptOuts = OptOuts()
    tag_rules: tuple[TagRule, ...] = ()

    @property
    def merge_tags(self) -> frozenset[str]:
        return frozenset(f.merge_tag for f in self.fields)

    def merge_field_defs(self, schemas: FieldSchemas = NO_SCHEMAS) -> list[dict[str, Any]]:
        """Merge field definitions for the audience, created by syncd when missing ({tag, name, type,
        options?}). A radio or dropdown gets its choices (the HubSpot property's options, or the listed
        ones); one whose choices are unknown yet is left out rather than created with `choices: []`."""
        defs: list[dict[str, Any]] = []
        for f in self.fields:
            d: dict[str, Any] = {"tag": f.merge_tag, "name": f.hubspot.replace("_", " ").title(), "type": f.type}
            if f.type in CHOICE_TYPES:
                choices = field_choices(f, schemas)
                if not choices:
                    continue
                d["options"] = {"choices": list(choices)}
            defs.append(d)
        return defs

    @property
    def hubspot_properties(self) -> tuple[str, ...]:
        """Every HubSpot property syncd needs to read for these mappings."""
        names = [f.hubspot for f in self.fields] + [self.consent.hubspot_property, *self.owned_properties]
        if self.opt_outs.hubspot_property:
            names.append(self.opt_outs.hubspot_property)
        if self.contacts_from_mailchimp.enabled:
            names.append(self.contacts_from_mailchimp.source_property)
        for rule in self.tag_rules:
            names.append(rule.hubspot)
        return tuple(dict.fromkeys(names))

    @property
    def writable_properties(self) -> frozenset[str]:
        """Every HubSpot property syncd may write (invariant 3): the owned ones, the targets of fields
        flowing to HubSpot, the source property of created contacts and the targets of Mailchimp tags.
        Identity properties, the opt-out and the consent property are never among them."""
        names = set(self.owned_properties) | {f.hubspot for f in self.fields if f.to_hubspot}
        if self.contacts_from_mailchimp.enabled:
            names.add(self.contacts_from_mailchimp.source_property)
        names |= {r.hubspot for r in self.tag_rules if r.kind == "from_mailchimp"}
        return frozenset(names - NEVER_WRITTEN - {self.consent.hubspot_property})

    @property
    def two_way(self) -> tuple[FieldMapping, ...]:
        return tuple(f for f in self.fields if f.direction == "both")


def field_choices(f: FieldMapping, schemas: FieldSchemas) -> tuple[str, ...]:
    """The choices a radio/dropdown merge field offers: the listed ones, or the HubSpot property's option
    labels (or values, with send: value)."""
    if isinstance(f.choices, tuple):
        return f.choices
    prop = schemas.properties.get(f.hubspot)
    if prop is None:
        return ()
    return tuple(dict.fromkeys(label if f.send == "label" else value for label, value in prop.options))


# -- HubSpot -> Mailchimp ----------------------------------------------------------------------------------


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
    # HubSpot sends date properties as epoch milliseconds or ISO 8601 (datetime properties end in Z)
    parsed = utc_datetime(value)
    if parsed is None:
        raise ConversionError(f"{value[:40]!r} is not a date")
    return parsed


def _number(value: str) -> int | float:
    try:
        number = float(value)
    except ValueError:
        raise ConversionError(f"{value[:40]!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ConversionError(f"{value[:40]!r} is not a finite number")
    return int(number) if number.is_integer() else number


def _labels(prop: PropertyInfo | None, values: list[str], send: str) -> list[str]:
    if prop is None or send == "value":
        return values
    label_of = {v: label for label, v in prop.options}
    return [label_of.get(v, v) for v in values]


def to_merge(f: FieldMapping, value: Any, schemas: FieldSchemas = NO_SCHEMAS) -> tuple[Any, str | None]:
    """(the merge value for HubSpot property value `value`, a warning or None). None or "" gives ""
    (Mailchimp clears the field). Raises ConversionError."""
    if value is None or value == "":
        return "", None
    text = clean_text(str(value)).strip()
    prop = schemas.properties.get(f.hubspot)
    merge = schemas.merge_fields.get(f.merge_tag) or MergeInfo(f.type)
    if prop is not None and prop.type == "enumeration":
        parts = [p for p in text.split(";") if p] if prop.multiple else [text]
        text = ", ".join(_labels(prop, parts, f.send))
    text = _transform(f.transform, text)
    kind = f.type
    if kind == "number":
        return _number(text), None
    if kind in ("date", "birthday"):
        if DATE_TRANSFORM.match(f.transform):
            return text, None  # formatted by the transform already
        default = "MM/DD" if kind == "birthday" else "MM/DD/YYYY"
        fmt = _DATE_FORMATS.get((merge.date_format or default).upper(), _DATE_FORMATS[default])
        return _parse_hubspot_date(text).strftime(fmt), None
    if kind in CHOICE_TYPES:
        choices = merge.choices or field_choices(f, schemas)
        if choices and text not in choices:
            raise ConversionError(f"{text[:40]!r} is not one of the choices of {f.merge_tag}")
        return text, None
    if kind in ("url", "imageurl") and not _URL.match(text):
        raise ConversionError(f"{text[:40]!r} is not a URL")
    if kind == "zip" and not _ZIP.match(text):
        raise ConversionError(f"{text[:40]!r} is not a US zip code")
    if kind == "address":
        raise ConversionError("an address merge field needs addr1, city, state and zip, not one text value")
    if kind == "text" and len(text) > TEXT_MAX:
        return text[:TEXT_MAX], f"{f.hubspot} -> {f.merge_tag}: {len(text)} characters cut to {TEXT_MAX}"
    return text, None


def apply(mappings: Mappings, properties: Mapping[str, str | None]) -> dict[str, Any]:
    """Return the merge fields for a contact's HubSpot `properties`: only mapped tags, in mapping order.

    A property missing from `properties` is left out (unknown, so not overwritten); a None or "" value
    becomes "" (Mailchimp clears the field). Raises MappingValueError at the first value that does not
    fit (`merge_values` reports each instead)."""
    merged, problems, _ = merge_values(mappings, properties)
    if problems:
        f, _value, reason = problems[0]
        raise MappingValueError(f"{f.hubspot} -> {f.merge_tag}: {reason}")
    return merged


Problem = tuple[FieldMapping, Any, str]  # (the field, the value, why it cannot be converted)


def merge_values(
    mappings: Mappings,
    properties: Mapping[str, Any],
    schemas: FieldSchemas = NO_SCHEMAS,
    only: Iterable[FieldMapping] | None = None,
) -> tuple[dict[str, Any], list[Problem], list[str]]:
    """(merge values of the fields flowing to Mailchimp, the values that could not be converted, warnings).
    `only`: these fields (default: every field with direction to_mailchimp or both)."""
    merged: dict[str, Any] = {}
    problems: list[Problem] = []
    warnings: list[str] = []
    for f in only if only is not None else [f for f in mappings.fields if f.to_mailchimp]:
        if f.hubspot not in properties:
            continue
        try:
            merged[f.merge_tag], warning = to_merge(f, properties[f.hubspot], schemas)
        except ConversionError as exc:
            problems.append((f, properties[f.hubspot], str(exc)))
            continue
        if warning:
            warnings.append(warning)
    return merged, problems, warnings


# -- Mailchimp -> HubSpot ----------------------------------------------------------------------------------


def _parse_merge_date(f: FieldMapping, merge: MergeInfo, text: str) -> datetime:
    default = "MM/DD" if f.type == "birthday" else "MM/DD/YYYY"
    fmt = _DATE_FORMATS.get((merge.date_format or default).upper(), _DATE_FORMATS[default])
    for pattern in (fmt, "%Y-%m-%d"):
        try:
            if "%Y" not in pattern:  # a birthday has no year: read it inside a leap year (02/29 exists)
                return datetime.strptime(f"{text}/2000", pattern + "/%Y").replace(tzinfo=UTC)
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ConversionError(f"{text[:40]!r} is not a date in the format {merge.date_format or default}")


def to_property(f: FieldMapping, value: Any, schemas: FieldSchemas = NO_SCHEMAS) -> str:
    """The HubSpot property value for merge value `value` ("" clears). Raises ConversionError."""
    if value is None or value == "":
        return ""
    if isinstance(value, dict):
        raise ConversionError(f"{f.merge_tag} holds an address, which no HubSpot property takes as one value")
    prop = schemas.properties.get(f.hubspot) or PropertyInfo()
    merge = schemas.merge_fields.get(f.merge_tag) or MergeInfo(f.type)
    text = clean_text(str(value)).strip()
    if f.type in ("date", "birthday") and prop.type in ("date", "datetime"):
        if f.type == "birthday":
            raise ConversionError(f"a birthday ({text[:10]!r}) has no year: HubSpot's {prop.type} needs one")
        day = _parse_merge_date(f, merge, text)
        return day.strftime("%Y-%m-%d") if prop.type == "date" else str(int(day.timestamp() * 1000))
    if prop.type == "number":
        number = _number(text)
        return str(number)
    if prop.type == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false", "yes", "no"):
            raise ConversionError(f"{text[:40]!r} is not true or false")
        return "true" if lowered in ("true", "yes") else "false"
    if prop.type == "enumeration":
        by_label = {label.lower(): v for label, v in prop.options}
        values = {v.lower(): v for _, v in prop.options}
        parts = [p.strip() for p in text.split(",")] if prop.multiple else [text]
        out = []
        for part in parts:
            found = values.get(part.lower()) or by_label.get(part.lower())
            if found is None and prop.options:
                raise ConversionError(f"{part[:40]!r} is not an option of HubSpot property {f.hubspot}")
            out.append(found or part)
        return ";".join(out)
    if len(text) > 65_536:  # HubSpot: string property values up to 65,536 characters
        raise ConversionError(f"{len(text)} characters is more than HubSpot's 65,536")
    return text


def same(a: Any, b: Any) -> bool:
    """Whether two merge values are the same value (Mailchimp answers 5 for "5", None for "")."""
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


# -- consent, opt-outs, tags ------------------------------------------------------------------------------


def consent_granted(mappings: Mappings, properties: Mapping[str, str | None]) -> bool:
    """Return whether `properties` show marketing consent (a multi-select value is split on ';')."""
    value = properties.get(mappings.consent.hubspot_property)
    if not value:
        return False
    return any(part.strip() in mappings.consent.granted_values for part in str(value).split(";"))


def opted_out(mappings: Mappings, properties: Mapping[str, Any]) -> bool:
    """Whether the contact opted out of email in HubSpot (always `hs_email_optout`, and the mappings'
    opt-out property): such a contact is never subscribed, and its member is unsubscribed."""
    names = {"hs_email_optout", mappings.opt_outs.hubspot_property or "hs_email_optout"}
    return any(str(properties.get(n) or "").strip().lower() == "true" for n in names)


def _as_number(value: Any) -> float | None:
    """A number from a property value; a range bucket like "500-1000" or "1000+" counts as its lower
    bound (HubSpot's numemployees is such an enumeration)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        match = _LEADING_NUMBER.match(str(value or ""))
        return float(match.group(1)) if match else None


def holds(condition: Condition, properties: Mapping[str, Any]) -> bool:
    """Whether the contact's `properties` meet `condition` (an absent value meets only `known: false`)."""
    value = properties.get(condition.hubspot)
    present = value not in (None, "")
    op, want = condition.op, condition.value
    if op == "known":
        return present == bool(want)
    if not present:
        return op == "ne"
    text = str(value)
    if op == "eq":
        return text.lower() == str(want).lower()
    if op == "ne":
        return text.lower() != str(want).lower()
    if op == "in":
        return text.lower() in {str(w).lower() for w in want or ()}
    if op == "contains":
        return any(str(want).lower() == part.strip().lower() for part in text.split(";")) or (
            str(want).lower() in text.lower()
        )
    number, bound = _as_number(value), _as_number(want)
    if number is None or bound is None:
        return False
    checks = {"gte": number >= bound, "gt": number > bound, "lte": number <= bound, "lt": number < bound}
    return bool(checks.get(op, False))


def rule_tags(mappings: Mappings, properties: Mapping[str, Any]) -> tuple[list[str], tuple[str, ...], frozenset[str]]:
    """(the tags the tag rules want for this contact, the families they manage ("industry:"), the exact
    tags they manage ("plan:enterprise")). A managed tag not wanted is taken off."""
    wanted: list[str] = []
    families: list[str] = []
    exact: set[str] = set()
    for rule in mappings.tag_rules:
        if rule.kind == "family":
            families.append(f"{rule.family}:")
            value = clean_text(str(properties.get(rule.hubspot) or "")).strip()
            if value:
                wanted.append(f"{rule.family}:{value}"[:TAG_MAX])
        elif rule.kind == "condition" and rule.when is not None:
            exact.add(rule.tag)
            if holds(rule.when, properties):
                wanted.append(rule.tag)
    return sorted(set(wanted)), tuple(families), frozenset(exact)


def tags_property(rule: TagRule, member_tags: Iterable[str]) -> str:
    """The multiple-checkbox value ("a;b") of a from_mailchimp rule for a member with `member_tags`."""
    have = {t.lower() for t in member_tags}
    return ";".join(t for t in rule.tags if t.lower() in have)
