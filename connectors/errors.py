"""SDK exceptions -> the three error families of `connectors.base`, plus the per-call metrics.

Both SDKs raise their own exception types; the core must never see them (nor a status code). Each
`classify_*` function takes whatever an SDK call raised and returns (does not raise) a `ConnectorError`:

* FatalError: 401/403, a 404 of a whole resource (a missing list), a 400 on a whole request, HubSpot's
  DAILY rate limit (nothing will succeed until the account's midnight), TLS and URL errors.
* RetriableError: 429 (with the server's Retry-After when it sent one), 5xx, 408, a connection refused,
  reset or timed out, a response cut off mid-body.
* SkippableError: one record's 400/404/422 (invalid email, invalid option, Mailchimp's "Member In
  Compliance State", which is a normal outcome: its message is exactly "compliance").

Messages carry the endpoint name ("hubspot.contacts.list"), the status and the vendor's own message, with every secret
passed in `secrets` replaced by "***" (a vendor echo of a key must not reach a log either).
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests
import structlog
import urllib3

from contracts.calls import CallStats
from contracts.errors import COMPLIANCE, ConnectorError, FatalError, RetriableError, SkippableError
from contracts.retry import parse_retry_after

__all__ = [
    "COMPLIANCE",
    "CallStats",
    "classify_hubspot",
    "classify_mailchimp",
    "classify_transport",
    "mailchimp_problem",
    "missing_scopes",
    "redact",
    "retry_hook",
]
HUBSPOT_DEFAULT_WAIT_S = 1.0  # ten-secondly rolling / secondly windows free a slot within ~1 s
_RECORD_STATUSES = (400, 404, 409, 422)  # with a record key: that one record is refused, the rest flows


def retry_hook(stats: CallStats, endpoint: str) -> Callable[[ConnectorError, int, float], None]:
    """The `on_retry(exc, attempt, wait_s)` callback for syncd.retrying.retry_call: count, then log."""
    log = structlog.get_logger("connectors")

    def on_retry(exc: ConnectorError, attempt: int, wait_s: float) -> None:
        stats.retried(endpoint)
        log.warning(
            "connector.retry_scheduled",
            endpoint=endpoint,
            service=exc.service,
            status=exc.status,
            attempt=attempt,
            wait_s=round(wait_s, 3),
            error=str(exc),
        )

    return on_retry


# --------------------------------------------------------------------------- helpers
def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():  # urllib3's HTTPHeaderDict is case-insensitive; a plain dict is not
        if key.lower() == name.lower():
            return value
    return None


_TRANSPORT_RETRIABLE = (
    urllib3.exceptions.ProtocolError,  # connection reset / aborted / response ended early
    urllib3.exceptions.TimeoutError,  # connect and read timeouts
    urllib3.exceptions.NewConnectionError,  # refused
    urllib3.exceptions.DecodeError,  # a body cut inside a compressed frame
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
    requests.exceptions.ConnectionError,  # includes ConnectTimeout, ProxyError
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionError,  # builtin: reset, refused, aborted, broken pipe
    TimeoutError,
    socket.timeout,
)
_TRANSPORT_FATAL = (
    urllib3.exceptions.SSLError,
    requests.exceptions.SSLError,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    urllib3.exceptions.LocationParseError,
)


def classify_transport(
    exc: BaseException, service: str, endpoint: str, secrets: Iterable[str] = ()
) -> ConnectorError | None:
    """A network-level failure -> RetriableError/FatalError, or None when `exc` is not one."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # our urllib3 Retry(total=0) wraps the first failure
    name = type(exc).__name__
    # TLS and URL errors first: requests.SSLError is also a requests ConnectionError.
    if isinstance(exc, _TRANSPORT_FATAL):
        return FatalError(redact(f"{endpoint}: {name} (TLS or URL problem)", secrets), service=service, kind="network")
    if isinstance(exc, _TRANSPORT_RETRIABLE):
        return RetriableError(
            redact(f"{endpoint}: connection failed ({_transport_reason(exc)})", secrets),
            service=service,
            kind="network",
        )
    return None


def _transport_reason(exc: BaseException) -> str:
    """ "connection refused", "timed out"... from a transport exception, else its class name."""
    text = f"{type(exc).__name__}: {exc}".lower()
    for needle, reason in (
        ("refused", "connection refused"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
        ("name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("temporary failure in name resolution", "unknown host"),
        ("reset", "connection reset"),
        ("remotedisconnected", "closed by the server"),
        ("incompleteread", "answer cut off"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


def _decode_body(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _status_family(
    status: int, service: str, message: str, *, record_key: str | None, retry_after: float | None
) -> ConnectorError:
    if status == 429 or status == 408 or 500 <= status <= 599:
        return RetriableError(message, service=service, status=status, retry_after=retry_after)
    if record_key is not None and status in _RECORD_STATUSES:
        return SkippableError(message, service=service, status=status, record_key=record_key)
    return FatalError(message, service=service, status=status)


# --------------------------------------------------------------------------- HubSpot
def classify_hubspot(
    exc: BaseException, endpoint: str, *, record_key: str | None = None, secrets: Iterable[str] = ()
) -> ConnectorError:
    """Classify anything a hubspot-api-client call raised.

    Every HubSpot package has its own ApiException class, so this matches on the attributes
    (status, body, headers), not the type. `record_key` says the call concerned one record, which
    turns a 400/404/409/422 into a SkippableError for it. A 429 whose body names the DAILY policy is
    fatal (the daily quota resets at the account's midnight); other 429s wait for Retry-After, or ~1 s.
    """
    secrets = tuple(secrets)
    if isinstance(exc, ConnectorError):
        return exc
    transport = classify_transport(exc, "hubspot", endpoint, secrets)
    if transport is not None:
        return transport
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or status == 0:
        # status 0: the SDK wrapped a TLS failure; anything else unknown is a bug, not worth retrying
        return FatalError(
            redact(f"{endpoint}: {type(exc).__name__}: {getattr(exc, 'reason', exc)}", secrets), service="hubspot"
        )
    headers = getattr(exc, "headers", None)
    body = _decode_body(getattr(exc, "body", None))
    info = body if isinstance(body, dict) else {}
    detail = (
        info.get("message")
        or (body if isinstance(body, str) and len(body) < 300 else "")
        or getattr(exc, "reason", "")
        or ""
    )
    category = info.get("category") or info.get("errorType") or ""
    message = redact(
        f"{endpoint}: {status}" + (f" {category}" if category else "") + (f": {detail}" if detail else ""), secrets
    )
    if status == 429 and info.get("policyName") == "DAILY":
        return FatalError(
            message + " (daily API limit reached; resumes after the account's midnight)",
            service="hubspot",
            status=status,
        )
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if status == 429 and retry_after is None:
        retry_after = HUBSPOT_DEFAULT_WAIT_S
    error = _status_family(status, "hubspot", message, record_key=record_key, retry_after=retry_after)
    if status == 403:
        error.subject = missing_scopes(info)
    return error


def missing_scopes(body: Mapping[str, Any]) -> str | None:
    """What a HubSpot 403 MISSING_SCOPES body says is missing, for a person: "scope a", "scopes a, b" (each
    required) or "one of the scopes a, b"; None when the body names none. HubSpot lists them in
    `errors[].context.requiredGranularScopes` ("One or more of the following scopes are required." for
    alternatives, "All of the following ..." otherwise); older answers use `requiredScopes`."""
    contexts = [(str(body.get("message") or ""), body.get("context"))]
    contexts += [
        (str(e.get("message") or ""), e.get("context")) for e in body.get("errors") or [] if isinstance(e, dict)
    ]
    each: list[str] = []
    alternatives: list[list[str]] = []
    for text, context in contexts:
        found = (
            context.get("requiredGranularScopes") or context.get("requiredScopes")
            if isinstance(context, dict)
            else None
        )
        if not isinstance(found, list) or not found:
            continue
        names = [str(s) for s in found]
        if len(names) > 1 and text.lower().startswith("one or more"):
            alternatives.append(names)
        else:
            each += [n for n in names if n not in each]
    parts = [("scope " if len(each) == 1 else "scopes ") + ", ".join(each)] if each else []
    parts += ["one of the scopes " + ", ".join(names) for names in alternatives]
    return " and ".join(parts) or None


# --------------------------------------------------------------------------- Mailchimp
def _mailchimp_detail(text: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """(title, detail, field errors) from a problem+json body, or a short text body."""
    if isinstance(text, dict):
        found = text.get("errors")
        errors = [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []
        return str(text.get("title") or ""), str(text.get("detail") or ""), errors
    if isinstance(text, str):
        parsed = _decode_body(text)  # problem+json arrives unparsed: the SDK only parses application/json
        if isinstance(parsed, dict):
            return _mailchimp_detail(parsed)
        # a gateway's HTML page says nothing useful beyond its status
        return ("", "" if text.lstrip().startswith("<") else text[:300], [])
    return "", "", []


def mailchimp_problem(status: int, body: Any) -> str:
    """ "400 Invalid Resource: The resource submitted could not be validated. FNAME: too long" from a
    problem+json body (a dict or its text): the status, Mailchimp's title and detail, and every field its
    `errors[]` names."""
    title, detail, field_errors = _mailchimp_detail(body)
    if field_errors:
        detail += " " + "; ".join(
            f"{e['field']}: {e.get('message', '')}" if e.get("field") else str(e.get("message", ""))
            for e in field_errors
        )
    return f"{status}" + (f" {title}" if title else "") + (f": {detail.strip()}" if detail.strip() else "")


def classify_mailchimp(
    exc: BaseException,
    endpoint: str,
    *,
    record_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> ConnectorError:
    """Classify anything a mailchimp-marketing call raised.

    The SDK raises `ApiClientError(text, status_code)`: `text` is the parsed problem+json body, or the
    underlying `requests` exception with `status_code` None on network errors. Its exception drops the
    response headers, so the caller passes the ones it recorded (`headers`) for Retry-After.
    A 400 titled "Member In Compliance State" becomes SkippableError("compliance") whatever the call.
    """
    secrets = tuple(secrets)
    if isinstance(exc, ConnectorError):
        return exc
    status = getattr(exc, "status_code", None)
    text = getattr(exc, "text", None)
    if status is None:
        inner = text if isinstance(text, BaseException) else exc
        transport = classify_transport(inner, "mailchimp", endpoint, secrets)
        if transport is not None:
            return transport
        return FatalError(redact(f"{endpoint}: {type(inner).__name__}", secrets), service="mailchimp", kind="network")
    message = redact(f"{endpoint}: {mailchimp_problem(status, text)}", secrets)
    title = _mailchimp_detail(text)[0]
    if status == 400 and title == "Member In Compliance State":
        return SkippableError(COMPLIANCE, service="mailchimp", status=status, record_key=record_key or "")
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    return _status_family(status, "mailchimp", message, record_key=record_key, retry_after=retry_after)
