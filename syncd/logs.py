"""Logging: structlog events with flat keys and dotted names (`hubspot.page_fetched`), JSON lines for
containers or a console view for humans, and every secret replaced by "***" before anything is written.

Standard-library loggers (the SDKs, urllib3, alembic) go through the same redaction and renderer.
Logs go to stderr: stdout belongs to commands such as `syncd once --json`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"
# Values under such keys are hidden whatever they hold (a token we were never told about, a header).
SENSITIVE_KEY = re.compile(r"token|api_?key|apikey|authorization|passw|secret|cookie|credential", re.I)


class Redactor:
    """structlog processor: masks registered secret values anywhere in the event, and sensitive keys."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event):
            event[key] = self._clean(key, event[key])
        return event

    def _clean(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and SENSITIVE_KEY.search(key) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {k: self._clean(k, v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set)):
            return [self._clean(None, v) for v in value]
        if isinstance(value, BaseException):
            return self.mask_text(f"{type(value).__name__}: {value}")
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        text = str(value)  # any other object: its text could carry a secret
        masked = self.mask_text(text)
        return value if masked == text else masked

    def mask_text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


# Every secret any configuration registered in this process: a daemon serving several workspaces builds
# each one's context (which configures logging with its secrets) and must keep masking the others'.
_REGISTERED: set[str] = set()


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    fmt: str = "json", level: str = "INFO", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's root logger.

    `fmt` is "json" (one object per line) or "console"; `level` a level name; `secrets` the values to
    mask (Settings.secrets(); added to those registered before, which stay masked); `stream` defaults to
    stderr. Raises ValueError for an unknown fmt or level.
    """
    if fmt not in ("json", "console"):
        raise ValueError(f"unknown log format {fmt!r} (json or console)")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    out = stream or sys.stderr
    _REGISTERED.update(s for s in secrets if s)
    redact = Redactor(_REGISTERED)
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Tracebacks become text before redaction, so an exception's message is masked too.
    tail = [structlog.processors.format_exc_info, redact, renderer]
    structlog.configure(
        processors=[*_shared_processors(), *tail],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_syncd", False):
            root.removeHandler(old)
    handler._syncd = True  # type: ignore[attr-defined]  # so reconfiguring replaces only ours
    root.addHandler(handler)
    root.setLevel(numeric)
    # their INFO lines ("Running job ...", "Context impl SQLiteImpl") say nothing an admin acts on
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    """Return a structlog logger; log events as `log.info("area.thing_happened", key=value)`."""
    return structlog.get_logger(name) if name else structlog.get_logger()
