"""The decisions with plain values: one test per command kind, and properties (hypothesis) for the design's
invariants 1 (no command can subscribe anyone without consent, none carries a status), 2 (no accidental
lifecycle demotion), 3 (only owned properties written) and 6 (applying the decision's writes and deciding
again changes nothing: no echo)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.domain.decisions import DEFAULT_STAGES, Decision, Lead, MemberView, Policy, Pushed, StoredEvent, decide
from syncd.domain.mapping import Consent, FieldMapping, Mappings
from syncd.domain.models import EngagementEvent, ScoreResult
from syncd.domain.routing import Routing
from syncd.rules import load_default_rules

RULES = load_default_rules()
NOW = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # a Friday
CONSENT = "Freely given consent from contact"
OWNED = (
    "syncd_score",
    "syncd_fit_score",
    "syncd_engagement_score",
    "syncd_segment",
    "syncd_cadence",
    "syncd_scored_at",
    "syncd_last_open",
    "syncd_last_click",
    "syncd_opens_30d",
    "syncd_clicks_30d",
    "syncd_email_status",
    "lifecyclestage",
)
MAPPINGS = Mappings(
    fields=(
        FieldMapping("firstname", "FNAME", "text"),
        FieldMapping("company", "COMPANY", "text"),
        FieldMapping("syncd_score", "SCORE", "number"),
    ),
    consent=Consent("hs_legal_basis", (CONSENT,)),
    owned_properties=OWNED,
)
POLICY = Policy(rules=RULES, mappings=MAPPINGS, known_owners=frozenset({"7", "8"}), routing=Routing(("8",), None))


def result(
    score: int = 40,
    segment: str = "warm",
    stage: str | None = "marketingqualifiedlead",
    triggers: tuple[str, ...] = (),
    cadence: str = "weekly",
) -> ScoreResult:
    return ScoreResult(
        score=score,
        fit_score=10.0,
        engagement_score=score - 10.0,
        ledger=(),
        segment=segment,
        segment_changed=bool(triggers),
        lifecycle_target=stage,
        cadence=cadence,
        open_rate=None,
        triggers=triggers,
        as_of=NOW,
    )


def lead(**kw: Any) -> Lead:
    props = {
        "email": "vera@example.com",
        "firstname": "Vera",
        "company": "Acme",
        "hubspot_owner_id": "7",
        "lifecyclestage": "lead",
        "hs_legal_basis": CONSENT,
    }
    props.update(kw.pop("props", {}))
    base = dict(
        email="vera@example.com",
        subscriber_hash="h1",
        hubspot_id="101",
        properties=props,
        member=MemberView(
            "vera@example.com",
            "subscribed",
            {"FNAME": "Vera", "COMPANY": "Acme", "SCORE": 40},
            ("cadence:weekly", "segment:warm", "stage:mql"),
        ),
    )
    base.update(kw)
    return Lead(**base)


def kinds(decision: Decision) -> list[str]:
    return [c.kind for c in decision.commands]


def command(decision: Decision, kind: str) -> Any:
    (found,) = [c for c in decision.commands if c.kind == kind]
    return found


def click(row: int, hours_ago: float, url: str = "https://www.example-saas.com/pricing") -> StoredEvent:
    return StoredEvent(
        row,
        EngagementEvent(
            "mailchimp",
            f"mailchimp:c{row}",
            "vera@example.com",
            "click",
            NOW - timedelta(hours=hours_ago),
            "camp1",
            url,
        ),
    )


# -- one per command kind -----------------------------------------------------------------------------------


def test_changed_scores_become_one_contact_update_of_owned_properties():
    d = decide(lead(), result(55), Pushed(), POLICY, NOW)
    update = command(d, "hubspot.update_contact")
    props = update.payload["properties"]
    assert (
        props["syncd_score"] == "55"
        and props["syncd_segment"] == "warm"
        and props["lifecyclestage"] == "marketingqualifiedlead"
    )
    assert props["syncd_scored_at"] == str(int(NOW.timestamp() * 1000)) and props["syncd_email_status"] == "subscribed"
    assert update.key == "hs.props:101:1" and d.pushed["hubspot:contact:101"]["_version"] == 1


def test_a_deliberate_demotion_clears_then_sets_and_is_audited():
    rules = RULES.model_copy(update={"lifecycle": RULES.lifecycle.model_copy(update={"allow_demotion": True})})
    d = decide(
        lead(props={"lifecyclestage": "marketingqualifiedlead"}),
        result(5, "cold", "lead"),
        Pushed(),
        replace(POLICY, rules=rules),
        NOW,
    )
    demote = command(d, "hubspot.lifecycle_demote")
    assert demote.payload == {"id": "101", "steps": ["", "lead"]}
    assert [(a.kind, a.detail["from"], a.detail["to"]) for a in d.audit] == [
        ("lifecycle.demotion", "marketingqualifiedlead", "lead")
    ]


def test_a_lead_going_hot_gets_one_task_for_its_owner_then_a_cooldown():
    d = decide(lead(events=(click(1, 2),)), result(75, "hot", triggers=("segment:hot",)), Pushed(), POLICY, NOW)
    task = command(d, "hubspot.task")
    assert task.payload["owner_id"] == "7" and task.payload["triggers"] == ["segment:hot"]
    props = task.payload["properties"]
    assert props["hs_task_subject"].startswith("Hot lead: Vera") and props["hs_task_priority"] == "HIGH"
    assert props["hs_timestamp"] == str(
        int(datetime(2026, 3, 9, 8, 0, tzinfo=UTC).timestamp() * 1000)
    )  # Mon 09:00 Paris
    assert d.state.last_hot_task_at == NOW
    again = decide(
        lead(previous=d.state), result(80, "hot", triggers=("segment:hot",)), Pushed(), POLICY, NOW + timedelta(days=1)
    )
    assert "hubspot.task" not in kinds(again) and again.counts == ("tasks.cooldown",)


def test_an_unknown_owner_routes_the_task_to_the_round_robin():
    d = decide(
        lead(props={"hubspot_owner_id": "999"}), result(75, "hot", triggers=("segment:hot",)), Pushed(), POLICY, NOW
    )
    assert command(d, "hubspot.task").payload["owner_id"] == "8"


def test_new_mailchimp_engagement_becomes_one_note():
    events = (click(3, 5), click(4, 1, "javascript:alert(1)"))
    d = decide(lead(events=events), result(), Pushed(note={"last_event_row": 2}), POLICY, NOW)
    note = command(d, "hubspot.note")
    assert note.key == "note:101:4" and d.pushed["hubspot:note:101"] == {"last_event_row": 4}
    assert note.payload["body"].count("<li>") == 2 and 'href="javascript' not in note.payload["body"]
    assert "hubspot.note" not in kinds(
        decide(lead(events=events), result(), Pushed(note={"last_event_row": 4}), POLICY, NOW)
    )


def test_a_consented_contact_without_a_member_is_created_with_status_if_new_only():
    d = decide(lead(member=None), result(), Pushed(), POLICY, NOW)
    sub = command(d, "mailchimp.subscribe")
    assert sub.payload["status_if_new"] == "subscribed" and "status" not in sub.payload
    assert sub.payload["merge_fields"] == {"FNAME": "Vera", "COMPANY": "Acme", "SCORE": 40}
    assert sub.payload["tags"] == ["cadence:weekly", "segment:warm", "stage:mql"]
    no_consent = decide(lead(member=None, props={"hs_legal_basis": ""}), result(), Pushed(), POLICY, NOW)
    assert not [k for k in kinds(no_consent) if k.startswith("mailchimp.")]


def test_changed_merge_fields_of_a_member_are_patched_without_a_status():
    d = decide(lead(props={"firstname": "Veronica"}), result(), Pushed(), POLICY, NOW)
    update = command(d, "mailchimp.update_member")
    assert update.payload == {"email_address": "vera@example.com", "merge_fields": {"FNAME": "Veronica"}}
    gone = decide(
        lead(
            props={"firstname": "Veronica"},
            member=MemberView("vera@example.com", "unsubscribed", {"FNAME": "Vera"}, ()),
        ),
        result(),
        Pushed(),
        POLICY,
        NOW,
    )
    assert "mailchimp.update_member" not in kinds(gone)  # Mailchimp will not email them: left as they are


def test_a_segment_change_swaps_the_family_tag():
    d = decide(lead(), result(75, "hot", cadence="weekly"), Pushed(), POLICY, NOW)
    tags = command(d, "mailchimp.tags")
    assert tags.payload["active"] == ["segment:hot"] and tags.payload["inactive"] == ["segment:warm"]


# -- properties -------------------------------------------------------------------------------------------

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
STAGES = st.sampled_from(DEFAULT_STAGES)


@st.composite
def situations(draw: Any) -> tuple[Lead, ScoreResult, Pushed]:
    props: dict[str, Any] = {
        "email": "p@example.com",
        "firstname": draw(st.sampled_from(["Ann", "Bo", ""])),
        "company": draw(st.sampled_from(["Acme", "Initech"])),
        "hubspot_owner_id": draw(st.sampled_from(["7", "999", ""])),
        "lifecyclestage": draw(STAGES),
    }
    if draw(st.booleans()):
        props["hs_legal_basis"] = draw(st.sampled_from([CONSENT, "Legitimate interest", f"x;{CONSENT}"]))
    if draw(st.booleans()):
        props.update(syncd_score=str(draw(st.integers(0, 100))), syncd_segment=draw(st.sampled_from(["cold", "hot"])))
    member = None
    if draw(st.booleans()):
        member = MemberView(
            "p@example.com",
            draw(st.sampled_from(STATUSES)),
            {"FNAME": draw(st.sampled_from(["Ann", "X"])), "SCORE": draw(st.integers(0, 100))},
            tuple(
                sorted(
                    draw(
                        st.sets(st.sampled_from(["segment:cold", "segment:hot", "cadence:weekly", "stage:lead", "vip"]))
                    )
                )
            ),
        )
    events = tuple(click(i + 1, draw(st.integers(1, 400))) for i in range(draw(st.integers(0, 3))))
    in_crm = draw(st.booleans()) or member is None
    lead_ = Lead(
        email="p@example.com",
        subscriber_hash="hx",
        hubspot_id="55" if in_crm else None,
        properties=props if in_crm else None,
        member=member,
        events=events,
    )
    segment = draw(st.sampled_from(["cold", "warm", "hot", "reengage"]))
    res = result(
        draw(st.integers(0, 100)),
        segment,
        draw(st.one_of(st.none(), STAGES)),
        draw(st.sampled_from([(), ("segment:hot",)])),
        draw(st.sampled_from(["weekly", "monthly"])),
    )
    return lead_, res, Pushed()


@settings(max_examples=300, deadline=None)
@given(situations())
def test_no_command_carries_a_status_and_only_consented_contacts_are_created(case):
    lead_, res, pushed = case
    d = decide(lead_, res, pushed, POLICY, NOW)
    for c in d.commands:
        if c.kind.startswith("mailchimp."):
            assert "status" not in c.payload, c
    subscribes = [c for c in d.commands if c.kind == "mailchimp.subscribe"]
    if subscribes:
        assert lead_.member is None and lead_.properties is not None
        assert CONSENT in (lead_.properties.get("hs_legal_basis") or "").split(";")
        assert subscribes[0].payload["status_if_new"] == "subscribed"


@settings(max_examples=300, deadline=None)
@given(situations())
def test_the_lifecycle_stage_never_moves_back_without_the_demotion_setting(case):
    lead_, res, pushed = case
    d = decide(lead_, res, pushed, POLICY, NOW)
    assert not RULES.lifecycle.allow_demotion
    current = (lead_.properties or {}).get("lifecyclestage")
    assert "hubspot.lifecycle_demote" not in kinds(d)
    for c in d.commands:
        stage = c.payload.get("properties", {}).get("lifecyclestage") if c.kind == "hubspot.update_contact" else None
        if stage is not None and current in DEFAULT_STAGES:
            assert DEFAULT_STAGES.index(stage) > DEFAULT_STAGES.index(current), (current, stage)


@settings(max_examples=300, deadline=None)
@given(situations(), st.sets(st.sampled_from(OWNED), min_size=1))
def test_only_owned_properties_are_written(case, owned):
    lead_, res, pushed = case
    policy = replace(POLICY, mappings=replace(MAPPINGS, owned_properties=tuple(sorted(owned))))
    for c in decide(lead_, res, pushed, policy, NOW).commands:
        if c.kind == "hubspot.update_contact":
            assert set(c.payload["properties"]) <= owned


def _apply(lead_: Lead, d: Decision) -> tuple[Lead, Pushed]:
    """The services after the decision's writes landed and were read back, and what syncd remembers."""
    props = dict(lead_.properties) if lead_.properties is not None else None
    member = lead_.member
    for c in d.commands:
        if c.kind == "hubspot.update_contact" and props is not None:
            props.update(c.payload["properties"])
        elif c.kind == "mailchimp.subscribe":
            member = MemberView(
                c.payload["email_address"],
                "subscribed",
                dict(c.payload["merge_fields"]),
                tuple(sorted(c.payload["tags"])),
            )
            if props is not None:  # what the pusher writes once Mailchimp reported the new member
                props["syncd_email_status"] = "subscribed"
        elif c.kind == "mailchimp.update_member" and member is not None:
            member = replace(member, merge_fields={**member.merge_fields, **c.payload["merge_fields"]})
        elif c.kind == "mailchimp.tags" and member is not None:
            member = replace(
                member, tags=tuple(sorted((set(member.tags) | set(c.payload["active"])) - set(c.payload["inactive"])))
            )
    h, hid = lead_.subscriber_hash, lead_.hubspot_id
    pushed = Pushed(
        contact=d.pushed.get(f"hubspot:contact:{hid}", {}),
        note=d.pushed.get(f"hubspot:note:{hid}", {}),
        member=d.pushed.get(f"mailchimp:member:{h}", {}),
    )
    return replace(lead_, properties=props, member=member, previous=d.state), pushed


@settings(max_examples=300, deadline=None)
@given(situations())
def test_what_syncd_wrote_coming_back_causes_no_second_write(case):
    lead_, res, pushed = case
    first = decide(lead_, res, pushed, POLICY, NOW)
    echoed, remembered = _apply(lead_, first)
    res_again = replace(res, triggers=(), segment_changed=False)
    for memory in (remembered, Pushed()):  # with syncd's memory, and after losing it (the services hold it)
        again = decide(echoed, res_again, memory, POLICY, NOW)
        echo = [
            c
            for c in again.commands
            if c.kind in ("hubspot.update_contact", "mailchimp.update_member", "mailchimp.tags", "mailchimp.subscribe")
        ]
        assert echo == [], (first.commands, echo)


# -- the score write threshold: decay's small moves are not echoed ------------------------------------------

THRESHOLD = replace(POLICY, score_write_threshold=5)
WRITES = ("hubspot.update_contact", "mailchimp.update_member", "mailchimp.subscribe")


def _written(score: int = 40, **kw: Any) -> tuple[Lead, Pushed]:
    """A lead after syncd wrote its score `score` to both services and read them back."""
    lead_ = lead(**kw)
    return _apply(lead_, decide(lead_, result(score), Pushed(), THRESHOLD, NOW))


def _writes(decision: Decision) -> list[str]:
    return [k for k in kinds(decision) if k in WRITES]


def test_a_decay_of_a_point_or_two_writes_nothing():
    later = NOW + timedelta(hours=6)
    for member in (True, False):
        echoed, pushed = _written(**({} if member else {"member": None}))
        for drift in (1, 2, 4):
            d = decide(echoed, result(40 - drift), pushed, THRESHOLD, later)
            assert _writes(d) == [], (member, drift, d.commands)
            # before the threshold (and with it at 1) every point moved was written
            assert _writes(decide(echoed, result(40 - drift), pushed, POLICY, later)), (member, drift)


def test_a_move_of_the_threshold_or_more_is_written_with_the_current_score():
    echoed, pushed = _written()
    d = decide(echoed, result(35), pushed, THRESHOLD, NOW + timedelta(hours=6))
    props = command(d, "hubspot.update_contact").payload["properties"]
    assert props["syncd_score"] == "35" and props["syncd_engagement_score"] == "25" and "syncd_scored_at" in props
    assert command(d, "mailchimp.update_member").payload["merge_fields"] == {"SCORE": 35}


def test_small_moves_add_up_against_what_was_written_last():
    lead_, pushed = _written()
    for score in (39, 38, 37, 36):  # each a point below the last scoring, all within 5 of the 40 written
        d = decide(lead_, result(score), pushed, THRESHOLD, NOW)
        assert _writes(d) == [], score
    d = decide(lead_, result(35), pushed, THRESHOLD, NOW)
    assert command(d, "hubspot.update_contact").payload["properties"]["syncd_score"] == "35"


def test_another_change_writes_at_once_and_carries_the_current_score():
    echoed, pushed = _written()
    went_cold = decide(echoed, result(39, segment="cold", cadence="monthly"), pushed, THRESHOLD, NOW)
    props = command(went_cold, "hubspot.update_contact").payload["properties"]
    assert props["syncd_segment"] == "cold" and props["syncd_cadence"] == "monthly" and props["syncd_score"] == "39"
    assert "mailchimp.tags" in kinds(went_cold)
    staged = decide(echoed, result(39, stage="salesqualifiedlead"), pushed, THRESHOLD, NOW)
    props = command(staged, "hubspot.update_contact").payload["properties"]
    assert props["lifecyclestage"] == "salesqualifiedlead" and props["syncd_score"] == "39"
    renamed = decide(
        replace(echoed, properties={**echoed.properties, "firstname": "Vee"}), result(39), pushed, THRESHOLD, NOW
    )
    assert command(renamed, "mailchimp.update_member").payload["merge_fields"] == {"FNAME": "Vee", "SCORE": 39}
    opened = decide(replace(echoed, events=(click(9, 1),)), result(39), pushed, THRESHOLD, NOW)
    props = command(opened, "hubspot.update_contact").payload["properties"]
    assert props["syncd_clicks_30d"] == "1" and props["syncd_score"] == "39"


def test_a_subscribe_is_sent_again_for_a_real_change_only():
    lead_ = lead(member=None)
    first = decide(lead_, result(40), Pushed(), THRESHOLD, NOW)
    pushed = Pushed(member=first.pushed["mailchimp:member:h1"])
    assert "mailchimp.subscribe" in kinds(first)
    assert "mailchimp.subscribe" not in kinds(decide(lead_, result(38), pushed, THRESHOLD, NOW))
    again = decide(lead_, result(30), pushed, THRESHOLD, NOW)
    assert command(again, "mailchimp.subscribe").payload["merge_fields"]["SCORE"] == 30


def test_the_threshold_holds_back_writes_not_the_score_or_segment_state():
    echoed, pushed = _written()
    d = decide(echoed, result(38), pushed, THRESHOLD, NOW)
    assert _writes(d) == [] and d.state.segment == "warm"
