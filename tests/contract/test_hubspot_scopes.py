"""Private-app tokens with chosen scopes: every HubSpot route declares the scopes HubSpot requires, a token
lacking one gets HubSpot's 403 MISSING_SCOPES; tokens are minted by POST /_sandbox/tokens or configured;
burst limits count per token (private app), the daily limit per account."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, SimplePublicObjectInput
from urllib3.util.retry import Retry

from sandbox.app import build_app
from sandbox.hubspot.auth import KNOWN_SCOPES
from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig, World

SHARED_SANDBOX = SandboxConfig(contacts=50, seed=7, start_ms=1_767_225_600_000, rate_scale=100)
READ, WRITE = "crm.objects.contacts.read", "crm.objects.contacts.write"


def _mint(sandbox, scopes) -> str:
    resp = requests.post(sandbox.url + "/_sandbox/tokens", json={"scopes": scopes}, timeout=5)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token"].startswith("pat-") and body["scopes"] == list(dict.fromkeys(scopes))
    return body["token"]


def _client(sandbox, token: str) -> HubSpot:
    no_retry = Retry(total=0, redirect=0, raise_on_status=False, respect_retry_after_header=False)
    return HubSpot(access_token=token, host=sandbox.url, base_url=sandbox.url, retry=no_retry)


def _call(sandbox, token: str, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, sandbox.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=5, **kw)


def _cid(sandbox) -> str:
    pop = sandbox.world.population
    return pop.hubspot_id(int(pop.hubspot_indices[0]))


def _assert_missing(resp_status: int, body: dict, scopes: list[str]) -> None:
    assert resp_status == 403
    assert body["status"] == "error" and body["category"] == "MISSING_SCOPES" and body["correlationId"]
    assert body["message"] == (
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes."
    )
    assert body["links"] == {"scopes": "https://developers.hubspot.com/scopes"}
    assert [e["context"]["requiredGranularScopes"] for e in body["errors"]] == [scopes]
    assert body["errors"][0]["message"] in (
        "All of the following scopes are required.",
        "One or more of the following scopes are required.",
    )


def test_default_token_has_every_scope(hubspot, sandbox):
    assert hubspot.crm.contacts.basic_api.get_page(limit=1).results
    assert hubspot.crm.owners.owners_api.get_page().results
    assert hubspot.crm.schemas.core_api.get_all().results == []
    assert hubspot.crm.properties.core_api.get_all("tasks").results


def test_read_only_token_reads_but_cannot_write(sandbox):
    client = _client(sandbox, _mint(sandbox, [READ]))
    assert len(client.crm.contacts.basic_api.get_page(limit=3).results) == 3
    assert client.crm.objects.tasks.basic_api.get_page().results == []  # tasks take the contacts scopes
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.update(_cid(sandbox), SimplePublicObjectInput(properties={"jobtitle": "X"}))
    _assert_missing(err.value.status, json.loads(err.value.body), [WRITE])
    assert sandbox.world.hubspot.contacts.rows == {}  # nothing was written


def test_write_only_token_cannot_read_or_search(sandbox):
    token = _mint(sandbox, [WRITE])
    client = _client(sandbox, token)
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_page()
    _assert_missing(err.value.status, json.loads(err.value.body), [READ])
    resp = _call(sandbox, token, "POST", "/crm/v3/objects/contacts/search", json={})
    _assert_missing(resp.status_code, resp.json(), [READ])
    resp = _call(sandbox, token, "POST", "/crm/v3/objects/0-1/batch/read", json={"inputs": [{"id": _cid(sandbox)}]})
    _assert_missing(resp.status_code, resp.json(), [READ])
    made = _call(sandbox, token, "POST", "/crm/v3/objects/notes", json={"properties": {"hs_timestamp": "0"}})
    assert made.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/crm/v3/owners", "crm.objects.owners.read"),
        ("GET", "/crm/v3/owners/1", "crm.objects.owners.read"),
        ("GET", "/crm/v3/schemas", "crm.schemas.custom.read"),
        ("GET", "/crm-object-schemas/v3/schemas", "crm.schemas.custom.read"),
        ("GET", "/crm/v3/properties/contacts", "crm.schemas.contacts.read"),
        ("GET", "/crm/v3/properties/0-1/email", "crm.schemas.contacts.read"),
        ("POST", "/crm/v3/properties/contacts", "crm.schemas.contacts.write"),
        ("GET", "/crm/v3/properties/tasks", "crm.schemas.tasks.read"),
        ("POST", "/crm/v3/properties/notes/groups", "crm.schemas.notes.write"),
        ("GET", "/properties/v2/contacts/properties", "crm.schemas.contacts.read"),
        ("GET", "/crm/v3/objects/tasks", READ),
        ("POST", "/crm/v3/objects/notes/batch/create", WRITE),
        ("POST", "/crm/v3/objects/contacts/merge", WRITE),
        ("DELETE", "/crm/v3/objects/contact/1", WRITE),
    ],
)
def test_each_route_requires_its_scope(sandbox, method, path, scope):
    others = [s for s in KNOWN_SCOPES if s != scope]
    resp = _call(sandbox, _mint(sandbox, others), method, path, json={})
    _assert_missing(resp.status_code, resp.json(), [scope])
    allowed = _call(sandbox, _mint(sandbox, [scope]), method, path, json={})
    assert allowed.status_code != 403


def test_associations_need_the_read_scope_of_both_object_types(sandbox):
    cid = _cid(sandbox)
    token = _mint(sandbox, [READ])
    assert _call(sandbox, token, "GET", f"/crm/v4/objects/contacts/{cid}/associations/tasks").status_code == 200
    resp = _call(
        sandbox, token, "POST", "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": cid}]}
    )
    _assert_missing(resp.status_code, resp.json(), ["crm.objects.companies.read"])
    both = _mint(sandbox, [READ, "crm.objects.companies.read"])
    ok = _call(
        sandbox, both, "POST", "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": cid}]}
    )
    assert ok.status_code == 207 and ok.json()["numErrors"] == 1
    none = _call(sandbox, _mint(sandbox, []), "GET", f"/crm/v4/objects/0-1/{cid}/associations/company")
    assert none.status_code == 403
    assert none.json()["errors"][0]["context"]["requiredGranularScopes"] == [READ, "crm.objects.companies.read"]


def test_unknown_tokens_are_401_and_unknown_routes_404_before_scopes(sandbox):
    assert _call(sandbox, "pat-na1-nope", "GET", "/crm/v3/objects/contacts").status_code == 401
    assert _call(sandbox, _mint(sandbox, []), "GET", "/crm/v3/nothing-here").status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"scopes": ["crm.objects.contacts.reed"]}, "unknown scopes"),
        ({"scopes": "crm.objects.contacts.read"}, "list"),
        ({}, "required"),
        ({"scopes": [], "extra": 1}, "unknown fields"),
        ([], "JSON object"),
    ],
)
def test_token_control_validates_its_body(sandbox, body, needle):
    resp = requests.post(sandbox.url + "/_sandbox/tokens", json=body, timeout=5)
    assert resp.status_code == 400 and needle in resp.json()["error"]


def test_minted_tokens_are_gone_after_reset(sandbox):
    token = _mint(sandbox, [READ])
    assert _call(sandbox, token, "GET", "/crm/v3/objects/contacts").status_code == 200
    requests.post(sandbox.url + "/_sandbox/reset", timeout=5)
    assert _call(sandbox, token, "GET", "/crm/v3/objects/contacts").status_code == 401


def test_every_hubspot_route_declares_its_scopes():
    app = build_app(World(SandboxConfig(contacts=5, seed=1, start_ms=1_767_225_600_000)))
    hubspot_routes = [r for r in app.app.routes if not r.path.startswith(("/3.0", "/_sandbox", "/mailchimp-api-batch"))]
    assert len(hubspot_routes) > 40
    missing = [r.path for r in hubspot_routes if getattr(r, "hubspot_scopes", None) is None]
    assert missing == []
    declared = set()
    for r in hubspot_routes:
        need = r.hubspot_scopes
        for params in (
            {},
            {"objectType": "contacts", "toObjectType": "tasks"},
            {"objectType": "0-27"},
            {"objectType": "notes", "toObjectType": "companies"},
        ):
            groups = need(params) if callable(need) else need
            declared |= {s for g in groups for s in g}
    assert declared == set(KNOWN_SCOPES) - {"crm.objects.companies.write", "crm.schemas.custom.write"}


def test_configured_default_token_scopes():
    config = SandboxConfig(contacts=5, seed=1, start_ms=1_767_225_600_000, hubspot_scopes=(READ,))
    with SandboxServer(config) as sb:
        token = config.hubspot_token
        assert _call(sb, token, "GET", "/crm/v3/objects/contacts").status_code == 200
        assert _call(sb, token, "GET", "/crm/v3/owners").status_code == 403
    with pytest.raises(ValueError, match="unknown scopes"):
        SandboxConfig(hubspot_scopes=("contacts",))


def test_burst_limit_per_token_daily_limit_per_account():
    # burst 100 per 10 s scaled by 0.05 -> 5 requests per rolling 10 s, for each private app; the limits'
    # clock stands still, so every request below lands in one window however long it takes
    config = SandboxConfig(contacts=5, seed=1, start_ms=1_767_225_600_000, hubspot_burst=100, rate_scale=0.05)
    with SandboxServer(world=World(config, limits_clock=lambda: 0.0)) as sb:
        first, second = config.hubspot_token, _mint(sb, [READ])
        answers = [_call(sb, first, "GET", "/crm/v3/objects/contacts?limit=1") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        other = _call(sb, second, "GET", "/crm/v3/objects/contacts?limit=1")
        assert other.status_code == 200 and other.headers["X-HubSpot-RateLimit-Remaining"] == "4"
        daily = int(other.headers["X-HubSpot-RateLimit-Daily"])
        assert int(other.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == daily - 6  # 5 + 1, one account
