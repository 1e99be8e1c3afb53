"""Loading scoring.yaml: the shipped file, its JSON Schema, and broken files refused with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pydantic
import pytest
import yaml

from syncd.rules import DEFAULT_RULES_PATH, Rules, RulesError, json_schema, load_rules, main, parse_rules

SCHEMA_PATH = DEFAULT_RULES_PATH.with_name("scoring.schema.json")
DEFAULT_TEXT = DEFAULT_RULES_PATH.read_text(encoding="utf-8")


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def broken(tmp_path: Path, *edits: tuple[str, str]) -> tuple[Path, str]:
    text = DEFAULT_TEXT
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "scoring.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def test_shipped_rules_load_with_the_documented_defaults():
    rules = load_rules(DEFAULT_RULES_PATH)
    points = {r.name: r.points for r in (*rules.behaviour, *rules.negative)}
    assert (points["email_open"], points["email_click"], points["pricing_click"], points["demo_request"]) == (
        5,
        10,
        20,
        50,
    )
    assert [(b.name, b.min, b.max, b.cadence) for b in rules.segments.bands] == [
        ("cold", 0, 30, "monthly"),
        ("warm", 31, 60, "biweekly"),
        ("hot", 61, None, "weekly"),
    ]
    assert rules.lifecycle.thresholds["marketingqualifiedlead"] == 50
    assert rules.lifecycle.allow_demotion is False
    assert rules.cadence.min_open_rate == 0.15
    with pytest.raises(pydantic.ValidationError):
        rules.version = 2  # type: ignore[misc]  # frozen


def test_every_rule_and_section_is_explained_by_a_comment():
    lines = DEFAULT_TEXT.splitlines()
    section = ""
    for i, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):
            section = line.split(":")[0]
            if section != "version":
                assert lines[i - 1].startswith("#"), f"section {section} has no comment"
        elif section in ("behaviour", "negative", "fit") and line.strip().startswith("- name:"):
            assert lines[i - 1].strip().startswith("#"), f"{section} rule without a comment: {line.strip()}"


def test_shipped_schema_is_current_and_accepts_the_shipped_rules():
    shipped = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert shipped == json_schema(), "regenerate with: python -m syncd.rules > config/scoring.schema.json"
    jsonschema.Draft202012Validator.check_schema(shipped)
    validator = jsonschema.Draft202012Validator(shipped)
    assert list(validator.iter_errors(yaml.safe_load(DEFAULT_TEXT))) == []
    bad = yaml.safe_load(DEFAULT_TEXT.replace("kind: open", "kind: opened"))
    assert any("opened" in e.message for e in validator.iter_errors(bad))


def test_unknown_event_kind(tmp_path):
    path, text = broken(tmp_path, ("kind: webinar", "kind: webinars"))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{line_of(text, 'kind: webinars')}: behaviour[7].kind: ")
    assert "'webinar'" in problem


def test_band_overlap(tmp_path):
    path, text = broken(tmp_path, ("{name: warm, min: 31", "{name: warm, min: 25"))
    (problem,) = problems(path)
    assert problem == (
        f"{path}:{line_of(text, 'name: warm, min: 25')}: segments.bands[1].min: band 'warm' "
        "(min 25) overlaps band 'cold' (max 30); list bands from lowest to highest"
    )


def test_negative_half_life(tmp_path):
    path, text = broken(tmp_path, ("half_life_days: 21", "half_life_days: -3"))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{line_of(text, 'half_life_days: -3')}: ")
    assert "greater than 0" in problem


def test_unknown_keys(tmp_path):
    path, text = broken(
        tmp_path, ("    margin: 5\n", "    margin: 5\n    marign: 6\n"), ("version: 1\n", "version: 1\nextras: {}\n")
    )
    assert problems(path) == (
        f"{path}:{line_of(text, 'extras:')}: unknown key 'extras'",
        f"{path}:{line_of(text, 'marign')}: segments.hysteresis: unknown key 'marign'",
    )


def test_wrong_types(tmp_path):
    path, text = broken(
        tmp_path,
        ("points: 5\n", "points: five\n"),
        ("last_sends: 5", "last_sends: '5'"),
        ("allow_demotion: false", "allow_demotion: 1"),
    )
    found = problems(path)
    assert [p.split(": ")[0] for p in found] == [
        f"{path}:{line_of(text, 'points: five')}",
        f"{path}:{line_of(text, 'allow_demotion: 1')}",
        f"{path}:{line_of(text, 'last_sends:')}",
    ]
    assert "valid number" in found[0] and "valid boolean" in found[1] and "valid integer" in found[2]


def test_every_problem_is_listed_at_once(tmp_path):
    path, text = broken(
        tmp_path,
        ("kind: webinar", "kind: seminar"),
        ("{name: warm, min: 31", "{name: warm, min: 20"),
        ("half_life_days: 21", "half_life_days: -1"),
        ("  top_events: 5", "  top_events: 5\n  colour: red"),
        ("timezone: Europe/Paris", "timezone: Mars/Olympus"),
        ("min_open_rate: 0.15", "min_open_rate: 15"),
        ("url_pattern: '(?i)/(pricing|plans|quote)\\b'", "url_pattern: '(pricing'"),
    )
    found = problems(path)
    assert len(found) == 7
    for needle in (
        "kind: seminar",
        "name: warm, min: 20",
        "half_life_days: -1",
        "colour: red",
        "Mars/Olympus",
        "min_open_rate: 15",
        "(pricing'",
    ):
        assert any(p.startswith(f"{path}:{line_of(text, needle)}: ") for p in found), needle
    assert any("invalid regular expression" in p for p in found)
    assert any("unknown time zone" in p for p in found)


def test_semantic_checks(tmp_path):
    path, text = broken(
        tmp_path,
        ("    salesqualifiedlead: 80", "    salesqualifiedlead: 40"),
        ("from: [warm, hot]", "from: [warm, lukewarm]"),
        ("    points: -40", "    points: 40"),
        ("    in: [software,", "    pattern: x\n    in: [software,"),
    )
    found = "\n".join(problems(path))
    assert f":{line_of(text, 'salesqualifiedlead: 40')}: lifecycle.thresholds.salesqualifiedlead: " in found
    assert f":{line_of(text, 'lukewarm')}: segments.reengagement.from[1]: unknown segment 'lukewarm'" in found
    assert f":{line_of(text, 'points: 40')}: negative[0].points: negative points must be below zero" in found
    assert "exactly one of pattern, range, in" in found


@pytest.mark.parametrize("other_problem", [("version: 1", "version: 1"), ("kind: webinar", "kind: seminar")])
def test_rule_names_must_be_unique(tmp_path, other_problem):
    path, text = broken(tmp_path, ("  - name: email_click\n", "  - name: email_open\n"), other_problem)
    found = problems(path)
    where = f"{path}:{line_of(text, 'name: email_open', 2)}: behaviour[1].name: "
    assert f"{where}rule name 'email_open' is already used at behaviour[0]" in found


def test_band_gap_and_open_band_not_last():
    text = DEFAULT_TEXT.replace("{name: warm, min: 31", "{name: warm, min: 35").replace(
        "{name: cold, min: 0, max: 30,", "{name: cold, min: 0,"
    )
    with pytest.raises(RulesError, match=r"only the highest band may omit max"):
        parse_rules(text, "s.yaml")
    with pytest.raises(RulesError, match=r"s\.yaml:\d+: segments\.bands\[1\]\.min: gap between"):
        parse_rules(DEFAULT_TEXT.replace("{name: warm, min: 31", "{name: warm, min: 35"), "s.yaml")


def test_yaml_syntax_duplicate_keys_empty_and_missing_files(tmp_path):
    with pytest.raises(RulesError, match=r"^s\.yaml:4: not valid YAML: .*expected ',' or '}'"):
        parse_rules("version: 1\nbehaviour: [\n  {a: 1\n", "s.yaml")
    dup = DEFAULT_TEXT.replace("    margin: 5\n", "    margin: 5\n    margin: 7\n")
    with pytest.raises(RulesError) as info:
        parse_rules(dup, "s.yaml")
    assert info.value.problems == (
        f"s.yaml:{line_of(dup, 'margin: 7')}: duplicate key 'margin' (first on line {line_of(dup, 'margin: 5')})",
    )
    with pytest.raises(RulesError, match=r"^s\.yaml:1: the file is empty$"):
        parse_rules("# nothing\n", "s.yaml")
    with pytest.raises(RulesError, match=r"s\.yaml:1: missing key 'decay'"):
        parse_rules("version: 1\n", "s.yaml")
    with pytest.raises(RulesError, match=r"^s\.yaml:1: Input should be a valid dictionary"):
        parse_rules("- 1\n", "s.yaml")
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")


def test_command_line_checks_files_and_prints_the_schema(tmp_path, capsys):
    path, _ = broken(tmp_path, ("kind: webinar", "kind: webinars"))
    assert main([str(DEFAULT_RULES_PATH)]) == 0
    assert main([str(path)]) == 1
    assert f"{path}:" in capsys.readouterr().err
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "syncd scoring rules"


def test_rules_model_is_importable_as_a_type():
    assert isinstance(load_rules(DEFAULT_RULES_PATH), Rules)
