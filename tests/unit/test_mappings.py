from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from syncd.domain.mapping import MappingValueError, apply, consent_granted
from syncd.mappings import SCHEMA_PATH, MappingsError, check_against, load_mappings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "mappings" / "default.yaml"
DEFAULT_MAPPINGS = load_mappings(DEFAULT)

GOOD = """\
fields:
  - {hubspot: firstname, merge_tag: FNAME, type: text, transform: title}
  - {hubspot: company, merge_tag: COMPANY, type: text, transform: "truncate:5"}
  - {hubspot: signup, merge_tag: SIGNUP, type: date, transform: "date:MM/DD/YYYY"}
  - {hubspot: syncd_score, merge_tag: SCORE, type: number}
consent:
  hubspot_property: marketing_ok
  granted_values: ["yes", "double opt-in"]
owned_properties: [syncd_score, syncd_segment]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(MappingsError) as err:
        load_mappings(_write(tmp_path, text))
    return err.value.problems


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_default_mappings_load() -> None:
    m = load_mappings(DEFAULT)
    assert [(f.hubspot, f.merge_tag) for f in m.fields] == [
        ("firstname", "FNAME"),
        ("lastname", "LNAME"),
        ("company", "COMPANY"),
        ("jobtitle", "JOBTITLE"),
        ("syncd_score", "SCORE"),
    ]
    assert "syncd_score" in m.owned_properties and m.consent.hubspot_property == "hs_legal_basis"
    assert "email" not in m.owned_properties


def test_every_problem_is_listed_with_file_and_line(tmp_path: Path) -> None:
    text = """\
fields:
  - hubspot: firstname
    merge_tag: FNAME
    type: text
  - hubspot: nickname
    merge_tag: FNAME
    type: text
  - hubspot: jobtitle
    merge_tag: job_title_long
    type: text
    transform: reverse
  - hubspot: score
    merge_tag: SCORE
    type: numeric
    colour: red
consent:
  hubspot_property: marketing_ok
  granted_values: []
owned_properties: [email, syncd_score]
"""
    problems = _problems(tmp_path, text)
    path = str(tmp_path / "m.yaml")
    assert f"{path}:6: duplicate merge tag 'FNAME' (first on line 3)" in problems
    assert f"{path}:9: merge tag 'job_title_long' must be 1-10 characters of A-Z, 0-9 and _" in problems
    assert any(p.startswith(f"{path}:11: unknown transform 'reverse'") for p in problems)
    assert any(p.startswith(f"{path}:14: fields.3.type: 'numeric' is not one of") for p in problems)
    assert f"{path}:15: unknown key 'colour' in fields.3" in problems
    assert any(p.startswith(f"{path}:18: consent.granted_values:") for p in problems)
    assert any(p.startswith(f"{path}:19: 'email' cannot be owned") for p in problems)
    assert len(problems) == 7
    assert str(tmp_path / "m.yaml") in str(MappingsError(problems))


def test_missing_sections_and_yaml_errors(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "fields: []\n")
    assert any("'consent' is a required property" in p for p in problems)
    assert any("'owned_properties' is a required property" in p for p in problems)
    (broken,) = _problems(tmp_path, "fields:\n  - {hubspot: a\n")
    assert broken.startswith(f"{tmp_path / 'm.yaml'}:") and "not valid YAML" in broken


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(MappingsError) as err:
        load_mappings(tmp_path / "absent.yaml")
    assert "absent.yaml: cannot read" in err.value.problems[0]


def test_apply_maps_transforms_and_types(tmp_path: Path) -> None:
    m = load_mappings(_write(tmp_path, GOOD))
    props = {
        "firstname": "ada LOVELACE",
        "company": "Analytical Engines",
        "signup": "1767225600000",
        "syncd_score": "87.0",
        "lastname": "Lovelace",
        "secret_note": "x",
    }
    assert apply(m, props) == {"FNAME": "Ada Lovelace", "COMPANY": "Analy", "SIGNUP": "01/01/2026", "SCORE": 87}
    assert apply(m, {"signup": "2026-03-04T23:30:00Z", "syncd_score": "12.5"}) == {
        "SIGNUP": "03/04/2026",
        "SCORE": 12.5,
    }
    # Unknown (absent) properties are left alone; empty ones clear the merge field.
    assert apply(m, {"firstname": None, "company": ""}) == {"FNAME": "", "COMPANY": ""}


def test_apply_refuses_values_that_do_not_fit(tmp_path: Path) -> None:
    m = load_mappings(_write(tmp_path, GOOD))
    with pytest.raises(MappingValueError, match="syncd_score -> SCORE"):
        apply(m, {"syncd_score": "lots"})
    with pytest.raises(MappingValueError, match="signup -> SIGNUP"):
        apply(m, {"signup": "next tuesday"})


@settings(deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.one_of(st.none(), st.text(max_size=30)), max_size=8))
def test_apply_only_ever_returns_mapped_tags(props: dict) -> None:
    m = DEFAULT_MAPPINGS
    safe = {k: v for k, v in props.items() if k != "syncd_score"}
    assert set(apply(m, safe)) <= m.merge_tags


def test_consent_granted_splits_multi_select(tmp_path: Path) -> None:
    m = load_mappings(_write(tmp_path, GOOD))
    assert consent_granted(m, {"marketing_ok": "no;double opt-in"})
    assert consent_granted(m, {"marketing_ok": "yes"})
    assert not consent_granted(m, {"marketing_ok": "no"})
    assert not consent_granted(m, {"marketing_ok": None}) and not consent_granted(m, {})


def test_check_against_live_schemas(tmp_path: Path) -> None:
    m = load_mappings(_write(tmp_path, GOOD))
    path = str(tmp_path / "m.yaml")
    props = [
        {"name": "firstname", "type": "string"},
        {"name": "signup", "type": "date"},
        {"name": "syncd_score", "type": "number"},
        {"name": "marketing_ok", "type": "enumeration", "options": [{"value": "yes"}, {"value": "no"}]},
    ]
    fields = [{"tag": "FNAME", "type": "text"}, {"tag": "COMPANY", "type": "text"}, {"tag": "SIGNUP", "type": "text"}]
    assert check_against(m, props, fields) == [
        f"{path}:3: unknown HubSpot contact property 'company' (mapped to COMPANY)",
        f"{path}:4: Mailchimp merge field SIGNUP is of type text, the mapping says date",
        f"{path}:5: Mailchimp merge field SCORE does not exist in the audience",
        f"{path}: consent value 'double opt-in' is not an option of HubSpot property 'marketing_ok'",
        f"{path}: owned HubSpot property 'syncd_segment' does not exist (create it before syncd writes it)",
    ]
    props += [{"name": "company"}, {"name": "syncd_segment"}]
    props[3]["options"].append({"value": "double opt-in"})
    fields = [{**f, "type": "date"} if f["tag"] == "SIGNUP" else f for f in fields] + [
        {"tag": "SCORE", "type": "number"}
    ]
    assert check_against(m, props, fields) == []
