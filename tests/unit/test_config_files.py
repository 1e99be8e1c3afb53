"""The three files admins edit refuse what would otherwise crash syncd or quietly change its meaning: control
and non-UTF-8 bytes, duplicate keys, booleans where numbers belong, infinite or absurd durations, and
regular expressions that could stall scoring. Each refusal names the file and line, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.domain.models import ContactView, EngagementEvent
from syncd.domain.patterns import compile_pattern
from syncd.domain.scoring import score
from syncd.mappings import MappingsError, load_mappings
from syncd.rules import RulesError, load_rules, parse_rules
from syncd.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "syncd.yaml": ROOT / "config/syncd.yaml",
    "scoring.yaml": ROOT / "config/scoring.yaml",
    "mappings.yaml": ROOT / "mappings/default.yaml",
}


def _problems(kind: str, path: Path) -> list[str]:
    """The problems each file's loader reports for `path` (it must refuse it)."""
    if kind == "syncd.yaml":
        with pytest.raises(SettingsError) as err:
            load_settings({}, str(path))
    elif kind == "scoring.yaml":
        with pytest.raises(RulesError) as err:
            load_rules(path)
    else:
        with pytest.raises(MappingsError) as err:
            load_mappings(path)
    return list(err.value.problems)


def _write(tmp_path: Path, kind: str, raw: bytes) -> Path:
    path = tmp_path / kind
    path.write_bytes(raw)
    return path


def _line_with(raw: bytes, needle: bytes) -> int:
    return raw[: raw.index(needle)].count(b"\n") + 1


@pytest.mark.parametrize("kind", list(FILES))
@pytest.mark.parametrize("byte,label", [(b"\x00", "NUL"), (b"\x07", "BEL"), (b"\x1b", "ESC")])
def test_a_control_byte_in_any_config_file_is_refused_with_its_line(tmp_path, kind, byte, label):
    raw = FILES[kind].read_bytes()
    lines = raw.split(b"\n")
    target = next(i for i, line in enumerate(lines) if line and not line.startswith(b"#") and b":" in line)
    lines[target] = lines[target] + b"  # note" + byte
    path = _write(tmp_path, kind, b"\n".join(lines))
    (problem,) = _problems(kind, path)
    assert problem.startswith(f"{path}:{target + 1}: control character") and label in problem, problem


@pytest.mark.parametrize("kind", list(FILES))
def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path, kind):
    raw = FILES[kind].read_bytes().replace(b"# ", b"# caf\xe9 ", 1)
    path = _write(tmp_path, kind, raw)
    (problem,) = _problems(kind, path)
    assert problem.startswith(f"{path}:{_line_with(raw, b'caf')}: not UTF-8 text (byte 0xe9"), problem


@pytest.mark.parametrize(
    "kind,key",
    [
        ("syncd.yaml", b"lag_window_s: 30\n"),
        ("scoring.yaml", b"version: 1\n"),
        ("mappings.yaml", b"owned_properties:\n"),
    ],
)
def test_a_duplicate_key_is_refused_in_every_config_file(tmp_path, kind, key):
    raw = FILES[kind].read_bytes()
    assert key in raw
    doubled = raw + b"\n" + (key if kind != "mappings.yaml" else b"owned_properties: [syncd_score]\n")
    path = _write(tmp_path, kind, doubled)
    problems = _problems(kind, path)
    name = key.split(b":")[0].decode()
    second_line = doubled[: doubled.rindex(key.split(b":")[0] + b":")].count(b"\n") + 1
    assert f"{path}:{second_line}: duplicate key '{name}' (first on line {_line_with(raw, key)})" in problems, problems


@pytest.mark.parametrize(
    "text,where,reason",
    [
        ("intervals:\n  push: true\n", ":2: intervals.push:", "valid integer"),
        ("intervals:\n  score: '300'\n", ":2: intervals.score:", "valid integer"),
        ("rescore_hours: .inf\n", ":1: rescore_hours:", "finite number"),
        ("activity_days: 1.0e+11\n", ":1: activity_days:", "valid integer"),
        ("activity_days: 100000000000\n", ":1: activity_days:", "less than or equal to 3650"),
        ("notes:\n  enabled: 1\n", ":2: notes.enabled:", "valid boolean"),
        ("intervals:\n  hubspot_contacts: 9999999999\n", ":2: intervals.hubspot_contacts:", "less than or equal"),
    ],
)
def test_syncd_yaml_refuses_wrong_types_and_absurd_values(tmp_path, text, where, reason):
    path = tmp_path / "syncd.yaml"
    path.write_text(text)
    problems = _problems("syncd.yaml", path)
    assert any(p.startswith(f"{path}{where}") and reason in p for p in problems), problems


def test_a_pattern_re2_cannot_guarantee_is_refused_with_its_line():
    text = FILES["scoring.yaml"].read_text()
    start = text.index("url_pattern: ")
    bad = text[:start] + "url_pattern: '(pricing)/\\1'" + text[text.index("\n", start) :]
    with pytest.raises(RulesError) as err:
        parse_rules(bad, "s.yaml")
    line = bad[: bad.index("(pricing)/")].count("\n") + 1
    assert any(p.startswith(f"s.yaml:{line}:") and "invalid regular expression" in p for p in err.value.problems)


def test_a_catastrophic_url_pattern_cannot_stall_scoring():
    """(a+)+$ backtracks exponentially in Python's `re` (20,000 a's and a '!' would never finish); RE2
    matches it in linear time. Checked by the engine and by the answers, not by a stopwatch."""
    text = FILES["scoring.yaml"].read_text()
    start = text.index("url_pattern: ")
    end = text.index("\n", start)
    rules = parse_rules(text[:start] + "url_pattern: '(a+)+$'" + text[end:], "s.yaml")
    assert type(compile_pattern("(a+)+$")).__module__.partition(".")[0] == "re2"
    now = datetime(2026, 3, 2, tzinfo=UTC)

    def score_click(url: str) -> int:
        event = EngagementEvent(
            source="mailchimp",
            event_id="e1",
            email="x@example.com",
            kind="click",
            occurred_at=now,
            campaign_id="c1",
            url=url,
        )
        return score(rules, ContactView(email="x@example.com", properties={}), [event], now).score

    hostile = score_click("https://example.com/" + "a" * 20_000 + "!")
    assert hostile == score_click("https://example.com/nothing-to-see!")  # the rule did not match
    assert score_click("https://example.com/" + "a" * 20_000) > hostile  # and it does where it should
