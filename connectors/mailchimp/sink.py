"""Writing to Mailchimp: merge fields, member creation and updates, tags.

Invariant 1 lives here: no request ever carries `status` for a member that may already exist, so an
unsubscribed or cleaned member can never be re-subscribed by syncd. `MailchimpConnector` (bottom) is the
read side and the write side together.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import FatalError, Outcome, SkippableError
from connectors.errors import COMPLIANCE
from connectors.mailchimp import translate as t
from connectors.mailchimp.source import MailchimpSource

CONTACT_EXISTS = "ERROR_CONTACT_EXISTS"


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
                self._call("mailchimp.merge_fields.create", self.api.lists.add_list_merge_field, self.list_id,
                           dict(definition))
            except FatalError:
                # A retry after a lost answer (or another replica) finds the tag taken: Mailchimp answers
                # 400 "already exists", which is success if the field is there now.
                if str(definition["tag"]).upper() not in {str(f.get("tag", "")).upper()
                                                          for f in self.get_merge_fields()}:
                    raise
            created.append(definition["tag"])
        return created

    def batch_subscribe(self, members: Sequence[dict[str, Any]], update_existing: bool = True) -> list[Outcome]:
        """Create members ({email_address, status_if_new, merge_fields}), 500 per call; one Outcome per
        input in order, keyed by the normalized email.

        The batch endpoint only knows `status`, which would overwrite an existing member's, so it runs
        with update_existing=false: it only creates. Members that already exist come back as
        ERROR_CONTACT_EXISTS and, with `update_existing`, get their merge fields by a PUT that carries
        status_if_new only (one call each; update known members with `upsert_member` directly).
        Per-member errors are skippable Outcomes ("compliance" for the compliance refusal).
        Raises FatalError, RetriableError for a whole call.
        """
        wanted: dict[str, dict[str, Any]] = {t.normalize_email(m["email_address"]): m for m in members}
        outcomes: dict[str, Outcome] = {}
        keys = list(wanted)
        for chunk in (keys[i:i + t.BATCH_MEMBERS_MAX] for i in range(0, len(keys), t.BATCH_MEMBERS_MAX)):
            outcomes.update(self._create_batch([wanted[k] for k in chunk], update_existing))
        return [outcomes[t.normalize_email(m["email_address"])] for m in members]

    def _create_batch(self, members: list[dict[str, Any]], update_existing: bool) -> dict[str, Outcome]:
        body = {"members": [self._new_member(m) for m in members], "update_existing": False}
        result = self._call("mailchimp.members.batch", self.api.lists.batch_list_members, self.list_id, body)
        done = {t.normalize_email(m.get("email_address", ""))
                for m in [*(result.get("new_members") or []), *(result.get("updated_members") or [])]}
        errors = {t.normalize_email(e.get("email_address", "")): e for e in result.get("errors") or []}
        outcomes: dict[str, Outcome] = {}
        for member in members:
            key = t.normalize_email(member["email_address"])
            error = errors.get(key)
            if key in done:
                outcomes[key] = Outcome(key, True, detail={"created": True})
            elif error is not None and error.get("error_code") == CONTACT_EXISTS:
                outcomes[key] = (self.upsert_member(member["email_address"], member["status_if_new"],
                                                    member.get("merge_fields"))
                                 if update_existing else Outcome(key, True, detail={"created": False}))
            else:
                text = (error or {}).get("error") or "no result reported for this member"
                outcomes[key] = Outcome(key, False, error=COMPLIANCE if t.is_compliance(text) else text,
                                        skippable=True, detail=dict(error or {}))
        return outcomes

    def batch_update_members(self, members: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Update existing members' merge fields ({email_address, status, merge_fields}), 500 per call: the
        batch endpoint with update_existing=true. `status` must be the member's status as last read and be
        subscribed, pending or transactional, so the call changes no status; if the member unsubscribed or
        was cleaned meanwhile, Mailchimp refuses it (compliance), which comes back as a skippable Outcome:
        the batch can never re-subscribe anyone. One Outcome per input, keyed by the normalized email.
        Raises ValueError for another status, FatalError or RetriableError for a whole call."""
        for m in members:
            if m["status"] not in ("subscribed", "pending", "transactional"):
                raise ValueError(f"batch update refuses status {m['status']!r} (use upsert_member)")
        outcomes: dict[str, Outcome] = {}
        items = list(members)
        for chunk in (items[i:i + t.BATCH_MEMBERS_MAX] for i in range(0, len(items), t.BATCH_MEMBERS_MAX)):
            body = {"members": [{"email_address": m["email_address"].strip(), "status": m["status"],
                                 "merge_fields": m.get("merge_fields") or {}} for m in chunk],
                    "update_existing": True}
            result = self._call("mailchimp.members.batch", self.api.lists.batch_list_members, self.list_id, body)
            done = {t.normalize_email(m.get("email_address", ""))
                    for m in [*(result.get("new_members") or []), *(result.get("updated_members") or [])]}
            errors = {t.normalize_email(e.get("email_address", "")): e for e in result.get("errors") or []}
            for m in chunk:
                key = t.normalize_email(m["email_address"])
                if key in done:
                    outcomes[key] = Outcome(key, True)
                    continue
                text = (errors.get(key) or {}).get("error") or "no result reported for this member"
                outcomes[key] = Outcome(key, False, error=COMPLIANCE if t.is_compliance(text) else text,
                                        skippable=True, detail=dict(errors.get(key) or {}))
        return [outcomes[t.normalize_email(m["email_address"])] for m in members]

    @staticmethod
    def _new_member(member: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"email_address": member["email_address"].strip(),
                                "status": member["status_if_new"]}
        if member.get("merge_fields"):
            body["merge_fields"] = member["merge_fields"]
        return body

    def upsert_member(self, email: str, status_if_new: str, merge_fields: dict[str, Any] | None) -> Outcome:
        """PUT the member: created with `status_if_new`, or its merge fields updated; never sends
        `status`. Returns Outcome(ok, detail={"status": the member's status}) or a skippable Outcome
        (invalid email or merge field, "compliance"). Raises FatalError, RetriableError."""
        key = t.normalize_email(email)
        try:
            member = self._call("mailchimp.members.upsert", self.api.lists.set_list_member, self.list_id,
                                t.subscriber_hash(email), t.member_body(email, status_if_new, merge_fields),
                                record_key=key)
        except SkippableError as exc:
            return Outcome(key, False, error=str(exc), skippable=True, detail={"status": exc.status})
        return Outcome(key, True, detail={"status": member.get("status")})

    def set_tags(self, email: str, active: Sequence[str], inactive: Sequence[str]) -> Outcome:
        """Add the `active` tags to the member and remove the `inactive` ones (204). Automations still
        fire (is_syncing=false): the tags exist for marketers to act on. Returns a skippable Outcome for
        an unknown member. Raises FatalError, RetriableError."""
        key = t.normalize_email(email)
        tags = [*({"name": n, "status": "active"} for n in active),
                *({"name": n, "status": "inactive"} for n in inactive)]
        try:
            self._call("mailchimp.members.tags", self.api.lists.update_list_member_tags, self.list_id,
                       t.subscriber_hash(email), {"tags": tags, "is_syncing": False}, record_key=key)
        except SkippableError as exc:
            return Outcome(key, False, error=str(exc), skippable=True, detail={"status": exc.status})
        return Outcome(key, True)

    # -- tags as static segments: 500 members per call instead of one call per member ----------------
    def tag_ids(self) -> dict[str, int]:
        """Every tag of the audience (a tag is a static segment): lower-cased name -> segment id."""
        ids: dict[str, int] = {}
        offset = 0
        while True:
            page = self._call("mailchimp.segments.list", self.api.lists.list_segments, self.list_id,
                              type="static", count=t.PAGE_MAX, offset=offset)
            segments = page.get("segments") or []
            ids.update({str(sg["name"]).lower(): int(sg["id"]) for sg in segments})
            if len(segments) < t.PAGE_MAX:
                return ids
            offset += len(segments)

    def create_tag(self, name: str) -> int:
        """Create an empty tag (static segment); returns its id. Raises FatalError, RetriableError."""
        try:
            made = self._call("mailchimp.segments.create", self.api.lists.create_segment, self.list_id,
                              {"name": name, "static_segment": []})
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
        step = t.BATCH_MEMBERS_MAX  # members_to_add / members_to_remove: 500 each per call
        for i in range(0, max(len(add), len(remove)), step):
            body = {"members_to_add": add[i:i + step], "members_to_remove": remove[i:i + step]}
            result = self._call("mailchimp.segments.members", self.api.lists.batch_segment_members, body,
                                self.list_id, str(tag_id))
            for err in result.get("errors") or []:
                for email in err.get("email_addresses") or []:
                    errors[t.normalize_email(email)] = str(err.get("error") or "refused")
        return errors


class MailchimpConnector(MailchimpSink):
    """MailchimpConnector(client, list_id, stats, retry=retry_call, in_flight=InFlight(10)):
    everything syncd does with Mailchimp."""
