"""Explaining a score to people: the `syncd explain` table, its JSON form, and hot-lead task text."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from syncd.domain.models import ContactView, LedgerEntry, ScoreResult

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
        lines.append(f"{e.rule:<{rule_w}}  {when:<16}  {_clip(e.detail):<{_DETAIL_WIDTH}}  "
                     f"{e.points:>8.2f}  {e.points_after_decay:>11.2f}")
    if not result.ledger:
        lines.append("(no rule applies)")
    lines.append("-" * len(head))
    totals = _totals(result.ledger)
    lines.append(f"fit {totals['fit']:.2f} + behaviour {totals['behaviour']:.2f} + negative "
                 f"{totals['negative']:.2f} = score {result.score}")
    changed = " (changed)" if result.segment_changed else ""
    rate = "n/a" if result.open_rate is None else f"{result.open_rate:.0%}"
    lines.append(f"segment: {result.segment}{changed}   lifecycle target: {result.lifecycle_target or '-'}   "
                 f"cadence: {result.cadence}   open rate: {rate}")
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
        "totals": {k: _round(v) for k, v in _totals(result.ledger).items()},
        "ledger": [
            {"rule": e.rule, "kind": e.kind, "event_id": e.event_id, "occurred_at": _iso(e.occurred_at),
             "detail": e.detail, "points": _round(e.points), "points_after_decay": _round(e.points_after_decay)}
            for e in result.ledger
        ],
    }


def handoff_summary(result: ScoreResult, contact: ContactView, top_n: int = 5) -> tuple[str, str]:
    """Return (subject, body) of the task that hands a lead to its owner.

    The subject names the trigger and the lead ("Hot lead: Jane Doe (VP Marketing, Acme) — score 72");
    the plain-text body lists the `top_n` events that counted most, with dates and URLs, then the fit
    and penalty lines and the score breakdown.
    """
    props = contact.properties
    name = " ".join(p for p in ((props.get("firstname") or "").strip(), (props.get("lastname") or "").strip())
                    if p) or contact.email
    role = ", ".join(p for p in ((props.get("jobtitle") or "").strip(), (props.get("company") or "").strip()) if p)
    subject = f"{_trigger_label(result)}: {name}{f' ({role})' if role else ''} — score {result.score}"

    totals = _totals(result.ledger)
    body = [f"{name} <{contact.email}> scored {result.score}"
            + (f" on {result.as_of:%Y-%m-%d}" if result.as_of else "") + "."]
    body.append(f"Segment: {result.segment}. Lifecycle stage: {result.lifecycle_target or 'unset'}. "
                f"Suggested contact cadence: {result.cadence}.")
    top = sorted((e for e in result.ledger if e.event_id is not None and e.points_after_decay > 0),
                 key=lambda e: (-e.points_after_decay, -(e.occurred_at.timestamp() if e.occurred_at else 0)))
    body += ["", "Top contributing activity:"]
    body += [f"- {_when(e.occurred_at)[:10]}  {e.detail}  {e.points_after_decay:+.1f} ({e.rule})"
             for e in top[:top_n]] or ["- none"]
    fit = [e for e in result.ledger if e.kind == "fit"]
    if fit:
        body += ["", "Fit:"] + [f"- {e.detail}  {e.points:+g} ({e.rule})" for e in fit]
    penalties = [e for e in result.ledger if e.kind == "negative" and e.points_after_decay != 0]
    if penalties:
        body += ["", "Penalties:"] + [f"- {_when(e.occurred_at)[:10]}  {e.detail}  {e.points_after_decay:+.1f} "
                                      f"({e.rule})" for e in penalties]
    body += ["", f"Score breakdown: fit {totals['fit']:.1f} + behaviour {totals['behaviour']:.1f} "
                 f"+ negative {totals['negative']:.1f} = {result.score}"]
    return subject, "\n".join(body)


def _trigger_label(result: ScoreResult) -> str:
    for trigger in result.triggers:
        kind, _, value = trigger.partition(":")
        if kind == "segment":
            return f"{value.capitalize()} lead"
    for trigger in result.triggers:
        kind, _, value = trigger.partition(":")
        if kind == "lifecycle":
            return _STAGE_LABELS.get(value, f"{value.capitalize()} lead")
    return f"{result.segment.capitalize()} lead"


def _totals(ledger: tuple[LedgerEntry, ...]) -> dict[str, float]:
    return {kind: math.fsum(e.points_after_decay for e in ledger if e.kind == kind)
            for kind in ("fit", "behaviour", "negative")}


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_WIDTH else text[:_DETAIL_WIDTH - 1] + "…"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _round(value: float) -> float:
    return round(value, 4)
