"""Per-call statistics shared by the connectors and read by the core, and the observers of every call.

Every SDK call of both connectors is bracketed by `called` (just before it is sent) and `returned` (just
after it answered or failed). Observers registered with `observe` see both moments; the product registers
none (its figures are the counters here), a test harness may register one to trace calls or to stop the
process at a chosen call.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Protocol

from contracts.errors import ConnectorError


class CallObserver(Protocol):
    """Told of every remote call: `before(endpoint)` just before it is sent, `after(endpoint)` just after
    it answered or failed, before the connector uses the answer."""

    def before(self, endpoint: str) -> None: ...

    def after(self, endpoint: str) -> None: ...


class CallStats:
    """Counts per endpoint name ("hubspot.contacts.list"), errors per family, 429s seen, retries.

    Thread-safe: Mailchimp calls may run on up to 10 threads at once.
    """

    observers: list[CallObserver] = []  # process-wide, registered by `observe` (tests only)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()

    @classmethod
    def observe(cls, observer: CallObserver) -> None:
        """Register `observer` for every call of every CallStats of this process."""
        cls.observers = [*cls.observers, observer]

    def called(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1
        for observer in self.observers:
            observer.before(endpoint)

    def returned(self, endpoint: str) -> None:
        """The call counted by `called` came back (a response or an exception), before it is used."""
        for observer in self.observers:
            observer.after(endpoint)

    def failed(self, endpoint: str, error: ConnectorError) -> None:
        with self._lock:
            self.errors[f"{endpoint}:{type(error).__name__}"] += 1
            if error.status == 429:
                self.rate_limited[error.service or endpoint.split(".", 1)[0]] += 1

    def retried(self, endpoint: str) -> None:
        with self._lock:
            self.retries[endpoint] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy: {"calls": {...}, "errors": {...}, "retries": {...}, "rate_limited": {...},
        "total_calls": n}."""
        with self._lock:
            return {
                "total_calls": sum(self.calls.values()),
                "calls": dict(sorted(self.calls.items())),
                "errors": dict(sorted(self.errors.items())),
                "retries": dict(sorted(self.retries.items())),
                "rate_limited": dict(sorted(self.rate_limited.items())),
            }
