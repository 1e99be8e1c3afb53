"""The sandbox's HubSpot account: contacts over the lazy population, tasks, notes, owners, associations."""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

from sandbox.hubspot.auth import Credentials
from sandbox.hubspot.schema import CONSENT_GRANTED, EMPLOYEE_BUCKETS, LIFECYCLE_STAGES, Schema
from sandbox.hubspot.tables import ContactTable, NotFound, Record, Table
from sandbox.timefmt import hubspot_ts, parse_ts_ms

HUBSPOT_ID_BASE = 100_000
TASK_FIRST_ID = 30_000_000_001
NOTE_FIRST_ID = 40_000_000_001
# HUBSPOT_DEFINED association type ids (hubspot.crm.association_type.AssociationType)
ASSOCIATION_TYPES = {
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
}
_EMPLOYEE_LIMITS = (5, 25, 50, 100, 500, 1000)
EMAIL_OPTOUT_SHARE = 0.02  # population contacts opted out of all email in HubSpot (hs_email_optout = true)
FORM_SOURCE_NAMESPACE = uuid.UUID("0b6b8a4e-5f3c-4c1a-9d7e-2f6a1e9c3b71")
# history sources of simulated changes (assumed: HubSpot records form submissions as sourceType FORM with the
# form's guid as sourceId; an unsubscribe from all email as sourceType EMAIL)
EMAIL_OPTOUT_SOURCE = {"sourceType": "EMAIL"}


def form_source(form_name: str) -> dict[str, str]:
    return {"sourceType": "FORM", "sourceId": str(uuid.uuid5(FORM_SOURCE_NAMESPACE, form_name))}


def employees_bucket(size: int) -> str:
    """HubSpot's `numemployees` option for a head count (1-5 ... 1000+)."""
    return EMPLOYEE_BUCKETS[bisect.bisect_left(_EMPLOYEE_LIMITS, size)]


_BUCKETS: dict[int, str] = {}  # head count -> numemployees bucket (company sizes repeat across a page)
_STAGE_DATE = {stage: f"hs_lifecyclestage_{stage}_date" for stage in LIFECYCLE_STAGES}


def _contact_props(
    rid: str,
    email: Any,
    first: Any,
    last: Any,
    title: Any,
    company: Any,
    size: int,
    phone: Any,
    city: Any,
    country: Any,
    industry: Any,
    owner: Any,
    consent: Any,
    stage: Any,
    seniority: Any,
    created: int,
    updated: int,
    optout: bool = False,
) -> dict[str, Any]:
    """The stored properties of a population contact, in HubSpot's order; owner and legal basis left out when
    absent (other values as given: the caller drops nulls and blanks when its values may hold them)."""
    bucket = _BUCKETS.get(size)
    if bucket is None:
        bucket = _BUCKETS[size] = employees_bucket(size)
    stage_date = _STAGE_DATE.get(stage)
    if stage_date is None:  # not a HubSpot stage
        stage, stage_date = "subscriber", _STAGE_DATE["subscriber"]
    created_at = hubspot_ts(created)
    props = {
        "email": email,
        "firstname": first,
        "lastname": last,
        "jobtitle": title,
        "company": company,
        "phone": phone,
        "city": city,
        "country": country,
        "industry": industry,
        "numemployees": bucket,
        "hubspot_owner_id": owner,
        "lifecyclestage": stage,
        "hs_lead_status": "NEW",
        "hs_legal_basis": CONSENT_GRANTED,
        "seniority": seniority,
        "createdate": created_at,
        "lastmodifieddate": hubspot_ts(updated or created),
        "hs_object_id": rid,
        "num_conversion_events": "0",
        stage_date: created_at,
    }
    if owner is None:
        del props["hubspot_owner_id"]
    if not consent:
        del props["hs_legal_basis"]
    if optout:
        props["hs_email_optout"] = "true"
    return props


def persona_properties(p: Any, rid: str) -> dict[str, str]:
    """A population persona as the contact properties HubSpot would store (nulls left out)."""
    created = int(p.created_ms)
    updated = int(getattr(p, "updated_ms", created) or created)
    props = _contact_props(
        rid,
        p.email.strip(),
        p.firstname,
        p.lastname,
        p.jobtitle,
        p.company,
        int(p.company_size),
        getattr(p, "phone", None),
        getattr(p, "city", None),
        p.country,
        p.industry,
        p.owner_id,
        p.consent,
        p.lifecyclestage,
        p.seniority,
        created,
        updated,
    )
    return {k: str(v) for k, v in props.items() if v is not None and v != ""}


class PopulationLayer:
    """The population's HubSpot contacts as a read-only base layer, each record built on demand."""

    def __init__(self, population: Any) -> None:
        self.pop = population
        self._indices = np.asarray(population.hubspot_indices, dtype=np.int64)
        self._n, self._crm_contact = population.n, population.crm_contact
        # a small deterministic share opted out of all email, drawn here so the population stays as it is
        # (as bytes: indexing them is cheaper than a numpy array on the per-contact hot path)
        self._optout = (population.rng(0xE0).random(population.n) < EMAIL_OPTOUT_SHARE).tobytes()

    def record(self, rid: int) -> Record | None:
        # the hot path of contact pages (100 records a page): the population's CRM fields without a Persona,
        # whose values are already non-empty strings (no null or str() pass needed)
        i = rid - HUBSPOT_ID_BASE
        if not 0 <= i < self._n:
            return None
        fields = self._crm_contact(i)
        if fields is None:
            return None
        hid = str(rid)
        created = fields[14]
        return Record(hid, _contact_props(hid, *fields, optout=self._optout[i] == 1), created, fields[15] or created)

    def ids_after(self, after: int) -> Iterator[int]:
        start = int(np.searchsorted(self._indices, after - HUBSPOT_ID_BASE, side="right"))
        for k in range(start, len(self._indices), 1024):
            for i in self._indices[k : k + 1024].tolist():
                yield i + HUBSPOT_ID_BASE

    def id_of_email(self, key: str) -> int | None:
        i = self.pop.index_of_email(key)
        if i is None:
            return None
        p = self.pop.persona(int(i))
        if not p.in_hubspot or p.email.strip().lower() != key:
            return None
        return int(self.pop.hubspot_id(int(i)))

    def count(self) -> int:
        return len(self._indices)

    def timestamps(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids ascending, created or updated epoch ms) of every population contact.

        Read in bulk from the population's timestamp arrays (milliseconds for a million contacts)."""
        ids = np.asarray(self._indices, dtype=np.int64) + HUBSPOT_ID_BASE
        return ids, np.asarray(self.pop.timestamps(kind)[np.asarray(self._indices, dtype=np.int64)], dtype=np.int64)


class HubSpotStore:
    """All HubSpot state of one sandbox world. Handlers reach it as `world.hubspot` at call time."""

    def __init__(self, world: Any) -> None:
        self.world = world
        pop = world.population
        self.owners: list[dict[str, Any]] = list(pop.owners)
        owner_ids = {str(o["id"]) for o in self.owners}
        self.schemas = {t: Schema(t, owner_ids) for t in ("contacts", "tasks", "notes")}
        self.contacts = ContactTable(
            self.schemas["contacts"], world.clock, HUBSPOT_ID_BASE + pop.n, PopulationLayer(pop)
        )
        self.tasks = Table("tasks", self.schemas["tasks"], world.clock, TASK_FIRST_ID)
        self.notes = Table("notes", self.schemas["notes"], world.clock, NOTE_FIRST_ID)
        self.tasks.query_props = ("hs_task_subject", "hs_task_body")
        self.notes.query_props = ("hs_note_body",)
        self.auth = Credentials(world.config.hubspot_token, world.config.hubspot_scopes, world.config.seed)
        for table in (self.contacts, self.tasks, self.notes):
            table.default_source = self.auth.default.source()
        # (object type, id) -> {to object type: {to id: association type id}}, both directions
        self._links: dict[tuple[str, str], dict[str, dict[str, int]]] = {}

    def table(self, object_type: str) -> Table:
        return {"contacts": self.contacts, "tasks": self.tasks, "notes": self.notes}[object_type]

    # -- associations --------------------------------------------------------------------------
    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Link two records both ways with their HUBSPOT_DEFINED types. Raises KeyError for an unknown pair."""
        forward = ASSOCIATION_TYPES[(from_type, to_type)]
        backward = ASSOCIATION_TYPES[(to_type, from_type)]
        self._links.setdefault((from_type, from_id), {}).setdefault(to_type, {})[to_id] = forward
        self._links.setdefault((to_type, to_id), {}).setdefault(from_type, {})[from_id] = backward

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, int]]:
        """[(to id, association type id)] ascending by id."""
        links = self._links.get((from_type, from_id), {}).get(to_type, {})
        return sorted(links.items(), key=lambda kv: int(kv[0]))

    def _move_links(self, object_type: str, old_id: str, new_id: str) -> None:
        for to_type, targets in self._links.pop((object_type, old_id), {}).items():
            for to_id in targets:
                back = self._links.get((to_type, to_id), {}).get(object_type, {})
                back.pop(old_id, None)
                self.associate(object_type, new_id, to_type, to_id)

    # -- contacts ------------------------------------------------------------------------------------
    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        """The API record (all stored properties) of the live contact with that email, or None."""
        rid = self.contacts.id_of_email(email)
        rec = self.contacts.get(rid) if rid is not None else None
        return None if rec is None else self._full(self.contacts, rec)

    def record_conversion(self, email: str, form_name: str, ts_ms: int) -> None:
        """A form submission by the contact with `email` at ts_ms. Raises KeyError for an unknown email.

        `lastmodifieddate` becomes the submission's time unless the record changed later (a world's history
        records submissions long before now; HubSpot stamps the change when it happens)."""
        rid = self.contacts.id_of_email(email)
        if rid is None:
            raise KeyError(email)
        rec = self.contacts.materialize(rid)
        before = dict(rec.props)
        count = int(float(rec.props.get("num_conversion_events") or 0)) + 1
        when = hubspot_ts(int(ts_ms))
        rec.props["num_conversion_events"] = str(count)
        # "recent" and "first" follow the submissions' times, whatever order they are reported in
        recent, first = rec.props.get("recent_conversion_date"), rec.props.get("first_conversion_date")
        if not recent or parse_ts_ms(recent) <= ts_ms:
            rec.props.update({"recent_conversion_event_name": form_name, "recent_conversion_date": when})
        if not rec.props.get("first_conversion_event_name") or (first and parse_ts_ms(first) > ts_ms):
            rec.props.update({"first_conversion_event_name": form_name, "first_conversion_date": when})
        # lastmodifieddate is the submission's own time (history is built in the past), never earlier
        self.contacts._touch(rec, max(rec.updated_ms, int(ts_ms)))
        self.contacts._reindex(rec)
        self.contacts.record_changes(rec, before, int(ts_ms), form_source(form_name))

    def record_email_optout(self, email: str, ts_ms: int) -> bool:
        """The contact with `email` opted out of all email (hs_email_optout = true; there is no undo). False
        when it already was. Raises KeyError for an unknown email."""
        rid = self.contacts.id_of_email(email)
        if rid is None:
            raise KeyError(email)
        current = self.contacts.get(rid)
        if current is not None and current.props.get("hs_email_optout") == "true":
            return False
        rec = self.contacts.materialize(rid)
        before = dict(rec.props)
        rec.props["hs_email_optout"] = "true"
        self.contacts.touch(rec)
        self.contacts.record_changes(rec, before, int(ts_ms), EMAIL_OPTOUT_SOURCE)
        return True

    def merge(self, primary_id: str, other_id: str, source: dict[str, str] | None = None) -> Record:
        """Merge `other_id` into `primary_id`: the primary keeps its values, fills blanks from the other, lists
        the other in hs_merged_object_ids and takes its associations; the other is gone. Raises NotFound,
        ValueError (same id)."""
        if primary_id == other_id:
            raise ValueError("Cannot merge an object with itself")
        contacts = self.contacts
        other = contacts.require(other_id)
        primary = contacts.materialize(primary_id)
        before = dict(primary.props)
        merged = [x for x in (primary.props.get("hs_merged_object_ids") or "").split(";") if x]
        merged += [other_id] + [x for x in (other.props.get("hs_merged_object_ids") or "").split(";") if x]
        for name, value in other.props.items():
            primary.props.setdefault(name, value)
        primary.props["hs_merged_object_ids"] = ";".join(merged)
        other_email = other.props.get("email")
        if other_email and other_email.strip().lower() != (primary.props.get("email") or "").strip().lower():
            extra = [x for x in (primary.props.get("hs_additional_emails") or "").split(";") if x]
            primary.props["hs_additional_emails"] = ";".join(extra + [other_email])
        contacts.remove(other_id)
        if other_email:
            contacts.alias_email(other_email, primary_id)
        self._move_links("contacts", other_id, primary_id)
        contacts.touch(primary)
        contacts.record_changes(primary, before, primary.updated_ms, source)
        return primary

    # -- tasks and notes -------------------------------------------------------------------------------
    def require_contact(self, rid: str) -> None:
        if self.contacts.get(rid) is None:
            raise NotFound(rid)

    # -- debug state ---------------------------------------------------------------------------------------
    def _full(self, table: Table, rec: Record) -> dict[str, Any]:
        body = table.render(rec, None)
        body["properties"] = {**{n: None for n in table.default_props}, **rec.props}
        return body

    def state(self) -> dict[str, Any]:
        """Every live contact (built on demand), owners, tasks and notes with their associated contact ids."""

        def engagement(table: Table) -> list[dict[str, Any]]:
            out = []
            for rec in table.iter_live():
                body = self._full(table, rec)
                body["associations"] = {
                    "contacts": [cid for cid, _ in self.associations(table.object_type, rec.id, "contacts")]
                }
                out.append(body)
            return out

        return {
            "contacts": [self._full(self.contacts, r) for r in self.contacts.iter_live()],
            "owners": list(self.owners),
            "tasks": engagement(self.tasks),
            "notes": engagement(self.notes),
        }
