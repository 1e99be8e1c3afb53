"""`syncd mappings check` against the sandbox's live schemas: names compared with the portal's properties and
the audience's merge fields BY TAG, type clashes with the audience's fields, and `--fix` creating a
missing dropdown merge field (with the HubSpot property's options as choices) and a custom property, after
which the check passes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from syncd_harness import ROOT, SYNCD, subprocess_env

from sandbox.world import SandboxConfig

SHARED_SANDBOX = SandboxConfig(contacts=10, seed=5, rate_scale=20, history_days=0)
TAIL = """\
consent:
  hubspot_property: hs_legal_basis
  granted_values: [Freely given consent from contact]
owned_properties: [syncd_score]
"""


def _run(sandbox, tmp_path: Path, text: str, *flags: str) -> tuple[subprocess.CompletedProcess, Path, str]:
    path = tmp_path / "mappings.yaml"
    path.write_text(text)
    env = subprocess_env(sandbox, tmp_path)
    proc = subprocess.run(
        [*SYNCD, "mappings", "check", "--file", str(path), *flags],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc, path, text


def _at(text: str, needle: str) -> str:
    at = text.index(needle)
    return f"{text.count(chr(10), 0, at) + 1}:{at - (text.rfind(chr(10), 0, at) + 1) + 1}"


def _merge_fields(sandbox) -> dict[str, dict]:
    from conftest import make_mailchimp

    fields = make_mailchimp(sandbox).lists.get_list_merge_fields(sandbox.world.config.list_id, count=100)
    return {f["tag"]: f for f in fields["merge_fields"]}


def test_live_names_types_and_tags(sandbox, tmp_path):
    from conftest import make_mailchimp

    mc = make_mailchimp(sandbox)
    list_id = sandbox.world.config.list_id
    mc.lists.add_list_merge_field(
        list_id, {"tag": "PLAN", "name": "Plan", "type": "dropdown", "options": {"choices": ["free", "pro"]}}
    )
    text = (
        "fields:\n"
        "  - {hubspot: firstname, merge_tag: FNAME, type: text}\n"  # exists by tag (its name is "First Name")
        "  - {hubspot: jobtitel, merge_tag: JOBTITLE, type: text}\n"
        "  - {hubspot: lastname, merge_tag: LNAM, type: text}\n"
        "  - {hubspot: company, merge_tag: PLAN, type: text}\n"
        "  - {hubspot: city, merge_tag: CITYNUM, type: number}\n" + TAIL
    )
    proc, path, text = _run(sandbox, tmp_path, text)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1
    assert f"{path}:{_at(text, 'jobtitel')}: unknown HubSpot property 'jobtitel'; did you mean 'jobtitle'?" in lines
    assert f"{path}:{_at(text, 'LNAM')}: Mailchimp merge field LNAM does not exist; did you mean 'LNAME'?" in lines
    assert (
        f"{path}:{_at(text, 'text}' + chr(10) + '  - {hubspot: city')}: the audience's merge field PLAN is a dropdown"
        " field; the mapping says text (values outside its choices are refused)"
    ) in lines
    assert any(line.startswith(f"{path}:{_at(text, 'number')}: HubSpot property 'city' is a string") for line in lines)
    assert not any("FNAME" in line for line in lines), "FNAME exists: compared by tag, not by name"
    assert lines[-1] == (
        f"4 errors, 2 warnings in {path} against the live HubSpot properties and Mailchimp merge fields"
    ), lines
    assert any("warning: Mailchimp merge field CITYNUM does not exist" in line for line in lines)


def test_fix_creates_a_missing_dropdown_and_a_custom_property_then_the_check_passes(sandbox, tmp_path):
    text = (
        "fields:\n"
        "  - {hubspot: firstname, merge_tag: FNAME, type: text}\n"
        "  - {hubspot: numemployees, merge_tag: EMPLOYEES, type: dropdown}\n"
        "  - {hubspot: preferred_pizza, merge_tag: PIZZA, type: text}\n" + TAIL
    )
    proc, path, text = _run(sandbox, tmp_path, text)
    assert proc.returncode == 1, proc.stdout
    assert (
        f"{path}:{_at(text, 'preferred_pizza')}: unknown HubSpot property 'preferred_pizza' (--fix creates it as a"
        " string property in group syncd)"
    ) in proc.stdout.splitlines()
    assert "warning: Mailchimp merge field EMPLOYEES does not exist in the audience" in proc.stdout

    fixed, _, _ = _run(sandbox, tmp_path, text, "--fix")
    out = fixed.stdout.splitlines()
    assert fixed.returncode == 0, fixed.stdout
    assert out[0] == "will create:"
    assert (
        "  Mailchimp merge field EMPLOYEES (dropdown with choices 1-5, 5-25, 25-50, 50-100, 100-500,"
        " 500-1000, 1000+)" in out
    )
    assert any(line.startswith("created HubSpot contact property preferred_pizza (string/text") for line in out)
    assert out[-1] == f"0 errors, 0 warnings in {path} against the live HubSpot properties and Mailchimp merge fields"

    fields = _merge_fields(sandbox)
    assert fields["EMPLOYEES"]["type"] == "dropdown"
    assert fields["EMPLOYEES"]["options"]["choices"][:2] == ["1-5", "5-25"]
    again, _, _ = _run(sandbox, tmp_path, text, "--json")
    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["ok"] and report["problems"] == [] and report["will_create"] == []


def test_the_shipped_mappings_pass_against_a_fresh_sandbox(sandbox, tmp_path):
    proc, _, _ = _run(sandbox, tmp_path, (ROOT / "mappings" / "default.yaml").read_text())
    assert proc.returncode == 0, proc.stdout
    # SCORE is created by syncd's first run: said, not an error
    assert "warning: Mailchimp merge field SCORE does not exist in the audience" in proc.stdout
