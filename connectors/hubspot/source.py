"""Reading from HubSpot: contact pages, incremental search, batch reads, owners, property schemas, task and
note pages, and the tasks or notes associated with a contact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from connectors.hubspot import translate as t
from connectors.hubspot.client import HubSpotCalls
from contracts.records import Page

LIST_PAGE_MAX = 100  # GET /crm/v3/objects/contacts: limit <= 100
OWNERS_PAGE_MAX = 100  # GET /crm/v3/owners: limit <= 100


class SearchRestart(NamedTuple):
    """`Page.next` of a search that reached HubSpot's 10,000-result cap: the caller starts a new query.

    A tuple, so it is JSON-safe and `isinstance(page.next, tuple)` tells it from an `after` offset:
      * ("restart", since_ms, None): search again from `since_ms`, the last lastmodifieddate seen (ties at
        it are re-read: the filter is GTE, so the caller drops the ids it already has);
      * ("tie", at_ms, after_id): every result so far shares one lastmodifieddate, so moving the lower
        bound cannot get past them: page the contacts modified exactly at `at_ms` by id instead, with
        `search_contacts_at(at_ms, after_id, ...)`.
    """

    tag: str
    since_ms: int
    after_id: str | None = None


class ReadResult(NamedTuple):
    records: list[dict[str, Any]]  # {id, properties, updatedAt, archived}
    missing: list[str]  # requested ids that did not come back (archived, merged away, unknown)


class HubSpotSource(HubSpotCalls):
    """Read side of the HubSpot connector (see HubSpotCalls for the constructor)."""

    def list_contacts(self, after: str | None, properties: Sequence[str], limit: int = LIST_PAGE_MAX) -> Page:
        """One page of all contacts, in id order.

        Takes the `after` cursor of the previous page (None for the first). Returns Page(records of
        {id, properties, updatedAt, archived}, next = paging.next.after or None). Raises FatalError,
        RetriableError (after retries).
        """
        reply = self._call(
            "hubspot.contacts.list",
            self.client.contacts_basic.get_page,
            limit=min(int(limit), LIST_PAGE_MAX),
            after=after,
            properties=list(properties),
            archived=False,
        )
        body = reply.body or {}
        return Page([t.contact_record(r) for r in body.get("results") or []], t.next_after(body))

    def search_contacts_modified(
        self,
        since_ms: int,
        properties: Sequence[str],
        after: int | None = None,
        limit: int = t.SEARCH_PAGE_MAX,
        exclusive: bool = False,
    ) -> Page:
        """Contacts with lastmodifieddate >= since_ms (> with `exclusive`), oldest first (search: 4
        requests/s per token).

        Returns Page(records, next) where `next` is an int (pass it back as `after`), a SearchRestart
        when the next page would cross the 10,000-result cap of one query, or None at the end.
        Raises FatalError/RetriableError.
        """
        body_in = t.search_modified_body(since_ms, properties, after, limit, "GT" if exclusive else "GTE")
        records, position, total = self._search(body_in)
        if position is None or position + body_in["limit"] <= t.SEARCH_RESULT_CAP:
            return Page(records, position, total)
        last_ms = t.modified_ms(records[-1]) if records else None
        if last_ms is None or last_ms <= since_ms:
            # 10,000 contacts at one millisecond (a bulk import, a workflow): the bound cannot move past them
            return Page(records, SearchRestart("tie", since_ms, "0"), total)
        return Page(records, SearchRestart("restart", last_ms), total)

    def search_contacts_at(
        self,
        at_ms: int,
        after_id: str,
        properties: Sequence[str],
        after: int | None = None,
        limit: int = t.SEARCH_PAGE_MAX,
    ) -> Page:
        """Contacts whose lastmodifieddate is exactly `at_ms` and whose id is above `after_id`, by id: how
        to read more than 10,000 contacts that share one lastmodifieddate.

        Returns Page(records, next): an int `after`, SearchRestart("tie", at_ms, last id) at the cap (search
        again from that id), or None when every such contact was read. Raises FatalError/RetriableError.
        """
        body_in = t.search_tied_body(at_ms, after_id, properties, after, limit)
        records, position, total = self._search(body_in)
        if position is None or position + body_in["limit"] <= t.SEARCH_RESULT_CAP:
            return Page(records, position, total)
        return Page(records, SearchRestart("tie", at_ms, records[-1]["id"]), total)

    def count_contacts(self) -> int | None:
        """How many contacts the account holds, from one search of a single result (search: 4 requests/s
        per token); None when HubSpot gives no total. For the progress of a backfill, which pages the list
        endpoint (it gives no total). Raises FatalError/RetriableError."""
        body_in = t.search_modified_body(0, ["email"], None, 1)
        return self._search(body_in)[2]

    def _search(self, body_in: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """(records, the next page's `after` or None, `total`: every match of the query, all pages)."""
        reply = self._call("hubspot.contacts.search", self.client.contacts_search.do_search, body_in, search=True)
        body = reply.body or {}
        after_next = t.next_after(body)
        total = body.get("total")
        return (
            [t.contact_record(r) for r in body.get("results") or []],
            None if after_next is None else int(after_next),
            total if isinstance(total, int) and not isinstance(total, bool) else None,
        )

    def read_contacts(self, ids: Sequence[str], properties: Sequence[str]) -> ReadResult:
        """Batch read by id, 100 per call. Returns ReadResult(records, missing ids).

        Archived, merged-away and unknown ids come back missing (HubSpot answers 207 with an
        OBJECT_NOT_FOUND error naming them, or simply leaves them out). Raises FatalError/RetriableError.
        """
        records: list[dict[str, Any]] = []
        wanted = [str(i) for i in dict.fromkeys(ids)]
        for chunk in t.chunks(wanted, self.batch_size):
            body_in = {"inputs": [{"id": i} for i in chunk], "properties": list(properties)}
            reply = self._call("hubspot.contacts.batch_read", self.client.contacts_batch.read, body_in, archived=False)
            records.extend(t.contact_record(r) for r in (reply.body or {}).get("results") or [])
        found = {r["id"] for r in records}
        return ReadResult(records, [i for i in wanted if i not in found])

    def property_history(self, ids: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, int]]:
        """When each of `names` last changed on each contact of `ids`: a batch read with
        `propertiesWithHistory` (100 per call), the newest history entry's timestamp in epoch ms. Returns
        {id: {name: ms}} (contacts and properties without history are left out). Raises FatalError,
        RetriableError."""
        out: dict[str, dict[str, int]] = {}
        for chunk in t.chunks([str(i) for i in dict.fromkeys(ids)], self.batch_size):
            body_in = {"inputs": [{"id": i} for i in chunk], "properties": [], "propertiesWithHistory": list(names)}
            reply = self._call("hubspot.contacts.batch_read", self.client.contacts_batch.read, body_in, archived=False)
            for record in (reply.body or {}).get("results") or []:
                times = t.history_times(record.get("propertiesWithHistory") or {})
                if times:
                    out[str(record["id"])] = times
        return out

    def owners_page(self, after: str | None, limit: int = OWNERS_PAGE_MAX) -> Page:
        """One page of at most `limit` active owners as GET /crm/v3/owners returns them (next: the `after` of
        the following page, or None). Raises FatalError/RetriableError."""
        reply = self._call(
            "hubspot.owners.list",
            self.client.owners.get_page,
            limit=max(1, min(int(limit), OWNERS_PAGE_MAX)),
            after=after,
            archived=False,
        )
        body = reply.body or {}
        return Page(list(body.get("results") or []), t.next_after(body))

    def list_owners(self) -> list[dict[str, Any]]:
        """Every active owner (all pages). Raises FatalError/RetriableError."""
        owners: list[dict[str, Any]] = []
        page = self.owners_page(None)
        owners.extend(page.records)
        while page.next is not None:
            page = self.owners_page(page.next)
            owners.extend(page.records)
        return owners

    def get_properties(self, object_type: str = "contacts") -> list[dict[str, Any]]:
        """The property definitions of `object_type`. Raises FatalError/RetriableError."""
        reply = self._call("hubspot.properties.list", self.client.properties.get_all, object_type, archived=False)
        return list((reply.body or {}).get("results") or [])

    def engagements_page(self, object_type: str, after: str | None = None, limit: int = LIST_PAGE_MAX) -> Page:
        """One page of tasks or notes (`object_type` "tasks" | "notes"), GET /crm/v3/objects/{type}, with only
        their ids and default properties. Raises ValueError (bad object_type), FatalError, RetriableError."""
        apis = {"tasks": self.client.tasks_basic, "notes": self.client.notes_basic}
        if object_type not in apis:
            raise ValueError(f"object_type must be 'tasks' or 'notes', not {object_type!r}")
        reply = self._call(
            f"hubspot.{object_type}.list",
            apis[object_type].get_page,
            limit=max(1, min(int(limit), LIST_PAGE_MAX)),
            after=after,
            archived=False,
        )
        body = reply.body or {}
        return Page(list(body.get("results") or []), t.next_after(body))

    def associations_page(
        self,
        contact_id: str,
        object_type: str,
        after: str | None = None,
        limit: int = t.ASSOCIATIONS_PAGE_MAX,
        *,
        retried: bool = True,
        record_key: str | None = None,
    ) -> Page:
        """One page of the `object_type` records ("tasks", "notes") associated with a contact, as GET
        /crm/v4/objects/contacts/{id}/associations/{type} lists them ({toObjectId, associationTypes}); next:
        the following `after`, or None.
        `record_key` makes a refusal about this contact skippable. Raises FatalError, RetriableError,
        SkippableError (with `record_key`)."""
        reply = self._call(
            "hubspot.associations.list",
            self.client.associations.get_page,
            "contacts",
            str(contact_id),
            object_type,
            after=after,
            limit=max(1, min(int(limit), t.ASSOCIATIONS_PAGE_MAX)),
            retried=retried,
            record_key=record_key,
        )
        body = reply.body or {}
        return Page(list(body.get("results") or []), t.next_after(body))
