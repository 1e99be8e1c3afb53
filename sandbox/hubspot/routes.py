"""The HubSpot CRM routes of the sandbox, in the paths hubspot-api-client 12.0.0 calls."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.hubspot.meta import MetaEndpoints
from sandbox.hubspot.objects import AliasEndpoints, ObjectEndpoints


def routes(world: Any) -> list[Route]:
    """Every HubSpot route, each declaring the scopes HubSpot requires (sandbox/hubspot/auth.py); handlers
    read `world.hubspot` at call time, so a reset is seen at once. The routes under each type's own name
    come first (the hot paths), then the metadata routes, then the object routes under a type's object type
    id or singular name (`/crm/v3/objects/0-1/...`)."""
    by_type = {t: ObjectEndpoints(world, t) for t in ("contacts", "tasks", "notes")}
    out: list[Route] = [route for endpoints in by_type.values() for route in endpoints.routes()]
    return out + MetaEndpoints(world).routes() + AliasEndpoints(by_type).routes()
