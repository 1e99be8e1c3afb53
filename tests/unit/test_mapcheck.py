"""`syncd mappings check` on realistic broken files, offline (HubSpot's standard contact properties shipped
with syncd): every problem at once, each naming the exact file:line:column and, where a known name is
close, the suggestion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from syncd import mapcheck

ROOT = Path(__file__).resolve().parents[2]
HEAD = "# yaml-language-server: $schema=./schema.json\nfields:\n"
TAIL = """\
consent:
  hubspot_property: hs_legal_basis
  granted_values: [Freely given consent from contact]
owned_properties: [syncd_score]
"""


def where(text: str, needle: str, nth: int = 1) -> str:
    """ "line:column" of the nth occurrence of `needle` in `text` (1-based)."""
    at = -1
    for _ in range(nth):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return f"{line}:{at - (text.rfind(chr(10), 0, at) + 1) + 1}"


def check(tmp_path: Path, fields: str, tail: str = TAIL) -> tuple[str, str, list[str], mapcheck.Report]:
    text = HEAD + fields + tail
    path = tmp_path / "mappings.yaml"
    path.write_text(text)
    report = mapcheck.check_file(path, mapcheck.offline_schemas())
    return str(path), text, report.lines(), report


CASES = [
    pytest.param(
        "  - {hubspot: jobtitel, merge_tag: JOBTITLE, type: text}\n",
        "jobtitel",
        "unknown HubSpot property 'jobtitel'; did you mean 'jobtitle'?",
        id="misspelt-property",
    ),
    pytest.param(
        "  - hubspot: firstname\n    merge_tag: FNAME\n    type: text\n    direction: bothways\n",
        "bothways",
        "direction 'bothways' is not one of to_mailchimp, to_hubspot, both; did you mean 'both'?",
        id="wrong-direction",
    ),
    pytest.param(
        "  - hubspot: firstname\n    merge_tag: FNAME\n    type: text\n    direction: both\n    conflict: newer\n",
        "newer",
        "conflict 'newer' is not one of newest, hubspot, mailchimp; did you mean 'newest'?",
        id="wrong-conflict",
    ),
    pytest.param(
        "  - {hubspot: jobtitle, merge_tag: JOBTITLE_LONG, type: text}\n",
        "JOBTITLE_LONG",
        "merge tag 'JOBTITLE_LONG' must be 1-10 characters of A-Z, 0-9 and _",
        id="merge-tag-over-10",
    ),
    pytest.param(
        "  - {hubspot: firstname, merge_tag: FNAME, type: text}\n"
        "  - {hubspot: lastname, merge_tag: FNAME, type: text}\n",
        "FNAME",
        "duplicate merge tag 'FNAME' (first on line 3)",
        id="two-fields-one-target",
    ),
    pytest.param(
        "  - {hubspot: city, merge_tag: CITY, type: number}\n",
        "number",
        "HubSpot property 'city' is a string (text) property: a number merge field cannot hold its values"
        " (use type: text, or map a number property)",
        id="type-clash-string-into-number",
    ),
    pytest.param(
        "  - {hubspot: hs_buying_role, merge_tag: ROLE, type: dropdown}\n",
        "dropdown",
        "HubSpot property 'hs_buying_role' is a enumeration (checkbox) property: it holds several values at once,"
        " a dropdown merge field one (use type: text)",
        id="type-clash-checkboxes-into-dropdown",
    ),
    pytest.param(
        "  - {hubspot: numemployees, merge_tag: EMPLOYEES, type: dropdown, choices: []}\n",
        "[]",
        "dropdown merge field EMPLOYEES has no choices: list them, or take the HubSpot property's options with"
        " `choices: hubspot`",
        id="dropdown-without-choices",
    ),
    pytest.param(
        "  - {hubspot: industry, merge_tag: INDUSTRY, type: radio}\n",
        "radio",
        "HubSpot property 'industry' is a string (text) property without options: a radio merge field needs its"
        " choices listed under `choices:`",
        id="radio-from-a-property-without-options",
    ),
    pytest.param(
        "  - {hubspot: company, merge_tag: COMPANY, type: text, transfrom: upper}\n",
        "transfrom",
        "unknown key 'transfrom' in fields.0; did you mean 'transform'?",
        id="unknown-key",
    ),
    pytest.param(
        "  - {hubspot: company, merge_tag: COMPANY, type: txt}\n",
        "txt",
        "fields.0.type: 'txt' is not one of ['text', 'number', 'address', 'phone', 'date', 'url', 'imageurl',"
        " 'radio', 'dropdown', 'birthday', 'zip']; did you mean 'text'?",
        id="wrong-type-name",
    ),
    pytest.param(
        "  - {hubspot: createdate, merge_tag: SIGNUP, type: number}\n",
        "number",
        "HubSpot property 'createdate' is a datetime (date) property: a number merge field cannot hold its values"
        " (use type: text, or map a number property)",
        id="type-clash-date-into-number",
    ),
]


@pytest.mark.parametrize(("fields", "needle", "message"), CASES)
def test_each_broken_file_names_file_line_column_and_the_suggestion(tmp_path, fields, needle, message):
    path, text, lines, report = check(tmp_path, fields)
    nth = 2 if needle == "FNAME" else 1  # the duplicate is the second one
    expected = f"{path}:{where(text, needle, nth)}: {message}"
    assert expected in lines, "\n".join(lines)
    assert report.errors and lines[-1].startswith(f"{len(report.errors)} error")


def test_a_yaml_syntax_error_names_line_and_column(tmp_path):
    # merge_tag indented one space too far: YAML reads "firstname merge_tag" as one value, then a stray ':'
    path, text, lines, report = check(tmp_path, "  - hubspot: firstname\n     merge_tag: FNAME\n    type: text\n")
    assert len(report.errors) == 1
    assert lines[0] == f"{path}:{where(text, ': FNAME')}: not valid YAML: mapping values are not allowed here"
    _, _, lines, _ = check(tmp_path, "  - {hubspot: firstname, merge_tag: FNAME, type: text\n")
    assert lines[0].startswith(f"{path}:4:8: not valid YAML: while parsing a flow mapping expected ',' or '}}'")


def test_a_misspelt_top_level_key_is_suggested(tmp_path):
    text = HEAD.replace("fields:", "feilds:") + "  - {hubspot: firstname, merge_tag: FNAME, type: text}\n" + TAIL
    path = tmp_path / "m.yaml"
    path.write_text(text)
    lines = mapcheck.check_file(path, None).lines()
    assert f"{path}:2:1: unknown key 'feilds'; did you mean 'fields'?" in lines


def test_every_problem_of_one_file_is_reported_at_once(tmp_path):
    fields = "".join(str(c.values[0]) for c in CASES[:4]) + str(CASES[5].values[0])
    _, _, lines, report = check(tmp_path, fields)
    assert len(report.errors) >= 5, lines
    assert (
        lines[-1] == f"{len(report.errors)} errors, 0 warnings in {tmp_path / 'mappings.yaml'} against"
        " HubSpot's standard contact properties (offline)"
    )


def test_offline_lists_the_custom_names_it_could_not_check(tmp_path):
    path, _, lines, report = check(tmp_path, "  - {hubspot: preferred_pizza, merge_tag: PIZZA, type: text}\n")
    assert not report.errors and report.unchecked == ["preferred_pizza"]
    assert any("not checked offline" in line and "preferred_pizza" in line for line in lines)


def test_the_shipped_mappings_pass_offline():
    report = mapcheck.check_file(ROOT / "mappings" / "default.yaml", mapcheck.offline_schemas())
    assert report.errors == [] and report.unchecked == [], report.lines()


def test_the_standard_property_list_agrees_with_the_sandbox_portal():
    """The shipped list and the sandbox's fresh portal describe HubSpot's properties the same way."""
    from sandbox.hubspot.schema import _contact_defaults

    shipped = {p["name"]: (p["type"], p["fieldType"]) for p in mapcheck.standard_properties()}
    for prop in _contact_defaults():
        if prop.hubspot_defined:
            assert shipped.get(prop.name) == (prop.type, prop.field_type), prop.name
    assert len(shipped) > 100


def test_cli_offline_exit_codes_and_json(tmp_path):
    text = HEAD + "  - {hubspot: jobtitel, merge_tag: JOBTITLE, type: text}\n" + TAIL
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    cfg = tmp_path / "syncd.yaml"
    cfg.write_text(f"paths: {{mappings: {bad}, scoring: {ROOT / 'config/scoring.yaml'}}}\n")
    env = {"PATH": "/usr/bin:/bin", "SYNCD_CONFIG": str(cfg)}
    run = [sys.executable, "-m", "syncd.cli", "mappings", "check", "--offline"]
    proc = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        f"{bad}:3:15: unknown HubSpot property 'jobtitel'; did you mean 'jobtitle'?",
        f"1 error, 0 warnings in {bad} against HubSpot's standard contact properties (offline)",
    ]
    out = json.loads(subprocess.run([*run, "--json"], env=env, capture_output=True, text=True).stdout)
    assert out["ok"] is False and out["problems"][0]["line"] == 3 and out["problems"][0]["column"] == 15
    good = [*run, "--file", str(ROOT / "mappings" / "default.yaml")]
    assert subprocess.run(good, env=env, capture_output=True, text=True).returncode == 0
