"""Reading from HubSpot: contact pages, incremental search, batch reads, owners, property schemas."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from connectors.base import FatalError, Page
from connectors.hubspot import translate as t
from connectors.hubspot.client import HubSpotCalls

LIST_PAGE_MAX = 100   # GET /crm/v3/objects/contacts: limit <= 100
OWNERS_PAGE_MAX = 100  # GET /crm/v3/owners: limit <= 100


class SearchRestart(NamedTuple):
    """`Page.next` of a search that reached HubSpot's 10,000-result cap: search again from `since_ms`.

    A tuple ("restart", since_ms), so it is JSON-safe and `isinstance(page.next, tuple)` tells it from an
    `after` offset. `since_ms` is the last lastmodifieddate seen; ties at it are re-read (the filter is
    GTE), so the caller drops the ids it already has and calls `search_contacts_modified(since_ms, ...)`.
    """

    tag: str
    since_ms: int


class ReadResult(NamedTuple):
    records: list[dict[str, Any]]   # {id, properties, updatedAt, archived}
    missing: list[str]              # requested ids that did not come back (archived, merged away, unknown)


class HubSpotSource(HubSpotCalls):
    """Read side of the HubSpot connector (see HubSpotCalls for the constructor)."""

    def list_contacts(self, after: str | None, properties: Sequence[str], limit: int = LIST_PAGE_MAX) -> Page:
        """One page of all contacts, in id order.

        Takes the `after` cursor of the previous page (None for the first). Returns Page(records of
        {id, properties, updatedAt, archived}, next = paging.next.after or None). Raises FatalError,
        RetriableError (after retries).
        """
        reply = self._call("hubspot.contacts.list", self.client.contacts_basic.get_page,
                           limit=min(int(limit), LIST_PAGE_MAX), after=after, properties=list(properties),
                           archived=False)
        body = reply.body or {}
        return Page([t.contact_record(r) for r in body.get("results") or []], t.next_after(body))

    def search_contacts_modified(self, since_ms: int, properties: Sequence[str], after: int | None = None,
                                 limit: int = t.SEARCH_PAGE_MAX) -> Page:
        """Contacts with lastmodifieddate >= since_ms, oldest first (search: 4 requests/s per token).

        Returns Page(records, next) where `next` is:
          * an int: pass it back as `after` for the following page;
          * a SearchRestart ("restart", last seen lastmodifieddate) when the next page would cross the
            10,000-result cap of one search: call again with that `since_ms` and `after=None`, dropping
            the ids already seen at that millisecond;
          * None at the end.
        Raises FatalError when more than 10,000 contacts share one lastmodifieddate (search cannot page
        past them; a full `list_contacts` pass is then needed), FatalError/RetriableError otherwise.
        """
        body_in = t.search_modified_body(since_ms, properties, after, limit)
        reply = self._call("hubspot.contacts.search", self.client.contacts_search.do_search, body_in,
                           search=True)
        body = reply.body or {}
        records = [t.contact_record(r) for r in body.get("results") or []]
        after_next = t.next_after(body)
        if after_next is None:
            return Page(records, None)
        position = int(after_next)
        if position + body_in["limit"] <= t.SEARCH_RESULT_CAP:
            return Page(records, position)
        last_ms = t.modified_ms(records[-1]) if records else None
        if last_ms is None or last_ms <= since_ms:
            raise FatalError(f"hubspot.contacts.search: more than {t.SEARCH_RESULT_CAP} contacts modified at "
                             f"{since_ms}; search cannot page past them, run a full contact list instead",
                             service="hubspot")
        return Page(records, SearchRestart("restart", last_ms))

    def read_contacts(self, ids: Sequence[str], properties: Sequence[str]) -> ReadResult:
        """Batch read by id, 100 per call. Returns ReadResult(records, missing ids).

        Archived, merged-away and unknown ids come back missing (HubSpot answers 207 with an
        OBJECT_NOT_FOUND error naming them, or simply leaves them out). Raises FatalError/RetriableError.
        """
        records: list[dict[str, Any]] = []
        wanted = [str(i) for i in dict.fromkeys(ids)]
        for chunk in t.chunks(wanted, t.BATCH_MAX):
            body_in = {"inputs": [{"id": i} for i in chunk], "properties": list(properties)}
            reply = self._call("hubspot.contacts.batch_read", self.client.contacts_batch.read, body_in,
                               archived=False)
            records.extend(t.contact_record(r) for r in (reply.body or {}).get("results") or [])
        found = {r["id"] for r in records}
        return ReadResult(records, [i for i in wanted if i not in found])

    def list_owners(self) -> list[dict[str, Any]]:
        """Every active owner as GET /crm/v3/owners returns them. Raises FatalError/RetriableError."""
        owners: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            reply = self._call("hubspot.owners.list", self.client.owners.get_page, limit=OWNERS_PAGE_MAX,
                               after=after, archived=False)
            body = reply.body or {}
            owners.extend(body.get("results") or [])
            after = t.next_after(body)
            if after is None:
                return owners

    def get_properties(self, object_type: str = "contacts") -> list[dict[str, Any]]:
        """The property definitions of `object_type`. Raises FatalError/RetriableError."""
        reply = self._call("hubspot.properties.list", self.client.properties.get_all, object_type,
                           archived=False)
        return list((reply.body or {}).get("results") or [])
