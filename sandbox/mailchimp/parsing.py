"""Request parsing for the Mailchimp routes: bodies, query parameters and Mailchimp's 400s.

Body schemas are pydantic models in strict mode, so a wrong JSON type is refused the way Mailchimp's
schema validation refuses it: 400 "Invalid Resource" with an `errors` list. Unparseable JSON is
400 "JSON Parse Error" (the title in Mailchimp's error glossary).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from sandbox.errors import ApiError, mailchimp_error
from sandbox.mailchimp.merge_fields import SCHEMA_DETAIL, TYPES, json_type
from sandbox.timefmt import parse_ts_ms

Status = Literal["subscribed", "unsubscribed", "cleaned", "pending", "transactional"]
PatchStatus = Literal["subscribed", "unsubscribed", "cleaned", "pending"]
MAX_COUNT = 1000  # collections: count at most 1000 per page
MAX_BATCH = 500  # batch subscribe, static segment add/remove: at most 500 per call
_EXPECTED = {
    "string_type": "string",
    "bool_type": "boolean",
    "int_type": "integer",
    "dict_type": "object",
    "list_type": "array",
    "float_type": "number",
    "model_type": "object",
}


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class MemberFields(_Body):
    email_address: str | None = None
    status: Status | None = None
    email_type: Literal["html", "text"] | None = None
    merge_fields: Any = None  # validated against the audience's merge fields by the store
    interests: dict[str, bool] | None = None
    language: str | None = None
    vip: bool | None = None
    ip_signup: str | None = None
    timestamp_signup: str | None = None
    ip_opt: str | None = None
    timestamp_opt: str | None = None
    tags: list[str] | None = None


class PostMember(MemberFields):
    email_address: str
    status: Status


class PutMember(MemberFields):
    email_address: str
    status_if_new: Status


class PatchMember(MemberFields):
    status: PatchStatus | None = None


class BatchBody(_Body):
    members: list[MemberFields] = Field(max_length=MAX_BATCH)
    update_existing: bool = False
    sync_tags: bool = False


class TagChange(_Body):
    name: str
    status: Literal["active", "inactive"]


class TagsBody(_Body):
    tags: list[TagChange]
    is_syncing: bool | None = None


class SegmentBody(_Body):
    name: str
    static_segment: list[str] | None = None
    options: dict[str, Any] | None = None


class SegmentMembersBody(_Body):
    members_to_add: list[str] = Field(default_factory=list, max_length=MAX_BATCH)
    members_to_remove: list[str] = Field(default_factory=list, max_length=MAX_BATCH)


class MergeFieldBody(_Body):
    name: str
    type: Literal[TYPES]  # type: ignore[valid-type]
    tag: str | None = None
    required: bool = False
    default_value: str = ""
    public: bool = True
    display_order: int | None = None
    options: dict[str, Any] | None = None
    help_text: str = ""


def invalid(errors: list[dict[str, str]], detail: str = SCHEMA_DETAIL) -> ApiError:
    return mailchimp_error(400, "Invalid Resource", detail, errors=errors)


def _where(loc: tuple) -> str:
    """A field path as Mailchimp names it: array items are `item:N` (`members.item:3.status`)."""
    return ".".join(f"item:{part}" if isinstance(part, int) else str(part) for part in loc)


def _schema_errors(exc: ValidationError) -> list[dict[str, str]]:
    missing = [_where(e["loc"]) for e in exc.errors() if e["type"] == "missing"]
    out = [{"field": "", "message": f"Required fields were not provided: {', '.join(missing)}"}] if missing else []
    for e in exc.errors():
        where = _where(e["loc"])
        if e["type"] == "missing":
            continue
        if e["type"] == "literal_error":
            message = f"Value must be one of: {e['ctx']['expected'].replace(chr(39), '')}"
        elif e["type"] == "too_long":
            message = f"Schema describes array with at most {e['ctx']['max_length']} items"
        elif e["type"] in _EXPECTED:
            message = f"Schema describes {_EXPECTED[e['type']]}, {json_type(e['input'])} found instead"
        else:
            message = e["msg"]
        out.append({"field": where, "message": message})
    return out


async def json_body(request: Request) -> Any:
    """The parsed body, {} when empty. Raises ApiError 400 JSON Parse Error."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise mailchimp_error(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.") from None


async def parse(request: Request, model: type[_Body]) -> tuple[_Body, dict[str, Any]]:
    """(validated model, the raw object) for the body. Raises ApiError 400."""
    data = await json_body(request)
    if not isinstance(data, dict):
        raise invalid([{"field": "", "message": f"Schema describes object, {json_type(data)} found instead"}])
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        raise invalid(_schema_errors(exc)) from None


def query_int(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    """A non-negative integer query parameter. Raises ApiError 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid([{"field": name, "message": "Schema describes integer, string found instead"}]) from None
    if value < 0:
        raise invalid([{"field": name, "message": "Schema describes integer greater than or equal to 0"}])
    if maximum is not None and value > maximum:
        raise invalid([{"field": name, "message": f"Schema describes integer less than or equal to {maximum}"}])
    return value


def paging(request: Request) -> tuple[int, int]:
    """(count, offset): count defaults to 10 and may not exceed 1000."""
    return query_int(request, "count", 10, MAX_COUNT), query_int(request, "offset", 0)


def query_ts(request: Request, name: str) -> int | None:
    """An ISO 8601 query parameter as epoch ms. Raises ApiError 400."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_ts_ms(raw)
    except (TypeError, ValueError):
        raise invalid([{"field": name, "message": "Please provide a valid ISO 8601 date-time"}]) from None


def query_choice(request: Request, name: str, choices: tuple[str, ...], case_insensitive: bool = False) -> str | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = raw.upper() if case_insensitive else raw
    if value not in choices:
        raise invalid([{"field": name, "message": f"Value must be one of: {', '.join(choices)}"}])
    return value


def query_bool(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")


def query_list(request: Request, name: str) -> list[str]:
    raw = request.query_params.get(name, "")
    return [p.strip() for p in raw.split(",") if p.strip()]
