"""The mappings engine with plain values: one test per transform (both ways), per direction and per
conflict rule, the tag rules, contact creation and opt-outs, and a property (hypothesis) that no mapping can
make syncd subscribe anyone who opted out on either side."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.domain.decisions import Lead, MemberView, Policy, Pushed, decide
from syncd.domain.mapping import (
    Condition,
    Consent,
    ContactsFromMailchimp,
    ConversionError,
    FieldMapping,
    FieldSchemas,
    Mappings,
    MergeInfo,
    PropertyInfo,
    TagRule,
    holds,
    merge_values,
    to_merge,
    to_property,
)
from syncd.domain.models import ScoreResult
from syncd.mappings import MappingsError, load_mappings
from syncd.rules import load_default_rules

RULES = load_default_rules()
NOW = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
CONSENT = "Freely given consent from contact"
INDUSTRY = PropertyInfo("enumeration", "select", (("Software as a Service", "saas"), ("Retail", "retail")))
ROLES = PropertyInfo("enumeration", "checkbox", (("Budget Holder", "BUDGET_HOLDER"), ("Champion", "CHAMPION")))
SCHEMAS = FieldSchemas(
    properties={
        "industry": INDUSTRY,
        "hs_buying_role": ROLES,
        "numemployees": PropertyInfo("number", "number"),
        "signup": PropertyInfo("date", "date"),
        "renewal": PropertyInfo("datetime", "date"),
    },
    merge_fields={
        "SIGNUP": MergeInfo("date", "DD/MM/YYYY"),
        "BDAY": MergeInfo("birthday", "MM/DD"),
        "INDUSTRY": MergeInfo("dropdown", choices=("Software as a Service", "Retail")),
    },
)


def f(hubspot: str, tag: str, kind: str = "text", **kw: Any) -> FieldMapping:
    return FieldMapping(hubspot, tag, kind, **kw)


# -- transforms, HubSpot -> Mailchimp --------------------------------------------------------------------


def test_enumeration_becomes_its_label_or_value() -> None:
    assert to_merge(f("industry", "INDUSTRY", "dropdown"), "saas", SCHEMAS) == ("Software as a Service", None)
    assert to_merge(f("industry", "IND", "text", send="value"), "saas", SCHEMAS) == ("saas", None)


def test_a_dropdown_refuses_a_value_outside_its_choices() -> None:
    with pytest.raises(ConversionError, match="not one of the choices"):
        to_merge(f("industry", "INDUSTRY", "dropdown"), "mining", SCHEMAS)


def test_multiple_checkboxes_become_a_comma_list() -> None:
    value, _ = to_merge(f("hs_buying_role", "ROLES"), "BUDGET_HOLDER;CHAMPION", SCHEMAS)
    assert value == "Budget Holder, Champion"


def test_numbers_become_numbers_and_text_is_refused() -> None:
    assert to_merge(f("numemployees", "EMPL", "number"), "1200", SCHEMAS) == (1200, None)
    assert to_merge(f("numemployees", "EMPL", "number"), "12.5", SCHEMAS) == (12.5, None)
    with pytest.raises(ConversionError, match="'Cologne' is not a number"):
        to_merge(f("city", "CITYN", "number"), "Cologne", SCHEMAS)


def test_dates_take_the_audience_format_and_birthdays_are_month_day() -> None:
    assert to_merge(f("signup", "SIGNUP", "date"), "2026-03-01", SCHEMAS)[0] == "01/03/2026"
    assert to_merge(f("signup", "OTHER", "date"), "2026-03-01", SCHEMAS)[0] == "03/01/2026"  # default format
    assert to_merge(f("renewal", "BDAY", "birthday"), "1772323200000", SCHEMAS)[0] == "03/01"
    with pytest.raises(ConversionError, match="is not a date"):
        to_merge(f("signup", "SIGNUP", "date"), "soon", SCHEMAS)


def test_long_text_is_cut_at_255_with_a_warning() -> None:
    value, warning = to_merge(f("company", "COMPANY"), "x" * 300, SCHEMAS)
    assert value == "x" * 255 and warning is not None and "300 characters cut to 255" in warning


def test_urls_and_zips_are_checked() -> None:
    assert to_merge(f("website", "SITE", "url"), "https://acme.io", SCHEMAS)[0] == "https://acme.io"
    with pytest.raises(ConversionError):
        to_merge(f("website", "SITE", "url"), "acme", SCHEMAS)
    with pytest.raises(ConversionError):
        to_merge(f("zip", "ZIP", "zip"), "5066", SCHEMAS)


def test_phone_passes_as_text() -> None:
    assert to_merge(f("phone", "PHONE", "phone"), " +49 221 123 ", SCHEMAS)[0] == "+49 221 123"


# -- transforms, Mailchimp -> HubSpot --------------------------------------------------------------------


def test_reverse_conversions() -> None:
    assert to_property(f("industry", "INDUSTRY", "dropdown"), "Software as a Service", SCHEMAS) == "saas"
    assert to_property(f("hs_buying_role", "ROLES"), "Budget Holder, CHAMPION", SCHEMAS) == "BUDGET_HOLDER;CHAMPION"
    assert to_property(f("numemployees", "EMPL", "number"), 25, SCHEMAS) == "25"
    assert to_property(f("signup", "SIGNUP", "date"), "01/03/2026", SCHEMAS) == "2026-03-01"
    assert to_property(f("renewal", "SIGNUP", "date"), "01/03/2026", SCHEMAS) == str(
        int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    )
    assert to_property(f("firstname", "FNAME"), "  Vera ", SCHEMAS) == "Vera"
    assert to_property(f("firstname", "FNAME"), "", SCHEMAS) == ""
    with pytest.raises(ConversionError, match="not an option"):
        to_property(f("industry", "INDUSTRY", "dropdown"), "Mining", SCHEMAS)
    with pytest.raises(ConversionError, match="no year"):
        to_property(f("signup", "BDAY", "birthday"), "03/01", SCHEMAS)


def test_merge_values_skip_the_bad_field_and_keep_the_rest() -> None:
    m = Mappings((f("firstname", "FNAME"), f("city", "CITYN", "number")), Consent("c", ("y",)), ())
    values, problems, _ = merge_values(m, {"firstname": "Vera", "city": "Cologne"})
    assert values == {"FNAME": "Vera"} and [(p[0].merge_tag, p[1]) for p in problems] == [("CITYN", "Cologne")]


def test_conditions() -> None:
    assert holds(Condition("numemployees", "gte", 1000), {"numemployees": "1000+"})
    assert not holds(Condition("numemployees", "gte", 1000), {"numemployees": "500-1000"})
    assert holds(Condition("industry", "in", ("saas", "fintech")), {"industry": "SaaS"})
    assert holds(Condition("industry", "known", False), {})
    assert not holds(Condition("industry", "eq", "saas"), {})


# -- decisions: directions, conflicts, creation, opt-outs, tags ------------------------------------------


def result() -> ScoreResult:
    return ScoreResult(
        score=40,
        fit_score=10.0,
        engagement_score=30.0,
        ledger=(),
        segment="warm",
        segment_changed=False,
        lifecycle_target=None,
        cadence="weekly",
        open_rate=None,
        triggers=(),
        as_of=NOW,
    )


def mappings(*fields: FieldMapping, **kw: Any) -> Mappings:
    return Mappings(fields, Consent("hs_legal_basis", (CONSENT,)), ("syncd_score", "syncd_segment"), **kw)


def lead(props: dict | None = None, merge: dict | None = None, status: str = "subscribed", **kw: Any) -> Lead:
    properties = {"email": "vera@example.com", "firstname": "Vera", "hs_legal_basis": CONSENT, **(props or {})}
    return Lead(
        email="vera@example.com",
        subscriber_hash="h1",
        hubspot_id="101",
        properties=properties,
        member=MemberView("vera@example.com", status, {"FNAME": "Vera", **(merge or {})}, (), kw.pop("mc_ms", 0)),
        **kw,
    )


def run(m: Mappings, ld: Lead, pushed: Pushed | None = None) -> Any:
    return decide(ld, result(), pushed or Pushed(), Policy(rules=RULES, mappings=m, schemas=SCHEMAS), NOW)


def props_written(decision: Any) -> dict:
    out: dict = {}
    for c in decision.commands:
        if c.kind == "hubspot.update_contact":
            out.update(c.payload["properties"])
    return out


def merges_written(decision: Any) -> dict:
    out: dict = {}
    for c in decision.commands:
        if c.kind == "mailchimp.update_member":
            out.update(c.payload["merge_fields"])
    return out


def test_to_mailchimp_is_the_default_and_never_writes_hubspot() -> None:
    d = run(mappings(f("firstname", "FNAME")), lead(merge={"FNAME": "Verena"}))
    assert merges_written(d) == {"FNAME": "Vera"} and "firstname" not in props_written(d)


def test_to_hubspot_writes_the_property_and_never_the_merge_field() -> None:
    d = run(mappings(f("firstname", "FNAME", direction="to_hubspot")), lead(merge={"FNAME": "Verena"}))
    assert props_written(d)["firstname"] == "Verena" and "FNAME" not in merges_written(d)


def _agreed(value: str) -> Pushed:
    return Pushed(member={"synced": {"FNAME": value}})


def test_both_the_side_that_moved_wins() -> None:
    m = mappings(f("firstname", "FNAME", direction="both"))
    d = run(m, lead(merge={"FNAME": "Verena"}), _agreed("Vera"))  # Mailchimp moved
    assert props_written(d)["firstname"] == "Verena" and merges_written(d) == {}
    d = run(m, lead(props={"firstname": "Veronika"}), _agreed("Vera"))  # HubSpot moved
    assert merges_written(d) == {"FNAME": "Veronika"} and "firstname" not in props_written(d)
    d = run(m, lead(), _agreed("Vera"))  # nobody moved
    assert merges_written(d) == {} and "firstname" not in props_written(d)


@pytest.mark.parametrize(
    ("conflict", "hs_ms", "mc_ms", "winner"),
    [
        ("newest", 2000, 1000, "hubspot"),
        ("newest", 1000, 2000, "mailchimp"),
        ("newest", 1000, 1000, "hubspot"),  # a tie goes to the CRM
        ("hubspot", 1000, 2000, "hubspot"),
        ("mailchimp", 2000, 1000, "mailchimp"),
    ],
)
def test_both_sides_moved_the_conflict_rule_decides(conflict: str, hs_ms: int, mc_ms: int, winner: str) -> None:
    m = mappings(f("firstname", "FNAME", direction="both", conflict=conflict))
    ld = lead(props={"firstname": "Hub"}, merge={"FNAME": "Chimp"}, field_ms={"firstname": hs_ms}, mc_ms=mc_ms)
    d = run(m, ld, _agreed("Vera"))
    if winner == "hubspot":
        assert merges_written(d) == {"FNAME": "Hub"} and "firstname" not in props_written(d)
    else:
        assert props_written(d)["firstname"] == "Chimp" and merges_written(d) == {}
    assert d.pushed["mailchimp:member:h1"]["synced"]["FNAME"] == ("Hub" if winner == "hubspot" else "Chimp")


def test_a_first_sync_fills_in_an_empty_side_and_never_wipes() -> None:
    m = mappings(f("firstname", "FNAME", direction="both"))
    d = run(m, lead(merge={"FNAME": ""}, mc_ms=NOW_MS))  # Mailchimp newer, but empty
    assert merges_written(d) == {"FNAME": "Vera"}
    d = run(m, lead(props={"firstname": ""}, merge={"FNAME": "Verena"}, field_ms={"firstname": NOW_MS}))
    assert props_written(d)["firstname"] == "Verena"


def test_a_write_syncd_sent_is_not_read_back_as_a_change() -> None:
    """Mailchimp won and syncd sent firstname=Verena; HubSpot's snapshot (older than the write) still says
    Vera: deciding again sends nothing either way."""
    m = mappings(f("firstname", "FNAME", direction="both"))
    first = run(m, lead(merge={"FNAME": "Verena"}), _agreed("Vera"))
    pushed = Pushed(
        contact=first.pushed["hubspot:contact:101"], member=first.pushed.get("mailchimp:member:h1", {"synced": {}})
    )
    again = run(m, lead(merge={"FNAME": "Verena"}, field_ms={"firstname": NOW_MS - 60_000}), pushed)
    assert merges_written(again) == {} and "firstname" not in props_written(again)
    # once HubSpot shows it, both agree: still nothing
    settled = run(m, lead(props={"firstname": "Verena"}, merge={"FNAME": "Verena"}), pushed)
    assert merges_written(settled) == {} and "firstname" not in props_written(settled)


def test_a_value_that_cannot_be_converted_is_a_problem_not_an_exception() -> None:
    m = mappings(f("firstname", "FNAME"), f("city", "CITYN", "number"))
    d = run(m, lead(props={"city": "Cologne"}, merge={"CITYN": ""}))
    assert [(p.field, p.value) for p in d.problems] == [("city -> CITYN", "Cologne")]
    assert "is not a number" in d.problems[0].reason


def test_a_mailchimp_subscriber_not_in_hubspot_becomes_one_contact() -> None:
    m = mappings(
        f("firstname", "FNAME", direction="both"),
        f("lastname", "LNAME", direction="both"),
        f("company", "COMPANY"),  # to_mailchimp: not sent to HubSpot
        contacts_from_mailchimp=ContactsFromMailchimp(enabled=True),
    )
    member = MemberView("new@example.com", "subscribed", {"FNAME": "Nia", "LNAME": "Ode", "COMPANY": "X"})
    ld = Lead(email="new@example.com", subscriber_hash="h2", member=member)
    d = run(m, ld)
    creates = [c for c in d.commands if c.kind == "hubspot.create_contact"]
    assert len(creates) == 1 and creates[0].key == "hs.create:h2"
    assert creates[0].payload["properties"] == {
        "firstname": "Nia",
        "lastname": "Ode",
        "syncd_source": "mailchimp",
        "email": "new@example.com",
    }
    again = run(m, ld, Pushed(member=d.pushed["mailchimp:member:h2"]))
    assert not [c for c in again.commands if c.kind == "hubspot.create_contact"]
    # off, or a status not listed: nothing
    off = replace(m, contacts_from_mailchimp=ContactsFromMailchimp(enabled=False))
    assert not [c for c in run(off, ld).commands if c.kind == "hubspot.create_contact"]
    pending = replace(ld, member=replace(member, status="pending"))
    assert not [c for c in run(m, pending).commands if c.kind == "hubspot.create_contact"]


def test_a_hubspot_opt_out_unsubscribes_once_and_never_subscribes() -> None:
    m = mappings(f("firstname", "FNAME"))
    d = run(m, lead(props={"hs_email_optout": "true"}))
    unsub = [c for c in d.commands if c.kind == "mailchimp.unsubscribe"]
    assert len(unsub) == 1 and unsub[0].payload == {"email_address": "vera@example.com", "contact_id": "101"}
    again = run(m, lead(props={"hs_email_optout": "true"}), Pushed(member=d.pushed["mailchimp:member:h1"]))
    assert not [c for c in again.commands if c.kind == "mailchimp.unsubscribe"]
    no_member = replace(lead(props={"hs_email_optout": "true"}), member=None)
    assert not [c for c in run(m, no_member).commands if c.kind == "mailchimp.subscribe"]


def test_tag_rules_family_condition_and_mailchimp_tags() -> None:
    rules = (
        TagRule("family", "industry", family="industry"),
        TagRule("condition", "numemployees", tag="plan:enterprise", when=Condition("numemployees", "gte", 1000)),
        TagRule("from_mailchimp", "syncd_mailchimp_tags", tags=("webinar-2026", "ebook")),
    )
    m = mappings(f("firstname", "FNAME"), tag_rules=rules)
    ld = lead(props={"industry": "saas", "numemployees": "1200"})
    ld = replace(ld, member=replace(ld.member, tags=("industry:retail", "plan:enterprise", "ebook", "vip")))
    d = run(m, ld)
    tags = [c for c in d.commands if c.kind == "mailchimp.tags"][0].payload
    assert "industry:saas" in tags["active"] and "industry:retail" in tags["inactive"]
    assert "plan:enterprise" not in tags["active"] + tags["inactive"]  # held already, still holds
    assert "vip" not in tags["inactive"]  # a tag no rule manages is never touched
    assert props_written(d)["syncd_mailchimp_tags"] == "ebook"
    small = replace(ld, properties={**(ld.properties or {}), "numemployees": "20"})
    assert "plan:enterprise" in [c for c in run(m, small).commands if c.kind == "mailchimp.tags"][0].payload["inactive"]


def test_identity_opt_out_and_consent_properties_are_never_written() -> None:
    m = mappings(
        f("email", "EMAIL", direction="to_hubspot"),
        f("hs_email_optout", "OPTOUT", direction="to_hubspot"),
        f("hs_legal_basis", "CONSENT", direction="both"),
    )
    d = run(m, lead(merge={"EMAIL": "evil@example.com", "OPTOUT": "false", "CONSENT": "x"}))
    assert not {"email", "hs_email_optout", "hs_legal_basis"} & set(props_written(d))


def test_the_loader_refuses_identity_consent_and_address_targets(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "fields:\n"
        "  - {hubspot: email, merge_tag: EMAIL, type: text, direction: to_hubspot}\n"
        "  - {hubspot: hs_legal_basis, merge_tag: CONS, type: text, direction: both}\n"
        "  - {hubspot: street, merge_tag: ADDR, type: address, direction: both}\n"
        "  - {hubspot: firstname, merge_tag: FNAME, type: text, conflict: newest}\n"
        "  - {hubspot: lastname, merge_tag: LNAME, type: text, direction: sideways}\n"
        "consent: {hubspot_property: hs_legal_basis, granted_values: [yes]}\n"
        "owned_properties: []\n"
    )
    with pytest.raises(MappingsError) as err:
        load_mappings(path)
    text = "\n".join(err.value.problems)
    assert f"{path}:2:" in text and "never writes it" in text
    assert f"{path}:3:" in text and "consent property" in text
    assert f"{path}:4:" in text and "cannot flow to HubSpot" in text
    assert f"{path}:5:" in text and "conflict only applies to direction both" in text
    assert f"{path}:6:" in text


# -- invariant 1 over every mapping ---------------------------------------------------------------------

DIRECTION = st.sampled_from(("to_mailchimp", "to_hubspot", "both"))
TARGETS = st.sampled_from(("firstname", "hs_legal_basis", "hs_email_optout", "email", "lifecyclestage", "city"))
ANY_FIELD = st.builds(
    FieldMapping,
    hubspot=TARGETS,
    merge_tag=st.sampled_from(("FNAME", "A", "B", "STATUS")),
    type=st.sampled_from(("text", "number", "dropdown", "date")),
    direction=DIRECTION,
    conflict=st.sampled_from(("newest", "hubspot", "mailchimp")),
)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(ANY_FIELD, max_size=4),
    created=st.booleans(),
    hs_out=st.booleans(),
    mc_status=st.sampled_from(("unsubscribed", "cleaned", "subscribed", None)),
    merge=st.dictionaries(st.sampled_from(("FNAME", "A", "B", "STATUS")), st.sampled_from(("", "x", "true", "5"))),
)
def test_no_mapping_subscribes_anyone_who_opted_out(fields, created, hs_out, mc_status, merge) -> None:
    m = mappings(*fields, contacts_from_mailchimp=ContactsFromMailchimp(enabled=created, statuses=("subscribed",)))
    props = {"hs_email_optout": "true" if hs_out else "false"}
    ld = lead(props=props, merge=merge, status=mc_status or "subscribed")
    if mc_status is None:
        ld = replace(ld, member=None)
    d = run(m, ld)
    for c in d.commands:
        # nothing can re-subscribe: no status but unsubscribed for a member, status_if_new only for a new one
        assert "status" not in c.payload or c.payload["status"] == "unsubscribed"
        if c.kind == "mailchimp.subscribe":
            assert mc_status is None and not hs_out
        if c.kind == "mailchimp.unsubscribe":
            assert hs_out
        if c.kind == "hubspot.update_contact":
            assert not {"email", "hs_email_optout", "hs_legal_basis"} & set(c.payload["properties"])
    if hs_out and mc_status == "subscribed":
        assert [c.kind for c in d.commands].count("mailchimp.unsubscribe") == 1
