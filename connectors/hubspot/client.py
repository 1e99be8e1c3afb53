"""The official HubSpot SDK set up for syncd, and the one path every HubSpot call takes.

Path of a call: budget (client-side pacing) -> SDK call with `_preload_content=False` -> JSON parsed
here -> errors classified -> CallStats. The SDK still builds, authenticates and sends every request; we
only skip its generated-model deserialization, which costs ~85% of the CPU of a bulk read (API_NOTES).
Retries happen in exactly one place, the injected `retry` (the composition root passes syncd's policy):
urllib3's own retries are switched off so a failed request is never silently re-sent underneath it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any, NamedTuple, Protocol

import urllib3
from hubspot import HubSpot

from connectors.errors import CallStats, classify_hubspot, retry_hook
from connectors.hubspot.translate import BATCH_MAX
from connectors.limiter import HubSpotBudget
from contracts.errors import RetriableError
from contracts.retry import RetryPolicy, once

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds; a batch of 100 answers well within a minute
POOL_SIZE = 10  # keep-alive connections per API object


class Budget(Protocol):
    """What connectors.limiter.HubSpotBudget offers: pace before a call, learn from the headers after."""

    def acquire(self, search: bool = False) -> float: ...

    def observe(self, headers: Any) -> None: ...


class Reply(NamedTuple):
    status: int
    body: Any  # parsed JSON, or None for an empty body


class HubSpotClient:
    """The SDK plus the API objects syncd uses, each built once.

    Every `HubSpot().crm.contacts.basic_api` access builds a new ApiClient with its own connection pool,
    so the objects are cached here to keep connections alive between calls.
    """

    def __init__(self, sdk: HubSpot, token: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.sdk = sdk
        self.token = token  # kept only to scrub it from error messages
        self.timeout = timeout

    @cached_property
    def contacts_basic(self) -> Any:
        return self.sdk.crm.contacts.basic_api

    @cached_property
    def contacts_search(self) -> Any:
        return self.sdk.crm.contacts.search_api

    @cached_property
    def contacts_batch(self) -> Any:
        return self.sdk.crm.contacts.batch_api

    @cached_property
    def owners(self) -> Any:
        return self.sdk.crm.owners.owners_api

    @cached_property
    def properties(self) -> Any:
        return self.sdk.crm.properties.core_api

    @cached_property
    def property_groups(self) -> Any:
        return self.sdk.crm.properties.groups_api

    @cached_property
    def tasks_basic(self) -> Any:
        return self.sdk.crm.objects.tasks.basic_api

    @cached_property
    def tasks_batch(self) -> Any:
        return self.sdk.crm.objects.tasks.batch_api

    @cached_property
    def notes_basic(self) -> Any:
        return self.sdk.crm.objects.notes.basic_api

    @cached_property
    def notes_batch(self) -> Any:
        return self.sdk.crm.objects.notes.batch_api

    @cached_property
    def associations(self) -> Any:
        return self.sdk.crm.associations.v4.basic_api

    @cached_property
    def associations_batch(self) -> Any:
        return self.sdk.crm.associations.v4.batch_api


def make_hubspot_client(
    token: str, base_url: str = DEFAULT_BASE_URL, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT
) -> HubSpotClient:
    """The official SDK aimed at `base_url` (the real API or the sandbox), without urllib3 retries.

    `host=` reaches every generated API; `base_url=` only `api_request()` (API_NOTES). Raises nothing:
    the SDK connects lazily.
    """
    sdk = HubSpot(
        access_token=token,
        host=base_url,
        base_url=base_url,
        # total=0: the first failure surfaces at once (wrapped in MaxRetryError, unwrapped by the
        # classifier); tenacity in syncd.retrying is the only retry layer.
        retry=urllib3.Retry(total=0, redirect=0, raise_on_status=False, respect_retry_after_header=False),
        connection_pool_maxsize=POOL_SIZE,
    )
    return HubSpotClient(sdk, token, timeout)


class HubSpotCalls:
    """Base of HubSpotSource/HubSpotSink: owns the client, the stats, the retry policy and the budget.

    `retry(fn, on_retry=callback)` must call `fn` until it returns or raises a non-retriable error
    (contracts.retry.RetryPolicy; the composition root injects syncd's; without one, each call
    is made once). `budget` paces calls before they are sent (default:
    HubSpotBudget() for the 190-per-10-s tiers, which also learns the real limit from the response
    headers); share one per token.
    """

    def __init__(
        self,
        client: HubSpotClient,
        stats: CallStats,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        batch_size: int = BATCH_MAX,
    ) -> None:
        self.client = client
        self.stats = stats
        self.batch_size = max(1, min(int(batch_size), BATCH_MAX))  # inputs per batch call: 100 at most
        self._retry: RetryPolicy = retry or once
        self._budget: Budget = budget if budget is not None else HubSpotBudget()

    def _call(
        self,
        endpoint: str,
        method: Callable[..., Any],
        *args: Any,
        search: bool = False,
        record_key: str | None = None,
        retried: bool = True,
        **kwargs: Any,
    ) -> Reply:
        """Run one SDK call (through the retry policy unless `retried=False`).

        Returns the status and parsed JSON body. Raises FatalError, RetriableError (after the retries)
        or SkippableError (only when `record_key` names the one record the call was about).
        """

        def attempt() -> Reply:
            return self._attempt(endpoint, method, args, kwargs, search, record_key)

        if not retried:
            return attempt()
        return self._retry(attempt, on_retry=retry_hook(self.stats, endpoint))

    def _attempt(
        self, endpoint: str, method: Callable[..., Any], args: tuple, kwargs: dict, search: bool, record_key: str | None
    ) -> Reply:
        self._budget.acquire(search=search)
        self.stats.called(endpoint)
        try:
            try:
                response = method(*args, _preload_content=False, _request_timeout=self.client.timeout, **kwargs)
                try:
                    raw = response.data  # reads the whole body: a connection cut mid-body raises here
                finally:
                    response.release_conn()
            finally:
                self.stats.returned(endpoint)
        except Exception as exc:  # any SDK/urllib3 failure: classify, never leak the raw exception
            error = classify_hubspot(exc, endpoint, record_key=record_key, secrets=(self.client.token,))
            headers = getattr(exc, "headers", None)
            if headers:
                self._budget.observe(headers)
            self.stats.failed(endpoint, error)
            raise error from None
        self._budget.observe(response.headers)
        return Reply(response.status, self._parse(endpoint, raw))

    def _parse(self, endpoint: str, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            error = RetriableError(f"{endpoint}: unreadable JSON response", service="hubspot")
            self.stats.failed(endpoint, error)
            raise error from None
