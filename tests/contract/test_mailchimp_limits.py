"""Mailchimp's 10 simultaneous connections per key, as the official SDK meets them.

The requests the limit admits are held inside the sandbox by a gate (World.mailchimp_gate) until the test
releases them, so "in flight" is a fact the test controls, not an overlap hoped for from a latency: the
outcomes below are exact. The timeouts only keep a broken sandbox from hanging the run.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed

import pytest
from mailchimp_marketing.api_client import ApiClientError

from sandbox.limits import RequestGate
from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig, World
from tests.conftest import make_mailchimp
from tests.contract.mailchimp_spec import validate_problem, validate_response

CONFIG = SandboxConfig(contacts=50, seed=3, start_ms=1_767_225_600_000)
GUARD_S = 30  # a hang guard only


@pytest.fixture
def gate() -> RequestGate:
    return RequestGate()


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return CONFIG


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig, gate: RequestGate):
    with SandboxServer(world=World(sandbox_config, mailchimp_gate=gate)) as sb:
        try:
            yield sb
        finally:
            gate.release()  # whatever a failed test left held, so the server can stop


@pytest.fixture
def pool():
    with ThreadPoolExecutor(max_workers=20) as executor:
        yield executor


def _ping(sb: SandboxServer) -> tuple[int, object]:
    try:
        return 200, make_mailchimp(sb).ping.get()
    except ApiClientError as exc:
        return exc.status_code, exc.text


def _first_done(futures: list[Future], n: int) -> list[Future]:
    done = []
    for future in as_completed(futures, timeout=GUARD_S):
        done.append(future)
        if len(done) == n:
            return done
    return done


def _in_flight(sb: SandboxServer) -> int:
    return sb.world.mailchimp_in_flight.in_flight(sb.world.config.mailchimp_key)


def _assert_refused(result: tuple[int, object], limit: int = 10) -> None:
    status, body = result
    assert status == 429
    validate_problem(body)
    assert f"You have exceeded the limit of {limit} simultaneous connections." in body


def test_ten_in_flight_then_the_11th_to_15th_get_429(sandbox, gate, pool):
    calls = [pool.submit(_ping, sandbox) for _ in range(15)]
    assert gate.wait_held(10, GUARD_S)
    refused = _first_done(calls, 5)  # the ten admitted cannot finish: they are held
    assert len(refused) == 5
    for future in refused:
        _assert_refused(future.result())
    assert gate.held == 10 and _in_flight(sandbox) == 10
    assert sum(f.done() for f in calls) == 5
    _assert_refused(_ping(sandbox))  # and the 16th, while the ten are still in flight
    assert sandbox.world.stats.rate_limited["mailchimp"] == 6
    assert sandbox.world.mailchimp_in_flight.peak == 10

    assert gate.release() == 10
    held = [f for f in calls if f not in refused]
    for future in held:
        status, body = future.result(timeout=GUARD_S)
        assert status == 200
        validate_response("GET", "/ping", body)
    assert gate.wait_finished(10, GUARD_S)
    assert _in_flight(sandbox) == 0 and gate.held == 0
    assert sandbox.world.stats.rate_limited["mailchimp"] == 6


def test_released_slots_are_given_back_one_by_one(sandbox, gate, pool):
    first = [pool.submit(_ping, sandbox) for _ in range(10)]
    assert gate.wait_held(10, GUARD_S) and _in_flight(sandbox) == 10
    _assert_refused(_ping(sandbox))

    assert gate.release(1) == 1  # one answered: its slot is free again, and only its slot
    assert gate.wait_finished(1, GUARD_S) and _in_flight(sandbox) == 9
    answered = _first_done(first, 1)
    assert answered[0].result()[0] == 200 and sum(f.done() for f in first) == 1
    eleventh = pool.submit(_ping, sandbox)
    assert gate.wait_held(10, GUARD_S) and _in_flight(sandbox) == 10
    _assert_refused(_ping(sandbox))

    assert gate.release() == 10
    assert [f.result(timeout=GUARD_S)[0] for f in [*first, eleventh]] == [200] * 11
    assert gate.wait_finished(11, GUARD_S) and _in_flight(sandbox) == 0
    # every slot came back: ten at once are admitted again, the next is refused
    again = [pool.submit(_ping, sandbox) for _ in range(10)]
    assert gate.wait_held(10, GUARD_S)
    _assert_refused(_ping(sandbox))
    gate.release()
    assert [f.result(timeout=GUARD_S)[0] for f in again] == [200] * 10
    assert sandbox.world.stats.rate_limited["mailchimp"] == 3


@pytest.mark.parametrize("rate_scale, limit", [(0.3, 3), (0.05, 1)])
def test_rate_scale_scales_the_connection_limit(rate_scale, limit, gate, pool):
    config = SandboxConfig(contacts=20, seed=3, start_ms=1_767_225_600_000, rate_scale=rate_scale)
    with SandboxServer(world=World(config, mailchimp_gate=gate)) as sb:
        try:
            calls = [pool.submit(_ping, sb) for _ in range(limit)]
            assert gate.wait_held(limit, GUARD_S)
            _assert_refused(_ping(sb), limit)
        finally:
            gate.release()
        assert [f.result(timeout=GUARD_S)[0] for f in calls] == [200] * limit


def test_a_reset_during_a_request_leaves_the_new_limit_whole(sandbox, gate, pool):
    held = pool.submit(_ping, sandbox)
    assert gate.wait_held(1, GUARD_S)
    sandbox.world.reset()  # a new limiter: the held request's slot belongs to the old one
    gate.release()
    assert held.result(timeout=GUARD_S)[0] == 200
    assert gate.wait_finished(1, GUARD_S) and _in_flight(sandbox) == 0
    calls = [pool.submit(_ping, sandbox) for _ in range(10)]
    assert gate.wait_held(10, GUARD_S)
    _assert_refused(_ping(sandbox))  # still exactly ten, not eleven
    gate.release()
    assert [f.result(timeout=GUARD_S)[0] for f in calls] == [200] * 10


def test_without_a_gate_nothing_is_held(pool):
    with SandboxServer(CONFIG) as sb:
        assert sb.world.mailchimp_gate is None
        results = [f.result(timeout=GUARD_S) for f in [pool.submit(_ping, sb) for _ in range(5)]]
        assert [status for status, _ in results] == [200] * 5
