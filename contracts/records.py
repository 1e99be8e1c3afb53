"""Pages of records and outcomes of writes: what a connector hands the core, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    """One page of records. `next` is the opaque position of the following page, None at the end."""

    records: list[dict[str, Any]]
    next: Any = None


@dataclass(frozen=True)
class Outcome:
    """The result of one item of a batch write: ok, or an error message and whether it is skippable."""

    key: str
    ok: bool
    error: str = ""
    skippable: bool = True
    detail: dict[str, Any] = field(default_factory=dict)
