"""What a retry policy is to a connector, and the one reading of a server's Retry-After header.

The composition root injects the policy (syncd.retrying.retry_call); connectors call
`retry(fn, on_retry=callback)` and never retry by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

from contracts.errors import RetriableError

T = TypeVar("T")
OnRetry = Callable[[RetriableError, int, float], None]


class RetryPolicy(Protocol):
    """Call `fn` until it returns or raises something other than RetriableError (bounded by the
    policy); call `on_retry(error, attempt, wait_s)` before each wait; re-raise the last error."""

    def __call__(self, fn: Callable[[], T], *, on_retry: OnRetry | None = None) -> T: ...


def once(fn: Callable[[], T], *, on_retry: OnRetry | None = None) -> T:
    """The policy of no retry at all: one call."""
    return fn()


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds a Retry-After header asks to wait: delta-seconds ("7", "1.5") or an HTTP date measured from
    `now()` (epoch seconds). None when absent or unreadable; a date in the past gives 0."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(when.timestamp() - now(), 0.0)


def seconds_from(moment: datetime) -> Callable[[], float]:
    """A `now` for parse_retry_after fixed at `moment` (naive = UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return lambda: aware.timestamp()
