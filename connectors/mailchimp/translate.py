"""Plain-data translation between Mailchimp's JSON and syncd's records (no I/O, no SDK)."""
from __future__ import annotations

import hashlib
from typing import Any

from syncd import identity

PAGE_MAX = 1000        # count <= 1000 on every list endpoint
BATCH_MEMBERS_MAX = 500  # POST /lists/{id}: up to 500 members per call


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
            records.append({
                "event_id": event_id(campaign_id, address, action, timestamp, url),
                "campaign_id": campaign_id, "email_address": address, "action": action,
                "type": act.get("type"), "timestamp": timestamp, "url": url,
            })
    return records


def unsubscribe_record(raw: dict[str, Any], campaign_id: str) -> dict[str, Any]:
    """An unsubscribe as the API returns it (minus _links) with its event_id and campaign_id."""
    record = without_links(raw)
    record["campaign_id"] = record.get("campaign_id") or campaign_id
    record["event_id"] = event_id(campaign_id, record.get("email_address") or "", "unsubscribe",
                                  record.get("timestamp") or "", None)
    return record


def next_offset(offset: int, count: int, returned: int) -> int | None:
    """Offset of the following page, or None after a short page."""
    return offset + count if returned >= count else None


def member_body(email: str, status_if_new: str, merge_fields: dict[str, Any] | None) -> dict[str, Any]:
    """PUT body of an upsert. Never carries `status`: it could re-subscribe an unsubscribed member."""
    body: dict[str, Any] = {"email_address": email.strip(), "status_if_new": status_if_new}
    if merge_fields:
        body["merge_fields"] = merge_fields
    return body


def is_compliance(message: str) -> bool:
    """Whether a batch error text is Mailchimp's compliance refusal."""
    return "compliance" in (message or "").lower()
