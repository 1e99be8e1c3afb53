"""Mailchimp Marketing API 3.0 routes under /3.0, shaped like the real service.

Handlers look up `world.mailchimp` at call time (POST /_sandbox/reset replaces the store). Errors
are raised as `ApiError`s (problem+json); the middleware already handles auth, the 10-connection
limit, faults and unknown paths.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.errors import ApiError, mailchimp_error
from sandbox.mailchimp import parsing as q
from sandbox.mailchimp.segments import Segment
from sandbox.mailchimp.store import SORT_FIELDS, STATUSES, MailchimpStore, Member, MemberError
from sandbox.timefmt import mailchimp_ts

NOT_FOUND = "The requested resource could not be found."
BATCH_OMITS = ("consents_to_one_to_one_messaging", "full_name", "source", "unsubscribe_reason", "web_id")
SEGMENT_BATCH_OMITS = BATCH_OMITS  # members_added / members_removed
SEGMENT_MEMBER_OMITS = (
    "consents_to_one_to_one_messaging",
    "contact_id",
    "source",
    "tags",
    "tags_count",
    "unsubscribe_reason",
    "web_id",
)  # GET .../segments/{id}/members
INCLUDE_FLAGS = (
    ("cleaned", "include_cleaned"),
    ("transactional", "include_transactional"),
    ("unsubscribed", "include_unsubscribed"),
)


def _not_found() -> ApiError:
    return mailchimp_error(404, "Resource Not Found", NOT_FOUND)


def _member_error(exc: MemberError) -> ApiError:
    extra = {"errors": exc.errors} if exc.errors else {}
    return mailchimp_error(400, exc.title, exc.detail, **extra)


def _api_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/3.0"


def _link(request: Request, rel: str, path: str, method: str = "GET") -> dict[str, str]:
    return {"rel": rel, "href": _api_base(request) + path, "method": method}


def _pick(obj: Any, paths: list[list[str]], keep: bool) -> Any:
    """Apply `fields` (keep=True) or `exclude_fields` (keep=False) dot paths; arrays are traversed."""
    if isinstance(obj, list):
        return [_pick(x, paths, keep) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, val in obj.items():
        subs = [p[1:] for p in paths if p[0] == key]
        whole = any(not s for s in subs)
        if keep and subs:
            out[key] = val if whole else _pick(val, [s for s in subs if s], keep)
        elif not keep and not whole:
            out[key] = _pick(val, [s for s in subs if s], keep) if subs else val
    return out


def _respond(request: Request, body: dict[str, Any]) -> JSONResponse:
    fields = q.query_list(request, "fields")
    if fields:
        body = _pick(body, [f.split(".") for f in fields], keep=True)
    excluded = q.query_list(request, "exclude_fields")
    if excluded:
        body = _pick(body, [f.split(".") for f in excluded], keep=False)
    return JSONResponse(body)


class MailchimpRoutes:
    """Each handler reads `world.mailchimp` when called."""

    def __init__(self, world: Any) -> None:
        self.world = world

    # -- helpers ----------------------------------------------------------------------------------
    def store(self, request: Request) -> MailchimpStore:
        """The store, after checking the path's list id. Raises 404 for another list."""
        list_id = request.path_params.get("list_id")
        if list_id is not None and list_id != self.world.list_id:
            raise _not_found()
        return self.world.mailchimp

    def member(self, request: Request) -> tuple[MailchimpStore, Member]:
        store = self.store(request)
        m = store.find(request.path_params["subscriber_hash"])
        if m is None:
            raise _not_found()
        return store, m

    def campaign(self, request: Request):
        try:
            return self.world.mailchimp.campaign(request.path_params["campaign_id"])
        except KeyError:
            raise _not_found() from None

    def member_body(self, request: Request, store: MailchimpStore, m: Member) -> dict[str, Any]:
        path = f"/lists/{store.list_id}/members/{m.hash}"
        links = [
            _link(request, "self", path),
            _link(request, "parent", f"/lists/{store.list_id}/members"),
            _link(request, "update", path, "PATCH"),
            _link(request, "upsert", path, "PUT"),
            _link(request, "delete", path, "DELETE"),
            _link(request, "tags", path + "/tags"),
            _link(request, "activity_feed", path + "/activity-feed"),
        ]
        return {**store.member_dict(m), "_links": links}

    # -- root, lists --------------------------------------------------------------------------------
    async def ping(self, request: Request) -> Response:
        return _respond(request, {"health_status": "Everything's Chimpy!"})

    def list_body(self, request: Request, store: MailchimpStore) -> dict[str, Any]:
        path = f"/lists/{store.list_id}"
        return {
            **store.list_dict(),
            "_links": [
                _link(request, "self", path),
                _link(request, "parent", "/lists"),
                _link(request, "update", path, "PATCH"),
                _link(request, "batch-sub-unsub-members", path, "POST"),
                _link(request, "members", path + "/members"),
                _link(request, "merge-fields", path + "/merge-fields"),
            ],
        }

    async def get_lists(self, request: Request) -> Response:
        store = self.store(request)
        count, offset = q.paging(request)
        lists = [self.list_body(request, store)][offset : offset + count]
        return _respond(
            request,
            {
                "lists": lists,
                "total_items": 1,
                "constraints": {"may_create": False, "max_instances": 1, "current_total_instances": 1},
                "_links": [_link(request, "self", "/lists"), _link(request, "create", "/lists", "POST")],
            },
        )

    async def get_list(self, request: Request) -> Response:
        store = self.store(request)
        return _respond(request, self.list_body(request, store))

    async def batch(self, request: Request) -> Response:
        store = self.store(request)
        body, raw = await q.parse(request, q.BatchBody)
        members = [m if isinstance(m, dict) else {} for m in raw.get("members", [])]
        result = store.batch(
            members, body.update_existing, body.sync_tags, q.query_bool(request, "skip_merge_validation")
        )
        for key in ("new_members", "updated_members"):  # batch results use the shorter member shape
            result[key] = [
                {k: v for k, v in self.member_body(request, store, m).items() if k not in BATCH_OMITS}
                for m in result[key]
            ]
            for body in result[key]:
                body["location"].pop("region", None)
        result["_links"] = [_link(request, "parent", f"/lists/{store.list_id}")]
        return _respond(request, result)

    # -- members ------------------------------------------------------------------------------------
    async def list_members(self, request: Request) -> Response:
        store = self.store(request)
        count, offset = q.paging(request)
        total, page = store.list_members(
            status=q.query_choice(request, "status", STATUSES),
            since_changed_ms=q.query_ts(request, "since_last_changed"),
            before_changed_ms=q.query_ts(request, "before_last_changed"),
            since_opt_ms=q.query_ts(request, "since_timestamp_opt"),
            before_opt_ms=q.query_ts(request, "before_timestamp_opt"),
            sort_field=q.query_choice(request, "sort_field", tuple(SORT_FIELDS)),
            sort_dir=q.query_choice(request, "sort_dir", ("ASC", "DESC"), case_insensitive=True) or "ASC",
            offset=offset,
            count=count,
        )
        path = f"/lists/{store.list_id}/members"
        return _respond(
            request,
            {
                "members": [self.member_body(request, store, m) for m in page],
                "list_id": store.list_id,
                "total_items": total,
                "_links": [
                    _link(request, "self", path),
                    _link(request, "parent", f"/lists/{store.list_id}"),
                    _link(request, "create", path, "POST"),
                ],
            },
        )

    async def add_member(self, request: Request) -> Response:
        store = self.store(request)
        body, raw = await q.parse(request, q.PostMember)
        try:
            m = store.create(body.email_address, body.status, raw, q.query_bool(request, "skip_merge_validation"))
        except MemberError as exc:
            raise _member_error(exc) from None
        return _respond(request, self.member_body(request, store, m))

    async def get_member(self, request: Request) -> Response:
        store, m = self.member(request)
        return _respond(request, self.member_body(request, store, m))

    async def put_member(self, request: Request) -> Response:
        store = self.store(request)
        _, raw = await q.parse(request, q.PutMember)
        try:
            m, _ = store.upsert(
                request.path_params["subscriber_hash"], raw, q.query_bool(request, "skip_merge_validation")
            )
        except MemberError as exc:
            raise _member_error(exc) from None
        return _respond(request, self.member_body(request, store, m))

    async def patch_member(self, request: Request) -> Response:
        store, m = self.member(request)
        _, raw = await q.parse(request, q.PatchMember)
        try:
            m = store.update(m, raw, q.query_bool(request, "skip_merge_validation"))
        except MemberError as exc:
            raise _member_error(exc) from None
        return _respond(request, self.member_body(request, store, m))

    async def delete_member(self, request: Request) -> Response:
        store, m = self.member(request)
        if m.status == "archived":
            raise _not_found()
        store.archive(m)
        return Response(status_code=204)

    # -- tags -----------------------------------------------------------------------------------------
    async def get_tags(self, request: Request) -> Response:
        store, m = self.member(request)
        count, offset = q.paging(request)
        tags = store.member_tags(m)
        path = f"/lists/{store.list_id}/members/{m.hash}/tags"
        return _respond(
            request,
            {
                "tags": tags[offset : offset + count],
                "total_items": len(tags),
                "_links": [_link(request, "self", path), _link(request, "create", path, "POST")],
            },
        )

    async def post_tags(self, request: Request) -> Response:
        store, m = self.member(request)
        body, _ = await q.parse(request, q.TagsBody)
        store.update_tags(m, [(t.name, t.status) for t in body.tags])
        return Response(status_code=204)

    async def tag_search(self, request: Request) -> Response:
        store = self.store(request)
        found = store.search_tags(request.query_params.get("name"))
        return _respond(
            request, {"tags": [{"id": tid, "name": name} for tid, name in found], "total_items": len(found)}
        )

    # -- segments: static segments are tags ----------------------------------------------------------
    def segment(self, request: Request) -> tuple[MailchimpStore, Segment]:
        store = self.store(request)
        raw = request.path_params["segment_id"]
        seg = store.segments.get(int(raw)) if raw.isdigit() else None
        if seg is None:
            raise _not_found()
        return store, seg

    @staticmethod
    def segment_statuses(request: Request) -> tuple[str, ...]:
        """Counted and listed statuses: subscribed, plus those the include_* flags ask for."""
        return ("subscribed",) + tuple(status for status, flag in INCLUDE_FLAGS if q.query_bool(request, flag))

    def segment_body(self, request: Request, store: MailchimpStore, seg: Segment, member_count: int) -> dict:
        path = f"/lists/{store.list_id}/segments/{seg.id}"
        return {
            "id": seg.id,
            "name": seg.name,
            "member_count": member_count,
            "type": "static",
            "created_at": mailchimp_ts(seg.created_ms),
            "updated_at": mailchimp_ts(seg.updated_ms),
            "list_id": store.list_id,
            "_links": [
                _link(request, "self", path),
                _link(request, "parent", f"/lists/{store.list_id}/segments"),
                _link(request, "batch", path, "POST"),
                _link(request, "members", path + "/members"),
            ],
        }

    def short_member(self, request: Request, store: MailchimpStore, m: Member, omit: tuple[str, ...]) -> dict:
        body = {k: v for k, v in self.member_body(request, store, m).items() if k not in omit}
        body["location"] = {k: v for k, v in body["location"].items() if k != "region"}
        return body

    async def list_segments(self, request: Request) -> Response:
        store = self.store(request)
        count, offset = q.paging(request)
        kind = q.query_choice(request, "type", ("saved", "static", "fuzzy"))
        found = (
            store.list_segments(
                self.segment_statuses(request),
                since_created_ms=q.query_ts(request, "since_created_at"),
                before_created_ms=q.query_ts(request, "before_created_at"),
                since_updated_ms=q.query_ts(request, "since_updated_at"),
                before_updated_ms=q.query_ts(request, "before_updated_at"),
            )
            if kind in (None, "static")
            else []
        )
        path = f"/lists/{store.list_id}/segments"
        return _respond(
            request,
            {
                "segments": [self.segment_body(request, store, seg, n) for seg, n in found[offset : offset + count]],
                "list_id": store.list_id,
                "total_items": len(found),
                "_links": [
                    _link(request, "self", path),
                    _link(request, "parent", f"/lists/{store.list_id}"),
                    _link(request, "create", path, "POST"),
                ],
            },
        )

    async def create_segment(self, request: Request) -> Response:
        store = self.store(request)
        body, _ = await q.parse(request, q.SegmentBody)
        if body.options is not None:
            detail = (
                "static_segment and options cannot both be provided."
                if body.static_segment is not None
                else "The sandbox models static segments (tags) only; saved segments are not supported."
            )
            raise mailchimp_error(400, "Invalid Resource", detail)
        if body.static_segment is None:
            raise q.invalid(
                [
                    {
                        "field": "static_segment",
                        "message": "Provide static_segment (an array of emails, may be empty) or options.",
                    }
                ]
            )
        try:
            seg = store.create_segment(body.name, body.static_segment)
        except ValueError as exc:
            raise mailchimp_error(400, "Invalid Resource", str(exc)) from None
        statuses = self.segment_statuses(request)
        return _respond(request, self.segment_body(request, store, seg, int(store.segment_slots(seg, statuses).size)))

    async def get_segment(self, request: Request) -> Response:
        store, seg = self.segment(request)
        statuses = self.segment_statuses(request)
        return _respond(request, self.segment_body(request, store, seg, int(store.segment_slots(seg, statuses).size)))

    async def batch_segment(self, request: Request) -> Response:
        store, seg = self.segment(request)
        body, _ = await q.parse(request, q.SegmentMembersBody)
        result = store.batch_segment(seg, body.members_to_add, body.members_to_remove)
        for key in ("members_added", "members_removed"):
            result[key] = [self.short_member(request, store, m, SEGMENT_BATCH_OMITS) for m in result[key]]
        result["_links"] = [_link(request, "parent", f"/lists/{store.list_id}/segments/{seg.id}")]
        return _respond(request, result)

    async def segment_members(self, request: Request) -> Response:
        store, seg = self.segment(request)
        count, offset = q.paging(request)
        slots = store.segment_slots(seg, self.segment_statuses(request))
        page = [store.find_slot(s) for s in slots[offset : offset + count].tolist()]
        path = f"/lists/{store.list_id}/segments/{seg.id}"
        return _respond(
            request,
            {
                "members": [self.short_member(request, store, m, SEGMENT_MEMBER_OMITS) for m in page],
                "total_items": int(slots.size),
                "_links": [_link(request, "self", path + "/members"), _link(request, "parent", path)],
            },
        )

    # -- merge fields ---------------------------------------------------------------------------------
    def merge_body(self, request: Request, store: MailchimpStore, mf) -> dict[str, Any]:
        path = f"/lists/{store.list_id}/merge-fields/{mf.merge_id}"
        return {**mf.as_api(store.list_id), "_links": [_link(request, "self", path)]}

    async def list_merge_fields(self, request: Request) -> Response:
        store = self.store(request)
        count, offset = q.paging(request)
        wanted_type = request.query_params.get("type")
        required = request.query_params.get("required")
        fields = [
            f
            for f in store.merge_fields.fields
            if (not wanted_type or f.type == wanted_type)
            and (required is None or f.required == (required.lower() == "true"))
        ]
        return _respond(
            request,
            {
                "merge_fields": [self.merge_body(request, store, f) for f in fields[offset : offset + count]],
                "list_id": store.list_id,
                "total_items": len(fields),
                "_links": [_link(request, "self", f"/lists/{store.list_id}/merge-fields")],
            },
        )

    async def add_merge_field(self, request: Request) -> Response:
        store = self.store(request)
        body, _ = await q.parse(request, q.MergeFieldBody)
        try:
            mf = store.merge_fields.add(
                body.name,
                body.type,
                body.tag,
                required=body.required,
                default_value=body.default_value,
                public=body.public,
                display_order=body.display_order,
                options=body.options,
                help_text=body.help_text,
            )
        except ValueError as exc:
            raise mailchimp_error(400, "Invalid Resource", str(exc)) from None
        return _respond(request, self.merge_body(request, store, mf))

    async def get_merge_field(self, request: Request) -> Response:
        store = self.store(request)
        raw = request.path_params["merge_id"]
        mf = store.merge_fields.by_id(int(raw)) if raw.isdigit() else None
        if mf is None:
            raise _not_found()
        return _respond(request, self.merge_body(request, store, mf))

    # -- campaigns and reports ------------------------------------------------------------------------
    def campaign_body(self, request: Request, c) -> dict[str, Any]:
        return {
            **self.world.mailchimp.campaign_dict(c),
            "_links": [
                _link(request, "self", f"/campaigns/{c.id}"),
                _link(request, "parent", "/campaigns"),
                _link(request, "reports", f"/reports/{c.id}"),
            ],
        }

    async def list_campaigns(self, request: Request) -> Response:
        store: MailchimpStore = self.world.mailchimp
        count, offset = q.paging(request)
        status = q.query_choice(request, "status", ("save", "paused", "schedule", "sending", "sent"))
        kind = q.query_choice(request, "type", ("regular", "plaintext", "absplit", "rss", "variate"))
        list_id = request.query_params.get("list_id")
        since, before = q.query_ts(request, "since_send_time"), q.query_ts(request, "before_send_time")
        since_c, before_c = q.query_ts(request, "since_create_time"), q.query_ts(request, "before_create_time")
        sort_field = q.query_choice(request, "sort_field", ("create_time", "send_time"))
        desc = q.query_choice(request, "sort_dir", ("ASC", "DESC"), case_insensitive=True) == "DESC"
        found = [
            c
            for c in store.campaigns
            if status in (None, "sent")
            and kind in (None, "regular")
            and list_id in (None, store.list_id)
            and (since is None or c.send_ms // 1000 > since // 1000)
            and (before is None or c.send_ms // 1000 < before // 1000)
            and (since_c is None or c.create_ms // 1000 > since_c // 1000)
            and (before_c is None or c.create_ms // 1000 < before_c // 1000)
        ]
        if sort_field:
            found.sort(key=lambda c: c.create_ms if sort_field == "create_time" else c.send_ms, reverse=desc)
        elif desc:
            found.reverse()
        return _respond(
            request,
            {
                "campaigns": [self.campaign_body(request, c) for c in found[offset : offset + count]],
                "total_items": len(found),
                "_links": [_link(request, "self", "/campaigns"), _link(request, "create", "/campaigns", "POST")],
            },
        )

    async def get_campaign(self, request: Request) -> Response:
        return _respond(request, self.campaign_body(request, self.campaign(request)))

    async def list_reports(self, request: Request) -> Response:
        """GET /reports: the sent campaigns' reports, with `since_send_time` / `before_send_time` (exclusive, to
        the second, as the campaign list), `type` (only regular campaigns exist), `count`/`offset` and
        `fields`/`exclude_fields`."""
        store: MailchimpStore = self.world.mailchimp
        count, offset = q.paging(request)
        kind = q.query_choice(request, "type", ("regular", "plaintext", "absplit", "rss", "variate"))
        since, before = q.query_ts(request, "since_send_time"), q.query_ts(request, "before_send_time")
        found = [
            c
            for c in store.campaigns
            if kind in (None, "regular")
            and (since is None or c.send_ms // 1000 > since // 1000)
            and (before is None or c.send_ms // 1000 < before // 1000)
        ]
        reports = []
        for c in found[offset : offset + count]:
            links = [_link(request, "self", f"/reports/{c.id}"), _link(request, "parent", "/reports")]
            reports.append({**store.campaign_report(c), "_links": links})
        return _respond(
            request,
            {"reports": reports, "total_items": len(found), "_links": [_link(request, "self", "/reports")]},
        )

    async def get_report(self, request: Request) -> Response:
        c = self.campaign(request)
        links = [_link(request, "self", f"/reports/{c.id}"), _link(request, "parent", "/reports")]
        return _respond(request, {**self.world.mailchimp.campaign_report(c), "_links": links})

    async def email_activity(self, request: Request) -> Response:
        c = self.campaign(request)
        count, offset = q.paging(request)
        total, emails = self.world.mailchimp.email_activity(c, q.query_ts(request, "since"), offset, count)
        for e in emails:
            e["_links"] = [_link(request, "self", f"/reports/{c.id}/email-activity/{e['email_id']}")]
        return _respond(
            request,
            {
                "emails": emails,
                "campaign_id": c.id,
                "total_items": total,
                "_links": [
                    _link(request, "self", f"/reports/{c.id}/email-activity"),
                    _link(request, "parent", f"/reports/{c.id}"),
                ],
            },
        )

    async def unsubscribed(self, request: Request) -> Response:
        c = self.campaign(request)
        count, offset = q.paging(request)
        total, items = self.world.mailchimp.unsubscribes(c, offset, count)
        for u in items:
            u["_links"] = [_link(request, "self", f"/reports/{c.id}/unsubscribed/{u['email_id']}")]
        return _respond(
            request,
            {
                "unsubscribes": items,
                "campaign_id": c.id,
                "total_items": total,
                "_links": [
                    _link(request, "self", f"/reports/{c.id}/unsubscribed"),
                    _link(request, "parent", f"/reports/{c.id}"),
                ],
            },
        )

    async def activity_feed(self, request: Request) -> Response:
        store, m = self.member(request)
        count, offset = q.paging(request)
        filters = set(q.query_list(request, "activity_filters")) or None
        _, items = store.activity_feed(m, filters, offset, count)
        path = f"/lists/{store.list_id}/members/{m.hash}"
        return _respond(
            request,
            {
                "activity": items,
                "email_id": m.hash,
                "list_id": store.list_id,
                "_links": [_link(request, "self", path + "/activity-feed"), _link(request, "parent", path)],
            },
        )

    def routes(self) -> list[Route]:
        lst, member = "/3.0/lists/{list_id}", "/3.0/lists/{list_id}/members/{subscriber_hash}"
        return [
            Route("/3.0/ping", self.ping, methods=["GET"]),
            Route("/3.0/lists", self.get_lists, methods=["GET"]),
            Route(lst, self.get_list, methods=["GET"]),
            Route(lst, self.batch, methods=["POST"]),
            Route(lst + "/members", self.list_members, methods=["GET"]),
            Route(lst + "/members", self.add_member, methods=["POST"]),
            Route(member, self.get_member, methods=["GET"]),
            Route(member, self.put_member, methods=["PUT"]),
            Route(member, self.patch_member, methods=["PATCH"]),
            Route(member, self.delete_member, methods=["DELETE"]),
            Route(member + "/tags", self.get_tags, methods=["GET"]),
            Route(member + "/tags", self.post_tags, methods=["POST"]),
            Route(member + "/activity-feed", self.activity_feed, methods=["GET"]),
            Route(lst + "/merge-fields", self.list_merge_fields, methods=["GET"]),
            Route(lst + "/merge-fields", self.add_merge_field, methods=["POST"]),
            Route(lst + "/merge-fields/{merge_id}", self.get_merge_field, methods=["GET"]),
            Route(lst + "/tag-search", self.tag_search, methods=["GET"]),
            Route(lst + "/segments", self.list_segments, methods=["GET"]),
            Route(lst + "/segments", self.create_segment, methods=["POST"]),
            Route(lst + "/segments/{segment_id}", self.get_segment, methods=["GET"]),
            Route(lst + "/segments/{segment_id}", self.batch_segment, methods=["POST"]),
            Route(lst + "/segments/{segment_id}/members", self.segment_members, methods=["GET"]),
            Route("/3.0/campaigns", self.list_campaigns, methods=["GET"]),
            Route("/3.0/campaigns/{campaign_id}", self.get_campaign, methods=["GET"]),
            Route("/3.0/reports", self.list_reports, methods=["GET"]),
            Route("/3.0/reports/{campaign_id}", self.get_report, methods=["GET"]),
            Route("/3.0/reports/{campaign_id}/email-activity", self.email_activity, methods=["GET"]),
            Route("/3.0/reports/{campaign_id}/unsubscribed", self.unsubscribed, methods=["GET"]),
        ]


def routes(world: Any) -> list[Route]:
    """The Mailchimp routes for `build_app`."""
    return MailchimpRoutes(world).routes()
