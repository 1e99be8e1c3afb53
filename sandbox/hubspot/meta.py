"""Properties (v3 and the legacy v2 list), owners, custom object schemas and v4 association reads.

v4 association batch read (`POST /crm/v4/associations/{from}/{to}/batch/read`, documented: HubSpot's
spec and SDK models; at most 1,000 inputs, HubSpot's changelog "Bug Fix: Batch Read Limit for HubSpot
Associations API"): one result per input that has associations, `{"from": {"id"}, "to": [{"toObjectId",
"associationTypes": [{"category", "typeId", "label"}]}], "paging"?: {"next": {"after", "link"}}}`, a page
of at most 500 per input (assumed; the same as the GET), `after` per input to read on. An input without
associations (or an unknown id: HubSpot answers the same for both) is an error of the 207:
`{"status": "error", "category": "OBJECT_NOT_FOUND", "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
"message": "No company is associated with contact 1.", "context": {"fromObjectId": [...], "fromObjectType":
[...], "toObjectType": [...]}}` (observed responses quoted in public integrations' notes). Companies exist
as an object type for associations only; the portal has none.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.errors import hubspot_error
from sandbox.hubspot import bodies
from sandbox.hubspot.auth import CUSTOM_SCHEMAS_READ, OBJECT_SCOPES, OWNERS_READ, SCHEMA_SCOPES, declare, need
from sandbox.hubspot.replies import batch_reply, bool_param, int_param, item_error, list_param, next_paging, not_found
from sandbox.hubspot.schema import OBJECT_TYPES, PORTAL_CREATED_AT, PropertyDef, Schema
from sandbox.hubspot.store import ASSOCIATION_TYPES, HubSpotStore
from sandbox.timefmt import parse_ts_ms

OWNERS_MAX = 500  # owners: 500 per page
ASSOCIATIONS_MAX = 500  # associations v4: 500 per page
ASSOCIATION_BATCH_MAX = 1000  # associations v4 batch read: 1,000 inputs
# object types of association paths: the CRM's three plus companies (none exist in the sandbox's portal)
ASSOCIATION_OBJECT_TYPES = {**OBJECT_TYPES, "companies": "companies", "company": "companies", "0-2": "companies"}
_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "tasks": "0-27", "notes": "0-46"}
_SINGULAR = {"contacts": "contact", "companies": "company", "tasks": "task", "notes": "note"}
SENSITIVITIES = ("non_sensitive", "sensitive", "highly_sensitive")


def _object_type(raw: str, known: dict[str, str] = OBJECT_TYPES) -> str:
    kind = known.get(raw.lower())
    if kind is None:
        raise hubspot_error(400, f"Unable to infer object type from: {raw}")
    return kind


def _schema_scope(kind: int):
    """The properties scope of the object type in the path (crm.schemas.{type}.read/write)."""

    def of(params: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
        object_type = OBJECT_TYPES.get(str(params.get("objectType", "")).lower())
        return need(SCHEMA_SCOPES[object_type][kind]) if object_type else ()

    return of


def _association_scopes(params: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    """The read scope of both object types of an association path."""
    kinds = [ASSOCIATION_OBJECT_TYPES.get(str(params.get(k, "")).lower()) for k in ("objectType", "toObjectType")]
    return need(*dict.fromkeys(OBJECT_SCOPES[k][0] for k in kinds if k))


def legacy_property(prop: PropertyDef, created_ms: int) -> dict[str, Any]:
    """A property as the legacy properties API (`/properties/v2/contacts/properties`) shapes it: the same
    definition as v3 in the old field names, times as epoch ms (fields as HubSpot's legacy answers carry
    them, e.g. the payload quoted in public client code; `readOnlyDefinition`/`mutableDefinitionNotDeletable`
    true for HubSpot-defined properties is assumed)."""
    return {
        "name": prop.name,
        "label": prop.label,
        "description": prop.description,
        "groupName": prop.group_name,
        "type": prop.type,
        "fieldType": prop.field_type,
        "options": [
            {
                "label": o["label"],
                "value": o["value"],
                "displayOrder": o.get("displayOrder", k),
                "hidden": bool(o.get("hidden", False)),
                "description": o.get("description") or "",
                "readOnly": False,
            }
            for k, o in enumerate(prop.options)
        ],
        "createdAt": created_ms,
        "updatedAt": created_ms,
        "displayOrder": prop.display_order,
        "formField": not prop.read_only,
        "readOnlyValue": prop.read_only,
        "readOnlyDefinition": prop.hubspot_defined,
        "hidden": False,
        "mutableDefinitionNotDeletable": prop.hubspot_defined,
        "favorited": False,
        "favoritedOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "displayMode": "current_value",
        "showCurrencySymbol": None,
        "hubspotDefined": True if prop.hubspot_defined else None,
        "createdUserId": None,
        "textDisplayHint": None,
        "numberDisplayHint": None,
        "optionsAreMutable": None,
        "referencedObjectType": None,
        "isCustomizedDefault": False,
        "searchableInGlobalSearch": False,
        "currencyPropertyName": None,
        "hasUniqueValue": prop.has_unique_value,
        "deleted": False,
        "updatedUserId": None,
    }


class MetaEndpoints:
    def __init__(self, world: Any) -> None:
        self.world = world

    @property
    def store(self) -> HubSpotStore:
        return self.world.hubspot

    def _schema(self, request: Request) -> Schema:
        return self.store.schemas[_object_type(request.path_params["objectType"])]

    def routes(self) -> list[Route]:
        props = "/crm/v3/properties/{objectType}"
        read, write = _schema_scope(0), _schema_scope(1)
        owners = need(OWNERS_READ)
        return [
            declare(Route(props + "/groups", self.list_groups, methods=["GET"]), read),
            declare(Route(props + "/groups", self.create_group, methods=["POST"]), write),
            declare(Route(props + "/groups/{groupName}", self.get_group, methods=["GET"]), read),
            declare(Route(props, self.list_properties, methods=["GET"]), read),
            declare(Route(props, self.create_property, methods=["POST"]), write),
            declare(Route(props + "/{propertyName}", self.get_property, methods=["GET"]), read),
            declare(
                Route("/properties/v2/contacts/properties", self.legacy_properties, methods=["GET"]),
                need(SCHEMA_SCOPES["contacts"][0]),
            ),
            # the documented path and the one hubspot-api-client 12.0.0 calls (the same API)
            declare(Route("/crm/v3/schemas", self.list_schemas, methods=["GET"]), need(CUSTOM_SCHEMAS_READ)),
            declare(
                Route("/crm-object-schemas/v3/schemas", self.list_schemas, methods=["GET"]), need(CUSTOM_SCHEMAS_READ)
            ),
            declare(Route("/crm/v3/owners", self.list_owners, methods=["GET"]), owners),
            declare(Route("/crm/v3/owners/", self.list_owners, methods=["GET"]), owners),
            declare(Route("/crm/v3/owners/{ownerId}", self.get_owner, methods=["GET"]), owners),
            declare(
                Route(
                    "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
                    self.associations,
                    methods=["GET"],
                ),
                _association_scopes,
            ),
            declare(
                Route(
                    "/crm/v4/associations/{objectType}/{toObjectType}/batch/read",
                    self.associations_batch_read,
                    methods=["POST"],
                ),
                _association_scopes,
            ),
        ]

    # -- properties ----------------------------------------------------------------------------
    async def list_properties(self, request: Request) -> Response:
        """`archived`, `properties` (only those named) and `dataSensitivity` honoured: the portal has no archived
        and no sensitive properties, so those ask for none; `locale` is accepted and labels stay English."""
        schema = self._schema(request)
        sensitivity = request.query_params.get("dataSensitivity") or "non_sensitive"
        if sensitivity not in SENSITIVITIES:
            raise hubspot_error(
                400,
                f"Invalid value for query parameter 'dataSensitivity': '{sensitivity}' is not "
                f"one of {list(SENSITIVITIES)}",
            )
        found = list(schema.properties.values())
        named = list_param(request, "properties")
        if named:
            found = [p for p in found if p.name in named]
        if bool_param(request, "archived") or sensitivity != "non_sensitive":
            found = []
        return JSONResponse({"results": [p.api() for p in found]})

    async def legacy_properties(self, request: Request) -> Response:
        """The legacy v2 contact properties: a bare JSON array, the same definitions as v3."""
        schema = self.store.schemas["contacts"]
        created = parse_ts_ms(PORTAL_CREATED_AT)
        return JSONResponse(
            [
                legacy_property(p, created if p.hubspot_defined else parse_ts_ms(p.created_at))
                for p in schema.properties.values()
            ]
        )

    async def list_schemas(self, request: Request) -> Response:
        """Custom object schemas: the portal has none (archived ones neither)."""
        return JSONResponse({"results": []})

    async def get_property(self, request: Request) -> Response:
        schema = self._schema(request)
        name = request.path_params["propertyName"]
        prop = schema.properties.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type {schema.object_type}", propertyName=[name])
        return JSONResponse(prop.api())

    async def create_property(self, request: Request) -> Response:
        schema = self._schema(request)
        body = await bodies.read_json(request)
        if not isinstance(body, dict):
            raise hubspot_error(400, "Invalid input JSON: a PropertyCreate object is required")
        try:
            prop = schema.create_property(body)
        except KeyError:
            raise hubspot_error(
                409,
                f"Property named '{body['name']}' already exists.",
                "OBJECT_ALREADY_EXISTS",
                subCategory="PropertyValidationError.PROPERTY_EXISTS",
            ) from None
        except ValueError as exc:
            raise hubspot_error(400, str(exc)) from None
        return JSONResponse(prop.api(), status_code=201)

    async def list_groups(self, request: Request) -> Response:
        return JSONResponse({"results": list(self._schema(request).groups.values())})

    async def get_group(self, request: Request) -> Response:
        name = request.path_params["groupName"]
        group = self._schema(request).groups.get(name)
        if group is None:
            raise not_found(f"Unable to find property group {name}", groupName=[name])
        return JSONResponse(group)

    async def create_group(self, request: Request) -> Response:
        schema = self._schema(request)
        body = await bodies.read_json(request)
        if not isinstance(body, dict):
            raise hubspot_error(400, "Invalid input JSON: a PropertyGroupCreate object is required")
        try:
            group = schema.create_group(body)
        except KeyError:
            raise hubspot_error(
                409, f"A property group named '{body['name']}' already exists.", "OBJECT_ALREADY_EXISTS"
            ) from None
        except ValueError as exc:
            raise hubspot_error(400, str(exc)) from None
        return JSONResponse(group, status_code=201)

    # -- owners -------------------------------------------------------------------------------------
    async def list_owners(self, request: Request) -> Response:
        limit = int_param(request, "limit", 100, 1, OWNERS_MAX)
        offset = int_param(request, "after", 0, 0, 2**62)
        email = (request.query_params.get("email") or "").strip().lower()
        owners = [] if bool_param(request, "archived") else self.store.owners
        if email:
            owners = [o for o in owners if str(o.get("email", "")).lower() == email]
        page = owners[offset : offset + limit]
        body: dict[str, Any] = {"results": page}
        paging = next_paging(request, str(offset + limit) if offset + limit < len(owners) else None)
        if paging:
            body["paging"] = paging
        return JSONResponse(body)

    async def get_owner(self, request: Request) -> Response:
        raw = request.path_params["ownerId"]
        key = "userId" if request.query_params.get("idProperty") == "userId" else "id"
        for owner in self.store.owners:
            if str(owner.get(key)) == raw:
                return JSONResponse(owner)
        raise not_found(f"Owner {raw} not found", id=[raw])

    # -- associations v4 -----------------------------------------------------------------------------------
    async def associations(self, request: Request) -> Response:
        from_type = _object_type(request.path_params["objectType"], ASSOCIATION_OBJECT_TYPES)
        to_type = _object_type(request.path_params["toObjectType"], ASSOCIATION_OBJECT_TYPES)
        limit = int_param(request, "limit", ASSOCIATIONS_MAX, 1, ASSOCIATIONS_MAX)
        offset = int_param(request, "after", 0, 0, 2**62)
        object_id = request.path_params["objectId"]
        if (from_type, to_type) not in ASSOCIATION_TYPES:
            return JSONResponse({"results": []})
        pairs = self.store.associations(from_type, object_id, to_type)
        page = pairs[offset : offset + limit]
        body: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(to_id),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                }
                for to_id, type_id in page
            ]
        }
        paging = next_paging(request, str(offset + limit) if offset + limit < len(pairs) else None)
        if paging:
            body["paging"] = paging
        return JSONResponse(body)

    async def associations_batch_read(self, request: Request) -> Response:
        from_type = _object_type(request.path_params["objectType"], ASSOCIATION_OBJECT_TYPES)
        to_type = _object_type(request.path_params["toObjectType"], ASSOCIATION_OBJECT_TYPES)
        req = await bodies.parse(request, bodies.AssociationBatchRead)
        if len(req.inputs) > ASSOCIATION_BATCH_MAX:
            raise hubspot_error(
                400,
                f"Batch input limit exceeded: {len(req.inputs)} inputs were sent; the maximum "
                f"is {ASSOCIATION_BATCH_MAX}.",
            )
        started = self.world.clock.now_ms()
        base = str(request.base_url).rstrip("/")
        results, errors = [], []
        for item in req.inputs:
            from_id = str(item.id)
            offset = int(item.after) if item.after not in (None, "") else 0
            pairs = (
                self.store.associations(from_type, from_id, to_type)
                if (from_type, to_type) in ASSOCIATION_TYPES
                else []
            )
            page = pairs[offset : offset + ASSOCIATIONS_MAX]
            if not page:
                one, other = _SINGULAR[from_type], _SINGULAR[to_type]
                error = item_error(
                    "error",
                    "OBJECT_NOT_FOUND",
                    f"No {other} is associated with {one} {from_id}.",
                    fromObjectId=[from_id],
                    fromObjectType=[one],
                    toObjectType=[other],
                )
                errors.append({**error, "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"})
                continue
            result: dict[str, Any] = {
                "from": {"id": from_id},
                "to": [
                    {
                        "toObjectId": int(to_id),
                        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                    }
                    for to_id, type_id in page
                ],
            }
            end = offset + len(page)
            if end < len(pairs):
                link = (
                    f"{base}/crm/v4/objects/{_TYPE_IDS[from_type]}/{from_id}/associations/{_TYPE_IDS[to_type]}"
                    f"?after={end}"
                )
                result["paging"] = {"next": {"after": str(end), "link": link}}
            results.append(result)
        status, body = batch_reply(results, errors, started, self.world.clock.now_ms())
        return JSONResponse(body, status_code=status)
