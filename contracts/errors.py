"""The three error families a remote call can end in, the only failures the core ever sees.

Connectors are the only code that imports an SDK. They translate SDK exceptions into these errors so the
core never looks at a status code (fatal: stop the job; retriable: the retry policy waits and tries
again; skippable: this one record is quarantined and the rest flows).
"""

from __future__ import annotations

# What went wrong, for a person: the CLI and the daemon turn these into one line naming what to check.
KINDS = ("network", "auth", "forbidden", "not_found", "rate_limit", "server", "refused")


class ConnectorError(Exception):
    """Base class. `service` is "hubspot" or "mailchimp"; `status` the HTTP status when there was one;
    `kind` one of KINDS (None when unknown); `subject` what was missing or refused when the connector
    knows it (e.g. "audience abc123")."""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        kind: str | None = None,
        subject: str | None = None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.status = status
        self.kind = kind if kind is not None else _kind_of(status)
        self.subject = subject


COMPLIANCE = "compliance"  # Outcome.error / SkippableError message for Mailchimp's Member In Compliance State


def _kind_of(status: int | None) -> str | None:
    if status is None:
        return None
    if status == 401:
        return "auth"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server"
    return "refused"


class FatalError(ConnectorError):
    """Will never succeed as sent: bad credentials, a 400 on a whole request, a missing list."""


class RetriableError(ConnectorError):
    """Worth another try: 429, 5xx, a reset or timed-out connection. `retry_after` in seconds if known."""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, service=service, status=status, kind=kind)
        self.retry_after = retry_after


class SkippableError(ConnectorError):
    """One record is bad (invalid email, a value the service refuses); quarantine it, go on."""

    def __init__(self, message: str, *, service: str = "", status: int | None = None, record_key: str = "") -> None:
        super().__init__(message, service=service, status=status)
        self.record_key = record_key
