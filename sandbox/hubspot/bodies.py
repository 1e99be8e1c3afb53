"""Request bodies the CRM endpoints accept, as pydantic models; parse errors become HubSpot 400s."""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request

from sandbox.errors import ApiError, hubspot_error

Scalar = str | int | float | bool | None
Ident = str | int
Operator = Literal[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AssociationType(_Body):
    associationCategory: Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]
    associationTypeId: int


class AssociationTarget(_Body):
    id: Ident


class AssociationIn(_Body):
    to: AssociationTarget
    types: list[AssociationType] = Field(min_length=1)


class ObjectCreate(_Body):
    properties: dict[str, Scalar]
    associations: list[AssociationIn] = []


class ObjectUpdate(_Body):
    properties: dict[str, Scalar]


class IdInput(_Body):
    id: Ident


class BatchRead(_Body):
    inputs: list[IdInput]
    properties: list[str] = []
    propertiesWithHistory: list[str] = []
    idProperty: str | None = None


class BatchCreate(_Body):
    inputs: list[ObjectCreate]


class UpdateInput(_Body):
    id: Ident
    idProperty: str | None = None
    properties: dict[str, Scalar]


class BatchUpdate(_Body):
    inputs: list[UpdateInput]


class BatchArchive(_Body):
    inputs: list[IdInput]


class MergeInput(_Body):
    primaryObjectId: Ident
    objectIdToMerge: Ident


class FilterIn(_Body):
    propertyName: str
    operator: Operator
    value: Scalar = None
    highValue: Scalar = None
    values: list[Scalar] | None = None


class FilterGroupIn(_Body):
    filters: list[FilterIn] = []


class AssociationFetch(_Body):
    id: Ident
    after: Ident | None = None

    @field_validator("after")
    @classmethod
    def _after_is_offset(cls, v: Ident | None) -> Ident | None:
        if v is not None and v != "" and not str(v).isdigit():
            raise ValueError("after must be a paging token from a previous answer")
        return v


class AssociationBatchRead(_Body):
    inputs: list[AssociationFetch]


class SortIn(_Body):
    propertyName: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchIn(_Body):
    filterGroups: list[FilterGroupIn] = []
    filters: list[FilterIn] | None = None  # top-level filters, ANDed (instead of filterGroups)
    sorts: list[str | SortIn] = []
    query: str | None = None
    properties: list[str] = []
    limit: int = 10
    after: Ident | None = None

    @field_validator("after")
    @classmethod
    def _after_is_offset(cls, v: Ident | None) -> Ident | None:
        if v is not None and not str(v).isdigit():
            raise ValueError("after must be a non-negative integer offset")
        return v


M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request) -> Any:
    """The JSON body, or None when empty. Raises the HubSpot 400 for malformed JSON."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise hubspot_error(400, "Invalid input JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise hubspot_error(400, f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


async def parse(request: Request, model: type[M]) -> M:
    """Read and validate a body as `model`. Raises ApiError (400 VALIDATION_ERROR) naming the bad field."""
    data = await read_json(request)
    if data is None:
        raise hubspot_error(400, "Invalid input JSON: a request body is required")
    return validate(data, model)


# The fields of a search body (hubspot-api-client's PublicObjectSearchRequest, FilterGroup, Filter, Sort, plus
# the top-level `filters` HubSpot also accepts). A field outside these is refused with the 400 HubSpot's JSON
# reader gives an unknown field, never ignored: an ignored filter would return every record. The message
# follows HubSpot's other body errors ("Invalid input JSON on line L, column C: <Jackson message>"); the
# exact wording HubSpot uses for an unknown search field is assumed (Jackson's UnrecognizedPropertyException).
_SEARCH_FIELDS = {
    "PublicObjectSearchRequest": ("after", "filterGroups", "filters", "limit", "properties", "query", "sorts"),
    "FilterGroup": ("filters",),
    "Filter": ("highValue", "operator", "propertyName", "value", "values"),
    "Sort": ("direction", "propertyName"),
}


def _unknown_search_field(data: Any) -> tuple[str, str] | None:
    """(class, field) of the first field a search body must not carry, or None."""

    def first(obj: Any, cls: str) -> tuple[str, str] | None:
        if isinstance(obj, dict):
            for key in obj:
                if key not in _SEARCH_FIELDS[cls]:
                    return cls, key
        return None

    found = first(data, "PublicObjectSearchRequest")
    if found or not isinstance(data, dict):
        return found
    filters = list(data.get("filters") or []) if isinstance(data.get("filters"), list) else []
    for group in data.get("filterGroups") or [] if isinstance(data.get("filterGroups"), list) else []:
        found = found or first(group, "FilterGroup")
        if isinstance(group, dict) and isinstance(group.get("filters"), list):
            filters += group["filters"]
    for f in filters:
        found = found or first(f, "Filter")
    for sort in data.get("sorts") or [] if isinstance(data.get("sorts"), list) else []:
        found = found or first(sort, "Sort")
    return found


async def parse_search(request: Request) -> SearchIn:
    """A search body, refusing any field the search API does not define. Raises ApiError (400)."""
    data = await read_json(request)
    if data is None:
        raise hubspot_error(400, "Invalid input JSON: a request body is required")
    unknown = _unknown_search_field(data)
    if unknown is not None:
        cls, name = unknown
        raw = (await request.body()).decode("utf-8", "replace")
        at = raw.find(f'"{name}"')
        line = raw.count("\n", 0, max(at, 0)) + 1
        column = max(at, 0) - (raw.rfind("\n", 0, max(at, 0)) + 1) + 1
        known = _SEARCH_FIELDS[cls]
        raise hubspot_error(
            400,
            f'Invalid input JSON on line {line}, column {column}: Unrecognized field "{name}" '
            f"(class {cls}), not marked as ignorable ({len(known)} known properties: "
            + ", ".join(f'"{k}"' for k in known)
            + "])",
        )
    return validate(data, SearchIn)


def validate(data: Any, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    details = [
        {"message": f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}", "code": "INVALID_INPUT"}
        for e in exc.errors()[:10]
    ]
    return hubspot_error(
        400, f"Invalid input JSON: Cannot deserialize value at '{where}': {first['msg']}", errors=details
    )
