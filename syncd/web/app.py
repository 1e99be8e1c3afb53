"""The daemon's HTTP side: /healthz (alive), /readyz (ready, with reasons), /metrics (Prometheus text,
per workspace: syncd.web.metrics), / (the status page: syncd.web.status, fed by syncd.web.view) and its
quarantine retry actions. With SYNCD_STATUS_TOKEN set, the page and its actions require the token;
/healthz, /readyz and /metrics stay open for the platform's probes and scrapers (bind them to a private
network: SYNCD_HTTP_HOST)."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.web import view
from syncd.web.metrics import registry_for
from syncd.web.status import status_routes


def build_web(daemon: Any) -> Starlette:
    registry = registry_for(daemon)
    token = daemon.settings.status_token.get_secret_value() if daemon.settings.status_token else None

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ready, problems, detail = await run_in_threadpool(daemon.readiness)
        return JSONResponse({"ready": ready, "problems": problems, **detail}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type="text/plain; version=0.0.4")

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    routes += status_routes(
        lambda: view.status_view(daemon), lambda record_id, ws: view.retry(daemon, record_id, ws), token
    )
    return Starlette(routes=routes)
