"""HubSpot-shaped replies: property validation errors, batch responses with per-item errors, paging."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from sandbox.errors import ApiError, hubspot_error
from sandbox.hubspot.schema import InvalidValue
from sandbox.timefmt import hubspot_ts

MAX_BATCH = 100  # batch endpoints: 100 inputs per call


def invalid_properties(problems: list[InvalidValue]) -> ApiError:
    """400 "Property values were not valid: [...]" with one `errors` entry per bad value."""
    legacy = [
        {"isValid": False, "message": p.message, "error": p.code, "name": p.name, "localizedErrorMessage": p.message}
        for p in problems
    ]
    details = [{"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}} for p in problems]
    return hubspot_error(400, f"Property values were not valid: {json.dumps(legacy)}", errors=details)


def conflict(existing_id: str, label: str = "Contact") -> ApiError:
    return hubspot_error(409, f"{label} already exists. Existing ID: {existing_id}", "CONFLICT")


def not_found(message: str = "resource not found", **context: list[str]) -> ApiError:
    extra: dict[str, Any] = {"context": context} if context else {}
    return hubspot_error(404, message, "OBJECT_NOT_FOUND", **extra)


def item_error(status: str, category: str, message: str, **context: list[str]) -> dict[str, Any]:
    """One StandardError of a batch response."""
    return {"status": status, "category": category, "message": message, "context": context, "links": {}, "errors": []}


def batch_reply(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], started_ms: int, ended_ms: int, ok_status: int = 200
) -> tuple[int, dict[str, Any]]:
    """(status code, body): 207 with `numErrors` when any item failed, else `ok_status`."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "requestedAt": hubspot_ts(started_ms),
        "startedAt": hubspot_ts(started_ms),
        "completedAt": hubspot_ts(ended_ms),
    }
    if errors:
        body.update({"numErrors": len(errors), "errors": errors})
        return 207, body
    return ok_status, body


def check_batch_size(n: int) -> None:
    if n > MAX_BATCH:
        raise hubspot_error(400, f"Batch input limit exceeded: {n} inputs were sent; the maximum is {MAX_BATCH}.")


# a query string that parsing and re-encoding leave as it is: name=value pairs of characters urlencode keeps
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*(?:&[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*)*")
# a URL that urlsplit/geturl give back unchanged (no brackets, whitespace, control characters, ? or #)
_PLAIN_BASE = re.compile(r"http://[A-Za-z0-9.:-]+/[!$-;=@-Z_a-z~]*")


def next_paging(request: Request, after: str | None) -> dict[str, Any] | None:
    """`paging.next` with an absolute link to the next page of this same GET, or None at the end.

    The link is this request's URL with `after` replaced (moved last), as starlette's
    URL.include_query_params builds it; for a plain query (the usual `limit=100&after=...`) the same
    text is assembled directly, without parsing and re-encoding the query."""
    if after is None:
        return None
    query = request.scope.get("query_string", b"")
    if after.isascii() and after.isdigit() and (not query or _PLAIN_QUERY.fullmatch(query)):
        url = str(request.url)
        base = url[: len(url) - len(query) - 1] if query else url
        if _PLAIN_BASE.fullmatch(base):
            kept = [pair for pair in query.decode().split("&") if not pair.startswith("after=")] if query else []
            kept.append("after=" + after)
            return {"next": {"after": after, "link": base + "?" + "&".join(kept)}}
    return {"next": {"after": after, "link": str(request.url.include_query_params(after=after))}}


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]. Raises the HubSpot 400 otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise hubspot_error(400, f"Invalid value for query parameter '{name}': '{raw}' is not an integer") from None
    if not low <= value <= high:
        raise hubspot_error(
            400, f"Invalid value for query parameter '{name}': {value} must be between {low} and {high}"
        )
    return value


def bool_param(request: Request, name: str) -> bool:
    return (request.query_params.get(name) or "").lower() == "true"


def list_param(request: Request, name: str) -> list[str]:
    """Repeated (`a=x&a=y`) and comma-separated (`a=x,y`) values, as the API accepts both."""
    out: list[str] = []
    for raw in request.query_params.getlist(name):
        out.extend(v.strip() for v in raw.split(",") if v.strip())
    return out
