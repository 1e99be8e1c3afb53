"""Deterministic simulated population (PLACEHOLDER: simple pure-Python version; the interface is fixed).

Interface used by the HubSpot and Mailchimp stores and the simulator:

    pop = Population(n=1000, seed=7, start_ms=...)
    pop.n, pop.seed, pop.start_ms
    pop.owners               -> list[dict]: HubSpot owner objects as GET /crm/v3/owners returns them
    pop.persona(i)           -> Persona (0 <= i < n), cheap, deterministic, built on demand
    pop.hubspot_indices      -> sorted sequence of persona indices that exist as HubSpot contacts
    pop.mailchimp_indices    -> sorted sequence of persona indices that exist as Mailchimp members
    pop.hubspot_id(i)        -> str, the HubSpot contact id of persona i (stable)
    pop.interest             -> mutable per-persona interest levels in [0, 1] (drift updates it)
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from sandbox.timefmt import DAY_MS

FIRST = ["Ada", "Ben", "Chloé", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kara", "Luis"]
LAST = ["Nguyen", "Smith", "Okafor", "García", "Müller", "Rossi", "Kim", "Dubois", "Silva", "Cohen"]
TITLES = [("VP of Marketing", "vp"), ("Head of Growth", "director"), ("Marketing Manager", "manager"),
          ("Software Engineer", "individual"), ("CEO", "executive"), ("Sales Director", "director")]
INDUSTRIES = ["software", "retail", "healthcare", "finance", "education", "manufacturing"]
COUNTRIES = ["United States", "United Kingdom", "Germany", "France", "Canada", "Australia"]
DOMAINS = ["example.com", "acme.io", "globex.net", "initech.org"]
HUBSPOT_ID_BASE = 100_000


@dataclass(frozen=True, slots=True)
class Persona:
    index: int
    firstname: str
    lastname: str
    email: str            # as the CRM holds it (may carry odd case)
    mc_email: str         # as the Mailchimp audience holds it (may differ from `email` only in case)
    jobtitle: str
    seniority: str
    company: str
    company_size: int
    industry: str
    country: str
    owner_id: str | None
    consent: bool         # marketing consent recorded in the CRM
    in_hubspot: bool
    in_mailchimp: bool
    mc_status: str        # subscribed | unsubscribed | cleaned
    created_ms: int
    lifecyclestage: str   # initial CRM stage


class Population:
    def __init__(self, n: int, seed: int = 1, start_ms: int = 0) -> None:
        self.n, self.seed, self.start_ms = int(n), int(seed), int(start_ms)
        rng = random.Random(seed)
        self.owners = [
            {"id": str(5000 + k), "email": f"rep{k}@sales.example.com", "firstName": f"Rep{k}",
             "lastName": "Seller", "userId": 9000 + k, "type": "PERSON", "teams": [], "archived": False,
             "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z"}
            for k in range(4)
        ]
        self._where = [rng.random() for _ in range(n)]
        self.hubspot_indices = [i for i in range(n) if self._where[i] < 0.9]
        self.mailchimp_indices = [i for i in range(n) if self._where[i] > 0.15]
        self.interest = [rng.random() for _ in range(n)]

    def hubspot_id(self, i: int) -> str:
        return str(HUBSPOT_ID_BASE + i)

    def persona(self, i: int) -> Persona:
        if not 0 <= i < self.n:
            raise IndexError(i)
        r = random.Random(self.seed * 1_000_003 + i)
        first, last = r.choice(FIRST), r.choice(LAST)
        title, seniority = r.choice(TITLES)
        email = f"{first.lower()}.{last.lower()}{i}@{r.choice(DOMAINS)}"
        w = self._where[i]
        status = "subscribed"
        if r.random() < 0.08:
            status = "unsubscribed"
        elif r.random() < 0.04:
            status = "cleaned"
        return Persona(
            index=i, firstname=first, lastname=last,
            email=email.capitalize() if i % 17 == 0 else email,
            mc_email=email,
            jobtitle=title, seniority=seniority, company=f"{last} {r.choice(['Inc', 'GmbH', 'Ltd'])}",
            company_size=r.choice([5, 20, 80, 200, 1000, 5000]), industry=r.choice(INDUSTRIES),
            country=r.choice(COUNTRIES), owner_id=self.owners[i % len(self.owners)]["id"] if i % 11 else None,
            consent=r.random() < 0.85, in_hubspot=w < 0.9, in_mailchimp=w > 0.15, mc_status=status,
            created_ms=self.start_ms - int(r.random() * 365 * DAY_MS), lifecyclestage="subscriber",
        )
