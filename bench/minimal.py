"""The fewest API calls a sync job needs, computed from the population (the sandbox's state before and
after the cycle, and report totals), never from the calls syncd made.

A `Snapshot` digests `/_sandbox/state` (contacts, members, tags, notes, tasks, campaigns) and reads the
schemas through the API with the benchmark's own token. `minimal_calls(...)` then counts, per item:

Reads
  * HubSpot owners: pages of 500 (at least one a cycle: owners have no modified filter).
  * HubSpot contacts: a backfill reads every contact, as list pages of 100 or search pages of 200,
    whichever takes less time at the limits (list pages count against the burst only, search pages against
    both the burst and 4/s); an incremental cycle searches the contacts modified since the previous cycle's
    signpost (its own echoes included: a search cannot leave out a writer), pages of 200, at least one.
  * Mailchimp members: pages of 1000; all of them in a backfill, those whose `last_changed` is after the
    previous signpost in an incremental cycle (at least one page).
  * Mailchimp campaigns: one page (1000 campaigns).
  * Email activity (count 1000): a campaign read for the first time needs every recipient with activity
    since its send (at least one page); later, only the recipients with activity since the previous
    signpost (0 pages when none: the campaign list's report_summary shows which reports moved).
  * Unsubscribes: a first read of a campaign's report is at least one page; later only a report that grew.
Setup (a first cycle): one read of the contact properties and one of the merge fields, one call per
property group, property and merge field that was missing before and exists after.
Writes (state before vs after the cycle; nothing but syncd writes during one)
  * HubSpot contacts whose properties changed: batch updates of 100; contacts created: batch creates of 100;
    consent read again before a member is created for an existing contact: batch reads of 100.
  * Notes and tasks created: batch creates of 100.
  * Mailchimp members created or whose status / merge fields changed: one operation each, sent as batch
    operations: one POST /3.0/batches per 500 operations and one status poll each (a batch cannot be known
    finished without at least one poll; the results file is not an API call), or one direct call per
    operation when that is fewer (1 operation: 1 call instead of 2).
  * Tags: per tag, calls of 500 members added and 500 removed (one static-segment call carries both); a tag
    no member had before is created by one call carrying its first 500 members; a first cycle reads the
    list's tags once (their ids).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.harness import Sandbox, floors, pages

CONTACT_IGNORED = {"lastmodifieddate", "hs_lastmodifieddate"}


def ts_ms(value: Any) -> int | None:
    if not value:
        return None
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _digest(obj: Any) -> str:
    return hashlib.blake2b(json.dumps(obj, sort_keys=True).encode(), digest_size=12).hexdigest()


@dataclass
class Snapshot:
    """A compact digest of the sandbox's state at one moment."""

    taken_ms: int
    contacts: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (digest, lastmodified ms)
    contact_emails: set[str] = field(default_factory=set)
    owners: int = 0
    notes: int = 0
    tasks: int = 0
    members: dict[str, tuple[str, int]] = field(default_factory=dict)  # email -> (digest, last_changed ms)
    statuses: dict[str, int] = field(default_factory=dict)
    tags: dict[str, frozenset[str]] = field(default_factory=dict)  # email -> tag names
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {send_ms, emails_sent}
    properties: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    merge_fields: set[str] = field(default_factory=set)
    unsubscribes: dict[str, int] = field(default_factory=dict)  # campaign -> report total

    @classmethod
    def take(cls, sb: Sandbox) -> Snapshot:
        snap = cls(taken_ms=sb.now_ms())
        state = sb.state()
        hs, mc = state["hubspot"], state["mailchimp"]
        for c in hs["contacts"]:
            props = c.get("properties") or {}
            kept = {k: v for k, v in props.items() if k not in CONTACT_IGNORED}
            snap.contacts[str(c["id"])] = (_digest(kept), ts_ms(props.get("lastmodifieddate")) or 0)
            if props.get("email"):
                snap.contact_emails.add(str(props["email"]).strip().lower())
        snap.owners, snap.notes, snap.tasks = len(hs["owners"]), len(hs["notes"]), len(hs["tasks"])
        for m in mc["members"]:
            email = str(m["email_address"]).strip().lower()
            snap.members[email] = (
                _digest([m.get("status"), m.get("merge_fields")]),
                ts_ms(m.get("last_changed")) or 0,
            )
            snap.statuses[m.get("status")] = snap.statuses.get(m.get("status"), 0) + 1
            snap.tags[email] = frozenset(t["name"] for t in m.get("tags") or [])
        for c in mc["campaigns"]:
            send = ts_ms(c.get("send_time"))
            if send is not None:
                snap.campaigns[c["id"]] = {"send_ms": send, "emails_sent": c.get("emails_sent", 0)}
        del state
        snap.properties = {p["name"] for p in sb.hubspot("GET", "/crm/v3/properties/contacts")["results"]}
        snap.groups = {g["name"] for g in sb.hubspot("GET", "/crm/v3/properties/contacts/groups")["results"]}
        list_id = sb.env["MAILCHIMP_LIST_ID"]
        fields = sb.mailchimp(f"/lists/{list_id}/merge-fields", {"count": 1000})
        snap.merge_fields = {f["tag"] for f in fields["merge_fields"]}
        for cid in snap.campaigns:
            snap.unsubscribes[cid] = int(sb.mailchimp(f"/reports/{cid}/unsubscribed", {"count": 1})["total_items"])
        return snap


def activity_totals(sb: Sandbox, since: dict[str, int]) -> dict[str, int]:
    """Per campaign: recipients with activity after since[campaign] (epoch ms), from the report's total."""
    out = {}
    for cid, ms in since.items():
        iso = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()
        out[cid] = int(sb.mailchimp(f"/reports/{cid}/email-activity", {"count": 1, "since": iso})["total_items"])
    return out


@dataclass
class Job:
    """What one cycle had to do, as population facts."""

    first: bool  # a backfill: everything read, schemas set up
    contacts_to_read: int  # a backfill: every contact; else those modified in (previous signpost, signpost]
    members_to_read: int
    activity: dict[str, int]  # campaign -> recipients with activity to read
    first_reads: set[str]  # campaigns whose reports are read for the first time
    unsubscribes: dict[str, int]  # campaign -> unsubscribes to read
    facts: dict[str, Any] = field(default_factory=dict)


def changes(pre: Snapshot, post: Snapshot) -> dict[str, Any]:
    """The writes a cycle made, from the state before and after it."""
    updated = sum(1 for cid, (d, _) in post.contacts.items() if cid in pre.contacts and pre.contacts[cid][0] != d)
    created = sum(1 for cid in post.contacts if cid not in pre.contacts)
    new_members = [e for e in post.members if e not in pre.members]
    changed_members = sum(1 for e, (d, _) in post.members.items() if e in pre.members and pre.members[e][0] != d)
    adds: dict[str, int] = {}
    removes: dict[str, int] = {}
    for email, tags in post.tags.items():
        before = pre.tags.get(email, frozenset())
        for t in tags - before:
            adds[t] = adds.get(t, 0) + 1
        for t in before - tags:
            removes[t] = removes.get(t, 0) + 1
    known_tags = set().union(*pre.tags.values()) if pre.tags else set()
    return {
        "contacts_updated": updated,
        "contacts_created": created,
        "consent_reads": sum(1 for e in new_members if e in pre.contact_emails),
        "notes_created": max(0, post.notes - pre.notes),
        "tasks_created": max(0, post.tasks - pre.tasks),
        "members_created": len(new_members),
        "members_changed": changed_members,
        "tag_adds": dict(sorted(adds.items())),
        "tag_removes": dict(sorted(removes.items())),
        "tags_new": sorted(t for t in adds if t not in known_tags),
        "properties_created": len(post.properties - pre.properties),
        "groups_created": len(post.groups - pre.groups),
        "merge_fields_created": len(post.merge_fields - pre.merge_fields),
    }


def minimal_calls(job: Job, writes: dict[str, Any], tier: int, scale: float, latency_ms: float) -> dict[str, Any]:
    """Per item (vendor, calls, searches), the totals per vendor and the floor (bench.harness.floors)."""
    items: dict[str, dict[str, Any]] = {}

    def add(name: str, system: str, calls: int, searches: int = 0) -> None:
        if calls:
            items[name] = {"vendor": system, "calls": int(calls), "searches": int(searches)}

    f = job.facts
    add("hubspot owners pages (500)", "hubspot", max(1, pages(f.get("owners", 0), 500)))
    if job.first:
        burst = tier * scale / 10.0
        listing = pages(job.contacts_to_read, 100)
        search = pages(job.contacts_to_read, 200)
        if listing / burst <= max(search / burst, search / (4 * scale)):
            add("hubspot contact list pages (100)", "hubspot", listing)
        else:
            add("hubspot contact search pages (200)", "hubspot", search, search)
        add("hubspot properties read", "hubspot", 1)
        add("hubspot property group create", "hubspot", writes["groups_created"])
        add("hubspot property creates", "hubspot", writes["properties_created"])
        add("mailchimp merge fields read", "mailchimp", 1)
        add("mailchimp merge field creates", "mailchimp", writes["merge_fields_created"])
        add("mailchimp member pages (1000)", "mailchimp", max(1, pages(job.members_to_read, 1000)))
    else:
        n = max(1, pages(job.contacts_to_read, 200))
        add("hubspot contact search pages (200)", "hubspot", n, n)
        add("mailchimp member pages (1000)", "mailchimp", max(1, pages(job.members_to_read, 1000)))
    add("mailchimp campaign pages (1000)", "mailchimp", 1)
    activity = sum(
        max(1, pages(n, 1000)) if cid in job.first_reads else pages(n, 1000) for cid, n in job.activity.items()
    )
    add("mailchimp email-activity pages (1000)", "mailchimp", activity)
    unsub = sum(
        max(1, pages(n, 1000)) if cid in job.first_reads else pages(n, 1000) for cid, n in job.unsubscribes.items()
    )
    add("mailchimp unsubscribes pages (1000)", "mailchimp", unsub)

    add("hubspot contact batch updates (100)", "hubspot", pages(writes["contacts_updated"], 100))
    add("hubspot contact batch creates (100)", "hubspot", pages(writes["contacts_created"], 100))
    add("hubspot consent batch reads (100)", "hubspot", pages(writes["consent_reads"], 100))
    add("hubspot note batch creates (100)", "hubspot", pages(writes["notes_created"], 100))
    add("hubspot task batch creates (100)", "hubspot", pages(writes["tasks_created"], 100))
    ops = writes["members_created"] + writes["members_changed"]
    add("mailchimp member writes (batches of 500 + one poll each)", "mailchimp", min(ops, 2 * pages(ops, 500)))
    tag_calls = 0
    for tag in set(writes["tag_adds"]) | set(writes["tag_removes"]):
        a, r = writes["tag_adds"].get(tag, 0), writes["tag_removes"].get(tag, 0)
        if tag in writes["tags_new"]:
            tag_calls += max(1, pages(a, 500), pages(r, 500))
        else:
            tag_calls += max(pages(a, 500), pages(r, 500))
    if tag_calls and job.first:
        add("mailchimp tags read", "mailchimp", 1)
    add("mailchimp tag calls (500 added + 500 removed)", "mailchimp", tag_calls)

    by_vendor = {"hubspot": 0, "mailchimp": 0}
    searches = 0
    for item in items.values():
        by_vendor[item["vendor"]] += item["calls"]
        searches += item["searches"]
    floor, hs_floor, mc_floor = floors(by_vendor["hubspot"], searches, by_vendor["mailchimp"], tier, scale, latency_ms)
    return {
        "minimal_calls": sum(by_vendor.values()),
        "minimal_calls_by_vendor": by_vendor,
        "minimal_hubspot_searches": searches,
        "minimal_calls_by_item": {k: v["calls"] for k, v in items.items()},
        "floor_s": round(floor, 3),
        "floor_by_vendor_s": {"hubspot": round(hs_floor, 3), "mailchimp": round(mc_floor, 3)},
    }
