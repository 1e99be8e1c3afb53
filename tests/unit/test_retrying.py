from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.errors import FatalError, RetriableError, SkippableError
from contracts.retry import parse_retry_after, seconds_from
from syncd.retrying import BACKOFF_CAP_S, RETRY_AFTER_CAP_S, retry_call

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Script:
    """A callable that answers a scripted list of HTTP-like statuses: an int >= 500/429 raises."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self) -> str:
        step = self.steps[self.calls]
        self.calls += 1
        if isinstance(step, BaseException):
            raise step
        if step in (429, 500, 502, 503):
            raise RetriableError(f"status {step}", service="hubspot", status=int(step))
        return f"ok {step}"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_503_503_200_takes_three_calls_and_two_backoff_waits() -> None:
    fn, sleeps = Script(503, 503, 200), Sleeps()
    assert retry_call(fn, sleep=sleeps) == "ok 200"
    assert fn.calls == 3 and len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 1.5  # 0.5 s doubling, plus up to 0.5 s jitter


def test_retry_after_is_honoured_and_capped() -> None:
    fn, sleeps = (
        Script(
            RetriableError("429", status=429, retry_after=7.0),
            RetriableError("429", status=429, retry_after=3600.0),
            200,
        ),
        Sleeps(),
    )
    assert retry_call(fn, sleep=sleeps, max_total_s=1000) == "ok 200"
    assert sleeps == [7.0, RETRY_AFTER_CAP_S]


def test_fatal_and_skippable_errors_are_not_retried() -> None:
    for error in (
        FatalError("401 bad token", status=401),
        SkippableError("bad email", record_key="x"),
        KeyError("not a connector error"),
    ):
        fn, sleeps = Script(error, 200), Sleeps()
        with pytest.raises(type(error)):
            retry_call(fn, sleep=sleeps)
        assert fn.calls == 1 and sleeps == []


def test_attempts_bound_reraises_the_last_error() -> None:
    last = RetriableError("last one", status=502)
    fn, sleeps = Script(503, 503, last, 200), Sleeps()
    with pytest.raises(RetriableError) as err:
        retry_call(fn, attempts=3, sleep=sleeps)
    assert err.value is last and fn.calls == 3 and len(sleeps) == 2


def test_time_bound_stops_before_a_wait_that_would_pass_it() -> None:
    waits = [RetriableError("429", status=429, retry_after=4.0) for _ in range(5)]
    fn, sleeps = Script(*waits, 200), Sleeps()
    with pytest.raises(RetriableError):
        retry_call(fn, attempts=10, max_total_s=10, sleep=sleeps)
    # 4 + 4 = 8 s spent; a third 4 s wait would reach 12 s > 10 s, so it gives up after 3 calls.
    assert fn.calls == 3 and sleeps == [4.0, 4.0]


def test_on_retry_sees_error_attempt_and_wait() -> None:
    seen: list[tuple[int | None, int, float]] = []
    fn = Script(RetriableError("x", status=503, retry_after=2.0), 200)
    retry_call(fn, sleep=Sleeps(), on_retry=lambda exc, n, wait: seen.append((exc.status, n, wait)))
    assert seen == [(503, 1, 2.0)]


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=30))
def test_backoff_never_exceeds_its_cap(failures: int) -> None:
    fn, sleeps = Script(*([503] * failures), 200), Sleeps()
    retry_call(fn, attempts=failures + 1, max_total_s=10_000, sleep=sleeps)
    assert len(sleeps) == failures and all(0 <= s <= BACKOFF_CAP_S for s in sleeps)


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("7", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        ("Wed, 31 Dec 2025 23:59:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, seconds_from(NOW)) == expected


def test_parse_retry_after_with_naive_now_is_utc() -> None:
    naive = (NOW - timedelta(seconds=10)).replace(tzinfo=None)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", seconds_from(naive)) == 10.0
