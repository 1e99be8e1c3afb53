"""Mailchimp's 10 simultaneous connections per key, as the sandbox serves it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from mailchimp_marketing.api_client import ApiClientError

from sandbox.world import SandboxConfig
from tests.conftest import make_mailchimp
from tests.contract.mailchimp_spec import validate_problem, validate_response


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    # every answer takes 200 ms, so 15 requests fired together overlap
    return SandboxConfig(contacts=50, seed=3, start_ms=1_767_225_600_000, latency_ms=200)


def test_more_than_ten_in_flight_get_429(sandbox):
    def call(_: int) -> tuple[int, object]:
        client = make_mailchimp(sandbox)
        try:
            return 200, client.ping.get()
        except ApiClientError as exc:
            return exc.status_code, exc.text

    with ThreadPoolExecutor(max_workers=15) as pool:
        results = list(pool.map(call, range(15)))
    ok = [body for status, body in results if status == 200]
    limited = [body for status, body in results if status == 429]
    assert len(ok) + len(limited) == 15
    assert 1 <= len(ok) <= 10 and len(limited) >= 5
    for body in ok:
        validate_response("GET", "/ping", body)
    for body in limited:
        validate_problem(body)
        assert "simultaneous connections" in body
    assert sandbox.world.stats.rate_limited["mailchimp"] == len(limited)
