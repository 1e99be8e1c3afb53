"""propertiesWithHistory through the SDK: the population's initial values (derived, never stored), API
writes by each private app, simulated changes (form submissions, opt-outs), newest first, on the
simulated clock."""

from __future__ import annotations

import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from urllib3.util.retry import Retry

from sandbox.timefmt import DAY_MS, parse_ts_ms
from sandbox.world import SandboxConfig

SHARED_SANDBOX = SandboxConfig(contacts=100, seed=7, start_ms=1_767_225_600_000, rate_scale=100)


def _cid(sandbox, k: int = 0) -> str:
    pop = sandbox.world.population
    return pop.hubspot_id(int(pop.hubspot_indices[k]))


def _history(hubspot, cid: str, *names: str) -> dict[str, list[dict]]:
    rec = hubspot.crm.contacts.basic_api.get_by_id(cid, properties_with_history=list(names))
    return {name: [e.to_dict() for e in entries] for name, entries in rec.properties_with_history.items()}


def _ms(entry: dict) -> int:
    return int(entry["timestamp"].timestamp() * 1000)


def test_untouched_contacts_have_one_derived_entry_per_value(hubspot, sandbox):
    cid = _cid(sandbox, 3)
    rec = sandbox.world.hubspot.contacts.get(cid)
    history = _history(
        hubspot, cid, "firstname", "lifecyclestage", "lastmodifieddate", "phone", "no_such_property", "hs_lead_status"
    )
    assert set(history) == {"firstname", "lifecyclestage", "lastmodifieddate", "phone", "hs_lead_status"}
    first = history["firstname"]
    assert len(first) == 1 and first[0]["value"] == rec.props["firstname"]
    assert first[0]["source_type"] == "IMPORT" and _ms(first[0]) == rec.created_ms
    assert _ms(history["lastmodifieddate"][0]) == rec.updated_ms
    assert history["lastmodifieddate"][0]["value"] == rec.props["lastmodifieddate"]
    page = hubspot.crm.contacts.basic_api.get_page(limit=50, properties_with_history=["email"])
    assert all(len(r.properties_with_history["email"]) == 1 for r in page.results)
    assert all(r.properties["email"] == r.properties_with_history["email"][0].value for r in page.results)
    assert sandbox.world.hubspot.contacts.rows == {}  # history of untouched contacts stores nothing


def test_api_writes_are_recorded_newest_first_by_the_writing_app(hubspot, sandbox):
    cid = _cid(sandbox, 5)
    original = sandbox.world.hubspot.contacts.get(cid).props["jobtitle"]
    token = requests.post(
        sandbox.url + "/_sandbox/tokens", json={"scopes": ["crm.objects.contacts.write"]}, timeout=5
    ).json()
    other = HubSpot(access_token=token["token"], host=sandbox.url, retry=Retry(total=0))
    t0 = sandbox.world.clock.now_ms()
    hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"jobtitle": "CTO"}))
    other.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"jobtitle": "CEO"}))
    hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"jobtitle": ""}))
    hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"city": "Oslo"}))
    entries = _history(hubspot, cid, "jobtitle")["jobtitle"]
    assert [e["value"] for e in entries] == ["", "CEO", "CTO", original]
    assert [e["source_type"] for e in entries] == ["INTEGRATION"] * 3 + ["IMPORT"]
    default_app = sandbox.world.hubspot.auth.default.app_id
    assert [e["source_id"] for e in entries[:3]] == [default_app, token["appId"], default_app]
    stamps = [_ms(e) for e in entries]
    assert stamps == sorted(stamps, reverse=True) and stamps[2] >= t0
    assert stamps[0] <= sandbox.world.clock.now_ms()
    assert len(_history(hubspot, cid, "city")["city"]) == 2
    last = hubspot.crm.contacts.basic_api.get_by_id(cid, properties_with_history=["lastmodifieddate"])
    assert last.properties_with_history["lastmodifieddate"][0].value == last.properties["lastmodifieddate"]
    assert len(last.properties_with_history["lastmodifieddate"]) == 5


def test_unchanged_values_and_ignored_backward_stages_add_no_entry(hubspot, sandbox):
    cid = _cid(sandbox, 6)
    rec = sandbox.world.hubspot.contacts.get(cid)
    hubspot.crm.contacts.basic_api.update(
        cid, SimplePublicObjectInput(properties={"firstname": rec.props["firstname"], "lifecyclestage": "subscriber"})
    )
    history = _history(hubspot, cid, "firstname", "lifecyclestage")
    assert len(history["firstname"]) == 1
    if rec.props["lifecyclestage"] != "subscriber":  # a backward move is ignored, so nothing changed
        assert len(history["lifecyclestage"]) == 1


def test_history_timestamps_follow_the_simulated_clock(hubspot, sandbox):
    cid = _cid(sandbox, 7)
    hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"company": "Before"}))
    requests.post(sandbox.url + "/_sandbox/clock", json={"advance_days": 30}, timeout=30)
    before = sandbox.world.clock.now_ms()
    hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"company": "After"}))
    after = sandbox.world.clock.now_ms()
    newest, older = _history(hubspot, cid, "company")["company"][:2]
    assert newest["value"] == "After" and _ms(newest) - _ms(older) >= 30 * DAY_MS
    assert before <= _ms(newest) <= after  # stamped by the simulated clock during the write, however long it took


def test_created_contacts_and_batch_reads_carry_history(hubspot, sandbox):
    made = hubspot.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "new.person@example.org", "firstname": "New"})
    )
    hubspot.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(inputs=[{"id": made.id, "properties": {"firstname": "Newer"}}])
    )
    read = hubspot.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": made.id}, {"id": _cid(sandbox, 8)}],
            properties=["email"],
            properties_with_history=["firstname", "email"],
        )
    )
    by_id = {r.id: r for r in read.results}
    mine = by_id[made.id].properties_with_history
    assert [e.value for e in mine["firstname"]] == ["Newer", "New"]
    assert all(e.source_type == "INTEGRATION" for e in mine["firstname"])
    assert [e.value for e in mine["email"]] == ["new.person@example.org"]
    assert by_id[made.id].properties["firstname"] == "Newer"  # history properties are shown too
    assert by_id[_cid(sandbox, 8)].properties_with_history["email"][0].source_type == "IMPORT"


def test_simulated_changes_record_their_own_sources(hubspot, sandbox):
    pop = sandbox.world.population
    persona = next(
        pop.persona(int(i))
        for i in pop.hubspot_indices
        if not sandbox.world.hubspot.contacts.get(pop.hubspot_id(int(i))).props.get("hs_email_optout")
    )
    cid = pop.hubspot_id(persona.index)
    when = sandbox.world.clock.now_ms() - 3_600_000
    events = [
        {"email": persona.email, "action": "form_submission", "form": "Demo request", "timestamp": when},
        {"email": persona.email, "action": "email_optout"},
    ]
    assert requests.post(sandbox.url + "/_sandbox/events", json=events, timeout=5).json() == {"applied": 2}
    history = _history(hubspot, cid, "num_conversion_events", "recent_conversion_event_name", "hs_email_optout")
    form = history["recent_conversion_event_name"][0]
    assert form["value"] == "Demo request" and form["source_type"] == "FORM" and form["source_id"]
    assert _ms(form) == when
    assert [e["value"] for e in history["num_conversion_events"]] == ["1", "0"]
    optout = history["hs_email_optout"]
    assert len(optout) == 1 and optout[0]["value"] == "true" and optout[0]["source_type"] == "EMAIL"
    again = requests.post(sandbox.url + "/_sandbox/events", json=[events[1]], timeout=5)
    assert again.status_code == 200 and len(_history(hubspot, cid, "hs_email_optout")["hs_email_optout"]) == 1


def test_backdated_events_never_reorder_a_property_history(hubspot, sandbox):
    pop = sandbox.world.population
    persona = pop.persona(int(pop.hubspot_indices[9]))
    cid = pop.hubspot_id(persona.index)
    now = sandbox.world.clock.now_ms()
    for ts in (now, now - 10 * DAY_MS):  # the second is dated before the first
        requests.post(
            sandbox.url + "/_sandbox/events",
            timeout=5,
            json=[{"email": persona.email, "action": "form_submission", "timestamp": ts}],
        )
    counts = _history(hubspot, cid, "num_conversion_events")["num_conversion_events"]
    assert [e["value"] for e in counts] == ["2", "1", "0"]
    stamps = [_ms(e) for e in counts]
    assert stamps == sorted(stamps, reverse=True) and stamps[0] == stamps[1] == now
    current = hubspot.crm.contacts.basic_api.get_by_id(
        cid, properties=["num_conversion_events", "recent_conversion_date", "first_conversion_date"]
    )
    assert current.properties["num_conversion_events"] == counts[0]["value"]
    # the older submission is the first one, not the recent one
    assert parse_ts_ms(current.properties["recent_conversion_date"]) == now
    assert parse_ts_ms(current.properties["first_conversion_date"]) == now - 10 * DAY_MS


def test_tasks_and_merges_keep_history_too(hubspot, sandbox):
    task = hubspot.crm.objects.tasks.basic_api.create(
        {"properties": {"hs_timestamp": "1767225600000", "hs_task_subject": "one"}}
    )
    hubspot.crm.objects.tasks.basic_api.update(task.id, {"properties": {"hs_task_subject": "two"}})
    got = hubspot.crm.objects.tasks.basic_api.get_by_id(task.id, properties_with_history=["hs_task_subject"])
    assert [e.value for e in got.properties_with_history["hs_task_subject"]] == ["two", "one"]
    primary, other = _cid(sandbox, 10), _cid(sandbox, 11)
    sandbox.world.hubspot.contacts.update(primary, {"city": ""})  # a blank the merge fills
    hubspot.crm.contacts.basic_api.merge({"primaryObjectId": primary, "objectIdToMerge": other})
    city = _history(hubspot, primary, "city")["city"]
    assert city[0]["value"] == sandbox.world.hubspot.contacts.get(primary).props["city"] != ""
    assert city[0]["source_type"] == "INTEGRATION" and _ms(city[0]) >= _ms(city[1])
