"""Reading from Mailchimp: the API's health, the audience, members, sent campaigns, email activity,
unsubscribes, merge fields."""

from __future__ import annotations

from typing import Any

from connectors.mailchimp import translate as t
from connectors.mailchimp.client import MailchimpCalls
from contracts.errors import FatalError, SkippableError
from contracts.records import Page


class MailchimpSource(MailchimpCalls):
    """Read side of the Mailchimp connector (see MailchimpCalls for the constructor)."""

    def ping(self) -> dict[str, Any]:
        """GET /ping: Mailchimp's health check, which needs a valid key and nothing else ({"health_status"}).
        Raises FatalError (refused key), RetriableError."""
        return self._call("mailchimp.ping", self.api.ping.get)

    def get_audience(self) -> dict[str, Any]:
        """The audience syncd works on (GET /lists/{list_id}: id, name, member count). Raises FatalError (a
        404 names the audience as its subject), RetriableError."""
        return self._call(
            "mailchimp.lists.get", self.api.lists.get_list, self.list_id, fields=["id", "name", "stats.member_count"]
        )

    def get_member(self, subscriber_hash: str) -> dict[str, Any] | None:
        """One member as GET /lists/{id}/members/{hash} returns it (minus _links), None when the audience has
        no such member (404). Raises FatalError, RetriableError."""
        try:
            body = self._call(
                "mailchimp.members.get",
                self.api.lists.get_list_member,
                self.list_id,
                subscriber_hash,
                record_key=subscriber_hash,
            )
        except SkippableError as exc:
            if exc.status == 404:
                return None
            raise FatalError(str(exc), service="mailchimp", status=exc.status) from None
        return t.without_links(body)

    def list_members(self, since_last_changed: str | None, offset: int, count: int = t.PAGE_MAX) -> Page:
        """One page of audience members changed after `since_last_changed` (ISO 8601; None = all),
        oldest change first so offsets stay meaningful while the cursor holds.

        Returns Page(members as the API returns them minus _links, next offset or None after a short
        page). Raises FatalError (e.g. unknown list), RetriableError.
        """
        count = min(int(count), t.PAGE_MAX)
        params: dict[str, Any] = {
            "count": count,
            "offset": int(offset),
            "sort_field": "last_changed",
            "sort_dir": "ASC",
        }
        if since_last_changed:
            params["since_last_changed"] = since_last_changed
        body = self._call("mailchimp.members.list", self.api.lists.get_list_members_info, self.list_id, **params)
        members = [t.without_links(m) for m in body.get("members") or []]
        return Page(members, t.next_offset(int(offset), count, len(members)), _total(body))

    def campaigns_page(self, since_send_time: str | None, offset: int, count: int = t.PAGE_MAX) -> Page:
        """One page of this audience's sent campaigns sent after `since_send_time` (ISO 8601; None = all),
        oldest first (next offset or None). Raises FatalError, RetriableError."""
        body = self._call(
            "mailchimp.campaigns.list",
            self.api.campaigns.list,
            count=count,
            offset=int(offset),
            **self._campaign_params(since_send_time),
        )
        campaigns = [t.without_links(c) for c in body.get("campaigns") or []]
        return Page(campaigns, t.next_offset(int(offset), count, len(campaigns)), _total(body))

    def list_campaigns(self, since_send_time: str | None) -> list[dict[str, Any]]:
        """Every such campaign (all pages). Raises FatalError, RetriableError."""
        return self._every_page(
            "mailchimp.campaigns.list", self.api.campaigns.list, "campaigns", **self._campaign_params(since_send_time)
        )

    def report_totals(self, since_send_time: str | None) -> dict[str, dict[str, int]]:
        """{campaign id: {"activity": opens + clicks + bounces, "unsubscribes": unsubscribed}} for every
        campaign sent after `since_send_time` (ISO 8601; None = all), from GET /reports with only those
        fields (1,000 campaigns a call). Each total moves with every event the campaign's email-activity
        and unsubscribed reports list, so a report whose total has not moved has nothing new to read.
        Raises FatalError, RetriableError."""
        params: dict[str, Any] = {
            "fields": [
                f"reports.{f}" for f in ("id", "opens.opens_total", "clicks.clicks_total", "bounces", "unsubscribed")
            ]
        }
        if since_send_time:
            params["since_send_time"] = since_send_time
        reports = self._every_page(
            "mailchimp.reports.list", self.api.reports.get_all_campaign_reports, "reports", **params
        )
        out: dict[str, dict[str, int]] = {}
        for r in reports:
            bounces = r.get("bounces") or {}
            activity = (
                int((r.get("opens") or {}).get("opens_total") or 0)
                + int((r.get("clicks") or {}).get("clicks_total") or 0)
                + sum(int(bounces.get(k) or 0) for k in ("hard_bounces", "soft_bounces", "syntax_errors"))
            )
            out[str(r.get("id"))] = {"activity": activity, "unsubscribes": int(r.get("unsubscribed") or 0)}
        return out

    def _campaign_params(self, since_send_time: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "status": "sent",
            "list_id": self.list_id,
            "sort_field": "send_time",
            "sort_dir": "ASC",
        }
        if since_send_time:
            params["since_send_time"] = since_send_time
        return params

    def _every_page(self, endpoint: str, method: Any, key: str, *args: Any, **params: Any) -> list[dict[str, Any]]:
        """All records under `key` of a listing, 1,000 a page, minus _links."""
        records: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            body = self._call(endpoint, method, *args, count=t.PAGE_MAX, offset=offset, **params)
            page = [t.without_links(r) for r in body.get(key) or []]
            records.extend(page)
            offset = t.next_offset(offset, t.PAGE_MAX, len(page))
        return records

    def email_activity(self, campaign_id: str, since: str | None, offset: int, count: int = t.PAGE_MAX) -> Page:
        """One page of a campaign's email activity, flattened to one record per event:
        {event_id, campaign_id, email_address, action, type, timestamp, url}; event_id is a stable sha1.

        `next` counts recipients (the API pages by email, not by event). Raises FatalError,
        RetriableError.
        """
        count = min(int(count), t.PAGE_MAX)
        params: dict[str, Any] = {"count": count, "offset": int(offset)}
        if since:
            params["since"] = since
        body = self._call(
            "mailchimp.reports.email_activity", self.api.reports.get_email_activity_for_campaign, campaign_id, **params
        )
        emails = body.get("emails") or []
        return Page(t.flatten_activity(body, campaign_id), t.next_offset(int(offset), count, len(emails)), _total(body))

    def unsubscribes(self, campaign_id: str, offset: int, count: int = t.PAGE_MAX) -> Page:
        """One page of a campaign's unsubscribes (API records minus _links, plus a stable event_id).
        Raises FatalError, RetriableError."""
        count = min(int(count), t.PAGE_MAX)
        body = self._call(
            "mailchimp.reports.unsubscribed",
            self.api.reports.get_unsubscribed_list_for_campaign,
            campaign_id,
            count=count,
            offset=int(offset),
        )
        raw = body.get("unsubscribes") or []
        return Page(
            [t.unsubscribe_record(u, campaign_id) for u in raw],
            t.next_offset(int(offset), count, len(raw)),
            _total(body),
        )

    def get_merge_fields(self) -> list[dict[str, Any]]:
        """The audience's merge fields (minus _links). Raises FatalError, RetriableError."""
        return self._every_page(
            "mailchimp.merge_fields.list", self.api.lists.get_list_merge_fields, "merge_fields", self.list_id
        )


def _total(body: dict[str, Any]) -> int | None:
    """A listing's `total_items` (every item matching the query, all pages), when it is a number."""
    value = body.get("total_items")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
