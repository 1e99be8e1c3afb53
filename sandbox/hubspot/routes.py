"""The HubSpot CRM routes of the sandbox, in the paths hubspot-api-client 12.0.0 calls."""
from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.hubspot.meta import MetaEndpoints
from sandbox.hubspot.objects import ObjectEndpoints


def routes(world: Any) -> list[Route]:
    """Every HubSpot route; handlers read `world.hubspot` at call time, so a reset is seen at once."""
    out: list[Route] = []
    for object_type in ("contacts", "tasks", "notes"):
        out += ObjectEndpoints(world, object_type).routes()
    return out + MetaEndpoints(world).routes()
