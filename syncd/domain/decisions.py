"""The decisions, pure: from what syncd knows of one lead (its contact, its member, its events, its new
score, what was last pushed), the rules and the mappings, and the time, to the commands that bring
HubSpot and Mailchimp in line, and the "last pushed" state that goes with them.

No I/O here: syncd/decide.py reads a chunk of leads, calls `decide` for each, and writes what it returns
(scores, pushed state, outbox commands, audit rows) in one transaction.

The invariants this module keeps (each has a property test in tests/unit/test_decisions.py):
1. No command can subscribe anyone: a new member only for a contact with the consent the mappings require,
   through `status_if_new`; an existing member only gets merge fields and tags, never a status.
2. `lifecyclestage` never moves backwards unless demotion is allowed, and then clear-then-set, audited.
3. Only properties the mappings let syncd own are written.
6. Nothing is re-sent that was sent or that the service already holds, so a value syncd wrote coming back
   is not a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncd.domain import diff, lifecycle, segments
from syncd.domain.cadence import cooldown_allows, due_date
from syncd.domain.explain import lead_name
from syncd.domain.mapping import Mappings, apply, consent_granted
from syncd.domain.models import ContactView, EngagementEvent, ScoreResult, SegmentState
from syncd.domain.render import NOTE_KINDS, note_html, task_html, task_subject, top_reasons
from syncd.domain.routing import Routing, pick_owner

if TYPE_CHECKING:
    from syncd.rules import Rules

TASK_TRIGGERS = ("segment:hot", "lifecycle:salesqualifiedlead")
# Members Mailchimp emails: their merge fields follow. Unsubscribed, cleaned and archived members are left
# as they are (Mailchimp will not email them); their tags still follow, for marketers' reports.
MAILED_STATUSES = ("subscribed", "pending", "transactional")
DEFAULT_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


@dataclass(frozen=True, slots=True)
class MemberView:
    """A Mailchimp member as last read (or as Mailchimp reported it after a write)."""

    email: str
    status: str
    merge_fields: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event with its row number in syncd's event log (notes list the rows not noted yet)."""

    row: int
    event: EngagementEvent


@dataclass(frozen=True, slots=True)
class Lead:
    """What syncd knows of one lead."""

    email: str
    subscriber_hash: str
    hubspot_id: str | None = None
    properties: Mapping[str, str | None] | None = None  # the HubSpot contact's; None: not in HubSpot
    member: MemberView | None = None  # None: syncd knows no member (it may exist)
    events: tuple[StoredEvent, ...] = ()
    previous: SegmentState | None = None  # the segment state after the last scoring

    @property
    def view(self) -> ContactView:
        props = self.properties or {}
        return ContactView(
            email=self.email,
            properties=props,
            hubspot_id=self.hubspot_id,
            owner_id=props.get("hubspot_owner_id") or None,
        )


@dataclass(frozen=True, slots=True)
class Pushed:
    """What syncd last sent, per target (the values it wrote and its version counters)."""

    contact: Mapping[str, Any] = field(default_factory=dict)  # hubspot:contact:<id>
    note: Mapping[str, Any] = field(default_factory=dict)  # hubspot:note:<id>
    member: Mapping[str, Any] = field(default_factory=dict)  # mailchimp:member:<hash>


@dataclass(frozen=True, slots=True)
class Policy:
    """The configuration a decision reads."""

    rules: Rules
    mappings: Mappings
    stage_order: tuple[str, ...] = DEFAULT_STAGES
    known_owners: frozenset[str] = frozenset()
    routing: Routing = Routing()
    notes: bool = True


@dataclass(frozen=True, slots=True)
class Command:
    """One write for the outbox. `key` makes it idempotent (an equal key is never enqueued twice)."""

    key: str
    kind: str
    target: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Audit:
    kind: str
    subject: str
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Decision:
    """The commands, the targets' new "last pushed" values (only those that changed), the lead's next
    segment state, audit entries, and counters worth reporting ("tasks.cooldown")."""

    commands: tuple[Command, ...]
    pushed: Mapping[str, Mapping[str, Any]]
    state: SegmentState
    audit: tuple[Audit, ...] = ()
    counts: tuple[str, ...] = ()


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def decide(lead: Lead, result: ScoreResult, pushed: Pushed, policy: Policy, now: datetime) -> Decision:
    """Everything to push for `lead`, scored `result` at `now`."""
    commands: list[Command] = []
    new_pushed: dict[str, Mapping[str, Any]] = {}
    audit: list[Audit] = []
    counts: list[str] = []
    stage = (lead.properties or {}).get("lifecyclestage") or None
    task_made = False
    if lead.properties is not None and lead.hubspot_id:
        stage = _hubspot(lead, result, pushed.contact, policy, now, commands, new_pushed, audit)
        task_made = _task(lead, result, policy, now, commands, counts)
        if policy.notes:
            _note(lead, pushed.note, now, commands, new_pushed)
    _mailchimp(lead, result, pushed.member, policy, stage, commands, new_pushed)
    state = segments.next_state(policy.rules, lead.previous, result, now, hot_task_created=task_made)
    return Decision(tuple(commands), new_pushed, state, tuple(audit), tuple(counts))


# -- HubSpot: properties, lifecycle stage, task, note ------------------------------------------------------


def engagement_properties(events: tuple[StoredEvent, ...], status: str | None, now: datetime) -> dict[str, str]:
    """Email engagement summarized as syncd-owned HubSpot properties (times in epoch ms)."""
    opens = [ms(e.event.occurred_at) for e in events if e.event.kind == "open"]
    clicks = [ms(e.event.occurred_at) for e in events if e.event.kind == "click"]
    month = ms(now - timedelta(days=30))
    props = {
        "syncd_opens_30d": str(sum(1 for x in opens if x >= month)),
        "syncd_clicks_30d": str(sum(1 for x in clicks if x >= month)),
    }
    if opens:
        props["syncd_last_open"] = str(max(opens))
    if clicks:
        props["syncd_last_click"] = str(max(clicks))
    hard = any(e.event.kind == "bounce" and (e.event.bounce_type or "hard") == "hard" for e in events)
    if status is not None:
        props["syncd_email_status"] = "hard_bounced" if hard and status == "cleaned" else status
    elif hard:
        props["syncd_email_status"] = "hard_bounced"
    return props


def _hubspot(
    lead: Lead,
    result: ScoreResult,
    pushed: Mapping[str, Any],
    policy: Policy,
    now: datetime,
    commands: list[Command],
    new_pushed: dict[str, Mapping[str, Any]],
    audit: list[Audit],
) -> str | None:
    """syncd's properties and the lifecycle stage; returns the stage the contact will be at."""
    props = lead.properties or {}
    target = f"hubspot:contact:{lead.hubspot_id}"
    # whole points: decimals of decay would rewrite every engaged contact on every cycle
    desired = {
        "syncd_score": str(result.score),
        "syncd_fit_score": str(round(result.fit_score)),
        "syncd_engagement_score": str(round(result.engagement_score)),
        "syncd_segment": result.segment,
        "syncd_cadence": result.cadence,
    }
    scored_changes = diff.property_changes(desired, props, pushed)
    # the status Mailchimp reported, never the one syncd hopes for: a subscribe still to be sent (or
    # refused) says nothing yet; the pusher writes the status Mailchimp reports once it reports it
    desired.update(engagement_properties(lead.events, lead.member.status if lead.member else None, now))
    changes = diff.property_changes(desired, props, pushed)
    if scored_changes:
        changes["syncd_scored_at"] = str(ms(now))
    current = props.get("lifecyclestage") or None
    effective = current
    plan = (
        lifecycle.plan(current, result.lifecycle_target, policy.rules, policy.stage_order)
        if result.lifecycle_target
        else None
    )
    if plan is not None and plan.steps and "lifecyclestage" in policy.mappings.owned_properties:
        goal = plan.steps[-1]
        effective = goal
        if plan.demotion:
            commands.append(
                Command(
                    f"hs.demote:{lead.hubspot_id}:{current}>{goal}:{ms(now)}",
                    "hubspot.lifecycle_demote",
                    target,
                    {"id": lead.hubspot_id, "steps": list(plan.steps)},
                )
            )
            audit.append(
                Audit(
                    "lifecycle.demotion",
                    lead.email,
                    {"hubspot_id": lead.hubspot_id, "from": current, "to": goal, "reason": plan.reason},
                )
            )
        elif pushed.get("lifecyclestage") != goal and current != goal:
            changes["lifecyclestage"] = goal
    # invariant 3: only properties the mappings file lets syncd own are ever written
    owned = set(policy.mappings.owned_properties)
    changes = {k: v for k, v in changes.items() if k in owned}
    if changes:
        version = int(pushed.get("_version", 0)) + 1
        commands.append(
            Command(
                f"hs.props:{lead.hubspot_id}:{version}",
                "hubspot.update_contact",
                target,
                {"id": lead.hubspot_id, "properties": changes},
            )
        )
        new_pushed[target] = {**pushed, **changes, "_version": version}
    return effective


def _task(
    lead: Lead, result: ScoreResult, policy: Policy, now: datetime, commands: list[Command], counts: list[str]
) -> bool:
    """The hand-off task for the owner when the lead went hot or reached SQL (once per cooldown)."""
    fired = [tr for tr in result.triggers if tr in TASK_TRIGGERS]
    if not fired:
        return False
    rules = policy.rules.tasks
    last = lead.previous.last_hot_task_at if lead.previous else None
    if not cooldown_allows(last, now, rules.cooldown_days):
        counts.append("tasks.cooldown")
        return False
    view = lead.view
    owner, _how = pick_owner(lead.email, view.owner_id, policy.known_owners, policy.routing)
    due = due_date(now, rules.due_business_days, rules.timezone)
    events = {e.event.event_id: e.event for e in lead.events}  # ledger entries name events by this id
    commands.append(
        Command(
            f"task:{lead.hubspot_id}:{'+'.join(fired)}:{ms(now)}",
            "hubspot.task",
            f"hubspot:contact:{lead.hubspot_id}",
            {
                "contact_id": lead.hubspot_id,
                "owner_id": owner,
                "triggers": fired,
                # for the status page (HubSpot gets only the properties)
                "lead": {
                    "email": lead.email,
                    "name": lead_name(view),
                    "reasons": top_reasons(result, rules.top_events),
                },
                "properties": {
                    "hs_task_subject": task_subject(result, view),
                    "hs_task_body": task_html(result, view, events, rules.top_events),
                    "hs_timestamp": str(ms(due)),
                    "hs_task_priority": "HIGH",
                    "hs_task_status": "NOT_STARTED",
                    "hs_task_type": "TODO",
                },
            },
        )
    )
    return True


def _note(
    lead: Lead,
    pushed: Mapping[str, Any],
    now: datetime,
    commands: list[Command],
    new_pushed: dict[str, Mapping[str, Any]],
) -> None:
    """One note listing the Mailchimp engagement not noted yet."""
    target = f"hubspot:note:{lead.hubspot_id}"
    last = int(pushed.get("last_event_row", 0))
    fresh = [e for e in lead.events if e.row > last and e.event.source == "mailchimp" and e.event.kind in NOTE_KINDS]
    if not fresh:
        return
    top = max(e.row for e in fresh)
    commands.append(
        Command(
            f"note:{lead.hubspot_id}:{top}",
            "hubspot.note",
            target,
            {"contact_id": lead.hubspot_id, "body": note_html([e.event for e in fresh]), "timestamp_ms": ms(now)},
        )
    )
    new_pushed[target] = {"last_event_row": top}


# -- Mailchimp: new member, merge fields, tags --------------------------------------------------------------


def _mailchimp(
    lead: Lead,
    result: ScoreResult,
    pushed: Mapping[str, Any],
    policy: Policy,
    stage: str | None,
    commands: list[Command],
    new_pushed: dict[str, Mapping[str, Any]],
) -> None:
    h = lead.subscriber_hash
    target = f"mailchimp:member:{h}"
    tags = diff.desired_tags(result.segment, stage, result.cadence)
    props = lead.properties
    merge_fields = (
        apply(
            policy.mappings,
            {
                **props,
                "syncd_score": str(result.score),
                "syncd_segment": result.segment,
                "syncd_cadence": result.cadence,
            },
        )
        if props is not None
        else {}
    )
    email = ((props or {}).get("email") or lead.email).strip()
    after = dict(pushed)
    member = lead.member
    if member is None:
        # invariant 1: only contacts with the required consent become members, created with
        # status_if_new (a member that exists after all keeps its status). A subscribe Mailchimp refused
        # is sent again only once what it would send changes.
        if props is None or not consent_granted(policy.mappings, props):
            return
        digest = hashlib.sha1(json.dumps([email.lower(), merge_fields], sort_keys=True).encode()).hexdigest()[:12]
        if pushed.get("subscribe_digest") == digest:
            return
        # the member's tags follow its creation (the pusher adds them once Mailchimp created it)
        commands.append(
            Command(
                f"mc.subscribe:{h}:{digest}",
                "mailchimp.subscribe",
                target,
                {
                    "email_address": email,
                    "status_if_new": "subscribed",
                    "merge_fields": merge_fields,
                    "contact_id": lead.hubspot_id,
                    "tags": tags,
                },
            )
        )
        new_pushed[target] = {**after, "subscribe_digest": digest, "merge_fields": merge_fields, "tags": tags}
        return
    if member.status in MAILED_STATUSES:
        sent = dict(pushed.get("merge_fields") or {})
        changed = {
            k: v for k, v in sorted(merge_fields.items()) if member.merge_fields.get(k) != v and sent.get(k) != v
        }
        if changed:
            version = int(pushed.get("_version", 0)) + 1
            # the merge fields alone (PATCH): never a status, so the write cannot re-subscribe anyone who
            # unsubscribed since the member was read
            commands.append(
                Command(
                    f"mc.member:{h}:{version}",
                    "mailchimp.update_member",
                    target,
                    {"email_address": member.email, "merge_fields": changed},
                )
            )
            after.update(merge_fields={**sent, **changed}, _version=version)
    if pushed.get("tags") != tags:  # what was sent is not re-sent before the snapshot catches up
        # add what the member is not seen with; take off every family tag it is seen with or that syncd
        # sent before (that command may still wait in the outbox, so the snapshot cannot show it yet)
        active, _ = diff.tag_changes(tags, member.tags)
        _, inactive = diff.tag_changes(tags, {*member.tags, *(pushed.get("tags") or ())})
        version = int(after.get("_tags_version", 0)) + 1
        if active or inactive:
            commands.append(
                Command(
                    f"mc.tags:{h}:{version}",
                    "mailchimp.tags",
                    target,
                    {"email_address": member.email, "active": active, "inactive": inactive},
                )
            )
        after.update(tags=tags, _tags_version=version)
    if after != dict(pushed):
        new_pushed[target] = after
