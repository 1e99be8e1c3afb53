"""`syncd mappings check`: every problem of a mappings file at once, each as `file:line:column: message`
with a suggestion where a known name is close ("did you mean 'jobtitle'?").

Three layers, all reported together:

* the file: YAML syntax (line and column of the mark), the schema (mappings/schema.json: unknown keys,
  wrong enum names) and the loader's own rules (merge tags, transforms, owned properties), exactly as
  `syncd run` would refuse them (syncd/mappings.py);
* the agreed format's names the schema may not know yet (direction, conflict, send, choices);
* the names and types against the live schemas (HubSpot contact properties, the audience's merge fields
  compared by tag), or with `--offline` against HubSpot's standard contact properties shipped in
  syncd/data (custom properties cannot be checked then, and are listed as such).

`--fix` creates what is missing and can be created (merge fields, with their choices; custom HubSpot
properties whose name is not a likely misspelling) through the connectors. Nothing here writes to the
database.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from syncd.yamlfile import YamlFileError, parse_yaml_bytes, position_of

# The agreed mappings format (issue 10): checked here by name whatever the schema version says, so a
# misspelt direction gets its suggestion from one place.
FIELD_ENUMS: dict[str, tuple[str, ...]] = {
    "direction": ("to_mailchimp", "to_hubspot", "both"),
    "conflict": ("newest", "hubspot", "mailchimp"),
    "send": ("label", "value"),
}
CHOICE_TYPES = ("radio", "dropdown")
MERGE_TYPES = ("text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown", "birthday", "zip")
TO_HUBSPOT = ("to_hubspot", "both")
MERGE_TAG_MAX = 10  # Mailchimp: a merge tag has at most 10 characters
MISSPELT = 0.8  # difflib ratio above which an unknown name is taken for a misspelling of a known one


@dataclass(frozen=True)
class Finding:
    """One problem: where it is (1-based line and column), what it is, how bad ("error" fails the check;
    "warning" does not: syncd copes, e.g. it creates a missing merge field at its next start)."""

    line: int
    column: int
    message: str
    level: str = "error"

    def render(self, file: str) -> str:
        prefix = "warning: " if self.level == "warning" else ""
        return f"{file}:{self.line}:{self.column}: {prefix}{self.message}"


@dataclass(frozen=True)
class Creation:
    """Something `--fix` creates: a Mailchimp merge field ({tag, name, type, options?}) or a HubSpot contact
    property (a PropertyCreate dict)."""

    system: str  # "mailchimp" | "hubspot"
    definition: dict[str, Any]

    def describe(self) -> str:
        d = self.definition
        if self.system == "mailchimp":
            choices = (d.get("options") or {}).get("choices")
            extra = f" with choices {', '.join(choices)}" if choices else ""
            return f"Mailchimp merge field {d['tag']} ({d['type']}{extra})"
        options = [o["value"] for o in d.get("options") or []]
        extra = f" with options {', '.join(options)}" if options else ""
        return f"HubSpot contact property {d['name']} ({d['type']}/{d['fieldType']}{extra}, group {d['groupName']})"


@dataclass
class Report:
    file: str
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # names --offline could not check (custom properties)
    creations: list[Creation] = field(default_factory=list)
    against: str = ""  # what the names were checked against ("" when the file itself is broken)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def lines(self) -> list[str]:
        """Every finding in file order, then what could not be checked, then the count line."""
        out = [f.render(self.file) for f in sorted(self.findings, key=lambda f: (f.line, f.column, f.message))]
        if self.unchecked:
            out.append(
                f"{self.file}: not checked offline (not standard HubSpot contact properties; custom ones are"
                f" checked against the portal without --offline): {', '.join(self.unchecked)}"
            )
        out.append(self.count_line())
        return out

    def count_line(self) -> str:
        e, w = len(self.errors), len(self.warnings)
        against = f" against {self.against}" if self.against else ""
        return f"{e} error{'s' * (e != 1)}, {w} warning{'s' * (w != 1)} in {self.file}{against}"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": not self.errors,
            "against": self.against,
            "problems": [
                {"line": f.line, "column": f.column, "level": f.level, "message": f.message}
                for f in sorted(self.findings, key=lambda f: (f.line, f.column))
            ],
            "not_checked": self.unchecked,
            "will_create": [c.describe() for c in self.creations],
        }


@dataclass(frozen=True)
class Schemas:
    """What the names are checked against: HubSpot contact property definitions (name, type, fieldType,
    options) and the audience's merge fields (tag, type, options), or None offline."""

    properties: list[dict[str, Any]]
    merge_fields: list[dict[str, Any]] | None
    offline: bool = False

    @property
    def label(self) -> str:
        if self.offline:
            return "HubSpot's standard contact properties (offline)"
        return "the live HubSpot properties and Mailchimp merge fields"


@lru_cache(maxsize=1)
def standard_properties() -> tuple[dict[str, Any], ...]:
    """HubSpot's standard contact properties (name, type, fieldType), shipped in syncd/data."""
    text = resources.files("syncd.data").joinpath("hubspot_standard_contact_properties.json").read_text("utf-8")
    return tuple(json.loads(text)["properties"])


def offline_schemas() -> Schemas:
    from syncd.owned import CONTACT_PROPERTIES

    return Schemas([*standard_properties(), *CONTACT_PROPERTIES], None, offline=True)


def live_schemas(hubspot: Any, mailchimp: Any) -> Schemas:
    """The portal's contact properties and the audience's merge fields, through the connectors."""
    return Schemas(hubspot.get_properties("contacts"), mailchimp.get_merge_fields())


# -- the check --------------------------------------------------------------------------------------------
def check_file(path: str | Path, schemas: Schemas | None, label: str | None = None) -> Report:
    """Every problem of the mappings file at `path` (named `label` in the report), checked against `schemas`
    too unless None. Never raises for a bad file: an unreadable one is a finding."""
    name = label or str(path)
    report = Report(name)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        report.findings.append(Finding(1, 1, f"cannot read: {exc.strerror or exc}"))
        return report
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    try:
        root, data = parse_yaml_bytes(raw, name)
    except YamlFileError as exc:
        for problem, column in zip(exc.problems, exc.columns, strict=True):
            report.findings.append(_from_line_problem(name, problem, text, column))
        return report
    if root is None or not isinstance(data, dict):
        report.findings.append(Finding(1, 1, "empty file" if root is None else "the file must be a mapping of keys"))
        return report
    found = _file_findings(name, root, data, text)
    if schemas is not None:
        report.against = schemas.label
        _names(root, data, schemas, report, found)
    report.findings = list(dict.fromkeys(found))
    return report


def _file_findings(name: str, root: yaml.Node, data: dict[str, Any], text: str) -> list[Finding]:
    """What `load_mappings` refuses (schema and rules), with columns, plus the agreed format's names."""
    from syncd import mappings as m

    found: list[Finding] = []
    for err in m._schema_errors(data):
        at = list(err.absolute_path)
        if len(at) == 3 and at[0] == "fields" and at[2] in FIELD_ENUMS and err.validator == "enum":
            continue  # reported below, with its suggestion
        if len(at) >= 3 and at[0] == "fields" and at[2] == "choices" and err.instance == []:
            continue  # empty choices: reported below, saying what to do
        for path, at_value, message in m.schema_details(err):
            line, column = position_of(root, path, value=at_value)
            found.append(Finding(line, column, message))
    for problem in m._semantic_problems(name, root, data):
        found.append(_from_line_problem(name, problem, text))
    fields = data.get("fields")
    for i, item in enumerate(fields if isinstance(fields, list) else []):
        if not isinstance(item, dict):
            continue
        for key, allowed in FIELD_ENUMS.items():
            value = item.get(key)
            if key in item and value not in allowed:
                line, column = position_of(root, ["fields", i, key], value=True)
                found.append(
                    Finding(
                        line,
                        column,
                        f"{key} {_show(value)} is not one of {', '.join(allowed)}" + _suggest(str(value), allowed),
                    )
                )
        if item.get("type") in CHOICE_TYPES and isinstance(item.get("choices"), list) and not item["choices"]:
            line, column = position_of(root, ["fields", i, "choices"], value=True)
            found.append(
                Finding(
                    line,
                    column,
                    f"{item['type']} merge field {item.get('merge_tag')} has no choices: list them, or take the"
                    " HubSpot property's options with `choices: hubspot`",
                )
            )
    return found


def _names(root: yaml.Node, data: dict[str, Any], schemas: Schemas, report: Report, found: list[Finding]) -> None:
    """The names and types the file uses, against the schemas."""
    from syncd.owned import CONTACT_PROPERTIES, GROUP

    props = {p.get("name"): p for p in schemas.properties}
    created_by_syncd = {d["name"] for d in CONTACT_PROPERTIES} | _created_by_mappings(data)
    tags = {str(f.get("tag", "")).upper(): f for f in schemas.merge_fields or []}
    standard = [p["name"] for p in standard_properties()]
    unchecked: list[str] = []

    def unknown(name: str, path: list[Any]) -> Finding | None:
        """A property name that is not in the schemas: a finding, or None (unchecked offline / created)."""
        if name in props or name in created_by_syncd:
            return None
        line, column = position_of(root, path, value=True)
        if schemas.offline:
            close = difflib.get_close_matches(name, standard, n=1, cutoff=MISSPELT)
            if not close:
                unchecked.append(name)
                return None
            return Finding(line, column, f"unknown HubSpot property '{name}'; did you mean '{close[0]}'?")
        hint = _suggest(name, [str(n) for n in props if n])
        return Finding(line, column, f"unknown HubSpot property '{name}'{hint}")

    fields = data.get("fields")
    for i, item in enumerate(fields if isinstance(fields, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("hubspot"), str):
            continue
        prop_name, mtype, tag = item["hubspot"], item.get("type"), item.get("merge_tag")
        problem = unknown(prop_name, ["fields", i, "hubspot"])
        if problem is not None:
            if not schemas.offline and not problem.message.endswith("?"):
                definition = _property_for(prop_name, item, GROUP["name"])
                report.creations.append(Creation("hubspot", definition))
                problem = Finding(
                    problem.line,
                    problem.column,
                    f"{problem.message} (--fix creates it as a {definition['type']} property in group {GROUP['name']})",
                )
            found.append(problem)
        prop = props.get(prop_name) or next((d for d in CONTACT_PROPERTIES if d["name"] == prop_name), None)
        tline, tcolumn = position_of(root, ["fields", i, "type"], value=True)
        if prop is not None and mtype in MERGE_TYPES:
            clash = type_clash(prop, mtype, item.get("direction", "to_mailchimp"), item.get("choices"))
            if clash:
                found.append(Finding(tline, tcolumn, clash))
        choices = _choices(item, prop)
        if mtype in CHOICE_TYPES and item.get("choices", "hubspot") == "hubspot" and prop is not None and not choices:
            found.append(
                Finding(
                    tline,
                    tcolumn,
                    f"{mtype} merge field {tag} takes its choices from HubSpot property '{prop_name}', which has no"
                    " options: list them under `choices:`",
                )
            )
        if mtype not in MERGE_TYPES:
            continue  # the wrong type name is reported; comparing it with anything says nothing more
        if schemas.merge_fields is not None and isinstance(tag, str) and len(tag) <= MERGE_TAG_MAX:
            found += _merge_field(root, i, item, tags, choices, report)
    _other_properties(root, data, unknown, found)
    report.unchecked = list(dict.fromkeys(unchecked))
    consent = data.get("consent")
    if isinstance(consent, dict) and isinstance(consent.get("hubspot_property"), str):
        prop = props.get(consent["hubspot_property"])
        options = {o.get("value") for o in (prop or {}).get("options") or []}
        for j, value in enumerate(consent.get("granted_values") or []):
            if options and value not in options:
                line, column = position_of(root, ["consent", "granted_values", j], value=True)
                found.append(
                    Finding(
                        line,
                        column,
                        f"consent value {_show(value)} is not an option of HubSpot property"
                        f" '{consent['hubspot_property']}'" + _suggest(str(value), [str(o) for o in options]),
                    )
                )


def _other_properties(root: yaml.Node, data: dict[str, Any], unknown: Any, found: list[Finding]) -> None:
    """The consent, opt-out, owned and tag-rule property names."""
    places: list[list[Any]] = [["consent", "hubspot_property"], ["opt_outs", "hubspot_property"]]
    owned = data.get("owned_properties")
    places += [["owned_properties", j] for j in range(len(owned) if isinstance(owned, list) else 0)]
    rules = data.get("tag_rules")
    for j, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and "from_mailchimp_tags" not in rule:
            places.append(["tag_rules", j, "when", "hubspot"] if "when" in rule else ["tag_rules", j, "hubspot"])
    for path in places:
        value: Any = data
        for part in path:
            value = (
                value.get(part)
                if isinstance(value, dict)
                else (value[part] if isinstance(value, list) and isinstance(part, int) and part < len(value) else None)
            )
        if isinstance(value, str):
            problem = unknown(value, path)
            if problem is not None:
                found.append(problem)


def _merge_field(
    root: yaml.Node,
    i: int,
    item: dict[str, Any],
    tags: Mapping[str, dict[str, Any]],
    choices: list[str],
    report: Report,
) -> list[Finding]:
    """A field's merge tag against the audience's merge fields (by tag, case-insensitively)."""
    tag, mtype = str(item["merge_tag"]), item.get("type")
    line, column = position_of(root, ["fields", i, "merge_tag"], value=True)
    live = tags.get(tag.upper())
    if live is None:
        close = difflib.get_close_matches(tag.upper(), list(tags), n=1, cutoff=MISSPELT)
        if close:
            return [Finding(line, column, f"Mailchimp merge field {tag} does not exist; did you mean '{close[0]}'?")]
        if mtype in CHOICE_TYPES and not choices:
            return []  # no choices to create it with: reported above
        definition: dict[str, Any] = {"tag": tag, "name": str(item["hubspot"]).replace("_", " ").title(), "type": mtype}
        if mtype in CHOICE_TYPES:
            definition["options"] = {"choices": choices}
        report.creations.append(Creation("mailchimp", definition))
        return [
            Finding(
                line,
                column,
                f"Mailchimp merge field {tag} does not exist in the audience: syncd creates it ({mtype}) at its"
                " next start, or now with --fix",
                "warning",
            )
        ]
    found: list[Finding] = []
    if live.get("type") != mtype:
        tline, tcolumn = position_of(root, ["fields", i, "type"], value=True)
        found.append(
            Finding(
                tline,
                tcolumn,
                f"the audience's merge field {live.get('tag')} is a {live.get('type')} field; the mapping says"
                f" {mtype}" + (" (values outside its choices are refused)" if live.get("type") in CHOICE_TYPES else ""),
            )
        )
    elif mtype in CHOICE_TYPES:
        have = [str(c) for c in (live.get("options") or {}).get("choices") or []]
        if not have:
            found.append(
                Finding(
                    line,
                    column,
                    f"the audience's {mtype} merge field {live.get('tag')} has no choices: Mailchimp refuses every"
                    " member update that sets it; add its choices in Mailchimp",
                )
            )
        else:
            lacking = [c for c in choices if c not in have]
            if lacking:
                found.append(
                    Finding(
                        line,
                        column,
                        f"the audience's {mtype} merge field {live.get('tag')} lacks the choice(s)"
                        f" {', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}: those values will be refused",
                        "warning",
                    )
                )
    return found


# -- types --------------------------------------------------------------------------------------------------
def type_clash(prop: Mapping[str, Any], mtype: str, direction: Any = "to_mailchimp", choices: Any = None) -> str | None:
    """Why a HubSpot property (type, fieldType) cannot fill a merge field of type `mtype` (or, for fields
    that flow to HubSpot, be filled from it), or None when they fit."""
    kind, ftype, name = prop.get("type"), prop.get("fieldType"), prop.get("name")
    what = f"HubSpot property '{name}' is a {kind} ({ftype}) property"
    many = kind == "enumeration" and ftype == "checkbox"
    if mtype == "number" and kind != "number":
        return f"{what}: a number merge field cannot hold its values (use type: text, or map a number property)"
    if mtype in ("date", "birthday") and kind not in ("date", "datetime"):
        return f"{what}: a {mtype} merge field needs a date or datetime property"
    if mtype in CHOICE_TYPES:
        if many:
            return f"{what}: it holds several values at once, a {mtype} merge field one (use type: text)"
        if kind not in ("enumeration", "bool") and not isinstance(choices, list):
            return f"{what} without options: a {mtype} merge field needs its choices listed under `choices:`"
    if mtype == "phone" and kind not in ("string", "phone_number"):
        return f"{what}: a phone merge field needs a text or phone number property"
    textual = mtype in ("text", "url", "imageurl", "zip", "phone", "address")
    if direction in TO_HUBSPOT and textual and kind in ("number", "date", "datetime", "bool"):
        return f"{what}: text from a {mtype} merge field cannot all become {kind} values (direction {direction})"
    return None


def _choices(item: Mapping[str, Any], prop: Mapping[str, Any] | None) -> list[str]:
    """A radio/dropdown field's choices: the listed ones, or the HubSpot property's option labels (or values,
    with `send: value`)."""
    listed = item.get("choices")
    if isinstance(listed, list):
        return [str(c) for c in listed]
    side = "value" if item.get("send") == "value" else "label"
    return [str(o.get(side) or o.get("value")) for o in (prop or {}).get("options") or [] if not o.get("hidden")]


def _property_for(name: str, item: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The HubSpot property `--fix` creates for a mapped name that does not exist: typed after the merge field."""
    mtype = item.get("type")
    kind, ftype = {
        "number": ("number", "number"),
        "date": ("date", "date"),
        "birthday": ("date", "date"),
        "phone": ("string", "phonenumber"),
        "radio": ("enumeration", "radio"),
        "dropdown": ("enumeration", "select"),
    }.get(str(mtype), ("string", "text"))
    definition: dict[str, Any] = {
        "name": name,
        "label": name.replace("_", " ").title(),
        "type": kind,
        "fieldType": ftype,
        "groupName": group,
        "description": "Created by syncd mappings check --fix.",
    }
    if kind == "enumeration":
        listed = item.get("choices")
        values = [str(c) for c in listed] if isinstance(listed, list) else []
        definition["options"] = [
            {"label": v, "value": v, "displayOrder": k, "hidden": False} for k, v in enumerate(values)
        ]
    return definition


def _created_by_mappings(data: Mapping[str, Any]) -> set[str]:
    """Properties syncd creates itself because the mappings name them (the source property of contacts
    created from Mailchimp, the targets of Mailchimp tag rules)."""
    names: set[str] = set()
    created = data.get("contacts_from_mailchimp")
    if isinstance(created, dict):
        names.add(str(created.get("source_property", "syncd_source")))
    rules = data.get("tag_rules")
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict) and "from_mailchimp_tags" in rule and isinstance(rule.get("hubspot"), str):
            names.add(rule["hubspot"])
    return names


# -- fixing ---------------------------------------------------------------------------------------------------
def fix(report: Report, hubspot: Any, mailchimp: Any) -> list[str]:
    """Create what `report` says can be created; returns what was created, described."""
    from syncd.owned import GROUP

    props = [c.definition for c in report.creations if c.system == "hubspot"]
    fields = [c.definition for c in report.creations if c.system == "mailchimp"]
    done: list[str] = []
    if props:
        hubspot.ensure_property_group("contacts", GROUP["name"], GROUP["label"])
        made = set(hubspot.ensure_properties("contacts", props))
        done += [c.describe() for c in report.creations if c.system == "hubspot" and c.definition["name"] in made]
    if fields:
        made = {t.upper() for t in mailchimp.ensure_merge_fields(fields)}
        done += [
            c.describe() for c in report.creations if c.system == "mailchimp" and c.definition["tag"].upper() in made
        ]
    return done


# -- rendering helpers ----------------------------------------------------------------------------------------
_LINE_PROBLEM = re.compile(r"^(\d+): (.*)$", re.DOTALL)


def _from_line_problem(name: str, problem: str, text: str, column: int | None = None) -> Finding:
    """A "file:line: reason" problem of the loader as a Finding; without a known column, the column of the
    first key or item on that line."""
    rest = problem[len(name) + 1 :] if problem.startswith(f"{name}:") else problem
    match = _LINE_PROBLEM.match(rest)
    if not match:
        return Finding(1, column or 1, rest.lstrip(": "))
    line = int(match.group(1))
    if column is None:
        lines = text.splitlines()
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        column = len(source) - len(source.lstrip(" -")) + 1 if source.strip() else 1
        quoted = re.search(r"'([^']+)'", match.group(2))
        if quoted and quoted.group(1) in source[column - 1 :]:
            column = source.index(quoted.group(1), column - 1) + 1  # the value the reason names
    return Finding(line, column, match.group(2))


def _suggest(word: str, known: Iterable[str]) -> str:
    from syncd.mappings import did_you_mean

    return did_you_mean(word, known)


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)
