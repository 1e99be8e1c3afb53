"""Properties, owners and v4 association reads."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.errors import hubspot_error
from sandbox.hubspot import bodies
from sandbox.hubspot.replies import bool_param, int_param, next_paging, not_found
from sandbox.hubspot.schema import OBJECT_TYPES, Schema
from sandbox.hubspot.store import ASSOCIATION_TYPES, HubSpotStore

OWNERS_MAX = 500          # owners: 500 per page
ASSOCIATIONS_MAX = 500    # associations v4: 500 per page


def _object_type(raw: str) -> str:
    kind = OBJECT_TYPES.get(raw.lower())
    if kind is None:
        raise hubspot_error(400, f"Unable to infer object type from: {raw}")
    return kind


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
        return [
            Route(props + "/groups", self.list_groups, methods=["GET"]),
            Route(props + "/groups", self.create_group, methods=["POST"]),
            Route(props + "/groups/{groupName}", self.get_group, methods=["GET"]),
            Route(props, self.list_properties, methods=["GET"]),
            Route(props, self.create_property, methods=["POST"]),
            Route(props + "/{propertyName}", self.get_property, methods=["GET"]),
            Route("/crm/v3/owners", self.list_owners, methods=["GET"]),
            Route("/crm/v3/owners/", self.list_owners, methods=["GET"]),
            Route("/crm/v3/owners/{ownerId}", self.get_owner, methods=["GET"]),
            Route("/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}", self.associations,
                  methods=["GET"]),
        ]

    # -- properties ----------------------------------------------------------------------------
    async def list_properties(self, request: Request) -> Response:
        schema = self._schema(request)
        return JSONResponse({"results": [p.api() for p in schema.properties.values()]})

    async def get_property(self, request: Request) -> Response:
        schema = self._schema(request)
        name = request.path_params["propertyName"]
        prop = schema.properties.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type {schema.object_type}",
                            propertyName=[name])
        return JSONResponse(prop.api())

    async def create_property(self, request: Request) -> Response:
        schema = self._schema(request)
        body = await bodies.read_json(request)
        if not isinstance(body, dict):
            raise hubspot_error(400, "Invalid input JSON: a PropertyCreate object is required")
        try:
            prop = schema.create_property(body)
        except KeyError:
            raise hubspot_error(409, f"Property named '{body['name']}' already exists.", "OBJECT_ALREADY_EXISTS",
                                subCategory="PropertyValidationError.PROPERTY_EXISTS") from None
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
            raise hubspot_error(409, f"A property group named '{body['name']}' already exists.",
                                "OBJECT_ALREADY_EXISTS") from None
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
        page = owners[offset:offset + limit]
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
        from_type = _object_type(request.path_params["objectType"])
        to_type = _object_type(request.path_params["toObjectType"])
        limit = int_param(request, "limit", ASSOCIATIONS_MAX, 1, ASSOCIATIONS_MAX)
        offset = int_param(request, "after", 0, 0, 2**62)
        object_id = request.path_params["objectId"]
        if (from_type, to_type) not in ASSOCIATION_TYPES:
            return JSONResponse({"results": []})
        pairs = self.store.associations(from_type, object_id, to_type)
        page = pairs[offset:offset + limit]
        body: dict[str, Any] = {"results": [
            {"toObjectId": int(to_id), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id,
                                                             "label": None}]}
            for to_id, type_id in page]}
        paging = next_paging(request, str(offset + limit) if offset + limit < len(pairs) else None)
        if paging:
            body["paging"] = paging
        return JSONResponse(body)
