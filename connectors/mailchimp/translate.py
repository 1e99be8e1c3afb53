"""Plain-data translation between Mailchimp's JSON and syncd's records (no I/O, no SDK)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from contracts import identity

PAGE_MAX = 1000  # count <= 1000 on every list endpoint
BATCH_MEMBERS_MAX = 500  # segments members_to_add / members_to_remove: up to 500 per call
BATCH_OPERATIONS_MAX = 500  # operations per POST /batches (each result file of the archive holds 500)


subscriber_hash = identity.subscriber_hash  # Mailchimp's member id; one definition for core and connector


def normalize_email(email: str) -> str:
    """Trimmed and lowercased (no validation: keys records as the service returned them)."""
    return email.strip().lower()


def event_id(campaign_id: str, email: str, action: str, timestamp: str, url: str | None) -> str:
    """A stable id for one engagement event: sha1 of campaign|email|action|timestamp|url."""
    raw = "|".join([campaign_id, normalize_email(email), action, timestamp or "", url or ""])
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()


def without_links(record: dict[str, Any]) -> dict[str, Any]:
    """The record minus the HATEOAS `_links` Mailchimp adds everywhere."""
    return {k: v for k, v in record.items() if k != "_links"}


def flatten_activity(body: dict[str, Any], campaign_id: str) -> list[dict[str, Any]]:
    """One record per activity of an email-activity page:
    {event_id, campaign_id, email_address, action, type, timestamp, url}."""
    records: list[dict[str, Any]] = []
    for email in body.get("emails") or []:
        address = email.get("email_address") or ""
        for act in email.get("activity") or []:
            action, timestamp, url = act.get("action") or "", act.get("timestamp") or "", act.get("url")
            records.append(
                {
                    "event_id": event_id(campaign_id, address, action, timestamp, url),
                    "campaign_id": campaign_id,
                    "email_address": address,
                    "action": action,
                    "type": act.get("type"),
                    "timestamp": timestamp,
                    "url": url,
                }
            )
    return records


def unsubscribe_record(raw: dict[str, Any], campaign_id: str) -> dict[str, Any]:
    """An unsubscribe as the API returns it (minus _links) with its event_id and campaign_id."""
    record = without_links(raw)
    record["campaign_id"] = record.get("campaign_id") or campaign_id
    record["event_id"] = event_id(
        campaign_id, record.get("email_address") or "", "unsubscribe", record.get("timestamp") or "", None
    )
    return record


def next_offset(offset: int, count: int, returned: int) -> int | None:
    """Offset of the following page, or None after a short page."""
    return offset + count if returned >= count else None


@dataclass(frozen=True)
class MemberWrite:
    """One write to one member, in the only two shapes syncd sends (invariant 1):

    * `create_as` set: PUT /lists/{id}/members/{hash} with `status_if_new` (used by Mailchimp only when
      the member does not exist yet; an existing member keeps its status, whatever it is), and the merge
      fields;
    * `create_as` None: PATCH of the merge fields alone;
    * `unsubscribe` True: PATCH `{"status": "unsubscribed"}` alone (a HubSpot opt-out): the one status syncd
      ever sends to an existing member, towards less email.

    None can carry `status: subscribed` (or pending) for an existing member, so no request syncd sends can
    move one to subscribed: a member unsubscribed by an admin or through the API would be re-subscribed by
    a plain `status: subscribed` write, and one syncd has not read yet may exist.
    """

    key: str  # the caller's id for the outcome
    email: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    create_as: str | None = None  # "subscribed" | "pending" | ... for a member that may not exist
    unsubscribe: bool = False


NEW_MEMBER_STATUSES = ("subscribed", "pending", "transactional", "unsubscribed")


def member_write(write: MemberWrite) -> tuple[str, dict[str, Any]]:
    """(method, body) of `write`. Raises ValueError for an unknown `create_as`, or an unsubscribe that
    carries anything else."""
    if write.unsubscribe:
        if write.create_as is not None or write.merge_fields:
            raise ValueError("an unsubscribe carries nothing but the status")
        return "PATCH", {"status": "unsubscribed"}
    if write.create_as is None:
        return "PATCH", {"merge_fields": dict(write.merge_fields)}
    if write.create_as not in NEW_MEMBER_STATUSES:
        raise ValueError(f"status_if_new must be one of {NEW_MEMBER_STATUSES}, not {write.create_as!r}")
    body: dict[str, Any] = {"email_address": write.email.strip(), "status_if_new": write.create_as}
    if write.merge_fields:
        body["merge_fields"] = dict(write.merge_fields)
    return "PUT", body


def batch_results(archive: bytes) -> dict[str, tuple[int, Any]]:
    """operation_id -> (status_code, parsed response) from a finished batch's tar.gz: JSON files, each an
    array of {"status_code", "operation_id", "response" (the JSON text the call answered)}."""
    out: dict[str, tuple[int, Any]] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for item in tar:
            if not item.isfile() or not item.name.endswith(".json"):
                continue
            handle = tar.extractfile(item)
            for result in json.load(handle) if handle is not None else []:
                text = result.get("response") or ""
                try:
                    body = json.loads(text) if text else {}
                except ValueError:
                    body = text
                out[str(result.get("operation_id"))] = (int(result.get("status_code") or 0), body)
    return out


def is_compliance(message: str) -> bool:
    """Whether a batch error text is Mailchimp's compliance refusal."""
    return "compliance" in (message or "").lower()
