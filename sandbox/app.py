"""The ASGI app: vendor routes behind one middleware that does what the real front doors do.

Per API request, in order: count it (method + path template), authenticate it (HubSpot bearer token,
Mailchimp basic auth key), maybe inject a fault, apply the rate limits, add latency, then route it.
Handler errors become the vendor's error body, never a stack trace.

In front of that middleware, `MailchimpExtras` serves batch results without authentication (as
Mailchimp's S3 links need none) and, with the journal on, records every Mailchimp write with the
statuses of the members it targets (sandbox/mailchimp/journal.py). `InternalDispatch` runs a Mailchimp
request through the same routes in process, past the front door (no auth, faults or limits): what a
batch operation is.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from sandbox.errors import ApiError, hubspot_error_body, mailchimp_error_body
from sandbox.mailchimp.batches import BATCH_RESULTS_PREFIX, batch_routes
from sandbox.mailchimp.journal import WRITE_METHODS
from sandbox.world import Stats, World

log = logging.getLogger("sandbox")


class DropConnection(Exception):
    """Raised after part of a response was sent: the server closes the connection mid-response."""


def _json(status: int, body: dict, headers: dict | None = None, media_type: str = "application/json") -> Response:
    return JSONResponse(body, status_code=status, headers=headers, media_type=media_type)


def _hubspot_401() -> Response:
    return _json(
        401,
        hubspot_error_body(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
            "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
        ),
    )


def _mailchimp_401() -> Response:
    return _json(
        401,
        mailchimp_error_body(
            401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the wrong datacenter."
        ),
        media_type="application/problem+json",
    )


def _hubspot_429(policy: str, headers: dict[str, str]) -> Response:
    window = "secondly" if policy == "SECONDLY" else "ten_secondly_rolling"
    body = {
        "status": "error",
        "message": f"You have reached your {window} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
    }
    return _json(429, body, headers)


def _mailchimp_429(detail: str, headers: dict | None = None) -> Response:
    return _json(
        429, mailchimp_error_body(429, "Too Many Requests", detail), headers, media_type="application/problem+json"
    )


def _server_error(side: str, status: int) -> Response:
    if status in (502, 503):  # what a gateway in front of either service answers
        text = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable"}[status]
        return Response(
            f"<html><head><title>{text}</title></head><body><center><h1>{text}</h1></center></body></html>",
            status_code=status,
            media_type="text/html",
        )
    if side == "mailchimp":
        return _json(
            500,
            mailchimp_error_body(
                500, "Internal Server Error", "An unexpected internal error has occurred. Please try again."
            ),
            media_type="application/problem+json",
        )
    return _json(500, hubspot_error_body(500, "internal error", "INTERNAL_ERROR"))


def _not_found(side: str, method: str, path: str) -> Response:
    if side == "mailchimp":
        return _json(
            404,
            mailchimp_error_body(404, "Resource Not Found", "The requested resource could not be found."),
            media_type="application/problem+json",
        )
    return _json(404, hubspot_error_body(404, f"Unable to route {method} {path}", "OBJECT_NOT_FOUND"))


class SandboxMiddleware:
    def __init__(self, app: Starlette, world: World) -> None:
        self.app, self.world = app, world

    def _template(self, scope: dict) -> tuple[Any, bool, dict]:
        """(matched route or None, whether a route matched the path but not the method, its path params)."""
        partial = False
        for route in self.app.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                return route, False, child.get("path_params", {})
            if match == Match.PARTIAL:
                partial = True
        return None, partial, {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        world, path, method = self.world, scope["path"], scope["method"]
        side = "mailchimp" if path.startswith("/3.0") else "hubspot"
        route, wrong_method, path_params = self._template(scope)
        template = route.path if route is not None else None
        world.stats.count(method, template or "<unknown>")
        status_seen = {"code": 0}

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_seen["code"] = message["status"]
                world.stats.answered(message["status"])
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        credential = self._credential(side, headers)
        if credential is None:
            await (_mailchimp_401() if side == "mailchimp" else _hubspot_401())(scope, receive, counting_send)
            return
        if template is None:
            resp = _not_found(side, method, path)
            if wrong_method:
                resp = (
                    _json(
                        405,
                        mailchimp_error_body(
                            405, "Method Not Allowed", "The requested method and resource are not compatible."
                        ),
                        media_type="application/problem+json",
                    )
                    if side == "mailchimp"
                    else _json(405, hubspot_error_body(405, f"{method} is not allowed on {path}", "VALIDATION_ERROR"))
                )
            await resp(scope, receive, counting_send)
            return
        denied = world.hubspot.auth.denied(credential, route, path_params) if side == "hubspot" else None
        if denied is not None:  # the token's private app lacks a scope the route requires
            await denied(scope, receive, counting_send)
            return

        fault = world.faults.draw()
        if fault is not None:
            if fault.kind == "429":
                resp = (
                    _mailchimp_429("You have exceeded the limit of 10 simultaneous connections.", {"Retry-After": "1"})
                    if side == "mailchimp"
                    else _hubspot_429("TEN_SECONDLY_ROLLING", {"Retry-After": "1"})
                )
                await resp(scope, receive, counting_send)
                return
            if fault.kind in ("500", "502", "503"):
                await _server_error(side, int(fault.kind))(scope, receive, counting_send)
                return
            if fault.kind == "slow":
                await asyncio.sleep(world.faults.slow_s)

        if side == "hubspot":
            verdict = world.hubspot_limiter.check(credential, template.endswith("/search"))
            rl_headers = world.hubspot_limiter.headers(credential, verdict)
            if not verdict.allowed:
                world.stats.rate_limited["hubspot"] += 1
                await _hubspot_429(verdict.policy, rl_headers)(scope, receive, counting_send)
                return
            await self._serve(scope, receive, counting_send, side, fault, rl_headers)
            return

        in_flight = world.mailchimp_in_flight  # the slot goes back to the limiter it came from, reset or not
        if not in_flight.enter(credential):
            world.stats.rate_limited["mailchimp"] += 1
            await _mailchimp_429(f"You have exceeded the limit of {in_flight.limit} simultaneous connections.")(
                scope, receive, counting_send
            )
            return
        gate = world.mailchimp_gate  # a test hook (World.mailchimp_gate); None otherwise
        try:
            if gate is not None:
                await gate.passage()
            await self._serve(scope, receive, counting_send, side, fault, {})
        finally:
            in_flight.leave(credential)
            if gate is not None:
                gate.finish()

    def _credential(self, side: str, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        cfg = self.world.config
        if side == "hubspot":  # any private app's token (sandbox/hubspot/auth.py)
            app = self.world.hubspot.auth.app(auth[7:]) if auth.startswith("Bearer ") else None
            return app.token if app is not None else None
        if auth.startswith("Basic "):
            try:
                _, _, key = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                return None
            return key if key == cfg.mailchimp_key else None
        if auth.startswith("Bearer ") and auth[7:] == cfg.mailchimp_key:
            return cfg.mailchimp_key
        return None

    async def _serve(self, scope, receive, send, side: str, fault, extra_headers: dict[str, str]) -> None:
        if self.world.config.latency_ms:
            await asyncio.sleep(self.world.config.latency_ms / 1000)
        started = {"done": False}
        drop = fault is not None and fault.kind == "drop"
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in extra_headers.items()]

        async def wrapped_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                started["done"] = True
                message = {**message, "headers": list(message.get("headers", [])) + raw_headers}
            elif message["type"] == "http.response.body" and drop:
                body = message.get("body", b"")
                await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
                raise DropConnection()
            await send(message)

        try:
            await self.app(scope, receive, wrapped_send)
        except DropConnection:
            raise
        except ApiError as exc:  # raised outside a route (should not happen, but never leak a trace)
            if not started["done"]:
                await exc.response(scope, receive, wrapped_send)
        except Exception:
            log.exception("sandbox handler failed: %s %s", scope["method"], scope["path"])
            if not started["done"]:
                await _server_error(side, 500)(scope, receive, wrapped_send)


def _match(routes: list, scope: dict) -> tuple[Any, bool, dict]:
    """(the route matching path and method or None, whether a route matched the path but not the method,
    the route's child scope)."""
    partial = False
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return route, False, child
        if match == Match.PARTIAL:
            partial = True
    return None, partial, {}


class InternalDispatch:
    """One Mailchimp request through the app's own routes and handlers, in process (see module doc)."""

    def __init__(self) -> None:
        self._routes: list = []

    def bind(self, app: Starlette) -> None:
        self._routes = [r for r in app.routes if getattr(r, "path", "").startswith("/3.0")]

    def match(self, method: str, path: str) -> tuple[Any, str | None, dict]:
        """(a token for `call`, the path template or None, the path params)."""
        route, partial, child = _match(self._routes, {"type": "http", "method": method, "path": path, "root_path": ""})
        return (route, partial, child), (route.path if route else None), child.get("path_params", {})

    async def call(
        self, matched: Any, method: str, path: str, query_string: bytes, body: bytes, base: dict
    ) -> tuple[int, bytes]:
        """(status, body) of `method path` (`matched` from `match`); `base` holds the scheme, server and
        headers of the request that submitted it (the handlers' links are built from them)."""
        route, wrong_method, child = matched
        if route is None:  # as the front door answers
            resp = (
                _json(
                    405,
                    mailchimp_error_body(
                        405, "Method Not Allowed", "The requested method and resource are not compatible."
                    ),
                    media_type="application/problem+json",
                )
                if wrong_method
                else _not_found("mailchimp", method, path)
            )
            return resp.status_code, bytes(resp.body)
        headers = [
            *base["headers"],
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": base["scheme"],
            "server": base["server"],
            "client": None,
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query_string,
            "headers": headers,
            **child,
        }
        answer: dict[str, Any] = {"status": 500, "body": [], "read": False}

        async def receive() -> dict:
            if not answer["read"]:
                answer["read"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))

        try:
            await route.handle(scope, receive, send)
        except ApiError as exc:  # what the app's exception handler answers
            return exc.response.status_code, bytes(exc.response.body)
        except Exception:
            log.exception("sandbox batch operation failed: %s %s", method, path)
            return 500, bytes(_server_error("mailchimp", 500).body)
        return answer["status"], b"".join(answer["body"])


class MailchimpExtras:
    """In front of SandboxMiddleware: batch results past the front door, the journal around writes."""

    def __init__(self, front: SandboxMiddleware) -> None:
        self.front, self.app, self.world = front, front.app, front.world

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(BATCH_RESULTS_PREFIX):
            await self.app(scope, receive, send)
            return
        journal = self.world.journal
        if (
            journal is not None
            and scope["type"] == "http"
            and scope["path"].startswith("/3.0")
            and scope["method"] in WRITE_METHODS
        ):
            route, _, child = _match(self.app.routes, scope)
            await journal.serve(
                self.world,
                route.path if route else None,
                child.get("path_params", {}),
                scope,
                receive,
                send,
                self.front,
            )
            return
        await self.front(scope, receive, send)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fault_settings(body: Any, default_seed: int) -> tuple[float, tuple[str, ...], int]:
    """(rate, kinds, seed) from a POST /_sandbox/faults body. Raises ValueError naming the bad field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValueError('body must be a JSON object such as {"rate": 0.1, "kinds": ["429", "503"]}')
    unknown = sorted(set(body) - {"rate", "kinds", "seed"})
    if unknown:
        raise ValueError(f"unknown fields {unknown}; known: rate, kinds, seed")
    rate = body.get("rate", 0.0)
    if not _is_number(rate) or not 0.0 <= rate <= 1.0:
        raise ValueError("'rate' must be a number within [0, 1]")
    kinds = body.get("kinds") or []
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise ValueError("'kinds' must be a list of fault kinds (strings)")
    seed = body.get("seed", default_seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError("'seed' must be an integer")
    return float(rate), tuple(kinds), seed


def _control_routes(world: World) -> list[Route]:
    def bad(detail: str) -> Response:
        return JSONResponse({"error": detail}, status_code=400)

    async def body_json(request: Request) -> Any:
        """The parsed body, None when empty. Raises ValueError for a body that is not JSON."""
        raw = await request.body()
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
            raise ValueError(f"body is not valid JSON: {exc}") from None

    async def events(request: Request) -> Response:
        try:
            return JSONResponse(world.inject_events(await body_json(request)))
        except (ValueError, json.JSONDecodeError) as exc:
            return bad(str(exc))

    async def clock(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"now_ms": world.clock.now_ms()})
        try:
            body = await body_json(request)
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise ValueError('body must be a JSON object such as {"advance_days": 1}')
            return JSONResponse(world.advance_days(body.get("advance_days", 0)))
        except (ValueError, json.JSONDecodeError) as exc:
            return bad(str(exc))

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                rate, kinds, seed = _fault_settings(await body_json(request), world.config.seed)
                world.faults.configure(rate, kinds, seed)
            except (ValueError, json.JSONDecodeError) as exc:
                return bad(str(exc))
        f = world.faults
        return JSONResponse({"rate": f.rate, "kinds": list(f.kinds), "seed": f.seed, "served": f.served})

    async def tokens(request: Request) -> Response:
        try:  # a new private app with the chosen scopes: {"scopes": [...]} -> {"token": "pat-...", ...}
            return JSONResponse(world.hubspot.auth.mint(await body_json(request)))
        except (ValueError, json.JSONDecodeError) as exc:
            return bad(str(exc))

    async def reset(request: Request) -> Response:
        world.reset()
        return JSONResponse({"ok": True})

    async def state(request: Request) -> Response:
        return JSONResponse(world.state())

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            world.stats = Stats()
            world.faults.clear_counts()
        return JSONResponse(world.stats.snapshot(world.faults))

    async def journal(request: Request) -> Response:
        if world.journal is None:
            return JSONResponse(
                {
                    "error": "the request journal is off: start the sandbox with "
                    "SandboxConfig(journal=True) to record Mailchimp writes"
                },
                status_code=404,
            )
        if request.method == "DELETE":
            world.journal.clear()
        return JSONResponse({"entries": world.journal.entries()})

    return [
        Route("/_sandbox/events", events, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
        Route("/_sandbox/tokens", tokens, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET", "DELETE"]),
        Route("/_sandbox/journal", journal, methods=["GET", "DELETE"]),
    ]


def build_app(world: World) -> MailchimpExtras:
    from sandbox.hubspot.routes import routes as hubspot_routes
    from sandbox.mailchimp.routes import routes as mailchimp_routes

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response

    dispatch = InternalDispatch()
    app = Starlette(
        routes=[
            *hubspot_routes(world),
            *mailchimp_routes(world),
            *batch_routes(world, dispatch),
            *_control_routes(world),
        ],
        exception_handlers={ApiError: api_error},
    )
    dispatch.bind(app)
    return MailchimpExtras(SandboxMiddleware(app, world))
