"""CRM object endpoints (/crm/v3/objects/{contacts|tasks|notes}/...): basic, batch, search, merge.

Every object route is served under the type's name and, through `AliasEndpoints`, under
`/crm/v3/objects/{objectType}/...` for its object type id and singular name (`0-1`/`contact`,
`0-27`/`task`, `0-46`/`note`). Object type ids are documented (HubSpot's "using object APIs" guide:
"POST crm/v3/objects/0-1" creates contacts); singular names are accepted in v3/v4 association paths and
named in HubSpot's own error contexts (`"fromObjectType": ["contact"]`); that the object routes take them
too is assumed.

Query parameters of GET list / GET one / batch read: `properties`, `propertiesWithHistory`,
`associations`, `archived`, `idProperty` (one record), `limit`/`after` (list) are honoured; a parameter
HubSpot does not define is ignored, as HubSpot ignores it (its own paging links carry a `portalId` the
endpoints do not define). With `propertiesWithHistory` a list page holds at most 50 records (HubSpot
answers 400 beyond, hubspot-api-python#143; the SDK's get_all pages at 50 with history).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.errors import hubspot_error
from sandbox.hubspot import bodies, search
from sandbox.hubspot.auth import OBJECT_SCOPES, declare, need
from sandbox.hubspot.replies import (
    batch_reply,
    bool_param,
    check_batch_size,
    conflict,
    int_param,
    invalid_properties,
    item_error,
    list_param,
    next_paging,
    not_found,
)
from sandbox.hubspot.schema import OBJECT_TYPES
from sandbox.hubspot.store import ASSOCIATION_TYPES, HubSpotStore
from sandbox.hubspot.tables import Conflict, Invalid, NotFound, Record, Table, json_text, json_value

LIST_MAX = 100  # list: 100 records per page
HISTORY_LIST_MAX = 50  # list with propertiesWithHistory: 50 records per page
_LABEL = {"contacts": "Contact", "tasks": "Task", "notes": "Note"}
_BY_TYPE_ID = {type_id: pair for pair, type_id in ASSOCIATION_TYPES.items()}


class ObjectEndpoints:
    """Handlers for one object type; the store is looked up on every call (a reset replaces it)."""

    def __init__(self, world: Any, object_type: str) -> None:
        self.world, self.object_type = world, object_type
        self.label = _LABEL[object_type]

    @property
    def store(self) -> HubSpotStore:
        return self.world.hubspot

    @property
    def table(self) -> Table:
        return self.store.table(self.object_type)

    # (path after the base, handler, HTTP method, scope: 0 read / 1 write); merge exists for contacts only
    ROUTES = (
        ("/merge", "merge", "POST", 1),
        ("/search", "search", "POST", 0),
        ("/batch/read", "batch_read", "POST", 0),
        ("/batch/create", "batch_create", "POST", 1),
        ("/batch/update", "batch_update", "POST", 1),
        ("/batch/upsert", "batch_upsert", "POST", 1),
        ("/batch/archive", "batch_archive", "POST", 1),
        ("", "list_page", "GET", 0),
        ("", "create", "POST", 1),
        ("/{objectId}", "get_one", "GET", 0),
        ("/{objectId}", "update", "PATCH", 1),
        ("/{objectId}", "archive", "DELETE", 1),
    )

    def routes(self) -> list[Route]:
        """The routes under /crm/v3/objects/{type}, each declaring the scope HubSpot requires."""
        base, scopes = f"/crm/v3/objects/{self.object_type}", OBJECT_SCOPES[self.object_type]
        return [
            declare(Route(base + path, getattr(self, name), methods=[method]), need(scopes[kind]))
            for path, name, method, kind in self.ROUTES
            if name != "merge" or self.object_type == "contacts"
        ]

    def _source(self, request: Request) -> dict[str, str]:
        """The history source of a write by the request's private app."""
        return self.store.auth.source_of(request)

    # -- rendering ---------------------------------------------------------------------------------
    def _render(
        self,
        rec: Record,
        wanted: list[str] | None,
        associations: list[str] = (),
        table: Table | None = None,
        history: list[str] = (),
    ) -> dict[str, Any]:
        table = table or self.table
        if history:  # the history properties are shown too (as HubSpot answers: hubspot-api-nodejs#154)
            wanted = [*(wanted or table.default_props), *history]
        body = table.render(rec, wanted)
        if history:
            body = {
                "id": body.pop("id"),
                "properties": body.pop("properties"),
                "propertiesWithHistory": table.history(rec, history),
                **body,
            }
        if not associations:
            return body
        links = {}
        for name in associations:
            to_type = OBJECT_TYPES.get(name.lower())  # unknown types are ignored, as HubSpot documents
            pairs = self.store.associations(self.object_type, rec.id, to_type) if to_type else []
            if pairs and to_type not in links:
                kind = f"{self.object_type[:-1]}_to_{to_type[:-1]}"
                links[to_type] = {"results": [{"id": i, "type": kind} for i, _ in pairs]}
        if links:
            body["associations"] = links
        return body

    # -- basic -----------------------------------------------------------------------------------------
    async def list_page(self, request: Request) -> Response:
        history = list_param(request, "propertiesWithHistory")
        limit = int_param(request, "limit", 10, 1, HISTORY_LIST_MAX if history else LIST_MAX)
        after = int_param(request, "after", -1, -1, 2**62)
        wanted = list_param(request, "properties")
        assoc = list_param(request, "associations")
        table = self.table
        rows = table.iter_archived(after) if bool_param(request, "archived") else table.iter_live(after)
        page: list[Record] = []
        more = False
        for rec in rows:
            if len(page) == limit:
                more = True
                break
            page.append(rec)
        paging = next_paging(request, page[-1].id if more else None)
        if not assoc and not history:  # the usual page: its JSON text built directly (the same bytes)
            text = '{"results":[' + ",".join(table.render_json_many(page, wanted)) + "]"
            if paging:
                text += ',"paging":' + json_text(paging)
            return Response(text + "}", media_type="application/json")
        body: dict[str, Any] = {"results": [self._render(r, wanted, assoc, table, history) for r in page]}
        if paging:
            body["paging"] = paging
        return JSONResponse(body)

    async def get_one(self, request: Request) -> Response:
        raw_id = request.path_params["objectId"]
        rec = self._read_by(raw_id, request.query_params.get("idProperty"), bool_param(request, "archived"))
        if rec is None:
            raise not_found("Object not found. objectId are usually numeric.", id=[raw_id])
        return JSONResponse(
            self._render(
                rec,
                list_param(request, "properties"),
                list_param(request, "associations"),
                history=list_param(request, "propertiesWithHistory"),
            )
        )

    async def create(self, request: Request) -> Response:
        body = await bodies.parse(request, bodies.ObjectCreate)
        cleaned, links = self._prepare(body)
        try:
            rec = self._insert(cleaned, links, self._source(request))
        except Conflict as exc:
            raise conflict(exc.existing_id, self.label) from None
        return JSONResponse(self.table.render(rec, list(body.properties)), status_code=201)

    def _cleaned(self, values: dict[str, Any], creating: bool) -> dict[str, str]:
        try:
            cleaned = self.table.clean(values)
        except Invalid as exc:
            raise invalid_properties(exc.problems) from None
        if creating and self.object_type != "contacts" and not cleaned.get("hs_timestamp"):
            raise hubspot_error(
                400,
                'Property values were not valid: "hs_timestamp" is required',
                errors=[
                    {
                        "message": 'Property "hs_timestamp" is required',
                        "code": "REQUIRED_PROPERTY",
                        "context": {"propertyName": ["hs_timestamp"]},
                    }
                ],
            )
        return cleaned

    def _prepare(self, body: bodies.ObjectCreate) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Validated values and association targets of one create. Raises ApiError (400)."""
        return self._cleaned(body.properties, creating=True), self._associations(body.associations)

    def _insert(self, cleaned: dict[str, str], links: list[tuple[str, str]], source: dict[str, str]) -> Record:
        """Create and associate. Raises Conflict (a contact with that email exists)."""
        rec = self.table.create(cleaned, source)
        for to_type, to_id in links:
            self.store.associate(self.object_type, rec.id, to_type, to_id)
        return rec

    def _associations(self, items: list[bodies.AssociationIn]) -> list[tuple[str, str]]:
        links = []
        for item in items:
            to_id = str(item.to.id)
            for t in item.types:
                pair = _BY_TYPE_ID.get(t.associationTypeId)
                if t.associationCategory != "HUBSPOT_DEFINED" or pair is None or pair[0] != self.object_type:
                    raise hubspot_error(
                        400,
                        f"{t.associationCategory} association type {t.associationTypeId} is "
                        f"not valid from {self.object_type}",
                        "VALIDATION_ERROR",
                    )
                if self.store.table(pair[1]).get(to_id) is None:
                    raise hubspot_error(
                        400,
                        f"One or more associations are invalid: {pair[1][:-1]} {to_id} does not exist",
                        "VALIDATION_ERROR",
                        context={"toObjectId": [to_id]},
                    )
                links.append((pair[1], to_id))
        return links

    async def update(self, request: Request) -> Response:
        body = await bodies.parse(request, bodies.ObjectUpdate)
        raw_id = request.path_params["objectId"]
        rec = self._read_by(raw_id, request.query_params.get("idProperty"))
        if rec is None:
            raise not_found("Object not found. objectId are usually numeric.", id=[raw_id])
        cleaned = self._cleaned(body.properties, creating=False)
        try:
            rec = self.table.update(rec.id, cleaned, self._source(request))
        except Conflict as exc:
            raise conflict(exc.existing_id, self.label) from None
        return JSONResponse(self.table.render(rec, list(body.properties)))

    async def archive(self, request: Request) -> Response:
        self.table.archive(request.path_params["objectId"])
        return Response(status_code=204)

    # -- merge -------------------------------------------------------------------------------------------
    async def merge(self, request: Request) -> Response:
        body = await bodies.parse(request, bodies.MergeInput)
        try:
            rec = self.store.merge(str(body.primaryObjectId), str(body.objectIdToMerge), self._source(request))
        except ValueError as exc:
            raise hubspot_error(400, str(exc)) from None
        except NotFound as exc:
            raise not_found(f"{self.label} {exc} does not exist", id=[str(exc)]) from None
        return JSONResponse(self.table.render(rec, ["hs_merged_object_ids"]))

    # -- search ----------------------------------------------------------------------------------------------
    async def search(self, request: Request) -> Response:
        req = await bodies.parse_search(request)
        try:
            plan = search.plan(self.table, req)
        except search.SearchError as exc:
            raise hubspot_error(400, str(exc)) from None
        table = self.table
        result = search.run(table, plan)
        wanted = req.properties or None
        text = (
            '{"total":'
            + json_value(result.total)
            + ',"results":['
            + ",".join(table.render_json_many(result.records, wanted))
            + "]"
        )
        if result.next_after is not None:
            text += ',"paging":' + json_text({"next": {"after": result.next_after}})
        return Response(text + "}", media_type="application/json")

    # -- batch -----------------------------------------------------------------------------------------------
    async def batch_read(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.BatchRead)
        check_batch_size(len(req.inputs))
        started = self.world.clock.now_ms()
        archived = bool_param(request, "archived")
        self._check_id_property(req.idProperty)
        results, missing = [], []
        for item in req.inputs:
            rec = self._read_by(str(item.id), req.idProperty, archived)
            if rec is None:
                missing.append(str(item.id))
            else:
                results.append(self._render(rec, req.properties or None, history=req.propertiesWithHistory))
        errors = (
            [
                item_error(
                    "error",
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {self.label.upper()} objects, they may "
                    "be deleted or not exist. Check that ids are valid.",
                    ids=missing,
                )
            ]
            if missing
            else []
        )
        return self._batch(results, errors, started)

    def _check_id_property(self, id_property: str | None) -> None:
        """Only the record id and (for contacts) email identify records. Raises ApiError (400)."""
        if id_property in (None, "", "hs_object_id") or (id_property == "email" and self.object_type == "contacts"):
            return
        raise hubspot_error(400, f"Property {id_property} is not a unique identifier property of {self.object_type}")

    def _read_by(self, raw_id: str, id_property: str | None, archived: bool = False) -> Record | None:
        self._check_id_property(id_property)
        if id_property == "email":
            rid = self.store.contacts.id_of_email(raw_id)
            return None if rid is None or archived else self.table.get(rid)
        return self.table.get(raw_id, archived=archived)

    async def batch_create(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.BatchCreate)
        check_batch_size(len(req.inputs))
        started = self.world.clock.now_ms()
        prepared = [self._prepare(item) for item in req.inputs]  # a bad value fails the whole batch
        source = self._source(request)
        results, errors = [], []
        for item, (cleaned, links) in zip(req.inputs, prepared):
            try:
                rec = self._insert(cleaned, links, source)
            except Conflict as exc:
                errors.append(self._conflict_item(exc))
                continue
            results.append(self.table.render(rec, list(item.properties)))
        return self._batch(results, errors, started, ok_status=201)

    def _conflict_item(self, exc: Conflict) -> dict[str, Any]:
        return item_error(
            "error",
            "CONFLICT",
            f"{self.label} already exists. Existing ID: {exc.existing_id}",
            existingId=[exc.existing_id],
        )

    async def batch_update(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.BatchUpdate)
        check_batch_size(len(req.inputs))
        keys = [(i.idProperty or "", str(i.id).lower()) for i in req.inputs]
        if len(set(keys)) != len(keys):
            raise hubspot_error(400, "Duplicate IDs found in batch input: each object may appear only once.")
        started = self.world.clock.now_ms()
        for item in req.inputs:
            self._check_id_property(item.idProperty)
        cleaned = [self._cleaned(i.properties, creating=False) for i in req.inputs]
        source = self._source(request)
        results, errors, missing = [], [], []
        for item, values in zip(req.inputs, cleaned):
            rec = self._read_by(str(item.id), item.idProperty)
            if rec is None:
                missing.append(str(item.id))
                continue
            try:
                rec = self.table.update(rec.id, values, source)
            except Conflict as exc:
                errors.append(self._conflict_item(exc))
                continue
            results.append(self.table.render(rec, list(item.properties)))
        if missing:
            errors.append(
                item_error(
                    "error",
                    "OBJECT_NOT_FOUND",
                    f"Could not update some {self.label.upper()} objects, they may be deleted or not exist.",
                    ids=missing,
                )
            )
        return self._batch(results, errors, started)

    async def batch_upsert(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.BatchUpdate)
        check_batch_size(len(req.inputs))
        started = self.world.clock.now_ms()
        for item in req.inputs:  # every input is checked before anything is written
            self._check_id_property(item.idProperty)
            if item.idProperty == "email":
                self._cleaned({"email": str(item.id)}, creating=False)
        cleaned = [self._cleaned(i.properties, creating=False) for i in req.inputs]
        source = self._source(request)
        results, errors = [], []
        for item, values in zip(req.inputs, cleaned):
            try:
                rec, new = self._upsert_one(item, values, source)
            except NotFound:
                errors.append(
                    item_error(
                        "error", "OBJECT_NOT_FOUND", f"{self.label} {item.id} does not exist", ids=[str(item.id)]
                    )
                )
                continue
            except Conflict as exc:
                errors.append(self._conflict_item(exc))
                continue
            results.append({**self.table.render(rec, list(item.properties)), "new": new})
        return self._batch(results, errors, started)

    def _upsert_one(
        self, item: bodies.UpdateInput, values: dict[str, str], source: dict[str, str]
    ) -> tuple[Record, bool]:
        rec = self._read_by(str(item.id), item.idProperty)
        if rec is not None:
            return self.table.update(rec.id, values, source), False
        if item.idProperty != "email":
            raise NotFound(str(item.id))
        values = {**values, "email": self._cleaned({"email": str(item.id)}, creating=False)["email"]}
        return self.table.create(values, source), True

    async def batch_archive(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.BatchArchive)
        check_batch_size(len(req.inputs))
        for item in req.inputs:
            self.table.archive(str(item.id))
        return Response(status_code=204)

    def _batch(
        self, results: list[dict[str, Any]], errors: list[dict[str, Any]], started: int, ok_status: int = 200
    ) -> Response:
        status, body = batch_reply(results, errors, started, self.world.clock.now_ms(), ok_status)
        return JSONResponse(body, status_code=status)


class AliasEndpoints:
    """/crm/v3/objects/{objectType}/...: every object route under the type's object type id or singular
    name, answered by that type's ObjectEndpoints. An object type the sandbox does not know gets HubSpot's
    400 "Unable to infer object type from: ..."."""

    BASE = "/crm/v3/objects/{objectType}"

    def __init__(self, by_type: dict[str, ObjectEndpoints]) -> None:
        self.by_type = by_type

    def _target(self, request: Request) -> ObjectEndpoints:
        raw = request.path_params["objectType"]
        kind = OBJECT_TYPES.get(raw.lower())
        if kind is None:
            raise hubspot_error(400, f"Unable to infer object type from: {raw}")
        return self.by_type[kind]

    def _handler(self, name: str):
        async def handle(request: Request) -> Response:
            target = self._target(request)
            if name == "merge" and target.object_type != "contacts":
                raise hubspot_error(405, f"POST is not allowed on {request.url.path}")
            return await getattr(target, name)(request)

        return handle

    @staticmethod
    def _scopes(kind: int):
        def of(params: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
            object_type = OBJECT_TYPES.get(str(params.get("objectType", "")).lower())
            return need(OBJECT_SCOPES[object_type][kind]) if object_type else ()

        return of

    def routes(self) -> list[Route]:
        return [
            declare(Route(self.BASE + path, self._handler(name), methods=[method]), self._scopes(kind))
            for path, name, method, kind in ObjectEndpoints.ROUTES
        ]
