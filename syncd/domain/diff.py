"""Pure: compare what should be with what was last pushed and what the services hold; only differences go out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

TAG_FAMILIES = ("segment:", "stage:", "cadence:")
STAGE_TAGS = {
    "subscriber": "subscriber",
    "lead": "lead",
    "marketingqualifiedlead": "mql",
    "salesqualifiedlead": "sql",
    "opportunity": "opportunity",
    "customer": "customer",
    "evangelist": "evangelist",
    "other": "other",
}


def property_changes(
    desired: Mapping[str, str], current: Mapping[str, object], pushed: Mapping[str, str]
) -> dict[str, str]:
    """Values that differ from the service's and from what syncd last sent (a sent value is not re-sent
    before the service reflects it, and a value someone changed by hand after syncd is left alone)."""
    return {k: v for k, v in sorted(desired.items()) if current.get(k) != v and pushed.get(k) != v}


def desired_tags(segment: str, stage: str | None, cadence: str) -> list[str]:
    tags = [f"segment:{segment}", f"cadence:{cadence}"]
    if stage:
        tags.append(f"stage:{STAGE_TAGS.get(stage, stage)}")
    return sorted(tags)


def tag_changes(
    desired: Iterable[str],
    current: Iterable[str],
    families: tuple[str, ...] = (),
    exact: frozenset[str] = frozenset(),
) -> tuple[list[str], list[str]]:
    """(tags to activate, managed tags to deactivate). Managed: syncd's families, the tag rules' `families`
    ("industry:") and `exact` tags ("plan:enterprise"); every other tag is never touched."""
    want, have = set(desired), set(current)
    prefixes = TAG_FAMILIES + tuple(families)
    active = sorted(want - have)
    inactive = sorted(t for t in have - want if t.startswith(prefixes) or t in exact)
    return active, inactive


def stage_index(stage: str | None, order: tuple[str, ...]) -> int:
    return order.index(stage) if stage in order else -1
