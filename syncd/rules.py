"""Scoring rules: the schema of config/scoring.yaml, its loader and its JSON Schema.

`load_rules(path)` returns a frozen, validated `Rules`. A broken file is refused with `RulesError`, whose
text lists every problem found, one per line, as ``path/to/scoring.yaml:LINE: reason``. Lines come from
the YAML node tree (``yaml.compose``), so pydantic's error locations can be mapped back to the file.

Run ``python -m syncd.rules`` to print the JSON Schema shipped as config/scoring.schema.json.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from syncd.domain.models import EVENT_KINDS
from syncd.resources import DEFAULT_SCORING, shipped
from syncd.yamlfile import YamlFileError, parse_yaml_text, read_yaml
from syncd.yamlfile import line_of as _line_of

# Shipped in the package (syncd/resources.py); the admin-facing copy is config/scoring.yaml.
DEFAULT_RULES_PATH = shipped(DEFAULT_SCORING)

# The event kinds are defined once, in the pure core; the rules accept exactly those (an enum in the schema).
EventKind = Literal[EVENT_KINDS]  # type: ignore[valid-type]
CadenceLevel = Literal["weekly", "biweekly", "monthly", "quarterly"]
# From most to least frequent: "stepping down" a cadence moves one place to the right.
CADENCE_LEVELS: tuple[str, ...] = ("weekly", "biweekly", "monthly", "quarterly")
RuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="snake_case name shown in ledgers")]

Problem = tuple[tuple[Any, ...], str]


def _as_tuple(value: Any) -> Any:
    # YAML gives lists; the frozen model keeps tuples (strict mode would otherwise refuse lists).
    return tuple(value) if isinstance(value, list) else value


def _problems(problems: list[Problem]) -> None:
    """Raise one pydantic error carrying several (relative location, reason) problems, if any."""
    if problems:
        raise PydanticCustomError(
            "rules_problems", "{count} problem(s)", {"count": len(problems), "problems": problems}
        )


def _check_regex(value: str) -> str:
    # RE2 guarantees time linear in the input, so no pattern an admin writes ((a+)+$ ...) can stall
    # scoring on a hostile URL; it refuses what it cannot guarantee (backreferences, lookaround).
    from syncd.domain.patterns import PatternError, compile_pattern

    try:
        compile_pattern(value)
    except PatternError as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(_check_regex)]


class _Frozen(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Cap(_Frozen):
    """At most `max_count` events of a rule count per bucket; the most valuable ones are kept."""

    max_count: int = Field(ge=1, description="events counted per bucket")
    per: Annotated[tuple[Literal["campaign", "url"], ...], BeforeValidator(_as_tuple)] = Field(
        default=(), description="bucket by these event fields (empty: one bucket)"
    )
    period_days: float | None = Field(
        default=None,
        gt=0,
        description=("also bucket by fixed windows of this many days, aligned to Monday 1970-01-05 00:00 UTC"),
    )


class _EventRule(_Frozen):
    name: RuleName
    kind: EventKind
    points: float
    url_pattern: Regex | None = Field(default=None, description="regex searched in a click's URL")
    bounce_type: Literal["hard", "soft"] | None = None
    cap: Cap | None = None

    def _filter_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.url_pattern is not None and self.kind != "click":
            found.append((("url_pattern",), "url_pattern only applies to kind 'click'"))
        if self.bounce_type is not None and self.kind != "bounce":
            found.append((("bounce_type",), "bounce_type only applies to kind 'bounce'"))
        return found


class BehaviourRule(_EventRule):
    """Positive points for an event; they fade with `decay`."""

    @model_validator(mode="after")
    def _check(self) -> BehaviourRule:
        found = self._filter_problems()
        if self.points <= 0:
            found.append((("points",), "behaviour points must be positive (use 'negative' for penalties)"))
        if self.kind in ("bounce", "unsubscribe"):
            found.append((("kind",), f"'{self.kind}' is not a positive behaviour; put it under 'negative'"))
        _problems(found)
        return self


class NegativeRule(_EventRule):
    """Negative points for an event (unsubscribe, hard bounce, careers click...)."""

    decays: bool = Field(default=False, description="whether the penalty fades like behaviour points")

    @model_validator(mode="after")
    def _check(self) -> NegativeRule:
        found = self._filter_problems()
        if self.points >= 0:
            found.append((("points",), "negative points must be below zero"))
        _problems(found)
        return self


class InactivityRule(_Frozen):
    """Negative points once the lead has not engaged for `after_days` days."""

    name: RuleName
    after_days: float = Field(gt=0)
    points: float = Field(lt=0)


class ValueRange(_Frozen):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> ValueRange:
        if self.min is None and self.max is None:
            _problems([((), "a range needs 'min', 'max' or both")])
        if self.min is not None and self.max is not None and self.min > self.max:
            _problems([(("min",), f"min ({self.min:g}) is above max ({self.max:g})")])
        return self


class FitRule(_Frozen):
    """Points for a HubSpot property condition: exactly one of pattern, range or in."""

    model_config = ConfigDict(populate_by_name=True)

    name: RuleName
    property: str = Field(min_length=1, description="HubSpot contact property name")
    points: float
    pattern: Regex | None = Field(default=None, description="regex searched in the value")
    range: ValueRange | None = Field(default=None, description="numeric bounds, inclusive")
    values: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] | None = Field(
        default=None, alias="in", description="accepted values (case-insensitive)"
    )
    negate: bool = Field(default=False, description="award the points when the condition does NOT hold")

    @model_validator(mode="after")
    def _check(self) -> FitRule:
        given = [k for k, v in (("pattern", self.pattern), ("range", self.range), ("in", self.values)) if v is not None]
        found: list[Problem] = []
        if len(given) != 1:
            found.append(((), f"a fit rule needs exactly one of pattern, range, in (got {given or 'none'})"))
        if self.points == 0:
            found.append((("points",), "points must not be zero"))
        _problems(found)
        return self


class HalfLifeDecay(_Frozen):
    mode: Literal["half_life"]
    half_life_days: float = Field(gt=0, description="days after which an event is worth half")


class LinearDecay(_Frozen):
    mode: Literal["linear"]
    full_days: float = Field(ge=0, description="days an event keeps all its points")
    fade_days: float = Field(gt=0, description="days over which it then falls linearly to zero")


Decay = Annotated[HalfLifeDecay | LinearDecay, Field(discriminator="mode")]


class Band(_Frozen):
    name: RuleName
    min: int
    max: int | None = Field(default=None, description="inclusive; only the highest band may omit it")
    cadence: CadenceLevel


class Hysteresis(_Frozen):
    margin: int = Field(ge=0, description="points below a band's floor before a lead drops out of it")
    min_dwell_days: float = Field(ge=0, description="days in a segment before a drop is allowed")


class Reengagement(_Frozen):
    model_config = ConfigDict(populate_by_name=True)

    enabled: bool = True
    name: RuleName
    from_segments: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(alias="from", min_length=1)
    silent_days: float = Field(gt=0)
    window_days: float = Field(gt=0, description="days the lead stays in re-engagement before going cold")
    cadence: CadenceLevel


class Segments(_Frozen):
    bands: Annotated[tuple[Band, ...], BeforeValidator(_as_tuple)] = Field(min_length=1)
    hysteresis: Hysteresis
    reengagement: Reengagement

    @model_validator(mode="after")
    def _check(self) -> Segments:
        found: list[Problem] = []
        names = [b.name for b in self.bands]
        for i, band in enumerate(self.bands):
            if band.max is not None and band.min > band.max:
                found.append((("bands", i, "max"), f"band '{band.name}': max {band.max} is below min {band.min}"))
            if band.max is None and i != len(self.bands) - 1:
                found.append((("bands", i), f"band '{band.name}': only the highest band may omit max"))
            if names.index(band.name) != i:
                found.append((("bands", i, "name"), f"band name '{band.name}' is used twice"))
        for i in range(1, len(self.bands)):
            lower, upper = self.bands[i - 1], self.bands[i]
            if lower.max is None:
                continue
            if upper.min <= lower.max:
                found.append(
                    (
                        ("bands", i, "min"),
                        f"band '{upper.name}' (min {upper.min}) overlaps band "
                        f"'{lower.name}' (max {lower.max}); list bands from lowest to highest",
                    )
                )
            elif upper.min > lower.max + 1:
                found.append(
                    (
                        ("bands", i, "min"),
                        f"gap between band '{lower.name}' (max {lower.max}) and "
                        f"band '{upper.name}' (min {upper.min}): scores are integers",
                    )
                )
        re_ = self.reengagement
        if re_.name in names:
            found.append((("reengagement", "name"), f"'{re_.name}' is already a band name"))
        for j, seg in enumerate(re_.from_segments):
            if seg not in names:
                found.append((("reengagement", "from", j), f"unknown segment '{seg}' (bands: {', '.join(names)})"))
        _problems(found)
        return self

    def band_named(self, name: str) -> Band | None:
        """Return the band called `name`, or None."""
        return next((b for b in self.bands if b.name == name), None)


class Lifecycle(_Frozen):
    stage_order: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        min_length=1, description="HubSpot lifecyclestage values, earliest first (used when the live list is unknown)"
    )
    thresholds: dict[str, int] = Field(min_length=1, description="stage -> lowest score that reaches it")
    allow_demotion: bool = Field(
        default=False,
        description=(
            "let a falling score move the stage back (clear, then set; audited). Off: stages only move forward"
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> Lifecycle:
        found: list[Problem] = []
        if len(set(self.stage_order)) != len(self.stage_order):
            found.append((("stage_order",), "stage_order lists a stage twice"))
        known = [s for s in self.thresholds if s in self.stage_order]
        for stage in self.thresholds:
            if stage not in self.stage_order:
                found.append((("thresholds", stage), f"unknown stage '{stage}' (not in stage_order)"))
        known.sort(key=self.stage_order.index)
        for earlier, later in zip(known, known[1:], strict=False):
            if self.thresholds[later] <= self.thresholds[earlier]:
                found.append(
                    (
                        ("thresholds", later),
                        f"'{later}' needs {self.thresholds[later]}, not more than "
                        f"the earlier stage '{earlier}' ({self.thresholds[earlier]})",
                    )
                )
        _problems(found)
        return self


class CadenceRules(_Frozen):
    last_sends: int = Field(ge=1, description="sends looked at for the open rate")
    min_open_rate: float = Field(ge=0, le=1, description="below this, the cadence steps down one level")


class Tasks(_Frozen):
    cooldown_days: float = Field(ge=0, description="no second hot-lead task for the same lead within this")
    due_business_days: int = Field(ge=0)
    timezone: str = Field(description="IANA zone of the sales team, for due dates")
    top_events: int = Field(ge=1, description="events listed in the task body")

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value


class HubSpotEvents(_Frozen):
    conversion_count_property: str = Field(min_length=1)
    conversion_name_property: str = Field(min_length=1)
    demo_request_pattern: Regex = Field(description="regex on the conversion name that makes it a demo request")
    webinar_property: str | None = Field(default=None, description="property set when a lead attends a webinar")


class Rules(_Frozen):
    """The whole of scoring.yaml, validated and frozen."""

    model_config = ConfigDict(title="syncd scoring rules")

    version: Literal[1]
    decay: Decay
    behaviour: Annotated[tuple[BehaviourRule, ...], BeforeValidator(_as_tuple)]
    negative: Annotated[tuple[NegativeRule, ...], BeforeValidator(_as_tuple)] = ()
    inactivity: Annotated[tuple[InactivityRule, ...], BeforeValidator(_as_tuple)] = ()
    fit: Annotated[tuple[FitRule, ...], BeforeValidator(_as_tuple)] = ()
    segments: Segments
    lifecycle: Lifecycle
    cadence: CadenceRules
    tasks: Tasks
    hubspot_events: HubSpotEvents

    @model_validator(mode="after")
    def _unique_names(self) -> Rules:
        _problems(
            _duplicate_names(
                {section: [{"name": r.name} for r in getattr(self, section)] for section in _NAMED_SECTIONS}
            )
        )
        return self


_NAMED_SECTIONS = ("behaviour", "negative", "inactivity", "fit")


def _duplicate_names(data: Any) -> list[Problem]:
    """Rule names must be unique across sections: ledgers and audit lines name rules."""
    if not isinstance(data, dict):
        return []
    seen: dict[str, tuple[str, int]] = {}
    found: list[Problem] = []
    for section in _NAMED_SECTIONS:
        items = data.get(section)
        for i, item in enumerate(items if isinstance(items, list) else []):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                first = seen[name]
                found.append(((section, i, "name"), f"rule name '{name}' is already used at {first[0]}[{first[1]}]"))
            seen.setdefault(name, (section, i))
    return found


class RulesError(ValueError):
    """scoring.yaml was refused. `problems` holds one "file:line: reason" string per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def load_rules(path: str | Path) -> Rules:
    """Read and validate a scoring.yaml.

    Takes the file path; returns the frozen `Rules`. Raises `RulesError` listing every problem as
    "path:LINE: reason" (unreadable file, YAML syntax, unknown keys, wrong types, bad values).
    """
    label = str(path)
    try:
        root, data = read_yaml(path, label)
    except YamlFileError as exc:
        raise RulesError(exc.problems) from None
    return _validate(root, data, label)


def load_default_rules() -> Rules:
    """Load the scoring rules shipped in the package (a copy of config/scoring.yaml). Raises `RulesError` if
    it is broken."""
    return parse_rules(DEFAULT_RULES_PATH.read_text(encoding="utf-8"), str(DEFAULT_RULES_PATH))


def parse_rules(text: str, source: str = "<scoring.yaml>") -> Rules:
    """Validate scoring rules given as YAML text; `source` names the file in problems.

    Returns `Rules`; raises `RulesError` listing every problem with its line, in file order.
    """
    try:
        root, data = parse_yaml_text(text, source)
    except YamlFileError as exc:
        raise RulesError(exc.problems) from None
    return _validate(root, data, source)


def _validate(root: yaml.Node | None, data: Any, source: str) -> Rules:
    if root is None:
        raise RulesError([f"{source}:1: the file is empty"])
    problems: list[tuple[int, str]] = []
    try:
        rules = Rules.model_validate(data)
    except ValidationError as exc:
        # The whole-file check (unique rule names) only runs in pydantic once every section is valid;
        # run it on the raw data too so that it is reported with the other problems.
        found = _flatten(exc) + _duplicate_names(data)
        problems += [(_line_of(root, loc), _label(loc, reason)) for loc, reason in found]
    if problems:
        ordered = sorted(dict.fromkeys(problems), key=lambda p: p[0])
        raise RulesError([f"{source}:{line}: {reason}" for line, reason in ordered])
    return rules


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of scoring.yaml (what editors use to complete and check the file)."""
    schema = Rules.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


_KEY_ERRORS = {"extra_forbidden": "unknown key", "missing": "missing key"}


def _flatten(exc: ValidationError) -> list[Problem]:
    found: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err["type"] == "rules_problems":
            found += [(loc + tuple(rel), reason) for rel, reason in err["ctx"]["problems"]]
        elif err["type"] in _KEY_ERRORS:
            found.append((loc, f"{_KEY_ERRORS[err['type']]} '{loc[-1]}'"))
        else:
            found.append((loc, err["msg"].removeprefix("Value error, ")))
    return found


def _label(loc: tuple[Any, ...], reason: str) -> str:
    # "unknown key 'x'" already names the key: label it with the mapping that holds it.
    where = _dotted(loc[:-1] if reason.startswith(tuple(_KEY_ERRORS.values())) else loc)
    return f"{where}: {reason}" if where else reason


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print the JSON Schema (``python -m syncd.rules``) or check files (``python -m syncd.rules FILE...``)."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        return 0
    failed = False
    for path in paths:
        try:
            load_rules(path)
        except RulesError as exc:
            print(exc, file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
