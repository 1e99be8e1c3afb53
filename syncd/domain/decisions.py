"""The decisions, pure: from what syncd knows of one lead (its contact, its member, its events, its new
score, what was last pushed), the rules and the mappings, and the time, to the commands that bring
HubSpot and Mailchimp in line, and the "last pushed" state that goes with them.

No I/O here: syncd/decide.py reads a chunk of leads, calls `decide` for each, and writes what it returns
(scores, pushed state, outbox commands, audit rows) in one transaction.

The invariants this module keeps (each has a property test in tests/unit/test_decisions.py):
1. No command can subscribe anyone: a new member only for a contact with the consent the mappings require,
   through `status_if_new`; an existing member only gets merge fields and tags, never a status.
2. `lifecyclestage` never moves backwards unless demotion is allowed, and then clear-then-set, audited.
   A contact who opted out of email in HubSpot is never subscribed; its member is unsubscribed (a status
   of `unsubscribed`, the only status syncd ever sends to an existing member).
3. Only properties the mappings let syncd write (owned, or the target of a field flowing to HubSpot) are
   written; identity properties, the opt-out and the consent property never.
6. Nothing is re-sent that was sent or that the service already holds, so a value syncd wrote coming back
   is not a change. A two-way field keeps the value both sides last agreed on (`synced`); only a side that
   moved from it is a change, and a write syncd sent that a snapshot does not show yet counts as made.
8. A value that cannot be converted skips that field of that lead (a `FieldProblem` to quarantine); the
   rest of the lead and every other lead flow.
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
from syncd.domain.mapping import (
    NO_SCHEMAS,
    ConversionError,
    FieldMapping,
    FieldSchemas,
    Mappings,
    consent_granted,
    merge_values,
    opted_out,
    rule_tags,
    same,
    tags_property,
    to_merge,
    to_property,
)
from syncd.domain.models import ContactView, EngagementEvent, ScoreResult, SegmentState
from syncd.domain.render import NOTE_KINDS, note_html, task_html, task_subject, top_reasons
from syncd.domain.routing import Routing, pick_owner

if TYPE_CHECKING:
    from syncd.rules import Rules

TASK_TRIGGERS = ("segment:hot", "lifecycle:salesqualifiedlead")
# Member statuses a HubSpot opt-out unsubscribes (syncd never sends any other status to an existing member).
UNSUBSCRIBABLE = ("subscribed", "pending")
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
    last_changed_ms: int | None = None  # Mailchimp's last_changed: the member's own change time


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
    contact_modified_ms: int | None = None  # the contact's lastmodifieddate
    field_ms: Mapping[str, int] = field(default_factory=dict)  # when HubSpot's value of a property changed

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
    schemas: FieldSchemas = NO_SCHEMAS  # the live property and merge field definitions conversions read
    # a score moving by less than this (time decay, mostly) is not written on its own: see `score_drift_only`.
    # 1 writes every change (scores are whole points).
    score_write_threshold: int = 1


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
class FieldProblem:
    """A value that could not cross: `field` "firstname -> FNAME" (or "FNAME -> firstname"), the value and
    why. The field is skipped for this lead; the caller quarantines it."""

    email: str
    contact_id: str | None
    field: str
    value: Any
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The commands, the targets' new "last pushed" values (only those that changed), the lead's next
    segment state, audit entries, counters worth reporting ("tasks.cooldown"), the values that could not
    be converted and the warnings (text cut to 255 characters)."""

    commands: tuple[Command, ...]
    pushed: Mapping[str, Mapping[str, Any]]
    state: SegmentState
    audit: tuple[Audit, ...] = ()
    counts: tuple[str, ...] = ()
    problems: tuple[FieldProblem, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass
class Flow:
    """What the field mappings make of one lead: merge values for Mailchimp, property values for HubSpot,
    the values two-way fields now agree on, and what could not be converted."""

    to_mailchimp: dict[str, Any] = field(default_factory=dict)  # one-way fields (diffed against what was sent)
    two_way_mailchimp: dict[str, Any] = field(default_factory=dict)  # both-fields HubSpot won (sent as they are)
    to_hubspot: dict[str, str] = field(default_factory=dict)  # one-way fields (diffed against what was sent)
    two_way_hubspot: dict[str, str] = field(default_factory=dict)  # both-fields Mailchimp won
    synced: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# syncd's numeric score properties: what time decay moves between two pieces of news about a lead
SCORE_PROPERTIES = ("syncd_score", "syncd_fit_score", "syncd_engagement_score")
_SCORES = frozenset(SCORE_PROPERTIES)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def score_drift_only(
    changes: Mapping[str, Any], before: Mapping[str, Any], scores: frozenset[str], threshold: int
) -> bool:
    """Whether a write would carry nothing but scores each moved by less than `threshold` points from
    `before` (what syncd last sent, else what the service holds): a change nobody acts on (segments,
    lifecycle stages and tasks follow the score itself, not this write), so it is not sent. Any other
    change, a score without a readable earlier value, or a move of `threshold` or more is written, with
    the current scores. `threshold` 1 (or less) writes every change."""
    if threshold <= 1 or not changes:
        return False
    for key, value in changes.items():
        if key not in scores:
            return False
        old, new = _number(before.get(key)), _number(value)
        if old is None or new is None or abs(new - old) >= threshold:
            return False
    return True


def decide(lead: Lead, result: ScoreResult, pushed: Pushed, policy: Policy, now: datetime) -> Decision:
    """Everything to push for `lead`, scored `result` at `now`."""
    commands: list[Command] = []
    new_pushed: dict[str, Mapping[str, Any]] = {}
    audit: list[Audit] = []
    counts: list[str] = []
    stage = (lead.properties or {}).get("lifecyclestage") or None
    task_made = False
    flow = fields_flow(lead, result, pushed, policy)
    if lead.properties is not None and lead.hubspot_id:
        stage = _hubspot(lead, result, pushed.contact, policy, now, commands, new_pushed, audit, flow)
        task_made = _task(lead, result, policy, now, commands, counts)
        if policy.notes:
            _note(lead, pushed.note, now, commands, new_pushed)
    _mailchimp(lead, result, pushed.member, policy, stage, commands, new_pushed, flow, now)
    _create_contact(lead, pushed.member, policy, commands, new_pushed, flow)
    state = segments.next_state(policy.rules, lead.previous, result, now, hot_task_created=task_made)
    return Decision(
        tuple(commands), new_pushed, state, tuple(audit), tuple(counts), tuple(flow.problems), tuple(flow.warnings)
    )


# -- the field mappings: both directions ---------------------------------------------------------------------


def _problem(lead: Lead, label: str, value: Any, reason: str) -> FieldProblem:
    return FieldProblem(lead.email, lead.hubspot_id, label, value, reason)


def fields_flow(lead: Lead, result: ScoreResult, pushed: Pushed, policy: Policy) -> Flow:
    """Which values cross for `lead`, each field by its direction (two-way fields by their conflict rule)."""
    m, schemas, flow = policy.mappings, policy.schemas, Flow()
    props, member = lead.properties, lead.member
    if props is not None:
        view = {
            **props,
            "syncd_score": str(result.score),
            "syncd_segment": result.segment,
            "syncd_cadence": result.cadence,
        }
        # a lead syncd knows no member of gets the two-way fields too (its subscribe carries them)
        one_way = [f for f in m.fields if f.direction == "to_mailchimp" or (member is None and f.direction == "both")]
        values, problems, warnings = merge_values(m, view, schemas, only=one_way)
        flow.to_mailchimp.update(values)
        flow.warnings += warnings
        flow.problems += [_problem(lead, f"{f.hubspot} -> {f.merge_tag}", v, why) for f, v, why in problems]
    if member is None:
        return flow
    for f in m.fields:
        if f.direction != "to_hubspot" or f.merge_tag not in member.merge_fields:
            continue
        try:
            flow.to_hubspot[f.hubspot] = to_property(f, member.merge_fields[f.merge_tag], schemas)
        except ConversionError as exc:
            flow.problems.append(
                _problem(lead, f"{f.merge_tag} -> {f.hubspot}", member.merge_fields[f.merge_tag], str(exc))
            )
    for rule in m.tag_rules:
        if rule.kind == "from_mailchimp":
            flow.to_hubspot[rule.hubspot] = tags_property(rule, member.tags)
    if props is not None:
        for f in m.two_way:
            _two_way(lead, f, pushed, policy, flow)
    return flow


def _two_way(lead: Lead, f: FieldMapping, pushed: Pushed, policy: Policy, flow: Flow) -> None:
    props, member, schemas = lead.properties or {}, lead.member, policy.schemas
    assert member is not None
    if f.hubspot not in props or f.merge_tag not in member.merge_fields:
        return  # a side that does not show the field says nothing about it
    raw = props.get(f.hubspot)
    sent_hs = pushed.contact.get(f.hubspot)
    sent_hs_ms = (pushed.contact.get("_sent_ms") or {}).get(f.hubspot)
    stale = sent_hs_ms is not None and (lead.field_ms.get(f.hubspot) or 0) < sent_hs_ms
    if sent_hs is not None and stale and raw != sent_hs:
        raw = sent_hs  # the snapshot predates syncd's write: HubSpot holds (or will hold) what was sent
    try:
        hs, _ = to_merge(f, raw, schemas)
    except ConversionError as exc:
        flow.problems.append(_problem(lead, f"{f.hubspot} -> {f.merge_tag}", raw, str(exc)))
        return
    mc = member.merge_fields.get(f.merge_tag)
    sent_mc = (pushed.member.get("merge_fields") or {}).get(f.merge_tag)
    sent_mc_ms = (pushed.member.get("_sent_ms") or {}).get(f.merge_tag)
    behind = sent_mc_ms is not None and (member.last_changed_ms or 0) < sent_mc_ms
    if sent_mc is not None and behind and not same(mc, sent_mc):
        mc = sent_mc  # the member was read before syncd's write reached it
    base = (pushed.member.get("synced") or {}).get(f.merge_tag)
    if same(hs, mc):
        flow.synced[f.merge_tag] = hs
        return
    hs_moved = base is None or not same(hs, base)
    mc_moved = base is None or not same(mc, base)
    if hs_moved and not mc_moved:
        winner = "hubspot"
    elif mc_moved and not hs_moved:
        winner = "mailchimp"
    elif base is None and (hs in (None, "")) != (mc in (None, "")):
        winner = "hubspot" if mc in (None, "") else "mailchimp"  # a first sync fills in, it never wipes
    elif f.conflict in ("hubspot", "mailchimp"):
        winner = f.conflict
    else:  # newest by each side's own change time; HubSpot, the record of the CRM, wins a tie
        hs_ms = lead.field_ms.get(f.hubspot) or lead.contact_modified_ms or 0
        winner = "hubspot" if hs_ms >= (member.last_changed_ms or 0) else "mailchimp"
    if winner == "hubspot":
        if member.status in MAILED_STATUSES:  # others keep their merge fields (and the old agreement)
            flow.two_way_mailchimp[f.merge_tag] = hs
            flow.synced[f.merge_tag] = hs
        return
    try:
        flow.two_way_hubspot[f.hubspot] = to_property(f, mc, schemas)
    except ConversionError as exc:
        flow.problems.append(_problem(lead, f"{f.merge_tag} -> {f.hubspot}", mc, str(exc)))
        return
    flow.synced[f.merge_tag] = mc


def _create_contact(
    lead: Lead,
    pushed: Mapping[str, Any],
    policy: Policy,
    commands: list[Command],
    new_pushed: dict[str, Mapping[str, Any]],
    flow: Flow,
) -> None:
    """A Mailchimp member who is not in HubSpot becomes one HubSpot contact (once: the key is the member's),
    with the fields flowing to HubSpot and the source property."""
    cfg, member = policy.mappings.contacts_from_mailchimp, lead.member
    if not cfg.enabled or member is None or lead.properties is not None or lead.hubspot_id:
        return
    if member.status not in cfg.statuses or pushed.get("contact_created"):
        return
    writable = policy.mappings.writable_properties
    props: dict[str, str] = {}
    for f in policy.mappings.fields:
        value = member.merge_fields.get(f.merge_tag)
        if not f.to_hubspot or value in (None, "") or f.hubspot not in writable:
            continue
        try:
            props[f.hubspot] = to_property(f, value, policy.schemas)
        except ConversionError as exc:
            flow.problems.append(_problem(lead, f"{f.merge_tag} -> {f.hubspot}", value, str(exc)))
    for rule in policy.mappings.tag_rules:
        if rule.kind == "from_mailchimp" and rule.hubspot in writable and tags_property(rule, member.tags):
            props[rule.hubspot] = tags_property(rule, member.tags)
    if cfg.source_property in writable:
        props[cfg.source_property] = "mailchimp"
    props["email"] = member.email.strip()  # the one identity property syncd sets: on a contact it creates
    key = f"hs.create:{lead.subscriber_hash}"
    commands.append(
        Command(
            key,
            "hubspot.create_contact",
            f"hubspot:contact:new:{lead.subscriber_hash}",
            {"email": member.email, "subscriber_hash": lead.subscriber_hash, "properties": props},
        )
    )
    target = f"mailchimp:member:{lead.subscriber_hash}"
    new_pushed[target] = {**new_pushed.get(target, pushed), "contact_created": key}


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
    flow: Flow | None = None,
) -> str | None:
    """syncd's properties, the fields flowing to HubSpot and the lifecycle stage; returns the stage the
    contact will be at."""
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
    if flow is not None:
        desired.update(flow.to_hubspot)
    changes = diff.property_changes(desired, props, pushed)
    two_way = {} if flow is None else {k: v for k, v in flow.two_way_hubspot.items() if props.get(k) != v}
    changes.update(two_way)
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
    # invariant 3: only properties the mappings file lets syncd write are ever written
    writable = policy.mappings.writable_properties
    changes = {k: v for k, v in changes.items() if k in writable}
    before = {k: pushed[k] if k in pushed else props.get(k) for k in SCORE_PROPERTIES}
    moved = {k: v for k, v in changes.items() if k != "syncd_scored_at"}
    if score_drift_only(moved, before, _SCORES, policy.score_write_threshold):
        changes = {}  # decay moved the score a little: written with the next real change, current then
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
        after = {**pushed, **changes, "_version": version}
        sent_at = {k: ms(now) for k in two_way if k in changes}
        if sent_at:
            after["_sent_ms"] = {**(pushed.get("_sent_ms") or {}), **sent_at}
        new_pushed[target] = after
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


def _score_tags(policy: Policy) -> frozenset[str]:
    """The merge fields filled from syncd's score properties (the SCORE of the shipped mappings)."""
    return frozenset(f.merge_tag for f in policy.mappings.fields if f.hubspot in SCORE_PROPERTIES)


def _mailchimp(
    lead: Lead,
    result: ScoreResult,
    pushed: Mapping[str, Any],
    policy: Policy,
    stage: str | None,
    commands: list[Command],
    new_pushed: dict[str, Mapping[str, Any]],
    flow: Flow | None = None,
    now: datetime | None = None,
) -> None:
    h = lead.subscriber_hash
    target = f"mailchimp:member:{h}"
    tags = diff.desired_tags(result.segment, stage, result.cadence)
    props = lead.properties
    families: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()
    if props is not None and policy.mappings.tag_rules:
        ruled, families, exact = rule_tags(policy.mappings, props)
        tags = sorted({*tags, *ruled})
    flow = flow if flow is not None else fields_flow(lead, result, Pushed(member=pushed), policy)
    merge_fields = dict(flow.to_mailchimp)
    email = ((props or {}).get("email") or lead.email).strip()
    after = dict(pushed)
    member = lead.member
    out = props is not None and opted_out(policy.mappings, props)
    if member is None:
        # invariant 1: only contacts with the required consent (and no opt-out) become members, created
        # with status_if_new (a member that exists after all keeps its status). A subscribe Mailchimp
        # refused is sent again only once what it would send changes.
        if props is None or out or not consent_granted(policy.mappings, props):
            return
        digest = hashlib.sha1(json.dumps([email.lower(), merge_fields], sort_keys=True).encode()).hexdigest()[:12]
        if pushed.get("subscribe_digest") == digest:
            return
        sent = dict(pushed.get("merge_fields") or {})
        moved = {k: v for k, v in merge_fields.items() if sent.get(k) != v}
        sent_digest = hashlib.sha1(json.dumps([email.lower(), sent], sort_keys=True).encode()).hexdigest()[:12]
        if (
            pushed.get("subscribe_digest") == sent_digest  # the same address, these fields, sent before
            and set(sent) == set(merge_fields)
            and score_drift_only(moved, sent, _score_tags(policy), policy.score_write_threshold)
        ):
            return  # it differs from the subscribe sent only by a score's drift: not sent again for that
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
    if out and member.status in UNSUBSCRIBABLE and not pushed.get("unsubscribe_sent"):
        # opted out of email in HubSpot: unsubscribed in Mailchimp, once (never the reverse)
        version = int(pushed.get("_unsubscribe_version", 0)) + 1
        commands.append(
            Command(
                f"mc.unsubscribe:{h}:{version}",
                "mailchimp.unsubscribe",
                target,
                {"email_address": member.email, "contact_id": lead.hubspot_id},
            )
        )
        after.update(unsubscribe_sent=True, _unsubscribe_version=version)
    elif not out and pushed.get("unsubscribe_sent"):
        after.pop("unsubscribe_sent")  # a later opt-out is acted on again
    if flow.synced and flow.synced != (pushed.get("synced") or {}):
        after["synced"] = {**(pushed.get("synced") or {}), **flow.synced}
    if member.status in MAILED_STATUSES:
        sent = dict(pushed.get("merge_fields") or {})
        changed = {
            k: v for k, v in sorted(merge_fields.items()) if member.merge_fields.get(k) != v and sent.get(k) != v
        }
        two_way = {k: v for k, v in flow.two_way_mailchimp.items() if not same(member.merge_fields.get(k), v)}
        changed.update(two_way)
        before = {k: sent[k] if k in sent else member.merge_fields.get(k) for k in changed}
        if score_drift_only(changed, before, _score_tags(policy), policy.score_write_threshold):
            changed = {}  # only a score's drift: written with the member's next real change
        if changed:
            version = int(pushed.get("_version", 0)) + 1
            # the merge fields alone (PATCH): never a status, so the write cannot re-subscribe anyone who
            # unsubscribed since the member was read
            commands.append(
                Command(
                    f"mc.member:{h}:{version}",
                    "mailchimp.update_member",
                    target,
                    {"email_address": member.email, "merge_fields": dict(sorted(changed.items()))},
                )
            )
            after.update(merge_fields={**sent, **changed}, _version=version)
            if two_way and now is not None:
                after["_sent_ms"] = {**(pushed.get("_sent_ms") or {}), **dict.fromkeys(two_way, ms(now))}
    if pushed.get("tags") != tags:  # what was sent is not re-sent before the snapshot catches up
        # add what the member is not seen with; take off every family tag it is seen with or that syncd
        # sent before (that command may still wait in the outbox, so the snapshot cannot show it yet)
        active, _ = diff.tag_changes(tags, member.tags, families, exact)
        _, inactive = diff.tag_changes(tags, {*member.tags, *(pushed.get("tags") or ())}, families, exact)
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
