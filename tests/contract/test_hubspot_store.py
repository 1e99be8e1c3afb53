"""HubSpotStore's interface for other sandbox code: state(), record_conversion(), contact_by_email(); laziness."""

from __future__ import annotations

import pytest

from sandbox.timefmt import hubspot_ts
from sandbox.world import SandboxConfig, World


@pytest.fixture
def world() -> World:
    return World(SandboxConfig(contacts=200, seed=7, start_ms=1_767_225_600_000))


def test_state_lists_every_live_contact_with_api_shape(world):
    state = world.hubspot.state()
    assert set(state) == {"contacts", "owners", "tasks", "notes"}
    assert len(state["contacts"]) == len(world.population.hubspot_indices)
    one = state["contacts"][0]
    assert {"id", "properties", "createdAt", "updatedAt", "archived"} <= set(one)
    assert one["properties"]["hs_object_id"] == one["id"] and one["archived"] is False
    assert state["owners"] == world.population.owners and state["tasks"] == state["notes"] == []


def test_contact_by_email_is_case_insensitive_and_none_for_strangers(world):
    pop = world.population
    persona = pop.persona(int(pop.hubspot_indices[7]))
    rec = world.hubspot.contact_by_email(f"  {persona.email.upper()} ")
    assert rec is not None and rec["id"] == pop.hubspot_id(persona.index)
    assert rec["properties"]["jobtitle"] == persona.jobtitle
    assert world.hubspot.contact_by_email("stranger@example.org") is None
    mc_only = next(i for i in range(pop.n) if not pop.persona(i).in_hubspot)
    assert world.hubspot.contact_by_email(pop.persona(mc_only).email) is None


def test_record_conversion_counts_and_stamps(world):
    pop = world.population
    email = pop.persona(int(pop.hubspot_indices[0])).email
    before = world.hubspot.contact_by_email(email)
    world.hubspot.record_conversion(email, "Contact us", 1_767_000_000_000)
    world.hubspot.record_conversion(email.lower(), "Demo request", 1_767_100_000_000)
    props = world.hubspot.contact_by_email(email)["properties"]
    assert props["num_conversion_events"] == "2"
    assert props["recent_conversion_event_name"] == "Demo request"
    assert props["recent_conversion_date"] == hubspot_ts(1_767_100_000_000)
    assert props["first_conversion_event_name"] == "Contact us"
    assert props["first_conversion_date"] == hubspot_ts(1_767_000_000_000)
    assert props["lastmodifieddate"] > before["properties"]["lastmodifieddate"]
    with pytest.raises(KeyError):
        world.hubspot.record_conversion("nobody@example.org", "Contact us", 0)


def test_form_submission_events_reach_the_crm(world):
    email = world.population.persona(int(world.population.hubspot_indices[1])).email
    assert world.inject_events([{"email": email, "action": "form_submission", "form": "Webinar registration"}]) == {
        "applied": 1
    }
    assert world.hubspot.contact_by_email(email)["properties"]["recent_conversion_event_name"] == "Webinar registration"


def test_store_stays_lazy_on_a_large_world():
    """Building the store must not materialize records per persona (how long it takes is bench/'s figure)."""
    big = World(SandboxConfig(contacts=200_000, seed=2, start_ms=1_767_225_600_000))
    assert big.hubspot.contacts.rows == {}
    assert big.hubspot.contacts.live_count() == len(big.population.hubspot_indices)
    first = next(big.hubspot.contacts.iter_live())
    assert first.id == big.population.hubspot_id(int(big.population.hubspot_indices[0]))
