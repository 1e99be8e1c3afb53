"""CRM object endpoints (/crm/v3/objects/{contacts|tasks|notes}/...): basic, batch, search, merge."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.errors import hubspot_error
from sandbox.hubspot import bodies, search
from sandbox.hubspot.replies import (batch_reply, bool_param, check_batch_size, conflict, int_param, invalid_properties,
                                     item_error, list_param, next_paging, not_found)
from sandbox.hubspot.store import ASSOCIATION_TYPES, HubSpotStore
from sandbox.hubspot.tables import Conflict, Invalid, NotFound, Record, Table, json_text, json_value

LIST_MAX = 100          # list: 100 records per page
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

    def routes(self) -> list[Route]:
        base = f"/crm/v3/objects/{self.object_type}"
        one = base + "/{objectId}"
        routes = [
            Route(base + "/search", self.search, methods=["POST"]),
            Route(base + "/batch/read", self.batch_read, methods=["POST"]),
            Route(base + "/batch/create", self.batch_create, methods=["POST"]),
            Route(base + "/batch/update", self.batch_update, methods=["POST"]),
            Route(base + "/batch/upsert", self.batch_upsert, methods=["POST"]),
            Route(base + "/batch/archive", self.batch_archive, methods=["POST"]),
            Route(base, self.list_page, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(one, self.get_one, methods=["GET"]),
            Route(one, self.update, methods=["PATCH"]),
            Route(one, self.archive, methods=["DELETE"]),
        ]
        if self.object_type == "contacts":
            routes.insert(0, Route(base + "/merge", self.merge, methods=["POST"]))
        return routes

    # -- rendering ---------------------------------------------------------------------------------
    def _render(self, rec: Record, wanted: list[str] | None, associations: list[str] = (),
                table: Table | None = None) -> dict[str, Any]:
        body = (table or self.table).render(rec, wanted)
        if not associations:
            return body
        links = {}
        for to_type in associations:
            pairs = self.store.associations(self.object_type, rec.id, to_type) if to_type in _LABEL else []
            if pairs:
                kind = f"{self.object_type[:-1]}_to_{to_type[:-1]}"
                links[to_type] = {"results": [{"id": i, "type": kind} for i, _ in pairs]}
        if links:
            body["associations"] = links
        return body

    # -- basic -----------------------------------------------------------------------------------------
    async def list_page(self, request: Request) -> Response:
        limit = int_param(request, "limit", 10, 1, LIST_MAX)
        after = int_param(request, "after", -1, -1, 2**62)
        wanted = list_param(request, "properties")
        assoc = list_param(request, "associations")
        table = self.table
        rows = (table.iter_archived(after) if bool_param(request, "archived") else table.iter_live(after))
        page: list[Record] = []
        more = False
        for rec in rows:
            if len(page) == limit:
                more = True
                break
            page.append(rec)
        paging = next_paging(request, page[-1].id if more else None)
        if not assoc:   # the usual page: its JSON text built directly (the same bytes JSONResponse would send)
            text = '{"results":[' + ",".join(table.render_json_many(page, wanted)) + "]"
            if paging:
                text += ',"paging":' + json_text(paging)
            return Response(text + "}", media_type="application/json")
        body: dict[str, Any] = {"results": [self._render(r, wanted, assoc, table) for r in page]}
        if paging:
            body["paging"] = paging
        return JSONResponse(body)

    async def get_one(self, request: Request) -> Response:
        raw_id = request.path_params["objectId"]
        rec = self._read_by(raw_id, request.query_params.get("idProperty"), bool_param(request, "archived"))
        if rec is None:
            raise not_found("Object not found. objectId are usually numeric.", id=[raw_id])
        return JSONResponse(self._render(rec, list_param(request, "properties"),
                                         list_param(request, "associations")))

    async def create(self, request: Request) -> Response:
        body = await bodies.parse(request, bodies.ObjectCreate)
        cleaned, links = self._prepare(body)
        try:
            rec = self._insert(cleaned, links)
        except Conflict as exc:
            raise conflict(exc.existing_id, self.label) from None
        return JSONResponse(self.table.render(rec, list(body.properties)), status_code=201)

    def _cleaned(self, values: dict[str, Any], creating: bool) -> dict[str, str]:
        try:
            cleaned = self.table.clean(values)
        except Invalid as exc:
            raise invalid_properties(exc.problems) from None
        if creating and self.object_type != "contacts" and not cleaned.get("hs_timestamp"):
            raise hubspot_error(400, 'Property values were not valid: "hs_timestamp" is required',
                                errors=[{"message": 'Property "hs_timestamp" is required', "code": "REQUIRED_PROPERTY",
                                         "context": {"propertyName": ["hs_timestamp"]}}])
        return cleaned

    def _prepare(self, body: bodies.ObjectCreate) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Validated values and association targets of one create. Raises ApiError (400)."""
        return self._cleaned(body.properties, creating=True), self._associations(body.associations)

    def _insert(self, cleaned: dict[str, str], links: list[tuple[str, str]]) -> Record:
        """Create and associate. Raises Conflict (a contact with that email exists)."""
        rec = self.table.create(cleaned)
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
                    raise hubspot_error(400, f"{t.associationCategory} association type {t.associationTypeId} is "
                                             f"not valid from {self.object_type}", "VALIDATION_ERROR")
                if self.store.table(pair[1]).get(to_id) is None:
                    raise hubspot_error(400, f"One or more associations are invalid: {pair[1][:-1]} {to_id} does not "
                                             "exist", "VALIDATION_ERROR",
                                        context={"toObjectId": [to_id]})
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
            rec = self.table.update(rec.id, cleaned)
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
            rec = self.store.merge(str(body.primaryObjectId), str(body.objectIdToMerge))
        except ValueError as exc:
            raise hubspot_error(400, str(exc)) from None
        except NotFound as exc:
            raise not_found(f"{self.label} {exc} does not exist", id=[str(exc)]) from None
        return JSONResponse(self.table.render(rec, ["hs_merged_object_ids"]))

    # -- search ----------------------------------------------------------------------------------------------
    async def search(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.SearchIn)
        try:
            plan = search.plan(self.table, req)
        except search.SearchError as exc:
            raise hubspot_error(400, str(exc)) from None
        table = self.table
        result = search.run(table, plan)
        wanted = req.properties or None
        text = ('{"total":' + json_value(result.total) + ',"results":['
                + ",".join(table.render_json_many(result.records, wanted)) + "]")
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
                results.append(self.table.render(rec, req.properties or None))
        errors = [item_error("error", "OBJECT_NOT_FOUND", f"Could not get some {self.label.upper()} objects, they may "
                             "be deleted or not exist. Check that ids are valid.", ids=missing)] if missing else []
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
        prepared = [self._prepare(item) for item in req.inputs]   # a bad value fails the whole batch
        results, errors = [], []
        for item, (cleaned, links) in zip(req.inputs, prepared):
            try:
                rec = self._insert(cleaned, links)
            except Conflict as exc:
                errors.append(self._conflict_item(exc))
                continue
            results.append(self.table.render(rec, list(item.properties)))
        return self._batch(results, errors, started, ok_status=201)

    def _conflict_item(self, exc: Conflict) -> dict[str, Any]:
        return item_error("error", "CONFLICT", f"{self.label} already exists. Existing ID: {exc.existing_id}",
                          existingId=[exc.existing_id])

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
        results, errors, missing = [], [], []
        for item, values in zip(req.inputs, cleaned):
            rec = self._read_by(str(item.id), item.idProperty)
            if rec is None:
                missing.append(str(item.id))
                continue
            try:
                rec = self.table.update(rec.id, values)
            except Conflict as exc:
                errors.append(self._conflict_item(exc))
                continue
            results.append(self.table.render(rec, list(item.properties)))
        if missing:
            errors.append(item_error("error", "OBJECT_NOT_FOUND", f"Could not update some {self.label.upper()} "
                                     "objects, they may be deleted or not exist.", ids=missing))
        return self._batch(results, errors, started)

    async def batch_upsert(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.BatchUpdate)
        check_batch_size(len(req.inputs))
        started = self.world.clock.now_ms()
        for item in req.inputs:           # every input is checked before anything is written
            self._check_id_property(item.idProperty)
            if item.idProperty == "email":
                self._cleaned({"email": str(item.id)}, creating=False)
        cleaned = [self._cleaned(i.properties, creating=False) for i in req.inputs]
        results, errors = [], []
        for item, values in zip(req.inputs, cleaned):
            try:
                rec, new = self._upsert_one(item, values)
            except NotFound:
                errors.append(item_error("error", "OBJECT_NOT_FOUND", f"{self.label} {item.id} does not exist",
                                         ids=[str(item.id)]))
                continue
            except Conflict as exc:
                errors.append(self._conflict_item(exc))
                continue
            results.append({**self.table.render(rec, list(item.properties)), "new": new})
        return self._batch(results, errors, started)

    def _upsert_one(self, item: bodies.UpdateInput, values: dict[str, str]) -> tuple[Record, bool]:
        rec = self._read_by(str(item.id), item.idProperty)
        if rec is not None:
            return self.table.update(rec.id, values), False
        if item.idProperty != "email":
            raise NotFound(str(item.id))
        values = {**values, "email": self._cleaned({"email": str(item.id)}, creating=False)["email"]}
        return self.table.create(values), True

    async def batch_archive(self, request: Request) -> Response:
        req = await bodies.parse(request, bodies.BatchArchive)
        check_batch_size(len(req.inputs))
        for item in req.inputs:
            self.table.archive(str(item.id))
        return Response(status_code=204)

    def _batch(self, results: list[dict[str, Any]], errors: list[dict[str, Any]], started: int,
               ok_status: int = 200) -> Response:
        status, body = batch_reply(results, errors, started, self.world.clock.now_ms(), ok_status)
        return JSONResponse(body, status_code=status)
