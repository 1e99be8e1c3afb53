"""Plain-data translation between HubSpot's JSON and syncd's records (no I/O, no SDK)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from contracts.timeparse import epoch_ms

T = TypeVar("T")

BATCH_MAX = 100  # batch read/update/create: 100 inputs per call
SEARCH_PAGE_MAX = 200  # search: limit <= 200 per page
SEARCH_RESULT_CAP = 10_000  # search: a query pages through at most 10,000 results, beyond -> 400
ASSOCIATIONS_PAGE_MAX = 500  # associations v4 GET: up to 500 per page
ASSOCIATIONS_BATCH_MAX = 1000  # associations v4 batch read: up to 1,000 inputs per call
TASK_TO_CONTACT = 204  # HUBSPOT_DEFINED association type ids (hubspot.crm.association_type)
NOTE_TO_CONTACT = 202
BODY_PROPERTY = {"tasks": "hs_task_body", "notes": "hs_note_body"}
MARKER = "syncd-ref:"
_KEY_RE = re.compile(r"[A-Za-z0-9._:+=\-]{1,120}")
_MARKER_RE = re.compile(re.escape(MARKER) + r"\s*([A-Za-z0-9._:+=\-]{1,120})")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def contact_record(raw: dict[str, Any]) -> dict[str, Any]:
    """{id, properties, updatedAt, archived} from a contact object as the API returns it."""
    return {
        "id": str(raw["id"]),
        "properties": raw.get("properties") or {},
        "updatedAt": raw.get("updatedAt"),
        "archived": bool(raw.get("archived", False)),
    }


def next_after(body: dict[str, Any] | None) -> str | None:
    """`paging.next.after` of a list/search/associations page, or None on the last page."""
    paging = (body or {}).get("paging") or {}
    after = (paging.get("next") or {}).get("after")
    return None if after in (None, "") else str(after)


def search_modified_body(
    since_ms: int, properties: Sequence[str], after: int | None, limit: int, operator: str = "GTE"
) -> dict[str, Any]:
    """Search body: lastmodifieddate >= since_ms (or `operator` GT), oldest first.

    GTE by default so contacts modified in the same millisecond as the cursor are read again; the
    caller drops the ids it already holds.
    """
    return _search_body(
        [{"propertyName": "lastmodifieddate", "operator": operator, "value": str(int(since_ms))}],
        "lastmodifieddate",
        properties,
        after,
        limit,
    )


def search_tied_body(
    at_ms: int, after_id: str, properties: Sequence[str], after: int | None, limit: int
) -> dict[str, Any]:
    """Search body: lastmodifieddate == at_ms and hs_object_id > after_id, by id."""
    return _search_body(
        [
            {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(int(at_ms))},
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)},
        ],
        "hs_object_id",
        properties,
        after,
        limit,
    )


def _search_body(
    filters: list[dict[str, Any]], sort: str, properties: Sequence[str], after: int | None, limit: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
        "properties": list(dict.fromkeys([*properties, "lastmodifieddate"])),
        "limit": min(int(limit), SEARCH_PAGE_MAX),
    }
    if after:
        body["after"] = str(after)
    return body


def modified_ms(record: dict[str, Any]) -> int | None:
    """The record's lastmodifieddate in epoch ms (HubSpot sends ISO 8601 or epoch ms as a string)."""
    return epoch_ms((record.get("properties") or {}).get("lastmodifieddate") or record.get("updatedAt"))


def history_times(history: dict[str, Any]) -> dict[str, int]:
    """{property: epoch ms of its newest change} from a record's `propertiesWithHistory` (each a list of
    {value, timestamp, sourceType, ...}; HubSpot lists the newest first, the max is taken regardless)."""
    out: dict[str, int] = {}
    for name, entries in history.items():
        stamps = [ms for e in entries or [] if (ms := epoch_ms((e or {}).get("timestamp"))) is not None]
        if stamps:
            out[name] = max(stamps)
    return out


_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


def existing_id(error: dict[str, Any]) -> str | None:
    """The id HubSpot names in a CONFLICT error ("Contact already exists. Existing ID: 123"), or None."""
    context = error.get("context") or {}
    found = context.get("existingId") or []
    if found:
        return str(found[0] if isinstance(found, list) else found)
    match = _EXISTING_ID.search(str(error.get("message") or ""))
    return match.group(1) if match else None


def error_ids(errors: list[dict[str, Any]]) -> set[str]:
    """Ids named by HubSpot batch errors (`context.ids`, or `context.id`)."""
    ids: set[str] = set()
    for err in errors:
        context = err.get("context") or {}
        found = context.get("ids") or context.get("id") or []
        ids.update(str(v) for v in ([found] if isinstance(found, str) else found))
    return ids


def marker_value(key: str) -> str:
    """How `key` is written in a body: as is when it is plain (letters, digits, . _ : + = -, up to 120),
    else `sha1-<hex>` of it, so any key survives HTML and HubSpot's rich-text cleaning.
    Raises ValueError for an empty key."""
    if not key:
        raise ValueError("an idempotency key is required")
    if _KEY_RE.fullmatch(key):
        return key
    return "sha1-" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def with_marker(body: str, key: str) -> str:
    """`body` with a last line `syncd-ref: <key>` (a plain-text paragraph: safe for the real API)."""
    return f"{body or ''}<p>{MARKER} {marker_value(key)}</p>"


def carries_key(body: str | None, key: str) -> bool:
    """Whether a task or note body carries the marker of `key`."""
    return marker_value(key) in markers_in(body)


def markers_in(body: str | None) -> set[str]:
    """Every marker value embedded in a task or note body."""
    return set(_MARKER_RE.findall(body or ""))


def association(contact_id: str, type_id: int) -> list[dict[str, Any]]:
    """The `associations` field linking a new engagement to one contact."""
    return [
        {
            "to": {"id": str(contact_id)},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }
    ]
