"""PLACEHOLDER HubSpot routes (owned by the HubSpot-side work)."""
from starlette.responses import JSONResponse
from starlette.routing import Route


def routes(world):
    async def owners(request):
        return JSONResponse({"results": world.hubspot.world.population.owners})
    return [Route("/crm/v3/owners", owners, methods=["GET"])]
