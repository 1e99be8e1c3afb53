"""THE retry policy. Every remote call goes through `retry_call`; nothing else retries (the SDKs' own
urllib3 retries stay off), so waits never multiply.

Only `connectors.base.RetriableError` is retried (429, 5xx, dropped connections). A server's Retry-After
is honoured up to a cap; otherwise exponential backoff with jitter. Bounded by attempts AND total time;
when the next wait would pass the time budget the last error is raised at once instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar, cast

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from contracts.errors import RetriableError
from contracts.retry import OnRetry

T = TypeVar("T")

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
JITTER_S = 0.5  # spread replicas that failed together, so they do not retry in lockstep
# HubSpot's ten-secondly 429 asks for at most 10 s; a longer Retry-After (a daily limit) is capped so a
# job fails within its time budget rather than sleeping for hours.
RETRY_AFTER_CAP_S = 60.0


_log = structlog.get_logger()


def retry_call(
    fn: Callable[[], T],
    *,
    attempts: int = 6,
    max_total_s: float = 120,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> T:
    """Call `fn()` until it returns, retrying RetriableError only; return its result.

    `attempts` bounds the number of calls and `max_total_s` the time spent, counting both the clock and
    the waits asked of `sleep` (so an injected no-op sleep still sees the budget run out). `on_retry(exc,
    attempt, wait_s)` is called before each wait (default: a `retry.scheduled` log event).
    Raises whatever `fn` raised last: at once for any other exception, at the end for RetriableError.
    """

    def stop_on_time(state: RetryCallState) -> bool:
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + state.upcoming_sleep > max_total_s

    def before_sleep(state: RetryCallState) -> None:
        # Only RetriableError reaches a wait: the retry predicate lets nothing else through.
        exc = cast(RetriableError, state.outcome.exception() if state.outcome else None)
        (on_retry or _log_retry)(exc, state.attempt_number, state.upcoming_sleep)

    retrying = Retrying(
        retry=retry_if_exception_type(RetriableError),
        stop=stop_after_attempt(attempts) | stop_on_time,  # type: ignore[operator]  # tenacity's stop combinator
        wait=_wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)


_backoff = wait_exponential_jitter(multiplier=BACKOFF_BASE_S, max=BACKOFF_CAP_S, jitter=JITTER_S)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(max(float(retry_after), 0.0), RETRY_AFTER_CAP_S)
    return _backoff(state)


def _log_retry(exc: RetriableError, attempt: int, wait_s: float) -> None:
    _log.warning(
        "retry.scheduled",
        service=exc.service,
        status=exc.status,
        attempt=attempt,
        wait_s=round(wait_s, 3),
        error=str(exc),
    )
