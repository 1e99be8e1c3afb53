"""Field mappings: which HubSpot contact properties fill which Mailchimp merge fields, what marketing
consent looks like, and which HubSpot properties syncd owns.

`load_mappings` validates the admin's YAML against mappings/schema.json and then semantically, listing
every problem as "file:line: reason"; `check_against` compares them with the live schemas. What they
mean (properties in, merge fields out) is pure and lives in syncd/domain/mapping.py.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from syncd.domain.mapping import (
    CHOICE_TYPES,
    CONDITION_OPS,
    DATE_TRANSFORM,
    NEVER_WRITTEN,
    ONE_WAY_TYPES,
    SIMPLE_TRANSFORMS,
    TRUNCATE_TRANSFORM,
    Condition,
    Consent,
    ContactsFromMailchimp,
    FieldMapping,
    Mappings,
    OptOuts,
    TagRule,
)
from syncd.resources import MAPPINGS_SCHEMA, shipped
from syncd.yamlfile import YamlFileError, read_yaml
from syncd.yamlfile import line_of as _line_of

# Shipped in the package (syncd/resources.py); the admin-facing copy is mappings/schema.json.
SCHEMA_PATH = shipped(MAPPINGS_SCHEMA)

# Mailchimp merge tags: at most 10 characters of A-Z, 0-9 and _.
MERGE_TAG = re.compile(r"^[A-Z0-9_]{1,10}$")
# Identity and bookkeeping properties (and the opt-out): syncd must never rewrite them, whatever the file says.
NEVER_OWNED = NEVER_WRITTEN
_CHECKED_SEMANTICALLY = {"merge_tag", "transform"}  # their schema errors are replaced by clearer ones


class MappingsError(Exception):
    """A mappings file is invalid. `problems` lists each as "file:line: reason"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid mappings:\n  " + "\n  ".join(self.problems))


def load_mappings(path: str | Path) -> Mappings:
    """Read and validate the mappings file at `path`; return frozen Mappings.

    Raises MappingsError listing every problem ("file:line: reason"): YAML syntax, schema violations,
    duplicate or malformed merge tags, unknown transforms, identity properties listed as owned.
    """
    name = str(path)
    try:
        root, data = read_yaml(path, name)
    except YamlFileError as exc:
        raise MappingsError(exc.problems) from None
    if root is None:
        raise MappingsError([f"{name}:1: empty file"])
    problems = [_schema_problem(name, root, err) for err in _schema_errors(data)]
    if isinstance(data, dict):
        problems += _semantic_problems(name, root, data)
    if problems:
        raise MappingsError(sorted(set(problems), key=_line_key))
    return _build(data, root, name)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _schema_errors(data: Any) -> list[Any]:
    errors = _validator().iter_errors(data)
    return [e for e in errors if not (e.absolute_path and e.absolute_path[-1] in _CHECKED_SEMANTICALLY)]


def _schema_problem(name: str, root: yaml.Node, err: Any) -> str:
    """One schema error as "file:line: reason" (the first unknown key of an object, with a suggestion)."""
    path, _, message = schema_details(err)[0]
    return f"{name}:{_line_of(root, path)}: {message}"


def schema_details(err: Any) -> list[tuple[list[Any], bool, str]]:
    """What one jsonschema error says, as (path in the file, whether the path names the offending value
    rather than its key, message), one per unknown key of an object; enum and unknown-key errors end with
    "did you mean 'x'?" when a known name is close (difflib)."""
    path = list(err.absolute_path)
    where = ".".join(str(p) for p in path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in known]
        if extra:
            return [
                (
                    [*path, key],
                    False,
                    f"unknown key '{key}'" + (f" in {where}" if where else "") + did_you_mean(str(key), known),
                )
                for key in extra
            ]
    message = err.message
    if err.validator == "enum" and isinstance(err.instance, str):
        message += did_you_mean(err.instance, [str(v) for v in err.validator_value])
    return [(path, True, (f"{where}: " if where else "") + message)]


def did_you_mean(word: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """ "; did you mean 'x'?" for the known name closest to `word` (difflib), or "" when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=cutoff)
    if not close and word.lower() != word:
        close = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=cutoff)
    return f"; did you mean '{close[0]}'?" if close and close[0] != word else ""


def _semantic_problems(name: str, root: yaml.Node, data: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    found = data.get("fields")
    fields: list[Any] = found if isinstance(found, list) else []
    for i, item in enumerate(fields):
        if not isinstance(item, dict):
            continue
        tag, transform = item.get("merge_tag"), item.get("transform", "none")
        if isinstance(tag, str):
            line = _line_of(root, ["fields", i, "merge_tag"])
            if not MERGE_TAG.match(tag):
                problems.append(f"{name}:{line}: merge tag '{tag}' must be 1-10 characters of A-Z, 0-9 and _")
            if tag in seen:
                problems.append(f"{name}:{line}: duplicate merge tag '{tag}' (first on line {seen[tag]})")
            seen.setdefault(tag, line)
        if not _valid_transform(transform):
            problems.append(
                f"{name}:{_line_of(root, ['fields', i, 'transform'])}: unknown transform "
                f"{transform!r} (none, upper, lower, title, date:YYYY-MM-DD, truncate:N)"
            )
        problems += _direction_problems(name, root, data, i, item)
    problems += _target_problems(name, root, data)
    listed = data.get("owned_properties")
    owned: list[Any] = listed if isinstance(listed, list) else []
    for i, prop in enumerate(owned):
        if _named(prop, NEVER_OWNED):
            problems.append(
                f"{name}:{_line_of(root, ['owned_properties', i])}: '{prop}' cannot be owned: "
                "syncd never rewrites identity properties"
            )
    return problems


def _direction_problems(name: str, root: yaml.Node, data: dict[str, Any], i: int, item: dict) -> list[str]:
    """A field's direction, conflict and choices against what they can mean (the schema checked the names)."""
    problems: list[str] = []
    direction, kind, prop = item.get("direction", "to_mailchimp"), item.get("type"), item.get("hubspot")
    if "conflict" in item and direction != "both":
        problems.append(
            f"{name}:{_line_of(root, ['fields', i, 'conflict'])}: conflict only applies to direction both "
            f"(this field's direction is {direction})"
        )
    if direction in ("to_hubspot", "both"):
        line = _line_of(root, ["fields", i, "direction"])
        consent = (data.get("consent") or {}).get("hubspot_property") if isinstance(data.get("consent"), dict) else None
        if _named(prop, NEVER_WRITTEN):
            problems.append(f"{name}:{line}: '{prop}' cannot receive values from Mailchimp: syncd never writes it")
        elif prop is not None and prop == consent:
            problems.append(
                f"{name}:{line}: '{prop}' is the consent property: Mailchimp can never grant marketing consent"
            )
        if kind in ONE_WAY_TYPES:
            problems.append(f"{name}:{line}: a {kind} merge field cannot flow to HubSpot (direction {direction})")
    if "choices" in item and kind not in CHOICE_TYPES:
        problems.append(f"{name}:{_line_of(root, ['fields', i, 'choices'])}: choices only apply to radio and dropdown")
    return problems


def _target_problems(name: str, root: yaml.Node, data: dict[str, Any]) -> list[str]:
    """Two fields writing one HubSpot property (from Mailchimp); tag rules and contact creation against
    the properties syncd may not write."""
    problems: list[str] = []
    found = data.get("fields")
    seen: dict[str, int] = {}
    for i, item in enumerate(found if isinstance(found, list) else []):
        if not isinstance(item, dict) or item.get("direction") not in ("to_hubspot", "both"):
            continue
        prop, line = item.get("hubspot"), _line_of(root, ["fields", i, "hubspot"])
        if isinstance(prop, str) and prop in seen:
            problems.append(
                f"{name}:{line}: HubSpot property '{prop}' receives two merge fields (first on line {seen[prop]})"
            )
        if isinstance(prop, str):
            seen.setdefault(prop, line)
    rules = data.get("tag_rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and "from_mailchimp_tags" in rule and _named(rule.get("hubspot"), NEVER_WRITTEN):
            problems.append(
                f"{name}:{_line_of(root, ['tag_rules', i, 'hubspot'])}: '{rule['hubspot']}' cannot be written"
            )
        if isinstance(rule, dict) and "from_mailchimp_tags" in rule and _named(rule.get("hubspot"), seen):
            problems.append(
                f"{name}:{_line_of(root, ['tag_rules', i, 'hubspot'])}: HubSpot property '{rule['hubspot']}' "
                f"is also the target of a field (line {seen[rule['hubspot']]})"
            )
    created = data.get("contacts_from_mailchimp")
    if isinstance(created, dict) and _named(created.get("source_property"), NEVER_WRITTEN):
        problems.append(
            f"{name}:{_line_of(root, ['contacts_from_mailchimp', 'source_property'])}: "
            f"'{created['source_property']}' cannot be the source property"
        )
    return problems


def _named(value: Any, names: Any) -> bool:
    """Whether `value` is one of `names`; a value that is not a name at all (a list, a mapping: the schema
    reports its type) is none of them, instead of raising TypeError (unhashable) at the membership test."""
    return isinstance(value, str) and value in names


def _valid_transform(transform: Any) -> bool:
    return isinstance(transform, str) and (
        transform in SIMPLE_TRANSFORMS
        or bool(DATE_TRANSFORM.match(transform))
        or bool(TRUNCATE_TRANSFORM.match(transform))
    )


def _line_key(problem: str) -> tuple[int, str]:
    match = re.match(r"^.*?:(\d+):", problem)
    return (int(match.group(1)) if match else 0, problem)


def _build(data: dict[str, Any], root: yaml.Node, name: str) -> Mappings:
    fields = tuple(
        FieldMapping(
            hubspot=f["hubspot"],
            merge_tag=f["merge_tag"],
            type=f["type"],
            transform=f.get("transform", "none"),
            line=_line_of(root, ["fields", i]),
            direction=f.get("direction", "to_mailchimp"),
            conflict=f.get("conflict", "newest"),
            choices=tuple(f["choices"]) if isinstance(f.get("choices"), list) else "hubspot",
            send=f.get("send", "label"),
        )
        for i, f in enumerate(data["fields"])
    )
    consent = Consent(data["consent"]["hubspot_property"], tuple(data["consent"]["granted_values"]))
    created = data.get("contacts_from_mailchimp") or {}
    opt_outs = data.get("opt_outs") or {}
    return Mappings(
        fields=fields,
        consent=consent,
        owned_properties=tuple(data["owned_properties"]),
        source=name,
        contacts_from_mailchimp=ContactsFromMailchimp(
            enabled=bool(created.get("enabled", False)),
            statuses=tuple(created.get("statuses") or ("subscribed",)),
            source_property=created.get("source_property", "syncd_source"),
        ),
        opt_outs=OptOuts(opt_outs.get("hubspot_property", "hs_email_optout")),
        tag_rules=tuple(
            _tag_rule(r, _line_of(root, ["tag_rules", i])) for i, r in enumerate(data.get("tag_rules") or [])
        ),
    )


def _tag_rule(rule: dict[str, Any], line: int) -> TagRule:
    if "family" in rule:
        return TagRule("family", rule["hubspot"], family=rule["family"], line=line)
    if "from_mailchimp_tags" in rule:
        return TagRule("from_mailchimp", rule["hubspot"], tags=tuple(rule["from_mailchimp_tags"]), line=line)
    when = rule["when"]
    op = next(k for k in when if k in CONDITION_OPS)
    value = tuple(when[op]) if op == "in" else when[op]
    return TagRule("condition", when["hubspot"], tag=rule["tag"], when=Condition(when["hubspot"], op, value), line=line)


def check_against(
    mappings: Mappings,
    hubspot_properties: list[dict[str, Any]],
    merge_fields: list[dict[str, Any]],
    created_by_syncd: Iterable[dict[str, Any]] = (),
) -> list[str]:
    """Compare mappings with the live schemas; return the problems found (empty when all is well).

    `hubspot_properties` as GET /crm/v3/properties/contacts returns them (name, type, options);
    `merge_fields` as GET /lists/{id}/merge-fields returns them (tag, type). `created_by_syncd`: the
    property definitions ({name, ...}) and merge field definitions ({tag, type}) syncd creates itself on
    its first run; they count as present. Each problem starts with the mappings file (and line, for a field).
    """
    props = {p.get("name"): p for p in hubspot_properties}
    tags = {m.get("tag"): m for m in merge_fields}
    for d in created_by_syncd:
        if "name" in d:
            props.setdefault(d["name"], d)
        if "tag" in d:
            tags.setdefault(d["tag"], d)
    found = [*_field_problems(mappings, props, tags), *_consent_problems(mappings.consent, props)]
    found += [
        (None, f"owned HubSpot property '{name}' does not exist (create it before syncd writes it)")
        for name in mappings.owned_properties
        if name not in props
    ]
    source = mappings.source or "mappings"
    return [f"{source}:{line}: {msg}" if line else f"{source}: {msg}" for line, msg in found]


Problem = tuple[int | None, str]


def _field_problems(
    mappings: Mappings, props: Mapping[Any, dict[str, Any]], tags: Mapping[Any, dict[str, Any]]
) -> Iterable[Problem]:
    for f in mappings.fields:
        # An owned property that is missing is reported once, below, as an owned property.
        if f.hubspot not in props and f.hubspot not in mappings.owned_properties:
            yield f.line, f"unknown HubSpot contact property '{f.hubspot}' (mapped to {f.merge_tag})"
        live = tags.get(f.merge_tag)
        if live is None:
            yield f.line, f"Mailchimp merge field {f.merge_tag} does not exist in the audience"
        elif live.get("type") != f.type:
            yield (
                f.line,
                f"Mailchimp merge field {f.merge_tag} is of type {live.get('type')}, the mapping says {f.type}",
            )


def _consent_problems(consent: Consent, props: Mapping[Any, dict[str, Any]]) -> Iterable[Problem]:
    prop = props.get(consent.hubspot_property)
    if prop is None:
        yield None, f"consent property '{consent.hubspot_property}' does not exist in HubSpot"
        return
    options = {o.get("value") for o in prop.get("options") or []}
    for value in consent.granted_values:
        if options and value not in options:
            yield None, f"consent value {value!r} is not an option of HubSpot property '{consent.hubspot_property}'"
