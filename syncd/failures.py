"""Failures of the environment as one line a person can act on: what failed, and which setting to check.

Used by every command (one line on stderr, non-zero exit) and by the daemon (its `/readyz` reasons and the
status page). Never includes a secret: connector messages are already scrubbed, database URLs are shown
without their password.
"""

from __future__ import annotations

from typing import Any

from contracts.errors import ConnectorError

_SERVICE = {"hubspot": "HubSpot", "mailchimp": "Mailchimp"}
_CREDENTIAL = {"hubspot": "HUBSPOT_ACCESS_TOKEN", "mailchimp": "MAILCHIMP_API_KEY"}
_BASE_URL = {"hubspot": "HUBSPOT_BASE_URL", "mailchimp": "MAILCHIMP_BASE_URL"}


def explain(exc: BaseException, settings: Any = None) -> str:
    """One line for `exc` (a ConnectorError, a store error, a configuration error, anything else)."""
    from syncd.clock import ClockError
    from syncd.store.db import StoreError

    if isinstance(exc, ClockError):
        return str(exc)
    if isinstance(exc, ConnectorError):
        return _connector(exc, settings)
    if isinstance(exc, StoreError):
        return f"{exc}; check SYNCD_DATABASE_URL"
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        DBAPIError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, DBAPIError):
        first = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        return f"database error: {type(exc.orig or exc).__name__}: {first}; check SYNCD_DATABASE_URL"
    text = str(exc).strip().replace("\n", "; ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _connector(exc: ConnectorError, settings: Any) -> str:
    service = _SERVICE.get(exc.service, exc.service or "the service")
    where = ""
    if settings is not None and exc.service == "hubspot":
        where = f" at {settings.hubspot_base_url}"
    elif settings is not None and exc.service == "mailchimp" and settings.mailchimp_base_url:
        where = f" at {settings.mailchimp_base_url}"
    detail = str(exc)
    if exc.kind == "network":
        return f"cannot reach {service}{where}: {detail}; check {_BASE_URL.get(exc.service, 'the URL')} and the network"
    if exc.kind == "auth":
        return f"{service} refused the credentials ({detail}); check {_CREDENTIAL.get(exc.service, 'the credentials')}"
    if exc.kind == "forbidden" and exc.service == "hubspot" and exc.subject:
        call = ": ".join(detail.split(": ")[:2])  # "endpoint: 403 MISSING_SCOPES"; HubSpot's sentence says no more
        return (
            f"HubSpot refused the call ({call}): the HUBSPOT_ACCESS_TOKEN lacks the {exc.subject}; add it to "
            "the Service Key or the private app in HubSpot (see the README)"
        )
    if exc.kind == "forbidden":
        return (
            f"{service} refused the call ({detail}); the {_CREDENTIAL.get(exc.service, 'credential')} "
            "lacks a permission or scope syncd needs (see the README)"
        )
    if exc.kind == "not_found" and exc.subject and exc.subject.startswith("audience "):
        return f"Mailchimp has no {exc.subject} ({detail}); check MAILCHIMP_LIST_ID"
    if exc.kind == "rate_limit":
        return f"{service} rate limit ({detail}); syncd retries on its own, or wait"
    if exc.kind == "server":
        return f"{service} is failing ({detail}); syncd retries on its own"
    return f"{service} refused the request: {detail}"
