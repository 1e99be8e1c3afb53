"""Plain frozen values shared by the pure core (scoring, segments, lifecycle, cadence) and the engine.

Everything here is data: no I/O, no SDK objects. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

# Kinds an EngagementEvent may carry. "form_submission", "demo_request" and "webinar" are derived by the
# engine from HubSpot property changes; the rest come from Mailchimp campaign activity.
EVENT_KINDS: tuple[str, ...] = (
    "open",
    "click",
    "bounce",
    "unsubscribe",
    "form_submission",
    "demo_request",
    "webinar",
)
# Kinds that show the lead is paying attention: they reset the inactivity clock and count as engagement
# for the re-engagement segment. Bounces and unsubscribes are signals, not engagement.
ENGAGEMENT_KINDS: frozenset[str] = frozenset({"open", "click", "form_submission", "demo_request", "webinar"})
LEDGER_KINDS: tuple[str, ...] = ("behaviour", "fit", "negative")


@dataclass(frozen=True, slots=True)
class EngagementEvent:
    """One thing a lead did, stored once per (source, event_id)."""

    source: str  # "mailchimp" | "hubspot"
    event_id: str
    email: str  # normalized: trimmed, lowercased
    kind: str  # one of EVENT_KINDS
    occurred_at: datetime  # aware UTC
    campaign_id: str | None = None
    url: str | None = None
    bounce_type: str | None = None  # "hard" | "soft"
    detail: str | None = None  # e.g. the form or webinar name


@dataclass(frozen=True, slots=True)
class ContactView:
    """What scoring reads of a CRM contact: HubSpot property values as the API returns them (strings)."""

    email: str
    properties: Mapping[str, str | None]
    hubspot_id: str | None = None
    owner_id: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentState:
    """The segment a lead was in after the previous scoring, and when it entered it.

    `was_engaged` remembers that the lead was once in an engaged segment (warm or hot by default), which
    the re-engagement segment needs. `last_hot_task_at` is kept for the hot-lead task cooldown.
    """

    segment: str
    since: datetime | None
    was_engaged: bool = False
    last_hot_task_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """A campaign sent to the lead (for the open rate over its last N sends)."""

    campaign_id: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One line of a score's explanation.

    `points` is what the rule awards; `points_after_decay` is what it is worth at scoring time (0 when a
    cap dropped the event, which `detail` then says).
    """

    rule: str
    kind: str  # one of LEDGER_KINDS
    event_id: str | None
    occurred_at: datetime | None
    detail: str
    points: float
    points_after_decay: float


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Everything `scoring.score` decides for one lead at one instant."""

    score: int
    fit_score: float
    engagement_score: float
    ledger: tuple[LedgerEntry, ...]
    segment: str
    segment_changed: bool
    lifecycle_target: str | None
    cadence: str
    open_rate: float | None
    triggers: tuple[str, ...] = ()
    last_engaged_at: datetime | None = None
    as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class LifecyclePlan:
    """How to move HubSpot's lifecycle stage: the values to write, in order, each in its own request.

    `steps` is empty when nothing must be written; ("", "lead") is a deliberate demotion (HubSpot ignores
    a backward set unless the field is cleared first).
    """

    steps: tuple[str, ...]
    demotion: bool
    reason: str
    current: str | None = None
    target: str | None = None
