"""Writing to Mailchimp: merge fields, member creation and updates, tags.

Invariant 1 lives here: no request ever carries `status` for a member that may already exist, so an
unsubscribed or cleaned member can never be re-subscribed by syncd. `MailchimpConnector` (bottom) is the
read side and the write side together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import requests

from connectors.errors import COMPLIANCE, classify_transport, mailchimp_problem, retry_hook
from connectors.mailchimp import translate as t
from connectors.mailchimp.source import MailchimpSource
from connectors.mailchimp.translate import MemberWrite
from contracts.errors import FatalError, RetriableError, SkippableError
from contracts.records import Outcome
from contracts.threads import ContextPool

DIRECT_WORKERS = 8  # one-record calls side by side (Mailchimp: 10 connections at once)
BATCH_POLL_FIRST_S = 0.25  # a batch's status is polled after this, then twice as long each time...
BATCH_POLL_MAX_S = 10.0  # ...up to this
BATCH_WAIT_MAX_S = 1800.0  # Mailchimp works through big batches in minutes; past this, try again later


class MailchimpSink(MailchimpSource):
    """Write side of the Mailchimp connector (see MailchimpCalls for the constructor)."""

    def ensure_merge_fields(self, defs: Sequence[dict[str, Any]]) -> list[str]:
        """Create the merge fields of `defs` ({tag, name, type, ...}) whose tag the audience lacks
        (tags compare case-insensitively). Returns the tags created. Raises FatalError, RetriableError."""
        existing = {str(f.get("tag", "")).upper() for f in self.get_merge_fields()}
        created: list[str] = []
        for definition in defs:
            if str(definition["tag"]).upper() in existing:
                continue
            try:
                self._call(
                    "mailchimp.merge_fields.create", self.api.lists.add_list_merge_field, self.list_id, dict(definition)
                )
            except FatalError:
                # A retry after a lost answer (or another replica) finds the tag taken: Mailchimp answers
                # 400 "already exists", which is success if the field is there now.
                if str(definition["tag"]).upper() not in {
                    str(f.get("tag", "")).upper() for f in self.get_merge_fields()
                }:
                    raise
            created.append(definition["tag"])
        return created

    def write_members(self, writes: Sequence[MemberWrite]) -> list[Outcome]:
        """Apply `writes` (one per member): creates and merge-field updates that never carry `status`.

        Up to `direct_max` writes go as one call each, side by side (under the in-flight cap); more go as
        Mailchimp batch operations (`POST /batches`, 500 operations each), polled until finished, their
        results read from the archive Mailchimp links. One Outcome per write, in order, keyed by the
        write's key: ok with detail {"status", "member"} (the member as Mailchimp reports it after the
        write), or a skippable failure with Mailchimp's reason naming the field when `errors[]` does.
        Raises FatalError, RetriableError for a whole call (the writes are idempotent: sending them again
        is harmless).
        """
        writes = list(writes)
        if len(writes) <= self.direct_max:
            with ContextPool(
                max_workers=max(1, min(DIRECT_WORKERS, len(writes))), thread_name_prefix="mailchimp"
            ) as pool:
                return list(pool.map(self._write_one, writes))
        outcomes: list[Outcome] = []
        chunks = [writes[i : i + self.batch_size] for i in range(0, len(writes), self.batch_size)]
        started = [(chunk, self._start_batch(chunk)) for chunk in chunks]  # Mailchimp works on all of them
        for chunk, batch_id in started:
            results = self._batch_results(batch_id)
            outcomes += [self._outcome(w, *results.get(str(i), (None, None))) for i, w in enumerate(chunk)]
        return outcomes

    def _write_one(self, write: MemberWrite) -> Outcome:
        method, body = t.member_write(write)
        call = self.api.lists.set_list_member if method == "PUT" else self.api.lists.update_list_member
        endpoint = "mailchimp.members.upsert" if method == "PUT" else "mailchimp.members.update"
        try:
            member = self._call(
                endpoint,
                call,
                self.list_id,
                t.subscriber_hash(write.email),
                body,
                record_key=t.normalize_email(write.email),
            )
        except SkippableError as exc:
            return Outcome(write.key, False, error=str(exc), skippable=True, detail={"status_code": exc.status})
        return self._outcome(write, 200, member)

    def _start_batch(self, writes: Sequence[MemberWrite]) -> str:
        operations = []
        for i, write in enumerate(writes):
            method, body = t.member_write(write)
            operations.append(
                {
                    "method": method,
                    "operation_id": str(i),
                    "body": json.dumps(body),
                    "path": f"/lists/{self.list_id}/members/{t.subscriber_hash(write.email)}",
                }
            )
        started = self._call("mailchimp.batches.start", self.api.batches.start, {"operations": operations})
        return str(started["id"])

    def _batch_results(self, batch_id: str) -> dict[str, tuple[int, Any]]:
        """Wait for batch `batch_id` to finish (polling with backoff), then its results by operation id."""
        waited, delay = 0.0, BATCH_POLL_FIRST_S
        while True:
            batch = self._call("mailchimp.batches.status", self.api.batches.status, batch_id)
            if batch.get("status") == "finished":
                break
            if waited >= BATCH_WAIT_MAX_S:
                raise RetriableError(
                    f"mailchimp.batches: batch {batch_id} not finished after {waited:.0f} s",
                    service="mailchimp",
                    kind="server",
                )
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, BATCH_POLL_MAX_S)
        return t.batch_results(self._download("mailchimp.batches.results", str(batch.get("response_body_url") or "")))

    def _download(self, endpoint: str, url: str) -> bytes:
        """The archive of a finished batch: a plain GET of the link Mailchimp gives (a storage URL outside
        the Marketing API, which the SDK does not cover), through the same retry policy and statistics."""
        if not url:
            raise RetriableError(f"{endpoint}: the finished batch has no response_body_url", service="mailchimp")

        def attempt() -> bytes:
            self.stats.called(endpoint)
            try:
                try:
                    response = requests.get(url, timeout=self.download_timeout)
                finally:
                    self.stats.returned(endpoint)
                if response.status_code >= 500 or response.status_code == 429:
                    raise RetriableError(
                        f"{endpoint}: {response.status_code}", service="mailchimp", status=response.status_code
                    )
                if response.status_code != 200:
                    raise FatalError(
                        f"{endpoint}: {response.status_code} for the batch results link",
                        service="mailchimp",
                        status=response.status_code,
                    )
                return response.content
            except requests.RequestException as exc:
                error = classify_transport(exc, "mailchimp", endpoint) or RetriableError(
                    f"{endpoint}: {type(exc).__name__}", service="mailchimp"
                )
                self.stats.failed(endpoint, error)
                raise error from None
            except (RetriableError, FatalError) as error:
                self.stats.failed(endpoint, error)
                raise

        return self._retry(attempt, on_retry=retry_hook(self.stats, endpoint))

    @staticmethod
    def _outcome(write: MemberWrite, status_code: int | None, body: Any) -> Outcome:
        if status_code is None:
            return Outcome(write.key, False, error="Mailchimp reported no result for this write", skippable=True)
        if 200 <= status_code < 300 and isinstance(body, dict):
            member = t.without_links(body)
            return Outcome(write.key, True, detail={"status": member.get("status"), "member": member})
        problem = mailchimp_problem(status_code, body)
        return Outcome(
            write.key,
            False,
            error=COMPLIANCE if t.is_compliance(problem) else problem,
            skippable=True,
            detail={"status_code": status_code},
        )

    def set_tags(self, email: str, active: Sequence[str], inactive: Sequence[str]) -> Outcome:
        """Add the `active` tags to the member and remove the `inactive` ones (204). Automations still
        fire (is_syncing=false): the tags exist for marketers to act on. Returns a skippable Outcome for
        an unknown member. Raises FatalError, RetriableError."""
        key = t.normalize_email(email)
        tags = [
            *({"name": n, "status": "active"} for n in active),
            *({"name": n, "status": "inactive"} for n in inactive),
        ]
        try:
            self._call(
                "mailchimp.members.tags",
                self.api.lists.update_list_member_tags,
                self.list_id,
                t.subscriber_hash(email),
                {"tags": tags, "is_syncing": False},
                record_key=key,
            )
        except SkippableError as exc:
            return Outcome(key, False, error=str(exc), skippable=True, detail={"status": exc.status})
        return Outcome(key, True)

    # -- tags as static segments: 500 members per call instead of one call per member ----------------
    def tag_ids(self) -> dict[str, int]:
        """Every tag of the audience (a tag is a static segment): lower-cased name -> segment id."""
        ids: dict[str, int] = {}
        offset = 0
        while True:
            page = self._call(
                "mailchimp.segments.list",
                self.api.lists.list_segments,
                self.list_id,
                type="static",
                count=t.PAGE_MAX,
                offset=offset,
            )
            segments = page.get("segments") or []
            ids.update({str(sg["name"]).lower(): int(sg["id"]) for sg in segments})
            if len(segments) < t.PAGE_MAX:
                return ids
            offset += len(segments)

    def create_tag(self, name: str) -> int:
        """Create an empty tag (static segment); returns its id. Raises FatalError, RetriableError."""
        try:
            made = self._call(
                "mailchimp.segments.create",
                self.api.lists.create_segment,
                self.list_id,
                {"name": name, "static_segment": []},
            )
        except FatalError:
            # A retry after a lost answer (or another replica) finds the name taken: Mailchimp answers
            # 400 "already exists", which is success if the tag is there now.
            existing = self.tag_ids().get(name.lower())
            if existing is None:
                raise
            return existing
        return int(made["id"])

    def update_tag_members(self, tag_id: int, add: Sequence[str], remove: Sequence[str]) -> dict[str, str]:
        """Tag (`add`) and untag (`remove`) members, 500 of each per call. Returns the errors by normalized
        email (e.g. an address that is not a member). Raises FatalError, RetriableError."""
        errors: dict[str, str] = {}
        add, remove = list(add), list(remove)
        step = self.batch_size  # members_to_add / members_to_remove: at most 500 each per call
        for i in range(0, max(len(add), len(remove)), step):
            body = {"members_to_add": add[i : i + step], "members_to_remove": remove[i : i + step]}
            result = self._call(
                "mailchimp.segments.members", self.api.lists.batch_segment_members, body, self.list_id, str(tag_id)
            )
            for err in result.get("errors") or []:
                for email in err.get("email_addresses") or []:
                    errors[t.normalize_email(email)] = str(err.get("error") or "refused")
        return errors


class MailchimpConnector(MailchimpSink):
    """MailchimpConnector(client, list_id, stats, retry=retry_call, in_flight=InFlight(10)):
    everything syncd does with Mailchimp."""
