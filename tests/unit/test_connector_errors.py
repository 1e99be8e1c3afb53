"""SDK exceptions -> FatalError / RetriableError / SkippableError, without a network."""

from __future__ import annotations

import http.client
import json
from types import SimpleNamespace

import pytest
import requests
import urllib3
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.objects.tasks import ApiException as TasksApiException
from mailchimp_marketing.api_client import ApiClientError

from connectors.errors import COMPLIANCE, CallStats, classify_hubspot, classify_mailchimp, redact
from contracts.errors import FatalError, RetriableError, SkippableError
from contracts.retry import parse_retry_after

TOKEN = "pat-na1-secret-token-value"


def hubspot_exc(
    status: int, body: dict | str | None = None, headers: dict | None = None, cls: type = ContactsApiException
) -> Exception:
    data = json.dumps(body).encode() if isinstance(body, dict) else (body or "").encode()
    resp = SimpleNamespace(status=status, reason="reason", data=data, getheaders=lambda: headers or {})
    return cls(http_resp=resp)


@pytest.mark.parametrize("status", [401, 403])
def test_hubspot_auth_is_fatal(status: int) -> None:
    err = classify_hubspot(
        hubspot_exc(status, {"message": "bad", "category": "INVALID_AUTHENTICATION"}), "hubspot.contacts.list"
    )
    assert isinstance(err, FatalError) and err.status == status and err.service == "hubspot"


def test_hubspot_ten_secondly_429_waits_for_retry_after_and_any_package_matches() -> None:
    body = {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    err = classify_hubspot(hubspot_exc(429, body, {"Retry-After": "3"}, TasksApiException), "hubspot.tasks.create")
    assert isinstance(err, RetriableError) and err.retry_after == 3.0
    without_header = classify_hubspot(hubspot_exc(429, body), "hubspot.contacts.list")
    assert isinstance(without_header, RetriableError) and without_header.retry_after == 1.0


def test_hubspot_daily_429_is_fatal() -> None:
    body = {"status": "error", "message": "You have reached your daily limit.", "policyName": "DAILY"}
    err = classify_hubspot(hubspot_exc(429, body), "hubspot.contacts.list")
    assert isinstance(err, FatalError) and "daily" in str(err)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_hubspot_5xx_is_retriable(status: int) -> None:
    err = classify_hubspot(hubspot_exc(status, "<html>gateway</html>"), "hubspot.contacts.list")
    assert isinstance(err, RetriableError) and err.status == status


def test_hubspot_400_is_fatal_for_a_request_and_skippable_for_a_record() -> None:
    exc = hubspot_exc(400, {"message": "Property values were not valid", "category": "VALIDATION_ERROR"})
    whole = classify_hubspot(exc, "hubspot.contacts.batch_update")
    one = classify_hubspot(exc, "hubspot.contacts.batch_update", record_key="101")
    assert isinstance(whole, FatalError) and "Property values were not valid" in str(whole)
    assert isinstance(one, SkippableError) and one.record_key == "101"


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        urllib3.exceptions.ReadTimeoutError(None, "/x", "read timed out"),
        urllib3.exceptions.MaxRetryError(None, "/x", urllib3.exceptions.NewConnectionError(None, "refused")),
        http.client.IncompleteRead(b"{", 10),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_hubspot_transport_failures_are_retriable(exc: Exception) -> None:
    assert isinstance(classify_hubspot(exc, "hubspot.contacts.list"), RetriableError)


def test_hubspot_message_never_carries_the_token() -> None:
    exc = hubspot_exc(401, {"message": f"token {TOKEN} is invalid"})
    err = classify_hubspot(exc, "hubspot.owners.list", secrets=[TOKEN])
    assert TOKEN not in str(err) and "***" in str(err)


def mc_exc(status: int | None, text: object) -> ApiClientError:
    return ApiClientError(text=text, status_code=status)


def problem(status: int, title: str, detail: str = "", **extra: object) -> dict:
    return {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "x",
        **extra,
    }


def test_mailchimp_compliance_is_skippable_with_a_fixed_message() -> None:
    err = classify_mailchimp(
        mc_exc(400, problem(400, "Member In Compliance State", "a@b.c is unsubscribed")), "mailchimp.members.upsert"
    )
    assert isinstance(err, SkippableError) and str(err) == COMPLIANCE


def test_mailchimp_invalid_resource_depends_on_the_record() -> None:
    exc = mc_exc(
        400,
        problem(
            400,
            "Invalid Resource",
            "Please provide a valid email address.",
            errors=[{"field": "email_address", "message": "bad"}],
        ),
    )
    assert isinstance(classify_mailchimp(exc, "mailchimp.members.upsert", record_key="x@y"), SkippableError)
    whole = classify_mailchimp(exc, "mailchimp.members.batch")
    assert isinstance(whole, FatalError) and "email_address: bad" in str(whole)


def test_mailchimp_404_of_a_list_is_fatal_and_401_too() -> None:
    assert isinstance(classify_mailchimp(mc_exc(404, problem(404, "Resource Not Found")), "m.l"), FatalError)
    assert isinstance(classify_mailchimp(mc_exc(401, problem(401, "API Key Invalid")), "m.l"), FatalError)


def test_mailchimp_429_takes_retry_after_from_recorded_headers() -> None:
    err = classify_mailchimp(mc_exc(429, problem(429, "Too Many Requests")), "m.l", headers={"retry-after": "2"})
    assert isinstance(err, RetriableError) and err.retry_after == 2.0


@pytest.mark.parametrize(
    "inner",
    [
        requests.exceptions.ConnectionError("Connection aborted."),
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
        requests.exceptions.ReadTimeout("read timed out"),
    ],
)
def test_mailchimp_network_errors_are_retriable(inner: Exception) -> None:
    assert isinstance(classify_mailchimp(mc_exc(None, inner), "mailchimp.members.list"), RetriableError)


def test_mailchimp_bad_url_is_fatal() -> None:
    err = classify_mailchimp(mc_exc(None, requests.exceptions.MissingSchema("no scheme")), "m.l")
    assert isinstance(err, FatalError)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now=lambda: 1_767_225_600.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_redact_and_stats_snapshot() -> None:
    assert redact("a KEY b KEY", ["KEY", ""]) == "a *** b ***"
    stats = CallStats()
    stats.called("hubspot.contacts.list")
    stats.failed("hubspot.contacts.list", RetriableError("x", service="hubspot", status=429))
    stats.retried("hubspot.contacts.list")
    snap = stats.snapshot()
    assert snap["total_calls"] == 1 and snap["rate_limited"] == {"hubspot": 1}
    assert snap["errors"] == {"hubspot.contacts.list:RetriableError": 1}
    assert snap["retries"] == {"hubspot.contacts.list": 1}
