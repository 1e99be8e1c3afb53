"""The cadence values the admin files document are exactly those syncd/domain/cadence.py can produce (a
`quarterly` once appeared in tags and properties that the mappings comments did not mention)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from syncd.domain import cadence
from syncd.owned import CONTACT_PROPERTIES
from syncd.rules import CADENCE_LEVELS, load_default_rules

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_IN = ("mappings/default.yaml", "config/scoring.yaml")


def produced() -> set[str]:
    """Every cadence the code can return: a band's own (any level the rules accept) or one step down."""
    rules = load_default_rules()
    out = set()
    for level in CADENCE_LEVELS:
        out |= {level, cadence.step_down(level)}
    for band in rules.segments.bands:
        for rate, seen in ((None, 0), (0.0, rules.cadence.last_sends), (1.0, rules.cadence.last_sends)):
            out.add(cadence.recommend(rules, band.name, rate, seen))
    return out


def comment_text(path: Path) -> str:
    """The file's comments joined into one text (a list may wrap over two comment lines)."""
    parts = []
    for line in path.read_text().splitlines():
        if "#" in line:
            parts.append(line.split("#", 1)[1].strip())
    return " ".join(parts)


def documented_lists(text: str) -> list[list[str]]:
    """Lists of cadence words written as "a | b | c" or "a -> b -> c" that name weekly."""
    found = []
    for sep in (r"\|", "->"):
        for match in re.finditer(rf"[a-z]+(?:\s*{sep}\s*[a-z]+)+", text):
            words = [w.strip() for w in re.split(sep, match.group(0))]
            if "weekly" in words:
                found.append(words)
    return found


def test_the_code_produces_exactly_the_levels_in_order_of_frequency():
    assert cadence.LEVELS == CADENCE_LEVELS
    assert produced() == set(CADENCE_LEVELS)
    assert cadence.step_down("monthly") == "quarterly" == cadence.step_down("quarterly")


def test_every_documented_list_of_cadences_is_the_produced_one():
    for name in DOCUMENTED_IN:
        lists = documented_lists(comment_text(ROOT / name))
        assert lists, f"{name} documents no cadence values"
        for words in lists:
            assert words == list(CADENCE_LEVELS), f"{name} documents {words}, the code produces {CADENCE_LEVELS}"


def test_the_schema_and_the_hubspot_property_offer_the_same_values():
    schema = json.loads((ROOT / "config/scoring.schema.json").read_text())
    enums = [
        d["properties"]["cadence"]["enum"]
        for d in schema.get("$defs", {}).values()
        if "cadence" in d.get("properties", {})
    ]
    assert enums and all(e == list(CADENCE_LEVELS) for e in enums)
    prop = next(p for p in CONTACT_PROPERTIES if p["name"] == "syncd_cadence")
    assert [o["value"] for o in prop["options"]] == list(CADENCE_LEVELS)


def test_the_parser_sees_a_partial_list():
    # the comment this test was written against
    old = "syncd_cadence # recommended contact frequency: weekly | biweekly | monthly"
    assert documented_lists(old) == [["weekly", "biweekly", "monthly"]]
