"""CRM search: filter groups (OR of ANDs), one sort, free-text query, offset paging with a total.

Top-level `filters` (a body without `filterGroups`) are ANDed, as one filter group (HubSpot accepts them:
API_NOTES, third-party reports); a body with both is refused (400) rather than guessing how they combine
(assumed). `hs_object_id` works as a filter property (numeric) and as the sort (by record id); a range on
it narrows the scan to those ids, so `lastmodifieddate EQ t AND hs_object_id GT x` sorted by hs_object_id
reads only the records modified at t. More than one sort is refused (400): HubSpot's search guide allows
one sorting rule per search; what it answers for two is not confirmed, and picking one silently would
change the order.

Limits (HubSpot's expanded-filtering changelog, the newest published numbers): at most 5 filter
groups, 10 filters in one group and 25 filters in all; limit at most 200; query at most 3,000
characters; no more than 10,000 results reachable through paging (`after` + `limit` > 10,000 → 400).
A range filter on the created/modified timestamp is answered from a time index, streaming when the
sort is on the same property, so incremental syncs stay fast on a million-contact world.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sandbox.hubspot.bodies import FilterGroupIn, FilterIn, SearchIn, SortIn
from sandbox.hubspot.index import NEG_INF, POS_INF
from sandbox.hubspot.schema import PropertyDef, compare_key
from sandbox.hubspot.tables import Record, Table
from sandbox.timefmt import parse_ts_ms

MAX_GROUPS = 5  # search: 5 filter groups
MAX_GROUP_FILTERS = 10  # search: 10 filters per group
MAX_FILTERS = 25  # search: 25 filters in all
MAX_LIMIT = 200  # search: 200 results per page
MAX_RESULTS = 10_000  # search: 10,000 results reachable by paging
MAX_QUERY_CHARS = 3_000
_RANGE_OPS = ("GT", "GTE", "LT", "LTE", "EQ", "BETWEEN")
_TOKEN_SPLIT = re.compile(r"[\s,;]+")


class SearchError(ValueError):
    """The request is invalid; the message is what the 400 says."""


@dataclass(frozen=True)
class Condition:
    prop: PropertyDef
    op: str
    value: str | None
    high: str | None
    values: tuple[str, ...]

    def matches(self, props: dict[str, str]) -> bool:
        raw = props.get(self.prop.name)
        present = raw is not None and raw != ""
        op = self.op
        if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            return present == (op == "HAS_PROPERTY")
        if op.startswith("NOT_") or op == "NEQ":
            positive = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}[op]
            return not (present and self._test(positive, raw))
        return present and self._test(op, raw)

    def _test(self, op: str, raw: str) -> bool:
        if op == "CONTAINS_TOKEN":
            pattern = (self.value or "").lower()
            text = raw.lower()
            return any(fnmatch.fnmatchcase(t, pattern) for t in [text, *_TOKEN_SPLIT.split(text)] if t)
        if op == "EQ":
            return self._eq(raw, self.value or "")
        if op == "IN":
            return any(self._eq(raw, v) for v in self.values)
        key = compare_key(self.prop, raw)
        low = compare_key(self.prop, self.value or "")
        if key[0] != low[0]:
            return False
        if op == "BETWEEN":
            return low <= key <= compare_key(self.prop, self.high or "")
        return {"LT": key < low, "LTE": key <= low, "GT": key > low, "GTE": key >= low}[op]

    def _eq(self, raw: str, want: str) -> bool:
        if self.prop.field_type == "checkbox":
            return want.lower() in (part.lower() for part in raw.split(";"))
        return compare_key(self.prop, raw) == compare_key(self.prop, want)


@dataclass(frozen=True)
class Plan:
    groups: tuple[tuple[Condition, ...], ...]
    sort_prop: str | None  # None = by id
    descending: bool
    terms: tuple[str, ...]
    offset: int
    limit: int


@dataclass
class Result:
    records: list[Record]
    total: int
    next_after: str | None


def plan(table: Table, req: SearchIn) -> Plan:
    """Validate a search against the object's properties. Raises SearchError."""
    groups = req.filterGroups
    if req.filters:
        if groups:
            raise SearchError("Use either filterGroups or top-level filters in one search, not both.")
        groups = [FilterGroupIn(filters=req.filters)]
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups ({len(groups)}); the maximum is {MAX_GROUPS}.")
    total = sum(len(g.filters) for g in groups)
    if any(len(g.filters) > MAX_GROUP_FILTERS for g in groups):
        raise SearchError(f"Too many filters in a filter group; the maximum is {MAX_GROUP_FILTERS}.")
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters ({total}); the maximum across all filter groups is {MAX_FILTERS}.")
    if not 1 <= req.limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}; got {req.limit}.")
    query = req.query or ""
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"query may be at most {MAX_QUERY_CHARS} characters.")
    offset = int(req.after or 0)
    if offset + req.limit > MAX_RESULTS:
        raise SearchError(
            f"Paging past {MAX_RESULTS} results is not supported: after ({offset}) + limit "
            f"({req.limit}) must not exceed {MAX_RESULTS}."
        )
    if len(req.sorts) > 1:
        raise SearchError("Only one sort is supported.")
    sort_prop, desc = _sort(table, req.sorts[0]) if req.sorts else (None, False)
    conds = tuple(tuple(_condition(table, f) for f in g.filters) for g in groups if g.filters)
    return Plan(conds, sort_prop, desc, tuple(query.lower().split()), offset, req.limit)


def _sort(table: Table, sort: str | SortIn) -> tuple[str | None, bool]:
    if isinstance(sort, str):
        name, desc = (sort[1:], True) if sort.startswith("-") else (sort, False)
    else:
        name, desc = sort.propertyName, sort.direction == "DESCENDING"
    if name not in table.schema.properties:
        raise SearchError(f"Cannot sort by unknown property '{name}'.")
    return (None if name == "hs_object_id" else name), desc


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _condition(table: Table, f: FilterIn) -> Condition:
    prop = table.schema.properties.get(f.propertyName)
    if prop is None:
        raise SearchError(f"Property '{f.propertyName}' does not exist on {table.object_type}.")
    op = f.operator
    values = tuple(_text(v) for v in (f.values or ()))
    if op in ("IN", "NOT_IN") and not values:
        raise SearchError(f"Operator {op} needs a non-empty 'values' list (filter on '{prop.name}').")
    needs_value = op not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY")
    if needs_value and f.value is None:
        raise SearchError(f"Operator {op} needs a 'value' (filter on '{prop.name}').")
    if op == "BETWEEN" and f.highValue is None:
        raise SearchError(f"Operator BETWEEN needs 'value' and 'highValue' (filter on '{prop.name}').")
    value, high = _typed(prop, f.value), _typed(prop, f.highValue)
    return Condition(prop, op, value, high, tuple(_typed(prop, v) or "" for v in values))


def _typed(prop: PropertyDef, v: object) -> str | None:
    """Filter values on numbers and times must parse (epoch ms or ISO for times)."""
    if v is None:
        return None
    text = _text(v)
    if prop.type in ("datetime", "date"):
        try:
            return str(parse_ts_ms(text))
        except (TypeError, ValueError):
            raise SearchError(
                f"'{text}' is not a valid {prop.type} for '{prop.name}' (use epoch ms or ISO 8601)."
            ) from None
    if prop.type == "number":
        try:
            float(text)
        except ValueError:
            raise SearchError(f"'{text}' is not a valid number for '{prop.name}'.") from None
    return text


def run(table: Table, p: Plan) -> Result:
    """Execute a validated plan on `table`."""
    indexed = _indexed_range(table, p)
    if indexed is not None:
        prop, lo, hi, rest = indexed
        index = table.time_index(prop)
        assert index is not None
        if p.sort_prop == prop:
            known_total = index.count(lo, hi) if not rest and not p.terms else None
            return _stream(_records(table, index.iterate(lo, hi, p.descending)), rest, p, known_total, table)
        candidates: Iterable[Record] = _records(table, index.iterate(lo, hi))
        return _collect(candidates, [rest], p, table)
    ids = _id_range(p)
    if ids is not None:
        candidates = _records_between(table, *ids)
        if p.sort_prop is None and not p.descending:  # already in result order
            return _stream(candidates, p.groups[0], p, None, table)
        return _collect(candidates, p.groups, p, table)
    if not p.groups and not p.terms:
        if p.sort_prop is None and not p.descending:
            return _stream(table.iter_live(), (), p, table.live_count(), table)
        index = table.time_index(p.sort_prop) if p.sort_prop else None
        if index is not None:
            return _stream(_records(table, index.iterate(reverse=p.descending)), (), p, table.live_count(), table)
    return _collect(table.iter_live(), p.groups, p, table)


def _indexed_range(table: Table, p: Plan) -> tuple[str, int, int, tuple[Condition, ...]] | None:
    """(property, lo, hi, other conditions) when the one filter group ranges over an indexed timestamp."""
    if len(p.groups) != 1:
        return None
    group = p.groups[0]
    for cond in group:
        if cond.op in _RANGE_OPS and table.time_index(cond.prop.name) is not None:
            name = cond.prop.name
            lo, hi = NEG_INF, POS_INF
            rest = []
            for c in group:
                if c.prop.name == name and c.op in _RANGE_OPS:
                    a, b = _bounds(c)
                    lo, hi = max(lo, a), min(hi, b)
                else:
                    rest.append(c)
            return name, lo, hi, tuple(rest)
    return None


def _id_range(p: Plan) -> tuple[int, int] | None:
    """[lo, hi) of record ids when the one filter group bounds hs_object_id (GT, GTE, LT, LTE, EQ, BETWEEN, IN)."""
    if len(p.groups) != 1:
        return None
    lo, hi, bounded = NEG_INF, POS_INF, False
    for c in p.groups[0]:
        if c.prop.name != "hs_object_id":
            continue
        if c.op == "IN":
            numbers = [float(v) for v in c.values if v != ""]
            a, b = (math.ceil(min(numbers)), math.floor(max(numbers)) + 1) if numbers else (0, 0)
        elif c.op in _RANGE_OPS:
            v = float(c.value or 0)
            a, b = {
                "GT": (math.floor(v) + 1, POS_INF),
                "GTE": (math.ceil(v), POS_INF),
                "LT": (NEG_INF, math.ceil(v)),
                "LTE": (NEG_INF, math.floor(v) + 1),
                "EQ": (math.ceil(v), math.floor(v) + 1),
                "BETWEEN": (math.ceil(v), math.floor(float(c.high or 0)) + 1),
            }[c.op]
        else:
            continue
        lo, hi, bounded = max(lo, a), min(hi, b), True
    return (lo, hi) if bounded else None


def _records_between(table: Table, lo: int, hi: int) -> Iterator[Record]:
    """Live records with lo <= id < hi, ascending by id."""
    if lo >= hi:
        return
    for rec in table.iter_live(max(lo, 0) - 1):
        if int(rec.id) >= hi:
            return
        yield rec


def _bounds(c: Condition) -> tuple[int, int]:
    """Half-open [lo, hi) over integer epoch ms."""
    v = int(c.value or 0)
    return {
        "GT": (v + 1, POS_INF),
        "GTE": (v, POS_INF),
        "LT": (NEG_INF, v),
        "LTE": (NEG_INF, v + 1),
        "EQ": (v, v + 1),
        "BETWEEN": (v, int(c.high or 0) + 1),
    }[c.op]


def _records(table: Table, ids: Iterator[int]) -> Iterator[Record]:
    for rid in ids:
        rec = table.record_by_int(rid)
        if rec is not None:
            yield rec


def _matches(rec: Record, conds: Iterable[Condition], terms: tuple[str, ...], table: Table) -> bool:
    if not all(c.matches(rec.props) for c in conds):
        return False
    if terms:
        text = " ".join(rec.props.get(n) or "" for n in table.query_props).lower()
        return all(t in text for t in terms)
    return True


def _stream(
    ordered: Iterator[Record], conds: tuple[Condition, ...], p: Plan, known_total: int | None, table: Table
) -> Result:
    """Page through records already in result order; count the rest only when the total is unknown."""
    page: list[Record] = []
    seen, stop = 0, p.offset + p.limit
    for rec in ordered:
        if not _matches(rec, conds, p.terms, table):
            continue
        if p.offset <= seen < stop:
            page.append(rec)
        seen += 1
        if seen >= stop and known_total is not None:
            break
    total = known_total if known_total is not None else seen
    more = p.offset + len(page) < total
    return Result(page, total, str(p.offset + len(page)) if more and page else None)


def _collect(candidates: Iterable[Record], groups: Iterable[tuple[Condition, ...]], p: Plan, table: Table) -> Result:
    groups = [g for g in groups] or [()]
    hits = [r for r in candidates if any(_matches(r, g, p.terms, table) for g in groups)]
    hits.sort(key=lambda r: int(r.id))
    if p.sort_prop is not None:
        prop = table.schema.properties[p.sort_prop]
        present = [r for r in hits if r.props.get(p.sort_prop)]
        absent = [r for r in hits if not r.props.get(p.sort_prop)]
        present.sort(key=lambda r: compare_key(prop, r.props[p.sort_prop]), reverse=p.descending)
        hits = present + absent
    elif p.descending:
        hits.reverse()
    page = hits[p.offset : p.offset + p.limit]
    more = p.offset + len(page) < len(hits)
    return Result(page, len(hits), str(p.offset + len(page)) if more else None)
