"""HubSpot's rate limits as the SDK sees them: the rolling 10 s burst and the search limit per second.

The sandbox's limits run on a clock the test holds (World(limits_clock=...)): any number of requests
land "within" a window because the clock stands still, and it moves only when the test moves it, so every
count below is exact and nothing sleeps.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest
from urllib3.util.retry import Retry

from sandbox.limits import HUBSPOT_DAILY
from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig, World

# burst 100 per 10 s scaled by 0.05 -> 5 requests per rolling 10 s; search 4/s -> 1 per second
CONFIG = SandboxConfig(contacts=50, seed=7, start_ms=1_767_225_600_000, hubspot_burst=100, rate_scale=0.05)
T0 = 5_000.0


class LimitsClock:
    """Monotonic seconds that move only when the test sets them."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> LimitsClock:
    return LimitsClock()


@pytest.fixture
def sandbox(clock: LimitsClock):
    with SandboxServer(world=World(CONFIG, limits_clock=clock)) as sb:
        yield sb


def _headers(raw) -> dict[str, str]:
    return {k.lower(): v for k, v in raw.items()}


def _get(hubspot) -> dict[str, str]:
    """A plain request that must be served; its headers."""
    _, status, headers = hubspot.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert status == 200
    return _headers(headers)


def _search(hubspot) -> dict[str, str]:
    _, status, headers = hubspot.crm.contacts.search_api.do_search_with_http_info(
        public_object_search_request=PublicObjectSearchRequest(limit=1)
    )
    assert status == 200
    return _headers(headers)


def _refused(call, hubspot, policy: str) -> tuple[dict, dict[str, str]]:
    """The request gets HubSpot's 429 for `policy`; (body, headers)."""
    with pytest.raises(ApiException) as caught:
        call(hubspot)
    assert caught.value.status == 429
    body, headers = json.loads(caught.value.body), _headers(caught.value.headers)
    window = {"TEN_SECONDLY_ROLLING": "ten_secondly_rolling", "SECONDLY": "secondly"}[policy]
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT" and body["policyName"] == policy
    assert body["message"] == f"You have reached your {window} limit."
    uuid.UUID(body["correlationId"])
    uuid.UUID(body["requestId"])
    return body, headers


def _remaining(headers: dict[str, str]) -> int:
    return int(headers["x-hubspot-ratelimit-remaining"])


def test_the_sixth_request_in_a_window_gets_the_429(hubspot, sandbox):
    served = [_get(hubspot) for _ in range(5)]
    assert [_remaining(h) for h in served] == [4, 3, 2, 1, 0]
    for k, h in enumerate(served, start=1):
        assert h["x-hubspot-ratelimit-max"] == "5" and h["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
        assert h["x-hubspot-ratelimit-daily"] == str(HUBSPOT_DAILY)
        assert h["x-hubspot-ratelimit-daily-remaining"] == str(HUBSPOT_DAILY - k)

    _, headers = _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")
    assert headers["x-hubspot-ratelimit-max"] == "5" and headers["x-hubspot-ratelimit-remaining"] == "0"
    assert headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    assert headers["x-hubspot-ratelimit-daily-remaining"] == str(HUBSPOT_DAILY - 5)  # a refusal is not counted
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")  # and every one after it, while the clock stands still
    stats = sandbox.world.stats.snapshot(sandbox.world.faults)
    assert stats["rate_limited"]["hubspot"] == 2 and stats["responses"] == {"200": 5, "429": 2}


def test_the_budget_is_back_when_the_clock_has_moved_ten_seconds(hubspot, clock):
    for _ in range(5):
        _get(hubspot)
    clock.t = T0 + 9.999
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")
    clock.t = T0 + 10.0  # each request counts for 10 s: at T0 + 10 the five have left the window
    assert [_remaining(_get(hubspot)) for _ in range(5)] == [4, 3, 2, 1, 0]
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")


def test_the_window_rolls_request_by_request(hubspot, clock):
    for at, n in ((T0, 2), (T0 + 4, 3)):
        clock.t = at
        for _ in range(n):
            _get(hubspot)
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")
    clock.t = T0 + 10  # the two of T0 have left, the three of T0 + 4 have not
    assert [_remaining(_get(hubspot)) for _ in range(2)] == [1, 0]
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")
    clock.t = T0 + 14  # the three of T0 + 4 leave in turn; the two of T0 + 10 stay
    assert [_remaining(_get(hubspot)) for _ in range(3)] == [2, 1, 0]
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")


def test_remaining_follows_the_clock_between_requests(hubspot, clock):
    for at in (T0, T0 + 3, T0 + 6):
        clock.t = at
        _get(hubspot)
    clock.t = T0 + 13  # T0 and T0 + 3 have left: this request finds one in the window
    assert _remaining(_get(hubspot)) == 3


def test_retry_after_is_when_the_window_has_room_on_the_limits_clock(hubspot, sandbox, clock):
    """The figure the limiter derives for a refusal (Verdict.retry_after_s); the sandbox does not serve it
    as a header on these 429s (only an injected 429 fault carries Retry-After: 1)."""
    limiter, token = sandbox.world.hubspot_limiter, sandbox.world.config.hubspot_token
    for at in (T0, T0 + 2, T0 + 2, T0 + 5, T0 + 7):
        clock.t = at
        _get(hubspot)
    clock.t = T0 + 8.5
    verdict = limiter.check(token, is_search=False)
    assert (verdict.allowed, verdict.policy, verdict.retry_after_s) == (False, "TEN_SECONDLY_ROLLING", 1.5)
    _, headers = _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")
    assert "retry-after" not in headers
    clock.t = T0 + 10  # when it said: the first request has left, the two of T0 + 2 not yet
    assert _remaining(_get(hubspot)) == 0
    verdict = limiter.check(token, is_search=False)
    assert (verdict.allowed, verdict.retry_after_s) == (False, 2.0)


def test_one_search_per_second_in_a_five_per_window_world(hubspot, sandbox, clock):
    _search(hubspot)
    _, headers = _refused(_search, hubspot, "SECONDLY")
    assert headers["x-hubspot-ratelimit-max"] == "5"
    assert _remaining(_get(hubspot)) == 3  # a plain request is not held back by the search limit
    clock.t = T0 + 0.999
    _refused(_search, hubspot, "SECONDLY")
    verdict = sandbox.world.hubspot_limiter.check(sandbox.world.config.hubspot_token, is_search=True)
    assert (verdict.policy, verdict.retry_after_s) == ("SECONDLY", pytest.approx(0.001))
    clock.t = T0 + 1.0
    assert _remaining(_search(hubspot)) == 2  # the refused searches were not counted
    _refused(_search, hubspot, "SECONDLY")
    assert sandbox.world.stats.rate_limited["hubspot"] == 3


def test_searches_count_toward_the_burst(hubspot, sandbox, clock):
    for k in range(5):
        clock.t = T0 + k
        assert _remaining(_search(hubspot)) == 4 - k
    clock.t = T0 + 5  # the search second is free, the burst is not
    _refused(_search, hubspot, "TEN_SECONDLY_ROLLING")
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")
    clock.t = T0 + 5.5  # a search refused by the burst did not use up this second's search
    verdict = sandbox.world.hubspot_limiter.check(sandbox.world.config.hubspot_token, is_search=True)
    assert (verdict.policy, verdict.retry_after_s) == ("TEN_SECONDLY_ROLLING", 4.5)
    clock.t = T0 + 10
    assert _remaining(_search(hubspot)) == 0


def test_a_refusal_waits_for_every_window_it_needs(hubspot, sandbox, clock):
    _search(hubspot)
    for _ in range(4):
        _get(hubspot)
    clock.t = T0 + 0.5  # both windows are full: the refusal names the search limit, waits for the burst too
    verdict = sandbox.world.hubspot_limiter.check(sandbox.world.config.hubspot_token, is_search=True)
    assert (verdict.allowed, verdict.policy, verdict.retry_after_s) == (False, "SECONDLY", 9.5)
    _refused(_search, hubspot, "SECONDLY")
    clock.t = T0 + 10
    _search(hubspot)


def test_each_private_app_has_its_own_window_and_the_account_one_daily_count(hubspot, sandbox, clock):
    minted = requests.post(sandbox.url + "/_sandbox/tokens", json={"scopes": ["crm.objects.contacts.read"]}, timeout=10)
    assert minted.status_code == 200, minted.text
    no_retry = Retry(total=0, redirect=0, raise_on_status=False, respect_retry_after_header=False)
    other = HubSpot(access_token=minted.json()["token"], host=sandbox.url, base_url=sandbox.url, retry=no_retry)
    for _ in range(5):
        _get(hubspot)
    _refused(_get, hubspot, "TEN_SECONDLY_ROLLING")
    answers = [_get(other) for _ in range(5)]
    assert [_remaining(h) for h in answers] == [4, 3, 2, 1, 0]
    assert answers[-1]["x-hubspot-ratelimit-daily-remaining"] == str(HUBSPOT_DAILY - 10)
    _refused(_get, other, "TEN_SECONDLY_ROLLING")
