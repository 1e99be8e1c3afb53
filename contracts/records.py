"""Pages of records and outcomes of writes: what a connector hands the core, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    """One page of records. `next` is the opaque position of the following page, None at the end.
    `total` is how many items the whole listing holds when the vendor says so (Mailchimp's
    `total_items`, HubSpot search's `total`; list endpoints give none), counted in the vendor's units
    (recipients for an email-activity report, not events)."""

    records: list[dict[str, Any]]
    next: Any = None
    total: int | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of one item of a batch write: ok, or an error message and whether it is skippable."""

    key: str
    ok: bool
    error: str = ""
    skippable: bool = True
    detail: dict[str, Any] = field(default_factory=dict)
