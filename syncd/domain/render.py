"""What sales reps read in HubSpot, as HTML (HubSpot renders task and note bodies as HTML): the hand-off
task of a lead who went hot, and the note listing what a contact opened and clicked. Pure functions:
every value interpolated is cleaned of control characters and escaped, and only http(s) URLs are links.
Blocks are separated by newlines, so the text also reads line by line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from syncd.domain.explain import handoff_subject, lead_name, totals, trigger_label
from syncd.domain.models import ContactView, EngagementEvent, LedgerEntry, ScoreResult
from syncd.domain.text import clean_text, escape, link_html

NOTE_KINDS = ("open", "click", "bounce", "unsubscribe")
NOTE_EVENTS_MAX = 200  # a note lists at most this many events (HubSpot: notes up to 65,536 characters)
_LINK = "\ue000"  # a private-use character standing for the link while the rest is escaped
_WHAT = {"open": "Opened", "click": "Clicked", "unsubscribe": "Unsubscribed"}


def task_subject(result: ScoreResult, contact: ContactView) -> str:
    """The task's title, as plain text of at most 255 characters."""
    return clean_text(handoff_subject(result, contact))[:255]


def task_html(result: ScoreResult, contact: ContactView, events: Mapping[str, EngagementEvent], top_n: int) -> str:
    """The hand-off task's body: who and why (the trigger), the `top_n` events that counted most with
    their dates and links, fit and penalties, and the score breakdown. `events` by ledger event id give
    the events' URLs."""
    name = lead_name(contact)
    when = f" on {result.as_of:%Y-%m-%d}" if result.as_of else ""
    out = [
        f"<p><strong>{escape(trigger_label(result))}</strong>: {escape(name)} &lt;{escape(contact.email)}&gt; "
        f"scored {result.score}{when}.</p>",
        f"<p>Segment: {escape(result.segment)}. Lifecycle stage: {escape(result.lifecycle_target or 'unset')}. "
        f"Suggested contact cadence: {escape(result.cadence)}.</p>",
    ]
    top = top_activity(result, top_n)
    out.append("<p><strong>Top contributing activity</strong></p>")
    out.append(_list([_activity(e, events.get(e.event_id or "")) for e in top]) if top else "<p>none</p>")
    fit = [e for e in result.ledger if e.kind == "fit"]
    if fit:
        out.append("<p><strong>Fit</strong></p>")
        out.append(_list([f"{escape(e.detail)} {e.points:+g} ({escape(e.rule)})" for e in fit]))
    penalties = [e for e in result.ledger if e.kind == "negative" and e.points_after_decay != 0]
    if penalties:
        out.append("<p><strong>Penalties</strong></p>")
        out.append(
            _list(
                [
                    f"{_day(e.occurred_at)} {escape(e.detail)} {e.points_after_decay:+.1f} ({escape(e.rule)})"
                    for e in penalties
                ]
            )
        )
    t = totals(result.ledger)
    out.append(
        f"<p>Score breakdown: fit {t['fit']:.1f} + behaviour {t['behaviour']:.1f} + negative "
        f"{t['negative']:.1f} = {result.score}</p>"
    )
    return "\n".join(out)


def top_activity(result: ScoreResult, top_n: int) -> list[LedgerEntry]:
    """The `top_n` events that counted most (then the most recent first)."""
    return sorted(
        (e for e in result.ledger if e.event_id is not None and e.points_after_decay > 0),
        key=lambda e: (-e.points_after_decay, -(e.occurred_at.timestamp() if e.occurred_at else 0)),
    )[:top_n]


def top_reasons(result: ScoreResult, top_n: int) -> list[str]:
    """The same top activity as plain text lines (for the status page and reports)."""
    return [
        clean_text(f"{_day(e.occurred_at)} {e.detail} {e.points_after_decay:+.1f}") for e in top_activity(result, top_n)
    ]


def _activity(entry: LedgerEntry, event: EngagementEvent | None) -> str:
    detail = escape(entry.detail)
    if event is not None and event.url and event.url in entry.detail:
        # the URL in the ledger's words becomes a link (when it is an http(s) one)
        detail = escape(entry.detail.replace(event.url, _LINK)).replace(_LINK, link_html(event.url))
    return f"{_day(entry.occurred_at)} {detail} {entry.points_after_decay:+.1f} ({escape(entry.rule)})"


def note_html(events: Sequence[EngagementEvent]) -> str:
    """One note listing a contact's new Mailchimp engagement, oldest first (at most NOTE_EVENTS_MAX)."""
    shown = sorted(events, key=lambda e: (e.occurred_at, e.event_id))[:NOTE_EVENTS_MAX]
    lines = []
    for e in shown:
        what = _WHAT.get(e.kind) or (f"Bounced ({e.bounce_type or 'hard'})" if e.kind == "bounce" else e.kind)
        campaign = f" in campaign {escape(e.campaign_id)}" if e.campaign_id else ""
        link = f" {link_html(e.url)}" if e.url else ""
        lines.append(f"{e.occurred_at:%Y-%m-%d %H:%M} UTC: {escape(what)}{campaign}{link}")
    return f"<p><strong>Mailchimp engagement</strong> ({len(shown)} events)</p>\n" + _list(lines)


def _list(items: Sequence[str]) -> str:
    """A <ul> of already-escaped items, one per line."""
    return "<ul>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>"


def _day(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d}"
