"""Explaining a score to people: the `syncd explain` table, its JSON form, and hot-lead task text."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncd.domain.models import ContactView, LedgerEntry, ScoreResult
from syncd.domain.segments import band_of

if TYPE_CHECKING:
    from syncd.rules import Rules

_DETAIL_WIDTH = 56
_STAGE_LABELS = {
    "lead": "New lead",
    "marketingqualifiedlead": "Marketing-qualified lead",
    "salesqualifiedlead": "Sales-qualified lead",
}


def ledger_table(result: ScoreResult) -> str:
    """Return a fixed-width table of `result`'s ledger with totals, segment, lifecycle target and cadence."""
    rule_w = max([len("rule")] + [len(e.rule) for e in result.ledger])
    head = f"{'rule':<{rule_w}}  {'when':<16}  {'detail':<{_DETAIL_WIDTH}}  {'points':>8}  {'after decay':>11}"
    lines = [head, "-" * len(head)]
    for e in result.ledger:
        when = _when(e.occurred_at)
        lines.append(
            f"{e.rule:<{rule_w}}  {when:<16}  {_clip(e.detail):<{_DETAIL_WIDTH}}  "
            f"{e.points:>8.2f}  {e.points_after_decay:>11.2f}"
        )
    if not result.ledger:
        lines.append("(no rule applies)")
    lines.append("-" * len(head))
    sums = totals(result.ledger)
    lines.append(
        f"fit {sums['fit']:.2f} + behaviour {sums['behaviour']:.2f} + negative "
        f"{sums['negative']:.2f} = score {result.score}"
    )
    changed = " (changed)" if result.segment_changed else ""
    rate = "n/a" if result.open_rate is None else f"{result.open_rate:.0%}"
    lines.append(
        f"segment: {result.segment}{changed}   lifecycle target: {result.lifecycle_target or '-'}   "
        f"cadence: {result.cadence}   open rate: {rate}"
    )
    if result.triggers:
        lines.append(f"triggers: {', '.join(result.triggers)}")
    if result.as_of is not None:
        lines.append(f"as of {_when(result.as_of)} UTC")
    return "\n".join(lines)


def result_to_dict(result: ScoreResult) -> dict[str, Any]:
    """Return `result` as JSON-ready data (ISO 8601 times, floats rounded to 4 places)."""
    return {
        "score": result.score,
        "fit_score": _round(result.fit_score),
        "engagement_score": _round(result.engagement_score),
        "segment": result.segment,
        "segment_changed": result.segment_changed,
        "lifecycle_target": result.lifecycle_target,
        "cadence": result.cadence,
        "open_rate": None if result.open_rate is None else _round(result.open_rate),
        "triggers": list(result.triggers),
        "last_engaged_at": _iso(result.last_engaged_at),
        "as_of": _iso(result.as_of),
        "totals": {k: _round(v) for k, v in totals(result.ledger).items()},
        "ledger": [
            {
                "rule": e.rule,
                "kind": e.kind,
                "event_id": e.event_id,
                "occurred_at": _iso(e.occurred_at),
                "detail": e.detail,
                "points": _round(e.points),
                "points_after_decay": _round(e.points_after_decay),
            }
            for e in result.ledger
        ],
    }


def segment_reason(
    rules: Rules,
    score: int,
    segment: str,
    since: datetime | None,
    now: datetime,
    entry_score: int | None = None,
    last_engaged_at: datetime | None = None,
) -> str:
    """Why a lead scoring `score` at `now` is in `segment` (entered at `since`, scoring `entry_score`
    then), in one sentence that `syncd explain` prints after "why <segment>: ": its band, or the hysteresis
    holding it in a higher one ("59 and still hot: it entered hot at 64 on 2026-11-02 and stays until it
    falls below 56"), or the re-engagement window."""
    seg = rules.segments
    entered = _entered(segment, since, entry_score)
    if segment == seg.reengagement.name and seg.band_named(segment) is None:
        cfg, entered = seg.reengagement, _entered(segment, since, None)  # silence, not a score, put it there
        if last_engaged_at is None:
            return f"once {' or '.join(cfg.from_segments)}, then silent{entered}"
        ends = last_engaged_at + timedelta(days=cfg.silent_days + cfg.window_days)
        return (
            f"once {' or '.join(cfg.from_segments)}, silent since {last_engaged_at:%Y-%m-%d} "
            f"({cfg.silent_days:g} days or more){entered}; back to its score's band ({band_of(rules, score).name}) "
            f"from {ends:%Y-%m-%d} unless it engages again"
        )
    current, raw = seg.band_named(segment), band_of(rules, score)
    if current is None:
        return f"a segment the scoring rules no longer define{entered}"
    if seg.bands.index(raw) >= seg.bands.index(current):
        return f"score {score} is in {segment}'s band ({_range(current.min, current.max)}){entered}"
    hyst = seg.hysteresis
    exit_below = current.min - hyst.margin
    dwell_end = since + timedelta(days=hyst.min_dwell_days) if since is not None else None
    head = f"{score} and still {segment}: it entered {segment}{_at(entry_score, current)}{_on(since)}"
    if score >= exit_below:
        rule = (
            f" and stays until it falls below {exit_below} ({hyst.margin} under {segment}'s floor of "
            f"{current.min}, against flapping)"
        )
        if dwell_end is not None and now < dwell_end:
            rule += f", and not before {dwell_end:%Y-%m-%d %H:%M} ({hyst.min_dwell_days:g} days in it)"
        return head + rule
    until = f" until {dwell_end:%Y-%m-%d %H:%M}" if dwell_end is not None else ""
    return (
        f"{head}; a lead leaves a segment only after {hyst.min_dwell_days:g} days in it, so it stays{until}, "
        f"then moves to {raw.name} unless its score is back at {exit_below} or more"
    )


def _entered(segment: str, since: datetime | None, entry_score: int | None) -> str:
    if since is None:
        return ""
    return f" (in {segment} since {since:%Y-%m-%d}{'' if entry_score is None else f', at {entry_score}'})"


def _at(entry_score: int | None, band: Any) -> str:
    # a score recomputed today for an old moment can differ (the contact's properties are today's)
    inside = entry_score is not None and entry_score >= band.min and (band.max is None or entry_score <= band.max)
    return f" at {entry_score}" if inside else ""


def _on(since: datetime | None) -> str:
    return "" if since is None else f" on {since:%Y-%m-%d}"


def _range(low: int, high: int | None) -> str:
    return f"{low} and up" if high is None else f"{low} to {high}"


def lead_name(contact: ContactView) -> str:
    """ "First Last", or the email when the contact has no name."""
    props = contact.properties
    parts = ((props.get("firstname") or "").strip(), (props.get("lastname") or "").strip())
    return " ".join(p for p in parts if p) or contact.email


def handoff_subject(result: ScoreResult, contact: ContactView) -> str:
    """The hand-off task's subject: the trigger and the lead ("Hot lead: Jane Doe (VP Marketing, Acme) —
    score 72"). The body is rendered by syncd.domain.render.task_html."""
    props = contact.properties
    name = lead_name(contact)
    role = ", ".join(p for p in ((props.get("jobtitle") or "").strip(), (props.get("company") or "").strip()) if p)
    return f"{trigger_label(result)}: {name}{f' ({role})' if role else ''} — score {result.score}"


def trigger_label(result: ScoreResult) -> str:
    """ "Hot lead", "Sales-qualified lead"...: what made the lead worth a hand-off."""
    for trigger in result.triggers:
        kind, _, value = trigger.partition(":")
        if kind == "segment":
            return f"{value.capitalize()} lead"
    for trigger in result.triggers:
        kind, _, value = trigger.partition(":")
        if kind == "lifecycle":
            return _STAGE_LABELS.get(value, f"{value.capitalize()} lead")
    return f"{result.segment.capitalize()} lead"


def totals(ledger: tuple[LedgerEntry, ...]) -> dict[str, float]:
    """Points per ledger kind (fit, behaviour, negative), after decay."""
    return {
        kind: math.fsum(e.points_after_decay for e in ledger if e.kind == kind)
        for kind in ("fit", "behaviour", "negative")
    }


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_WIDTH else text[: _DETAIL_WIDTH - 1] + "…"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _round(value: float) -> float:
    return round(value, 4)
