"""Error bodies exactly as each service shapes them. Handlers raise `ApiError`; the app renders it."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse, Response

MAILCHIMP_ERROR_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"


class ApiError(Exception):
    """Raised by a handler; `render()` gives the vendor-shaped response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def hubspot_error_body(status: int, message: str, category: str, **extra: Any) -> dict:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update(extra)
    return body


def hubspot_error(
    status: int, message: str, category: str = "VALIDATION_ERROR", headers: dict | None = None, **extra: Any
) -> ApiError:
    """HubSpot's error shape: status, message, correlationId, category (+ subCategory, context, errors)."""
    return ApiError(
        JSONResponse(hubspot_error_body(status, message, category, **extra), status_code=status, headers=headers)
    )


def mailchimp_error_body(status: int, title: str, detail: str, **extra: Any) -> dict:
    body: dict[str, Any] = {
        "type": MAILCHIMP_ERROR_DOC,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    body.update(extra)
    return body


def mailchimp_error(status: int, title: str, detail: str, headers: dict | None = None, **extra: Any) -> ApiError:
    """Mailchimp's problem+json: type, title, status, detail, instance (+ errors[] on validation)."""
    return ApiError(
        JSONResponse(
            mailchimp_error_body(status, title, detail, **extra),
            status_code=status,
            media_type="application/problem+json",
            headers=headers,
        )
    )
