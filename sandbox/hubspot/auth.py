"""Private-app tokens, the scopes each route requires, and HubSpot's 403 MISSING_SCOPES answer.

Each token is one private app of the account: it has its own scopes and its own app id (the `sourceId`
HubSpot records in property history for the app's writes). The default token (SandboxConfig.hubspot_token)
holds `SandboxConfig.hubspot_scopes`, every scope when that is None; `POST /_sandbox/tokens` mints more.

Scopes per route (documented: the `security` of each operation in HubSpot's published OpenAPI specs,
2026-03/2026-09, as mirrored in api-evangelist/hubspot `openapi/_original/hubspot-crm-*-openapi.json`):
- contacts, tasks and notes objects (basic, batch, search, merge): read `crm.objects.contacts.read`, write
  `crm.objects.contacts.write` (tasks and notes use the contacts scopes; the specs say so);
- owners `crm.objects.owners.read`; custom object schemas `crm.schemas.custom.read`.
Assumed where a spec lists every object's scope as alternatives for a generic `{objectType}` path: the
scope of the object type named in the path (properties `crm.schemas.{contacts|tasks|notes}.read/write`;
associations the read scope of both object types, companies `crm.objects.companies.read`); the legacy
`/properties/v2/contacts/properties` takes `crm.schemas.contacts.read` (its old `contacts` scope can no
longer be granted).

The 403 body (documented by HubSpot's own SDK issue HubSpot/hubspot-api-nodejs#268 and community threads):
`{"status": "error", "message": "This app hasn't been granted all required scopes to make this call. Read
more about required scopes here: https://developers.hubspot.com/scopes.", "correlationId": ..., "errors":
[{"message": "One or more of the following scopes are required." | "All of the following scopes are
required.", "context": {"requiredGranularScopes": [...]}}], "links": {"scopes":
"https://developers.hubspot.com/scopes"}, "category": "MISSING_SCOPES"}`. Both sentences are observed;
which one HubSpot picks is assumed: "One or more" for a set of alternatives, "All of" for scopes that are
each required.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.errors import hubspot_error_body

# A route's requirement: every group must be met; a group is met by any one of its scopes.
Need = tuple[tuple[str, ...], ...]
NeedOf = Callable[[dict[str, Any]], Need]

CONTACTS_READ, CONTACTS_WRITE = "crm.objects.contacts.read", "crm.objects.contacts.write"
OBJECT_SCOPES = {  # object type -> (read, write)
    "contacts": (CONTACTS_READ, CONTACTS_WRITE),
    "tasks": (CONTACTS_READ, CONTACTS_WRITE),
    "notes": (CONTACTS_READ, CONTACTS_WRITE),
    "companies": ("crm.objects.companies.read", "crm.objects.companies.write"),
}
SCHEMA_SCOPES = {t: (f"crm.schemas.{t}.read", f"crm.schemas.{t}.write") for t in ("contacts", "tasks", "notes")}
OWNERS_READ = "crm.objects.owners.read"
CUSTOM_SCHEMAS_READ = "crm.schemas.custom.read"
KNOWN_SCOPES = tuple(
    sorted(
        {s for pair in (*OBJECT_SCOPES.values(), *SCHEMA_SCOPES.values()) for s in pair}
        | {OWNERS_READ, CUSTOM_SCHEMAS_READ, "crm.schemas.custom.write"}
    )
)
SCOPES_LINK = "https://developers.hubspot.com/scopes"
MISSING_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about required "
    f"scopes here: {SCOPES_LINK}."
)
_NAMESPACE = uuid.UUID("6f1c2a52-4d1e-4b7e-9a0e-5b1f2c3d4e5f")


def need(*scopes: str) -> Need:
    """Each scope required."""
    return tuple((s,) for s in scopes)


def declare(route: Any, requirement: Need | NeedOf) -> Any:
    """Attach the scopes HubSpot requires for `route` (a Need, or a function of the path parameters)."""
    route.hubspot_scopes = requirement
    return route


def check_scopes(scopes: Any) -> tuple[str, ...]:
    """A validated scope list. Raises ValueError naming the bad entry."""
    if not isinstance(scopes, (list, tuple)) or not all(isinstance(s, str) for s in scopes):
        raise ValueError('"scopes" must be a list of scope names (strings)')
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; the sandbox checks these: {list(KNOWN_SCOPES)}")
    return tuple(dict.fromkeys(scopes))


@dataclass(frozen=True)
class App:
    """One private app: its token, scopes (None = every scope) and app id."""

    token: str
    scopes: frozenset[str] | None
    app_id: str

    def source(self) -> dict[str, str]:
        """How HubSpot's property history names a write by this app (sourceType INTEGRATION, sourceId the
        app id, no sourceLabel or updatedByUserId: documented by API responses captured in public connector
        test mocks, e.g. `{"sourceId": "8111832", "sourceType": "INTEGRATION", "value": ..., "timestamp": ...}`)."""
        return {"sourceType": "INTEGRATION", "sourceId": self.app_id}


class Credentials:
    """The account's private apps, looked up by bearer token."""

    def __init__(self, default_token: str, default_scopes: Iterable[str] | None, seed: int) -> None:
        self._seed = seed
        self._apps: dict[str, App] = {}
        self.default = self._add(default_token, None if default_scopes is None else frozenset(default_scopes))

    def _add(self, token: str, scopes: frozenset[str] | None) -> App:
        app = App(token, scopes, str(2_000_000 + (self._seed % 1000) * 1000 + len(self._apps)))
        self._apps[token] = app
        return app

    def mint(self, body: Any) -> dict[str, Any]:
        """A new private app from a `{"scopes": [...]}` body. Raises ValueError naming the bad field."""
        if not isinstance(body, dict):
            raise ValueError('body must be a JSON object such as {"scopes": ["crm.objects.contacts.read"]}')
        unknown = sorted(set(body) - {"scopes"})
        if unknown:
            raise ValueError(f"unknown fields {unknown}; known: scopes")
        if "scopes" not in body:
            raise ValueError('"scopes" is required (a list, possibly empty)')
        scopes = check_scopes(body["scopes"])
        token = f"pat-na1-{uuid.uuid5(_NAMESPACE, f'{self._seed}-{len(self._apps)}')}"
        app = self._add(token, frozenset(scopes))
        return {"token": app.token, "scopes": list(scopes), "appId": app.app_id}

    def app(self, token: str | None) -> App | None:
        return self._apps.get(token) if token else None

    def app_of(self, request: Request) -> App:
        """The app whose token authenticated `request` (the middleware has checked it); the default app else."""
        auth = request.headers.get("authorization", "")
        return self._apps.get(auth[7:] if auth.startswith("Bearer ") else "", self.default)

    def source_of(self, request: Request) -> dict[str, str]:
        return self.app_of(request).source()

    def denied(self, token: str, route: Any, path_params: dict[str, Any]) -> Response | None:
        """HubSpot's 403 when the token's app lacks a scope `route` requires; None when allowed."""
        app = self._apps.get(token)
        requirement = getattr(route, "hubspot_scopes", None)
        if app is None or app.scopes is None or requirement is None:
            return None
        groups = requirement(path_params) if callable(requirement) else requirement
        unmet = [g for g in groups if not app.scopes.intersection(g)]
        if not unmet:
            return None
        errors = [
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": list(g)},
            }
            for g in unmet
            if len(g) > 1
        ]
        singles = [g[0] for g in unmet if len(g) == 1]
        if singles:
            errors.append(
                {"message": "All of the following scopes are required.", "context": {"requiredGranularScopes": singles}}
            )
        body = hubspot_error_body(403, MISSING_MESSAGE, "MISSING_SCOPES", errors=errors, links={"scopes": SCOPES_LINK})
        return JSONResponse(body, status_code=403)
