from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from syncd.logs import MASK, Redactor, configure_logging, get_logger

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
KEY = "0123456789abcdef0123456789abcdef-us21"


def _reset() -> None:
    structlog.reset_defaults()
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_syncd", False)]:
        root.removeHandler(h)


@pytest.fixture
def out():
    stream = io.StringIO()
    configure_logging("json", "DEBUG", [TOKEN, KEY], stream=stream)
    yield stream
    _reset()


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_secret_values_are_masked_everywhere_in_the_event(out) -> None:
    log = get_logger()
    log.info(
        "hubspot.request_sent",
        url=f"https://api.hubapi.com/x?t={TOKEN}",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
        attempts=[f"key={KEY}", 3],
        note=f"using {KEY}",
    )
    text = out.getvalue()
    assert TOKEN not in text and KEY not in text
    (line,) = _lines(out)
    assert line["event"] == "hubspot.request_sent" and line["level"] == "info"
    assert line["url"] == f"https://api.hubapi.com/x?t={MASK}"
    assert line["headers"] == {"Authorization": MASK, "Accept": "application/json"}
    assert line["attempts"] == [f"key={MASK}", 3]


def test_sensitive_keys_are_masked_even_for_unregistered_values(out) -> None:
    get_logger().warning(
        "mailchimp.client_built",
        api_key="some-other-key",
        password="pw",
        list_id="abc123",
        key="outbox-idempotency-key",
    )
    (line,) = _lines(out)
    assert line["api_key"] == MASK and line["password"] == MASK
    assert line["list_id"] == "abc123" and line["key"] == "outbox-idempotency-key"


def test_exception_message_and_traceback_are_masked(out) -> None:
    try:
        raise RuntimeError(f"401 for token {TOKEN}")
    except RuntimeError:
        get_logger().exception("hubspot.auth_failed")
    text = out.getvalue()
    assert TOKEN not in text
    (line,) = _lines(out)
    assert "RuntimeError: 401 for token ***" in line["exception"]


def test_exception_object_as_a_value_is_masked(out) -> None:
    get_logger().error("mailchimp.call_failed", error=ValueError(f"bad key {KEY}"))
    (line,) = _lines(out)
    assert line["error"] == "ValueError: bad key ***"


def test_standard_library_loggers_are_redacted_too(out) -> None:
    std = logging.getLogger("syncd_test.sdk_transport")  # a name no other test configures
    std.debug("header Authorization: Bearer %s", TOKEN)
    try:
        raise ConnectionError(f"reset while sending {KEY}")
    except ConnectionError:
        std.error("send failed", exc_info=True)
    text = out.getvalue()
    assert TOKEN not in text and KEY not in text
    first, second = _lines(out)
    assert first["event"] == f"header Authorization: Bearer {MASK}"
    assert "ConnectionError: reset while sending ***" in second["exception"]


def test_level_filters_and_console_format_masks() -> None:
    stream = io.StringIO()
    configure_logging("console", "WARNING", [TOKEN], stream=stream)
    try:
        log = get_logger()
        log.info("scheduler.tick", token_hint=TOKEN)
        log.warning("scheduler.lease_lost", holder=f"x{TOKEN}")
    finally:
        _reset()
    text = stream.getvalue()
    assert "scheduler.tick" not in text
    assert "scheduler.lease_lost" in text and TOKEN not in text and MASK in text


def test_configure_rejects_unknown_format_and_level() -> None:
    with pytest.raises(ValueError):
        configure_logging("xml", "INFO", [])
    with pytest.raises(ValueError):
        configure_logging("json", "LOUD", [])


def test_redactor_masks_the_longer_secret_whole() -> None:
    redact = Redactor(["abcd", "abcdefgh", ""])
    assert redact(None, "info", {"event": "x abcdefgh y abcd"}) == {"event": f"x {MASK} y {MASK}"}
