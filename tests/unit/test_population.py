"""The simulated population: deterministic, realistic in its mix, lazy, with working lookups."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import Counter

import numpy as np
import pytest

from sandbox.population import (
    HUBSPOT_ID_BASE,
    LIFECYCLE_STAGES,
    SENIORITIES,
    TITLES,
    Persona,
    Population,
)
from sandbox.timefmt import DAY_MS

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
N = 20_000


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population(N, seed=11, start_ms=START)


@pytest.fixture(scope="module")
def people(pop: Population) -> list[Persona]:
    return pop.personas(range(pop.n))


def share(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def test_same_seed_same_personas_and_arrays() -> None:
    a, b = Population(500, seed=3, start_ms=START), Population(500, seed=3, start_ms=START)
    assert a.personas(range(500)) == b.personas(range(500))
    assert a.owners == b.owners
    assert np.array_equal(a.interest, b.interest) and np.array_equal(a.drift, b.drift)
    assert np.array_equal(a.hubspot_indices, b.hubspot_indices)


def test_different_seed_different_personas() -> None:
    a, b = Population(500, seed=3, start_ms=START), Population(500, seed=4, start_ms=START)
    differing = sum(x != y for x, y in zip(a.personas(range(500)), b.personas(range(500))))
    assert differing == 500
    assert not np.array_equal(a.interest, b.interest)


def test_persona_range_is_checked(pop: Population) -> None:
    with pytest.raises(IndexError):
        pop.persona(N)
    with pytest.raises(IndexError):
        pop.persona(-1)


def test_membership_mix(pop: Population, people: list[Persona]) -> None:
    only_mc = share([p.in_mailchimp and not p.in_hubspot for p in people])
    only_hs = share([p.in_hubspot and not p.in_mailchimp for p in people])
    assert 0.085 < only_mc < 0.115 and 0.085 < only_hs < 0.115
    assert list(pop.hubspot_indices) == [p.index for p in people if p.in_hubspot]
    assert list(pop.mailchimp_indices) == [p.index for p in people if p.in_mailchimp]
    assert pop.hubspot_indices.dtype == np.int64 and pop.mailchimp_indices.dtype == np.int64


def test_mailchimp_status_mix(pop: Population, people: list[Persona]) -> None:
    statuses = Counter(p.mc_status for p in people if p.in_mailchimp)
    members = sum(statuses.values())
    assert 0.05 < statuses["unsubscribed"] / members < 0.07
    assert 0.013 < statuses["cleaned"] / members < 0.027
    assert list(pop.mailchimp_indices_with_status("cleaned")) == [
        p.index for p in people if p.in_mailchimp and p.mc_status == "cleaned"
    ]


def test_consent_owner_and_stage_mix(pop: Population, people: list[Persona]) -> None:
    assert 0.83 < share([p.consent for p in people]) < 0.87
    assert 0.065 < share([p.owner_id is None for p in people]) < 0.095
    owner_ids = {o["id"] for o in pop.owners}
    assert 5 <= len(pop.owners) <= 8
    assert {p.owner_id for p in people} - {None} == owner_ids
    stages = Counter(p.lifecyclestage for p in people)
    assert set(stages) <= set(LIFECYCLE_STAGES)
    assert (stages["subscriber"] + stages["lead"]) / N > 0.8
    assert stages["customer"] > 0 and stages["opportunity"] > 0


def test_owners_look_like_the_owners_api(pop: Population) -> None:
    for owner in pop.owners:
        assert {
            "id",
            "email",
            "firstName",
            "lastName",
            "userId",
            "type",
            "teams",
            "archived",
            "createdAt",
            "updatedAt",
        } <= owner.keys()
        assert owner["id"].isdigit() and "@" in owner["email"] and owner["archived"] is False
    assert len({o["id"] for o in pop.owners}) == len(pop.owners)


def test_jobs_companies_and_places(people: list[Persona]) -> None:
    assert {p.seniority for p in people} == set(SENIORITIES)
    assert {p.jobtitle for p in people} == {t[0] for t in TITLES}
    sizes = np.array([p.company_size for p in people])
    assert sizes.min() >= 1 and sizes.max() <= 50_000
    assert np.median(sizes) < 200 < sizes.max()  # skewed: most small, a long tail
    assert len({p.company for p in people}) > 1000
    assert len({p.industry for p in people}) >= 6 and len({p.country for p in people}) >= 8
    assert all(p.city and re.fullmatch(r"\+[0-9][0-9 -]+", p.phone) for p in people)


def test_timestamps_are_ordered_and_within_the_year(people: list[Persona]) -> None:
    for p in people:
        assert START - 365 * DAY_MS <= p.created_ms <= p.updated_ms <= START
        assert START - 365 * DAY_MS <= p.mc_signup_ms <= p.mc_last_changed_ms <= START


def test_emails_unique_case_insensitively_and_clean(people: list[Persona]) -> None:
    lowered = [p.email.lower() for p in people]
    assert len(set(lowered)) == N
    assert all(p.email == p.email.strip() and re.fullmatch(r"[A-Za-z0-9._]+@[A-Za-z0-9.-]+", p.email) for p in people)
    assert all(p.mc_email.lower() == p.email.lower() for p in people)
    mixed = share([p.email != p.email.lower() for p in people])
    assert 0.07 < mixed < 0.13


def test_some_crm_and_mailchimp_emails_differ_only_in_case(people: list[Persona]) -> None:
    both = [p for p in people if p.in_hubspot and p.in_mailchimp]
    differ = [p for p in both if p.email != p.mc_email]
    assert 0.002 < len(differ) / len(both) < 0.009
    assert all(p.email.lower() == p.mc_email.lower() for p in differ)


def test_index_of_email_is_case_insensitive(pop: Population, people: list[Persona]) -> None:
    for p in people[:2000]:
        assert pop.index_of_email(p.email) == p.index
        assert pop.index_of_email(p.mc_email.upper()) == p.index
        assert pop.index_of_email(f"  {p.email.swapcase()} ") == p.index
    p = people[42]
    local, _, domain = p.email.partition("@")
    assert pop.index_of_email(f"{local}@other-{domain}") is None
    assert pop.index_of_email(f"{local}7@{domain}") is None
    assert pop.index_of_email(f"x{N + 5}@example.com") is None
    assert pop.index_of_email("no-at-sign") is None


def test_index_of_hubspot_id(pop: Population, people: list[Persona]) -> None:
    contact = next(p for p in people if p.in_hubspot)
    not_contact = next(p for p in people if not p.in_hubspot)
    assert pop.hubspot_id(contact.index) == str(HUBSPOT_ID_BASE + contact.index)
    assert pop.index_of_hubspot_id(pop.hubspot_id(contact.index)) == contact.index
    assert pop.index_of_hubspot_id(pop.hubspot_id(not_contact.index)) is None
    for bad in ("abc", "-5", str(HUBSPOT_ID_BASE - 1), str(HUBSPOT_ID_BASE + N), ""):
        assert pop.index_of_hubspot_id(bad) is None


def test_index_of_subscriber_hash_is_built_lazily() -> None:
    pop = Population(3000, seed=5, start_ms=START)
    assert pop._hash_index is None  # nothing hashed until the first lookup
    for i in (0, 17, 2999, *pop.mailchimp_indices[:50].tolist()):
        h = hashlib.md5(pop.mc_email(i).lower().encode()).hexdigest()
        assert pop.index_of_subscriber_hash(h) == i
        assert pop.index_of_subscriber_hash(h.upper()) == i
    assert pop._hash_index is not None
    assert pop.index_of_subscriber_hash(hashlib.md5(b"stranger@example.com").hexdigest()) is None
    real = hashlib.md5(pop.mc_email(17).lower().encode()).hexdigest()
    assert pop.index_of_subscriber_hash(real[:16] + "0" * 16) is None  # same first half, other address
    assert pop.index_of_subscriber_hash("not-a-hash") is None
    assert pop.index_of_subscriber_hash("z" * 32) is None


def test_interest_and_drift(pop: Population, people: list[Persona]) -> None:
    assert pop.interest.dtype == np.float32 and len(pop.interest) == N
    assert float(pop.interest.min()) >= 0.0 and float(pop.interest.max()) <= 1.0
    assert (pop.drift > 0.003).mean() > 0.1 and (pop.drift < -0.003).mean() > 0.1  # some warm, some cool
    later = np.array([LIFECYCLE_STAGES.index(p.lifecyclestage) >= 2 for p in people])
    assert pop.interest[later].mean() > pop.interest[~later].mean() + 0.05


def test_empty_population() -> None:
    pop = Population(0, seed=1, start_ms=START)
    assert len(pop.hubspot_indices) == 0 and pop.index_of_email("a0@example.com") is None


def test_vector_accessors_match_the_personas(pop: Population, people: list[Persona]) -> None:
    created, updated = pop.timestamps("created"), pop.timestamps("updated")
    assert [int(created[p.index]) for p in people[:500]] == [p.created_ms for p in people[:500]]
    assert [int(updated[p.index]) for p in people[:500]] == [p.updated_ms for p in people[:500]]
    assert [int(t) for t in pop.timestamps("mc_last_changed")[:500]] == [p.mc_last_changed_ms for p in people[:500]]
    with pytest.raises(ValueError):
        created[0] = 0  # read-only: the population's own data
    with pytest.raises(KeyError):
        pop.timestamps("deleted")
    assert [float(f) for f in pop.fit()[:500]] == [p.fit for p in people[:500]]
    assert [SENIORITIES[c] for c in pop.seniority_codes()[:500]] == [p.seniority for p in people[:500]]


def test_persona_is_a_complete_frozen_dataclass(pop: Population) -> None:
    p = pop.persona(7)
    assert set(dataclasses.asdict(p)) == {f.name for f in dataclasses.fields(Persona)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.email = "someone@example.com"  # type: ignore[misc]
    assert dataclasses.replace(p, consent=not p.consent).consent is not p.consent
    assert p == pop.persona(7) and hash(p) == hash(pop.persona(7))
