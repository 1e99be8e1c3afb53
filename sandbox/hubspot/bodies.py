"""Request bodies the CRM endpoints accept, as pydantic models; parse errors become HubSpot 400s."""
from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request

from sandbox.errors import ApiError, hubspot_error

Scalar = str | int | float | bool | None
Ident = str | int
Operator = Literal["EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
                   "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"]


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


class SortIn(_Body):
    propertyName: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchIn(_Body):
    filterGroups: list[FilterGroupIn] = []
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


def validate(data: Any, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    details = [{"message": f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}", "code": "INVALID_INPUT"}
               for e in exc.errors()[:10]]
    return hubspot_error(400, f"Invalid input JSON: Cannot deserialize value at '{where}': {first['msg']}",
                         errors=details)
