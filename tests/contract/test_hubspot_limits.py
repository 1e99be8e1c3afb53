"""HubSpot rate limits as the SDK sees them: the rolling 10 s burst and the search 4/s limit."""
from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest

from sandbox.world import SandboxConfig


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    # burst 100 per 10 s scaled by 0.05 -> 5 requests per rolling 10 s; search 4/s -> 1 per second
    return SandboxConfig(contacts=50, seed=7, start_ms=1_767_225_600_000, hubspot_burst=100, rate_scale=0.05)


def _until_429(call, attempts: int = 50) -> tuple[int, ApiException]:
    for k in range(attempts):
        try:
            call()
        except ApiException as exc:
            if exc.status == 429:
                return k, exc
            raise
    pytest.fail("no 429 was served")


def test_burst_limit_answers_429_ten_secondly_rolling(hubspot):
    served, exc = _until_429(lambda: hubspot.crm.contacts.basic_api.get_page(limit=1))
    assert served == 5
    body = json.loads(exc.body)
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["correlationId"] and body["status"] == "error"
    headers = {k.lower(): v for k, v in exc.headers.items()}
    assert headers["x-hubspot-ratelimit-max"] == "5"
    assert headers["x-hubspot-ratelimit-remaining"] == "0"
    assert headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    assert int(headers["x-hubspot-ratelimit-daily-remaining"]) < int(headers["x-hubspot-ratelimit-daily"])


def test_search_limit_answers_429_secondly(hubspot):
    request = PublicObjectSearchRequest(limit=1)
    served, exc = _until_429(lambda: hubspot.crm.contacts.search_api.do_search(public_object_search_request=request))
    assert served == 1
    body = json.loads(exc.body)
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "SECONDLY"
    assert body["message"] == "You have reached your secondly limit."
