"""PLACEHOLDER Mailchimp routes (owned by the Mailchimp-side work)."""
from starlette.responses import JSONResponse
from starlette.routing import Route


def routes(world):
    async def ping(request):
        return JSONResponse({"health_status": "Everything's Chimpy!"})
    return [Route("/3.0/ping", ping, methods=["GET"])]
