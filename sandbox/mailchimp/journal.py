"""The request journal: every Mailchimp write the sandbox answered, with the members it targeted.

On with `SandboxConfig(journal=True)`; read as `world.journal.entries()` or `GET /_sandbox/journal`, cleared
by `DELETE /_sandbox/journal` (and by a reset). A write is a POST, PUT, PATCH or DELETE under /3.0, whatever
it was answered (a 401, a 429 or an injected fault too), and each write operation of a batch, recorded when
it runs. Entries are plain JSON-ready dicts, in the order their answers were made:

    {"seq": 1, "time_ms": <simulated time of the answer>, "via": "api" | "batch",
     "batch_id": None | "<id>", "operation_id": None | "<the operation's operation_id>",
     "method": "PUT", "template": "/3.0/lists/{list_id}/members/{subscriber_hash}" (None: no route),
     "path": "/3.0/lists/<id>/members/<hash>", "query": {"skip_merge_validation": "true"},
     "body": <the parsed JSON body; None when empty or not JSON>, "body_text": <only when not JSON>,
     "status": 200 (0: no answer was sent),
     "members": [{"key": "<as the request names it>", "email_address": ..., "subscriber_hash": ...,
                  "before": None | "<status>", "after": None | "<status>"}]}

`members` lists every member the request targets, each once, in request order: the one in a member path
(the member, its tags), `email_address` of POST .../members, each `members[].email_address` of a batch
subscribe (POST /lists/{id}), `members_to_add` and `members_to_remove` of a static segment batch and
`static_segment` of a new one. `before` is None when no member had that address; archived members show
`archived`. Keys that are not strings, and targets in another list, are left out.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from typing import Any
from urllib.parse import parse_qsl

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MEMBER = "/3.0/lists/{list_id}/members/{subscriber_hash}"
_HASH = re.compile(r"^[0-9a-fA-F]{32}$")


def _body(raw: bytes) -> tuple[Any, str | None]:
    """(parsed body or None, the text when it is not JSON)."""
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError):
        return None, raw.decode("utf-8", "replace")


def _keys(template: str | None, params: dict, body: Any, list_id: str) -> list[str]:
    """The member keys (address or subscriber hash) a write targets."""
    if template is None or params.get("list_id", list_id) != list_id:
        return []
    body = body if isinstance(body, dict) else {}
    if template.startswith(MEMBER):
        keys = [params["subscriber_hash"]]
    elif template == "/3.0/lists/{list_id}/members":
        keys = [body.get("email_address")]
    elif template == "/3.0/lists/{list_id}":
        members = body.get("members")
        keys = [m.get("email_address") for m in members if isinstance(m, dict)] if isinstance(members, list) else []
    elif template == "/3.0/lists/{list_id}/segments/{segment_id}":
        keys = [
            k
            for name in ("members_to_add", "members_to_remove")
            if isinstance(body.get(name), list)
            for k in body[name]
        ]
    elif template == "/3.0/lists/{list_id}/segments":
        keys = body.get("static_segment") if isinstance(body.get("static_segment"), list) else []
    else:
        keys = []
    return list(dict.fromkeys(k for k in keys if isinstance(k, str)))


async def _buffered(receive: Any) -> tuple[bytes, Any]:
    """The whole request body, and a `receive` that hands it to the app again."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body, replayed = b"".join(chunks), {"done": False}

    async def replay() -> dict:
        if not replayed["done"]:
            replayed["done"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _status(world: Any, key: str) -> str | None:
    m = world.mailchimp.find(key)
    return None if m is None else m.status


class Journal:
    """Thread-safe list of entries (see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._seq = 0

    def begin(
        self,
        world: Any,
        method: str,
        template: str | None,
        params: dict,
        path: str,
        query: bytes | str,
        raw_body: bytes,
        via: str = "api",
        batch_id: str | None = None,
        operation_id: str | None = None,
    ) -> dict[str, Any]:
        """An entry for a write about to be served, with its members' statuses before."""
        body, text = _body(raw_body)
        query = query.decode("latin-1") if isinstance(query, bytes) else query
        entry: dict[str, Any] = {
            "via": via,
            "batch_id": batch_id,
            "operation_id": operation_id,
            "method": method,
            "template": template,
            "path": path,
            "query": dict(parse_qsl(query, keep_blank_values=True)),
            "body": body,
        }
        if text is not None:
            entry["body_text"] = text
        entry["members"] = [
            {"key": k, "before": _status(world, k)} for k in _keys(template, params, body, world.list_id)
        ]
        return entry

    def finish(self, world: Any, entry: dict[str, Any], status: int) -> None:
        """Record `entry` as answered with `status`, with its members' statuses after."""
        for target in entry["members"]:
            key = target["key"]
            m = world.mailchimp.find(key)
            target["after"] = None if m is None else m.status
            email = m.email if m is not None else (key if "@" in key else None)
            target["email_address"] = email
            target["subscriber_hash"] = (
                hashlib.md5(email.strip().lower().encode()).hexdigest()
                if email
                else key.lower()
                if _HASH.match(key)
                else None
            )
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, "time_ms": world.clock.now_ms(), **entry, "status": status})

    async def serve(
        self, world: Any, template: str | None, params: dict, scope: dict, receive: Any, send: Any, app: Any
    ) -> None:
        """Serve one HTTP write through the ASGI `app`, recording it. The entry is in the journal before
        the client can see the answer."""
        body, receive = await _buffered(receive)
        entry = self.begin(world, scope["method"], template, params, scope["path"], scope["query_string"], body)
        recorded = {"done": False}

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start" and not recorded["done"]:
                recorded["done"] = True
                self.finish(world, entry, message["status"])
            await send(message)

        try:
            await app(scope, receive, recording_send)
        finally:
            if not recorded["done"]:
                self.finish(world, entry, 0)  # no answer was sent

    def entries(self) -> list[dict[str, Any]]:
        """A copy of every entry, oldest first."""
        with self._lock:
            return copy.deepcopy(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self):
        return iter(self.entries())
