"""Validate Mailchimp response bodies against the operation schemas of the official OpenAPI spec.

    validate_response("GET", "/lists/{list_id}/members", body)      # the operation's 200 schema
    validate_problem(body)                                          # ProblemDetailDocument

Paths are given the way the SDK writes them (snake_case parameters); the spec file names them in
camelCase (see /work/shared/specs/SOURCES.md). Date-times are checked (ISO 8601 with an offset).

One flattening artefact of that spec copy is corrected here, on purpose and nowhere else: every
`merge_fields` map says its values are `{"type": "object"}`, while the API returns merge values as
strings, numbers or (addresses) objects; the value type is dropped so real bodies validate.

`strict=True` also refuses properties the schema does not define, to catch invented fields.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path("/work/shared/specs/mailchimp/marketing-openapi-3.0.85.json")
_CAMEL = {
    "list_id": "listId",
    "subscriber_hash": "subscriberHash",
    "campaign_id": "campaignId",
    "merge_id": "mergeId",
    "segment_id": "segmentId",
}
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"not an ISO 8601 date-time with an offset: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _relax_merge_fields(node: Any) -> None:
    if isinstance(node, dict):
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "merge tags" in extra.get("description", ""):
            extra.pop("type", None)
        for value in node.values():
            _relax_merge_fields(value)
    elif isinstance(node, list):
        for value in node:
            _relax_merge_fields(value)


def _close_objects(node: Any) -> None:
    """additionalProperties: false wherever an object lists its properties and says nothing else."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


@functools.lru_cache(maxsize=2)
def _spec(strict: bool) -> dict[str, Any]:
    spec = json.loads(SPEC_PATH.read_text())
    _relax_merge_fields(spec["components"])
    if strict:
        _close_objects(spec["components"])
    return spec


@functools.lru_cache(maxsize=2)
def _registry(strict: bool) -> Registry:
    return Registry().with_resource("spec.json", Resource.from_contents(_spec(strict), default_specification=DRAFT4))


def response_schema(method: str, path: str, status: str = "200") -> dict[str, Any]:
    """The schema of an operation's response. Raises KeyError for an unknown path, method or status."""
    spec_path = re.sub(r"\{(\w+)\}", lambda m: "{" + _CAMEL.get(m.group(1), m.group(1)) + "}", path)
    response = _spec(False)["paths"][spec_path][method.lower()]["responses"][status]
    content = response["content"]
    media = content.get("application/json") or content["application/problem+json"]
    return media["schema"]


def _validate(schema: dict[str, Any], body: Any, strict: bool) -> None:
    ref = schema["$ref"].replace("#/", "spec.json#/") if "$ref" in schema else None
    target = {"$ref": ref} if ref else copy.deepcopy(schema)
    validator = jsonschema.Draft4Validator(target, registry=_registry(strict), format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:10]]
        raise AssertionError("response does not match the spec:\n" + "\n".join(lines))


def validate_response(method: str, path: str, body: Any, status: str = "200", strict: bool = True) -> None:
    """Assert `body` matches the operation's response schema. Raises AssertionError listing the faults."""
    _validate(response_schema(method, path, status), body, strict)


def validate_problem(body: Any) -> None:
    """Assert `body` (dict or JSON text) is a ProblemDetailDocument."""
    if isinstance(body, str):
        body = json.loads(body)
    _validate({"$ref": "#/components/schemas/ProblemDetailDocument"}, body, strict=False)
