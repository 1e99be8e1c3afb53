"""Injected faults as the official SDKs meet them: 429, 5xx, slow answers and dropped connections.

Each kind alone at rate 1.0, on both sides; then the seeded sequence is reproducible.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, SimplePublicObjectInputForCreate
from mailchimp_marketing.api_client import ApiClientError

from sandbox import app as sandbox_app
from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from tests.conftest import make_mailchimp
from tests.contract.mailchimp_spec import validate_problem

START_MS = 1_767_225_600_000


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=40, seed=9, start_ms=START_MS)


def make_hubspot(sb: SandboxServer) -> HubSpot:
    """The HubSpot SDK with urllib3's own retries off (as the connector configures it): urllib3 would
    otherwise retry a 429/503 carrying Retry-After, sleeping for it, and any failed read of a GET."""
    return HubSpot(
        access_token=sb.world.config.hubspot_token,
        host=sb.url,
        base_url=sb.url,
        retry=urllib3.Retry(total=0, redirect=0, raise_on_status=False, respect_retry_after_header=False),
    )


@pytest.fixture
def hubspot(sandbox: SandboxServer) -> HubSpot:
    return make_hubspot(sandbox)


def _faults(sb: SandboxServer, rate: float, kinds: list[str] | None = None, **extra: Any) -> None:
    r = requests.post(f"{sb.url}/_sandbox/faults", json={"rate": rate, "kinds": kinds or [], **extra}, timeout=10)
    assert r.status_code == 200, r.text


def _hubspot_status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as exc:
        return exc.status
    return 200


def _mailchimp_status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiClientError as exc:
        return exc.status_code
    return 200


def _served(sb: SandboxServer) -> dict[str, int]:
    return requests.get(f"{sb.url}/_sandbox/stats", timeout=10).json()["faults"]


# -- one kind at a time ----------------------------------------------------------------------------------
def test_429_fault_carries_retry_after_and_the_vendor_bodies(sandbox, hubspot, mailchimp):
    _faults(sandbox, 1.0, ["429"])
    with pytest.raises(ApiException) as hs:
        hubspot.crm.contacts.basic_api.get_page(limit=5)
    assert hs.value.status == 429
    assert {k.lower(): v for k, v in hs.value.headers.items()}["retry-after"] == "1"
    body = json.loads(hs.value.body)
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["correlationId"]

    with pytest.raises(ApiClientError) as mc:
        mailchimp.lists.get_list_members_info(sandbox.world.list_id, count=5)
    assert mc.value.status_code == 429
    validate_problem(mc.value.text)
    assert json.loads(mc.value.text)["status"] == 429
    # the Mailchimp SDK keeps no headers: the same answer, read raw
    raw = requests.get(f"{sandbox.url}/3.0/ping", auth=("any", sandbox.world.config.mailchimp_key), timeout=10)
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "1"
    assert raw.headers["content-type"].startswith("application/problem+json")
    assert _served(sandbox)["429"] == 3


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_error_faults_reach_both_sdks(sandbox, hubspot, mailchimp, kind):
    _faults(sandbox, 1.0, [kind])
    with pytest.raises(ApiException) as hs:
        hubspot.crm.contacts.basic_api.get_page(limit=5)
    assert hs.value.status == int(kind)
    with pytest.raises(ApiClientError) as mc:
        mailchimp.lists.get_list_members_info(sandbox.world.list_id, count=5)
    assert mc.value.status_code == int(kind)
    if kind == "500":  # the services' own error bodies
        assert json.loads(hs.value.body)["category"] == "INTERNAL_ERROR"
        validate_problem(mc.value.text)
    else:  # what a gateway in front of them answers
        assert f"<title>{kind} " in hs.value.body and f"<title>{kind} " in mc.value.text
    assert _served(sandbox)[kind] == 2
    _faults(sandbox, 0.0)
    assert len(hubspot.crm.contacts.basic_api.get_page(limit=5).results) == 5


class _RecordedSleeps:
    """Stands in for `asyncio` in sandbox.app: each sleep the sandbox asks for is recorded and takes no time."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


def test_slow_fault_delays_a_correct_answer(sandbox, hubspot, mailchimp, monkeypatch):
    expected_hs = hubspot.crm.contacts.basic_api.get_page(limit=10).to_dict()
    expected_mc = mailchimp.lists.get_list_members_info(sandbox.world.list_id, count=10)
    sleeps = _RecordedSleeps()
    monkeypatch.setattr(sandbox_app, "asyncio", sleeps)
    _faults(sandbox, 1.0, ["slow"])
    got_hs = hubspot.crm.contacts.basic_api.get_page(limit=10).to_dict()
    assert sleeps.asked == [0.25]  # the slow fault's wait (FaultInjector.slow_s), once for this request
    got_mc = mailchimp.lists.get_list_members_info(sandbox.world.list_id, count=10)
    assert sleeps.asked == [0.25, 0.25]
    assert got_hs == expected_hs and got_mc == expected_mc
    assert _served(sandbox)["slow"] == 2


def test_drop_fault_breaks_the_connection_mid_response(sandbox, hubspot, mailchimp):
    _faults(sandbox, 1.0, ["drop"])
    # HubSpot's SDK talks urllib3: a broken read is a protocol error (wrapped in MaxRetryError)
    with pytest.raises(urllib3.exceptions.HTTPError) as hs:
        hubspot.crm.contacts.basic_api.get_page(limit=5)
    assert "IncompleteRead" in repr(hs.value) or "Connection broken" in repr(hs.value)
    # Mailchimp's SDK talks requests and wraps what it raises: no status, the broken connection as text
    with pytest.raises(ApiClientError) as mc:
        mailchimp.lists.get_list_members_info(sandbox.world.list_id, count=5)
    assert mc.value.status_code is None
    assert "Connection broken" in str(mc.value.text)


def test_a_dropped_write_was_applied(sandbox, hubspot, mailchimp):
    _faults(sandbox, 1.0, ["drop"])
    with pytest.raises(urllib3.exceptions.HTTPError):
        hubspot.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
                properties={"email": "dropped.write@example.org", "firstname": "Dropped"}
            )
        )
    with pytest.raises(ApiClientError) as mc:
        mailchimp.lists.add_list_member(
            sandbox.world.list_id,
            {"email_address": "dropped.write@example.org", "status": "subscribed", "tags": ["syncd"]},
        )
    assert mc.value.status_code is None
    _faults(sandbox, 0.0)

    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=30).json()
    created = [c for c in state["hubspot"]["contacts"] if c["properties"]["email"] == "dropped.write@example.org"]
    assert len(created) == 1 and created[0]["properties"]["firstname"] == "Dropped"  # applied exactly once
    [member] = [m for m in state["mailchimp"]["members"] if m["email_address"] == "dropped.write@example.org"]
    assert member["status"] == "subscribed" and [t["name"] for t in member["tags"]] == ["syncd"]
    # and a client that retries the write learns it exists
    with pytest.raises(ApiException) as again:
        hubspot.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
                properties={"email": "dropped.write@example.org"}
            )
        )
    assert again.value.status == 409


def test_no_fault_at_rate_zero_and_control_endpoints_are_never_faulted(sandbox, hubspot):
    _faults(sandbox, 1.0, ["503"])
    for what in ("state", "stats", "clock", "faults"):
        assert requests.get(f"{sandbox.url}/_sandbox/{what}", timeout=30).status_code == 200
    _faults(sandbox, 0.0, ["503"])
    statuses = [_hubspot_status(lambda: hubspot.crm.contacts.basic_api.get_page(limit=1)) for _ in range(20)]
    assert statuses == [200] * 20


# -- seeded and reproducible ------------------------------------------------------------------------------
def _sequence(sb: SandboxServer, n: int = 40) -> list[int]:
    """n requests alternating between the SDKs; the status each got."""
    hs, mc = make_hubspot(sb), make_mailchimp(sb)
    out = []
    for k in range(n):
        if k % 2:
            out.append(_mailchimp_status(lambda: mc.lists.get_list_members_info(sb.world.list_id, count=2)))
        else:
            out.append(_hubspot_status(lambda: hs.crm.contacts.basic_api.get_page(limit=2)))
    return out


def test_the_same_seed_gives_the_same_faulted_requests():
    kinds = ("429", "500", "502", "503")
    config = SandboxConfig(
        contacts=30, seed=21, start_ms=START_MS, fault_rate=0.4, fault_kinds=kinds, rate_scale=100
    )  # no real 429 mixes in
    with SandboxServer(config) as a, SandboxServer(config) as b:
        first, second = _sequence(a), _sequence(b)
        assert first == second
        assert 5 <= sum(s != 200 for s in first) <= 30
        assert {s for s in first if s != 200} <= {429, 500, 502, 503}
        # re-seeding a running sandbox restarts its sequence
        _faults(a, 0.4, list(kinds), seed=21)
        assert _sequence(a) == first
        _faults(a, 0.4, list(kinds), seed=22)
        assert _sequence(a) != first


def test_reset_restarts_the_configured_fault_sequence():
    config = SandboxConfig(contacts=30, seed=4, start_ms=START_MS, fault_rate=0.5, fault_kinds=("503",))
    with SandboxServer(config) as sb:
        first = _sequence(sb, 20)
        assert requests.post(f"{sb.url}/_sandbox/reset", timeout=30).status_code == 200
        assert _sequence(sb, 20) == first
        assert 200 in first and 503 in first
