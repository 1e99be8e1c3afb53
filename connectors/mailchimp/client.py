"""The official Mailchimp Marketing SDK set up for syncd, and the one path every Mailchimp call takes.

Path of a call: in-flight slot (10 simultaneous connections per account) -> SDK call -> errors
classified -> CallStats. The SDK's exception drops the response headers, so the client records the last
response's headers per thread to read Retry-After from a 429.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import mailchimp_marketing
import requests
from mailchimp_marketing.api_client import ApiClientError

from connectors.errors import CallStats, classify_mailchimp, retry_hook
from connectors.limiter import InFlight
from contracts.errors import RetriableError
from contracts.retry import RetryPolicy, once

# Calls under /lists/{list_id}: a 404 without a record key means the audience itself is unknown.
_AUDIENCE_ENDPOINTS = ("mailchimp.members.", "mailchimp.merge_fields.", "mailchimp.segments.", "mailchimp.lists.")
DEFAULT_TIMEOUT = (5.0, 120.0)  # (connect, read) s; Mailchimp itself cuts a call at 120 s
IN_FLIGHT_MAX = 10  # 10 simultaneous connections per account, else 429


# Mailchimp keys are "<key>-<dc>" (the SDK splits on "-" and needs exactly one); the API of that key lives in
# its data centre.
API_KEY = re.compile(r"^[A-Za-z0-9]+-([a-z]+[0-9]+)$")


def default_base_url(api_key: str) -> str:
    """https://<dc>.api.mailchimp.com/3.0 from a `<key>-<dc>` API key. Raises ValueError without a dc."""
    match = API_KEY.match(api_key)
    if match is None:
        raise ValueError("MAILCHIMP_API_KEY must look like <key>-<dc> (e.g. ...-us21)")
    return f"https://{match.group(1)}.api.mailchimp.com/3.0"


class MailchimpClient:
    """The SDK client, its API key (kept only to scrub it from messages) and the last response headers."""

    def __init__(self, sdk: mailchimp_marketing.Client, api_key: str) -> None:
        self.sdk = sdk
        self.api_key = api_key
        self._local = threading.local()
        send = sdk.api_client.request

        def recording_request(
            method: str, url: str, query_params: Any = None, headers: Any = None, body: Any = None
        ) -> requests.Response:
            self._local.headers = None
            response = send(method, url, query_params, headers=headers, body=body)
            self._local.headers = response.headers
            return response

        # the SDK calls self.request(...); an instance attribute shadows the method for this client only
        sdk.api_client.request = recording_request

    def last_headers(self) -> Mapping[str, str] | None:
        """Headers of this thread's last response (None if it never arrived)."""
        return getattr(self._local, "headers", None)


def make_mailchimp_client(
    api_key: str, base_url: str | None = None, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT
) -> MailchimpClient:
    """The official SDK aimed at `base_url` (default: the key's data centre) per API_NOTES.

    server="server" makes the SDK's replace('server', dc) on the URL a no-op, so any host works,
    including one whose name contains "server". Raises ValueError for a key without a dc and no base_url.
    """
    sdk = mailchimp_marketing.Client({"api_key": api_key, "server": "server", "timeout": timeout})
    sdk.api_client.host = (base_url or default_base_url(api_key)).rstrip("/")
    return MailchimpClient(sdk, api_key)


class MailchimpCalls:
    """Base of MailchimpSource/MailchimpSink: client, audience id, stats, retry policy, in-flight cap.

    `retry(fn, on_retry=callback)` must call `fn` until it returns or raises a non-retriable error
    (contracts.retry.RetryPolicy; the composition root injects syncd's; without one, each call
    is made once). `in_flight` is a context manager held around each request
    (default: InFlight(10), Mailchimp's 10 simultaneous connections; share one across connectors that
    use the same API key).
    """

    def __init__(
        self,
        client: MailchimpClient,
        list_id: str,
        stats: CallStats,
        retry: RetryPolicy | None = None,
        in_flight: AbstractContextManager[Any] | None = None,
        direct_max: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        download_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        batch_size: int = 500,
    ) -> None:
        self.client = client
        self.list_id = list_id
        self.stats = stats
        self.direct_max = direct_max  # member writes up to this many go one call each, more as a batch
        self.batch_size = max(1, min(int(batch_size), 500))  # operations per batch, members per segment call
        self._sleep = sleep  # between polls of a batch's status (injectable for tests)
        self.download_timeout = download_timeout
        self._retry: RetryPolicy = retry or once
        self._in_flight = in_flight if in_flight is not None else InFlight(limit=IN_FLIGHT_MAX)

    @property
    def api(self) -> mailchimp_marketing.Client:
        return self.client.sdk

    def _call(
        self, endpoint: str, method: Callable[..., Any], *args: Any, record_key: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run one SDK call through the retry policy. Returns the JSON body ({} for 204/empty).

        Raises FatalError, RetriableError (after retries), SkippableError (only with `record_key`, and
        "compliance" for Member In Compliance State).
        """

        def attempt() -> dict[str, Any]:
            with self._in_flight:
                self.stats.called(endpoint)
                try:
                    try:
                        result = method(*args, **kwargs)
                    finally:
                        self.stats.returned(endpoint)
                    return self._body(endpoint, result)
                except Exception as exc:
                    error = classify_mailchimp(
                        exc,
                        endpoint,
                        record_key=record_key,
                        headers=self.client.last_headers(),
                        secrets=(self.client.api_key,),
                    )
                    if error.status == 404 and record_key is None and endpoint.startswith(_AUDIENCE_ENDPOINTS):
                        error.subject = f"audience {self.list_id}"  # the whole audience is missing
                    self.stats.failed(endpoint, error)
                    raise error from None

        return self._retry(attempt, on_retry=retry_hook(self.stats, endpoint))

    @staticmethod
    def _body(endpoint: str, result: Any) -> dict[str, Any]:
        """The SDK returns parsed JSON, or the raw Response for an empty or unparseable body (even a 5xx)."""
        if isinstance(result, dict):
            return result
        if isinstance(result, requests.Response):
            if not result.ok:
                raise ApiClientError(text=result.text, status_code=result.status_code)
            if not result.content:
                return {}
        raise RetriableError(f"{endpoint}: unreadable response", service="mailchimp")
