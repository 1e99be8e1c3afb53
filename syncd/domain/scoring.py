"""The lead score: a pure function of (rules, contact, events, now).

Replaying the same event log gives the same answer whatever the order of the events: they are
de-duplicated on (source, event_id), sorted, and sums are exact (math.fsum). Events after `now` are not
counted yet, so a score can also be computed "as of" an earlier instant.

How points are found:
- each event earns the points of the most specific behaviour or negative rules that match it (a rule
  with a url_pattern or bounce_type beats one without), so a pricing click earns the pricing rule only;
- behaviour points (and negative ones marked `decays`) fade with the configured decay;
- a rule's cap keeps, per bucket, the `max_count` events worth the most now; the others are listed in
  the ledger at 0. Keeping the most valuable ones (rather than the first ones) is what makes an extra
  positive event unable to lower a score;
- fit points come from the contact's HubSpot properties and never fade;
- inactivity penalties count from the later of the last engagement and the contact's creation.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from contracts.timeparse import utc_datetime
from syncd.domain import cadence as cadence_mod
from syncd.domain import lifecycle, segments
from syncd.domain.models import (
    ENGAGEMENT_KINDS,
    ContactView,
    EngagementEvent,
    LedgerEntry,
    ScoreResult,
    SegmentState,
    Send,
)
from syncd.domain.patterns import compile_pattern

if TYPE_CHECKING:
    from syncd.rules import BehaviourRule, Cap, FitRule, NegativeRule, Rules

LIFECYCLE_PROPERTY = "lifecyclestage"
CREATED_PROPERTY = "createdate"
DAY = timedelta(days=1)
# Period buckets are fixed windows counted from a Monday, so 7-day caps follow ISO weeks (UTC).
_PERIOD_ANCHOR = datetime(1970, 1, 5, tzinfo=UTC)


def score(
    rules: Rules,
    contact: ContactView,
    events: Iterable[EngagementEvent],
    now: datetime,
    previous: SegmentState | None = None,
    sends: Sequence[Send] = (),
    stage_order: Sequence[str] | None = None,
) -> ScoreResult:
    """Score one lead at instant `now`.

    Takes the validated rules, the contact's CRM view, its engagement events (any order, duplicates
    allowed), an aware `now`, the segment state left by the previous scoring (None for a new lead), the
    campaigns sent to the lead (for the cadence's open rate) and optionally the account's live
    lifecycle stage order. Returns a `ScoreResult`. Raises ValueError if `now` or an event time is naive.
    """
    now = as_utc(now)
    evs = prepare_events(events, now)
    fit = fit_entries(rules, contact)
    behaviour = event_entries(rules, evs, now)
    last_engaged = max((e.occurred_at for e in evs if e.kind in ENGAGEMENT_KINDS), default=None)
    created = parse_time(contact.properties.get(CREATED_PROPERTY))
    silence = inactivity_entries(rules, last_engaged, created, now)
    fit_score = math.fsum(e.points_after_decay for e in fit)
    engagement = math.fsum(e.points_after_decay for e in (*behaviour, *silence))
    total = round_half_up(fit_score + engagement)

    segment, changed = segments.assign(rules, total, previous, now, last_engaged)
    current_stage = (contact.properties.get(LIFECYCLE_PROPERTY) or "").strip() or None
    target = lifecycle.target(rules, total, current_stage, stage_order)
    rate, window = cadence_mod.open_rate(evs, sends, now, rules.cadence.last_sends)
    triggers = ((f"segment:{segment}",) if changed else ()) + (
        (f"lifecycle:{target}",) if target is not None and target != current_stage else ()
    )
    return ScoreResult(
        score=total,
        fit_score=fit_score,
        engagement_score=engagement,
        ledger=(*fit, *behaviour, *silence),
        segment=segment,
        segment_changed=changed,
        lifecycle_target=target,
        cadence=cadence_mod.recommend(rules, segment, rate, window),
        open_rate=rate,
        triggers=triggers,
        last_engaged_at=last_engaged,
        as_of=now,
    )


def events_from_property_change(
    rules: Rules,
    email: str,
    hubspot_id: str,
    old: Mapping[str, str | None],
    new: Mapping[str, str | None],
    changed_at: datetime,
) -> tuple[EngagementEvent, ...]:
    """Turn a HubSpot contact's property change into engagement events (for the engine).

    A rise of the conversion count gives one event per new conversion, ids "<contact>:conversion:<n>":
    the latest is a demo request when its name matches `demo_request_pattern`, else a form submission
    (earlier ones in the same change are form submissions whose name is unknown). A new non-empty
    value of the webinar property gives a "webinar" event. Returns () when nothing relevant changed.
    Raises ValueError if `changed_at` is naive.
    """
    at = as_utc(changed_at)
    cfg = rules.hubspot_events
    out: list[EngagementEvent] = []
    before = parse_number(old.get(cfg.conversion_count_property) or "0") or 0
    after = parse_number(new.get(cfg.conversion_count_property) or "0") or 0
    name = (new.get(cfg.conversion_name_property) or "").strip() or None
    for n in range(int(before) + 1, int(after) + 1):
        latest = n == int(after)
        demo = latest and name is not None and _regex(cfg.demo_request_pattern).search(name) is not None
        out.append(
            EngagementEvent(
                source="hubspot",
                event_id=f"{hubspot_id}:conversion:{n}",
                email=email,
                kind="demo_request" if demo else "form_submission",
                occurred_at=at,
                detail=name if latest else None,
            )
        )
    if cfg.webinar_property:
        webinar = (new.get(cfg.webinar_property) or "").strip()
        if webinar and webinar != (old.get(cfg.webinar_property) or "").strip():
            out.append(
                EngagementEvent(
                    source="hubspot",
                    event_id=f"{hubspot_id}:webinar:{webinar}",
                    email=email,
                    kind="webinar",
                    occurred_at=at,
                    detail=webinar,
                )
            )
    return tuple(out)


def decay_factor(rules: Rules, age_days: float) -> float:
    """Return the share in [0, 1] of a behaviour event's points left `age_days` after it happened.

    Half-life: 0.5 ** (age / half_life). Linear: whole for `full_days`, then down to 0 over `fade_days`.
    Negative ages (not expected: later events are not counted) are treated as 0.
    """
    age = max(0.0, age_days)
    decay = rules.decay
    if decay.mode == "half_life":
        return float(0.5 ** (age / decay.half_life_days))
    return min(1.0, max(0.0, 1.0 - (age - decay.full_days) / decay.fade_days))


def prepare_events(events: Iterable[EngagementEvent], now: datetime) -> tuple[EngagementEvent, ...]:
    """Return the events that happened at or before `now`, once per (source, event_id), sorted.

    Raises ValueError on an event with a naive time.
    """
    # as_utc raises on a naive time; an event already in UTC (all of the store's) skips the call
    ordered = sorted(
        (e for e in events if (e.occurred_at if e.occurred_at.tzinfo is UTC else as_utc(e.occurred_at)) <= now),
        key=_event_key,
    )
    seen: set[tuple[str, str]] = set()
    unique: list[EngagementEvent] = []
    for event in ordered:
        key = (event.source, event.event_id)
        if key not in seen:
            seen.add(key)
            unique.append(event)
    return tuple(unique)


def matching_rules(rules: Rules, event: EngagementEvent) -> list[tuple[BehaviourRule | NegativeRule, str]]:
    """Return the (rule, ledger kind) pairs that score `event`: the most specific matching rules."""
    return [(v.rule, v.ledger_kind) for v in _compiled(rules).match(event.kind, event.url, event.bounce_type)]


def event_entries(rules: Rules, events: Sequence[EngagementEvent], now: datetime) -> list[LedgerEntry]:
    """Return the ledger lines of behaviour and negative rules for sorted, de-duplicated events (the order
    `prepare_events` gives: a cap keeps, among equally valuable events, the earliest in that order)."""
    compiled = _compiled(rules)
    match, decay = compiled.match, compiled.decay
    # per rule, in the order rules are first hit: the rule, its events and their values now
    per_rule: dict[str, tuple[_EventRule, list[EngagementEvent], list[float]]] = {}
    for event in events:
        hits = match(event.kind, event.url, event.bounce_type)
        if not hits:
            continue
        factor = -1.0
        for view in hits:
            if view.fades:
                if factor < 0.0:
                    factor = decay((now - event.occurred_at) / DAY)
                value = view.points * factor
            else:
                value = view.points * 1.0
            found = per_rule.get(view.name)
            if found is None:
                per_rule[view.name] = (view, [event], [value])
            else:
                found[1].append(event)
                found[2].append(value)
    entries: list[LedgerEntry] = []
    add = entries.append
    for name, (view, evs, values) in per_rule.items():
        counted = _counted(view, evs, values)
        over = "" if counted is None else f" (over cap: {_cap_text(view.rule.cap)})"
        kind, points = view.ledger_kind, view.rule.points
        for i, event in enumerate(evs):
            kept = counted is None or counted[i]
            add(
                LedgerEntry(
                    name,
                    kind,
                    event.event_id,
                    event.occurred_at if event.occurred_at.tzinfo is UTC else as_utc(event.occurred_at),
                    describe(event) if kept else describe(event) + over,
                    points,
                    values[i] if kept else 0.0,
                )
            )
    order = compiled.order
    entries.sort(key=lambda e: (e.occurred_at, order[e.rule], e.event_id or ""))
    return entries


def fit_entries(rules: Rules, contact: ContactView) -> list[LedgerEntry]:
    """Return one ledger line per fit rule whose condition the contact's properties meet.

    A missing or empty property never matches (not even a negated rule): unknown is not a fit signal.
    """
    entries: list[LedgerEntry] = []
    holds_for = _compiled(rules).fit_holds
    for rule in rules.fit:
        value = (contact.properties.get(rule.property) or "").strip()
        holds = holds_for(rule, value) if value else None
        if holds is None or holds == rule.negate:
            continue
        detail = f"{rule.property}={value!r} {'not ' if rule.negate else ''}{_condition_text(rule)}"
        entries.append(
            LedgerEntry(
                rule=rule.name,
                kind="fit",
                event_id=None,
                occurred_at=None,
                detail=detail,
                points=rule.points,
                points_after_decay=rule.points,
            )
        )
    return entries


def inactivity_entries(
    rules: Rules, last_engaged: datetime | None, created: datetime | None, now: datetime
) -> list[LedgerEntry]:
    """Return the inactivity penalties due at `now`.

    Silence is counted from the later of the last engagement and the contact's creation (so an old
    event cannot lengthen it); with neither known there is no penalty.
    """
    starts = [t for t in (last_engaged, created) if t is not None]
    if not starts:
        return []
    since = max(starts)
    silent = (now - since) / DAY
    return [
        LedgerEntry(
            rule=r.name,
            kind="negative",
            event_id=None,
            occurred_at=since + r.after_days * DAY,
            detail=f"no engagement for {silent:.0f} days (since {since:%Y-%m-%d})",
            points=r.points,
            points_after_decay=r.points,
        )
        for r in rules.inactivity
        if silent >= r.after_days
    ]


def describe(event: EngagementEvent) -> str:
    """Return a short human description of an event for ledgers and task bodies."""
    campaign = f" (campaign {event.campaign_id})" if event.campaign_id else ""
    if event.kind == "open":
        return f"opened email{campaign}"
    if event.kind == "click":
        return f"clicked {event.url or 'a link'}{campaign}"
    if event.kind == "bounce":
        return f"{event.bounce_type or 'unknown'} bounce{campaign}"
    if event.kind == "unsubscribe":
        return f"unsubscribed{campaign}"
    label = event.kind.replace("_", " ")
    return f"{label}: {event.detail}" if event.detail else label


def parse_number(value: str) -> float | None:
    """Read a HubSpot numeric-ish value: "200", "1,000", "1000+", or a range "100-500" (its lower bound).

    Returns None when the value is not a number.
    """
    text = value.replace(",", "").replace(" ", "").rstrip("+")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(?:-\d+(?:\.\d+)?)?", text)
    return float(match.group(1)) if match else None


def parse_time(value: str | None) -> datetime | None:
    """Read a HubSpot date value (ISO 8601, or epoch milliseconds) as aware UTC; None if unreadable."""
    return utc_datetime(value)


def as_utc(moment: datetime) -> datetime:
    """Return an aware datetime in UTC. Raises ValueError on a naive one (its zone would be a guess)."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware (UTC) datetime")
    return moment.astimezone(UTC)


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves away from zero (Python's round() sends 30.5 to 30)."""
    return int(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def _event_key(event: EngagementEvent) -> tuple[datetime, str, str, str, str, str, str, str]:
    occurred = event.occurred_at
    return (
        occurred if occurred.tzinfo is UTC else as_utc(occurred),
        event.source,
        event.event_id,
        event.kind,
        event.campaign_id or "",
        event.url or "",
        event.bounce_type or "",
        event.detail or "",
    )


@lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    return compile_pattern(pattern)


def _matches(rule: BehaviourRule | NegativeRule, event: EngagementEvent) -> bool:
    if rule.kind != event.kind:
        return False
    if rule.url_pattern is not None and not (event.url and _regex(rule.url_pattern).search(event.url)):
        return False
    return rule.bounce_type is None or (event.bounce_type or "").lower() == rule.bounce_type


@dataclass(frozen=True, slots=True)
class _EventRule:
    """A behaviour or negative rule as matching uses it."""

    rule: BehaviourRule | NegativeRule
    ledger_kind: str  # "behaviour" | "negative"
    fades: bool
    specificity: int
    points: float
    name: str
    bucket: Callable[[EngagementEvent], object]  # the event's bucket under the rule's cap


_MATCH_MEMO = 65_536  # (kind, url, bounce type) answers kept per rules object; URLs repeat across a campaign


class _Compiled:
    """One rules object, prepared once: its event rules by kind (in file order, behaviour before negative),
    the most specific matches memoized by what matching reads of an event (kind, url, bounce type), the
    ledger's rule order and the fit rules' accepted values casefolded. Pure: it only remembers answers."""

    __slots__ = ("by_kind", "decay", "fit_memo", "fit_values", "matches", "order", "rules")

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        by_kind: dict[str, list[_EventRule]] = defaultdict(list)
        for ledger_kind, group in (("behaviour", rules.behaviour), ("negative", rules.negative)):
            for rule in group:
                fades = ledger_kind == "behaviour" or bool(getattr(rule, "decays", False))
                bucket = _bucket_key(rule.cap) if rule.cap is not None else _one_bucket
                view = _EventRule(rule, ledger_kind, fades, _specificity(rule), rule.points, rule.name, bucket)
                by_kind[rule.kind].append(view)
        self.by_kind = {kind: tuple(views) for kind, views in by_kind.items()}
        self.matches: dict[tuple[str, str | None, str | None], tuple[_EventRule, ...]] = {}
        self.order = {r.name: i for i, r in enumerate((*rules.behaviour, *rules.negative))}
        self.fit_values = {r.name: frozenset(v.casefold() for v in r.values) for r in rules.fit if r.values is not None}
        self.fit_memo: dict[tuple[str, str], bool | None] = {}
        decay = rules.decay
        if decay.mode == "half_life":
            half_life = decay.half_life_days
            self.decay: Callable[[float], float] = lambda age: float(0.5 ** (max(0.0, age) / half_life))
        else:
            full, fade = decay.full_days, decay.fade_days
            self.decay = lambda age: min(1.0, max(0.0, 1.0 - (max(0.0, age) - full) / fade))

    def fit_holds(self, rule: FitRule, value: str) -> bool | None:
        """`_condition_holds` for a fit rule and a non-empty value, memoized (job titles, sizes and
        industries repeat across an audience)."""
        key = (rule.name, value)
        if key in self.fit_memo:
            return self.fit_memo[key]
        holds = _condition_holds(rule, value, self.fit_values.get(rule.name))
        if len(self.fit_memo) >= _MATCH_MEMO:
            self.fit_memo.clear()
        self.fit_memo[key] = holds
        return holds

    def match(self, kind: str, url: str | None, bounce_type: str | None) -> tuple[_EventRule, ...]:
        """The most specific rules matching an event of `kind` with `url` and `bounce_type`, in file order."""
        key = (kind, url, bounce_type)
        hit = self.matches.get(key)
        if hit is None:
            probe = EngagementEvent("", "", "", kind, _PERIOD_ANCHOR, url=url, bounce_type=bounce_type)
            hits = [view for view in self.by_kind.get(kind, ()) if _matches(view.rule, probe)]
            best = max((view.specificity for view in hits), default=0)
            hit = tuple(view for view in hits if view.specificity == best)
            if len(self.matches) >= _MATCH_MEMO:
                self.matches.clear()
            self.matches[key] = hit
        return hit


_COMPILED: dict[int, _Compiled] = {}


def _compiled(rules: Rules) -> _Compiled:
    """The prepared form of `rules` (by identity: a reloaded file is a new object, prepared anew)."""
    found = _COMPILED.get(id(rules))
    if found is None or found.rules is not rules:
        if len(_COMPILED) >= 16:
            _COMPILED.clear()
        found = _COMPILED[id(rules)] = _Compiled(rules)
    return found


def _specificity(rule: BehaviourRule | NegativeRule) -> int:
    return (rule.url_pattern is not None) + (rule.bounce_type is not None)


def _counted(view: _EventRule, events: list[EngagementEvent], values: list[float]) -> list[bool] | None:
    """Which of a rule's events count under its cap (None: all): per bucket the `max_count` worth the most
    now; ties go to the earliest in `events`' order, the events' sort order (`_event_key`: the sort below is
    stable). Keeping the most valuable (not the first) is what makes an extra event unable to lower a score."""
    cap = view.rule.cap
    if cap is None or len(events) <= cap.max_count:
        return None
    key = view.bucket
    buckets: dict[object, list[int]] = {}
    for i, event in enumerate(events):
        k = key(event)
        members = buckets.get(k)
        if members is None:
            buckets[k] = [i]
        else:
            members.append(i)
    limit = cap.max_count
    if all(len(members) <= limit for members in buckets.values()):
        return None
    flags = [False] * len(events)
    for members in buckets.values():
        if len(members) > limit:
            members = sorted(members, key=lambda i: -abs(values[i]))[:limit]
        for i in members:
            flags[i] = True
    return flags


def _bucket_key(cap: Cap) -> Callable[[EngagementEvent], object]:
    """The function giving an event's bucket under `cap` (the cap's fields, then its period's number);
    the common shapes are spelled out, the general one is `_bucket`."""
    if cap.period_days is None:
        if not cap.per:
            return _one_bucket
        if cap.per == ("campaign",):
            return _campaign_bucket
    elif not cap.per:
        period = cap.period_days
        return lambda event: math.floor(((as_utc(event.occurred_at) - _PERIOD_ANCHOR) / DAY) / period)
    return lambda event: _bucket(cap, event)


def _one_bucket(event: EngagementEvent) -> object:
    return ""


def _campaign_bucket(event: EngagementEvent) -> object:
    return event.campaign_id or ""


def _bucket(cap: Cap, event: EngagementEvent) -> tuple[object, ...]:
    key: list[object] = [(event.campaign_id or "") if field == "campaign" else (event.url or "") for field in cap.per]
    if cap.period_days is not None:
        elapsed = (as_utc(event.occurred_at) - _PERIOD_ANCHOR) / DAY
        key.append(math.floor(elapsed / cap.period_days))
    return tuple(key)


def _cap_text(cap: Cap | None) -> str:
    if cap is None:
        return "none"
    scope = [f"per {field}" for field in cap.per]
    if cap.period_days is not None:
        scope.append(f"per {cap.period_days:g} days")
    return f"{cap.max_count} {' '.join(scope) if scope else 'in all'}"


def _condition_holds(rule: FitRule, value: str, folded: frozenset[str] | None = None) -> bool | None:
    """True/False for the rule's condition on a non-empty value; None when it cannot be judged. `folded`:
    the rule's accepted values casefolded, when already known."""
    if rule.pattern is not None:
        return _regex(rule.pattern).search(value) is not None
    if rule.values is not None:
        return value.casefold() in (folded if folded is not None else {v.casefold() for v in rule.values})
    number = parse_number(value)
    if number is None or rule.range is None:
        return None
    low, high = rule.range.min, rule.range.max
    return (low is None or number >= low) and (high is None or number <= high)


def _condition_text(rule: FitRule) -> str:
    if rule.pattern is not None:
        return "matches the pattern"
    if rule.values is not None:
        return "is in the list"
    assert rule.range is not None  # the rules model guarantees exactly one condition
    low = "" if rule.range.min is None else f"{rule.range.min:g}"
    high = "" if rule.range.max is None else f"{rule.range.max:g}"
    return f"in range {low}..{high}"
