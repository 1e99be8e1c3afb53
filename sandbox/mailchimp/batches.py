"""Batch operations (/3.0/batches), run as Mailchimp runs them: in the background, one batch at a time.

`POST /3.0/batches` validates the body's shape (400 Invalid Resource with one `errors` item per fault,
array items named `operations.item:N`; unknown properties refused) and queues the batch: at most
MAX_PENDING batches not yet finished, else 429. A batch moves pending -> preprocessing -> started ->
finalizing -> finished. `total_operations` is 0 until the batch starts (as Mailchimp answers), then each
operation runs in order; `completed_at` and `response_body_url` are "" until the batch is finished.

Each operation is an in-process request to the sandbox's own routes (`InternalDispatch` in sandbox/app.py):
the same handlers, validation and effects as a direct call, without the front door (no auth, faults or
connection limit). Paths are relative to /3.0 (a missing leading "/" is added; a query in the path is kept,
`params` are added to it: booleans as true/false, lists comma-joined). Every operation is counted in
/_sandbox/stats as `BATCH <METHOD> <path template>` (`<unknown>` when no route serves the path).

The results are a gzipped tar served without authentication (as Mailchimp's S3 link needs none) at
`response_body_url` (BATCH_RESULTS_PREFIX + "<id>-response.tar.gz?Signature=..."): a directory entry "./"
and JSON files "./<32 hex>.json", each an array of at most RESULTS_PER_FILE results in submission order:
`{"status_code": 200, "operation_id": <given or null>, "response": "<the JSON text the call answered>"}`
(an error is its problem+json text; a 204 is ""). A wrong signature or an unknown id is S3's 403.
`DELETE /3.0/batches/{id}` stops and forgets a batch (204); operations already run stay done.

Tests observe the progression without sleeping through the store's `batches` (a BatchBook): `hold()`
stops the runner before its next step, `step(n)` makes n steps (a status transition or one operation),
`release()` lets it run on, `wait(id)` blocks until a batch has finished. `SandboxConfig.batch_op_ms` adds
wall-clock time per operation; by default a 1,000-operation batch takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import io
import json
import secrets
import tarfile
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.errors import mailchimp_error
from sandbox.mailchimp import parsing as q
from sandbox.mailchimp.journal import WRITE_METHODS
from sandbox.mailchimp.merge_fields import json_type
from sandbox.timefmt import mailchimp_ts

BATCH_RESULTS_PREFIX = "/mailchimp-api-batch/"
MAX_PENDING = 500  # batches not yet finished, per account
RESULTS_PER_FILE = 500
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OPERATION_FIELDS = ("method", "path", "params", "body", "operation_id")
STEPS = ("pending", "preprocessing", "started", "finalizing", "finished")
_YIELD_EVERY = 32  # operations between two yields to the event loop (other requests get served)


@dataclass
class Operation:
    method: str
    path: str  # the full sandbox path, /3.0/...
    query: bytes
    body: bytes
    operation_id: str | None


@dataclass
class Batch:
    id: str
    operations: list[Operation]
    base: dict[str, Any]  # scheme, server and host header of the submitting request
    submitted_ms: int
    signature: str
    status: str = "pending"
    total: int = 0
    finished: int = 0
    errored: int = 0
    completed_ms: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    archive: bytes | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "total_operations": self.total,
            "finished_operations": self.finished,
            "errored_operations": self.errored,
        }


# -- the request body ------------------------------------------------------------------------------------
def _type_error(where: str, expected: str, value: Any) -> dict[str, str]:
    return {"field": where, "message": f"Schema describes {expected}, {json_type(value)} found instead"}


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_param_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _operation(op: dict[str, Any]) -> Operation:
    path, _, in_path = op["path"].partition("?")
    path = path if path.startswith("/") else "/" + path
    query = dict(parse_qsl(in_path, keep_blank_values=True))
    query.update({k: _param_text(v) for k, v in (op.get("params") or {}).items() if v is not None})
    return Operation(
        op["method"].upper(),
        "/3.0" + unquote(path),
        urlencode(query).encode(),
        op.get("body", "").encode(),
        op.get("operation_id"),
    )


def parse_operations(data: Any) -> list[Operation]:
    """The operations of a POST /batches body. Raises ApiError 400 listing every fault."""
    if not isinstance(data, dict):
        raise q.invalid([_type_error("", "object", data)])
    errors = [{"field": k, "message": f"Unknown property: {k}"} for k in data if k != "operations"]
    ops = data.get("operations")
    if "operations" not in data:
        errors.insert(0, {"field": "", "message": "Required fields were not provided: operations"})
    elif not isinstance(ops, list):
        errors.append(_type_error("operations", "array", ops))
    else:
        for i, op in enumerate(ops):
            where = f"operations.item:{i}"
            if not isinstance(op, dict):
                errors.append(_type_error(where, "object", op))
                continue
            missing = [name for name in ("method", "path") if name not in op]
            if missing:
                errors.append({"field": where, "message": f"Required fields were not provided: {', '.join(missing)}"})
            errors += [
                {"field": f"{where}.{k}", "message": f"Unknown property: {k}"} for k in op if k not in OPERATION_FIELDS
            ]
            method = op.get("method")
            if "method" in op and not isinstance(method, str):
                errors.append(_type_error(f"{where}.method", "string", method))
            elif isinstance(method, str) and method.upper() not in METHODS:
                errors.append({"field": f"{where}.method", "message": f"Value must be one of: {', '.join(METHODS)}"})
            for name, expected, kind in (
                ("path", "string", str),
                ("body", "string", str),
                ("operation_id", "string", str),
                ("params", "object", dict),
            ):
                if name in op and not isinstance(op[name], kind):
                    errors.append(_type_error(f"{where}.{name}", expected, op[name]))
    if errors:
        raise q.invalid(errors)
    return [_operation(op) for op in ops]


# -- the results archive ---------------------------------------------------------------------------------
def build_archive(batch: Batch, mtime_s: int) -> bytes:
    """The tar.gz Mailchimp serves at response_body_url (see the module doc)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        top = tarfile.TarInfo(".")
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, mtime_s
        tar.addfile(top)
        for n in range(0, max(len(batch.results), 1), RESULTS_PER_FILE):
            data = json.dumps(batch.results[n : n + RESULTS_PER_FILE], separators=(",", ":")).encode()
            info = tarfile.TarInfo(f"./{hashlib.md5(f'{batch.id}-{n}'.encode()).hexdigest()}.json")
            info.size, info.mode, info.mtime = len(data), 0o644, mtime_s
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- the runner ------------------------------------------------------------------------------------------
class BatchBook:
    """One account's batches and the runner that works through them, one batch at a time, in order.

    The runner is a task on the server's event loop (where every handler runs), started by the first
    submission. The hooks (`hold`, `step`, `release`, `wait`, `get`) may be called from any other thread.
    """

    def __init__(self, world: Any) -> None:
        self.world = world
        self._batches: dict[str, Batch] = {}  # submission order
        self._queue: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._key = secrets.token_bytes(16)
        self._held = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._step_lock: asyncio.Lock | None = None
        self._dispatch: Any = None

    # -- API side (event loop) -------------------------------------------------------------------
    def submit(self, operations: list[Operation], base: dict[str, Any], dispatch: Any) -> Batch:
        """Queue a batch. Raises ApiError 429 when MAX_PENDING batches are not finished yet."""
        with self._lock:
            if sum(b.status != "finished" for b in self._batches.values()) >= MAX_PENDING:
                raise mailchimp_error(
                    429,
                    "Too Many Requests",
                    f"You have {MAX_PENDING} pending batches; wait for some to finish before submitting more.",
                )
            bid = secrets.token_hex(5)
            while bid in self._batches:
                bid = secrets.token_hex(5)
            batch = Batch(
                bid,
                operations,
                base,
                self.world.clock.now_ms(),
                hmac.new(self._key, bid.encode(), "sha256").hexdigest()[:32],
            )
            self._batches[bid] = batch
            self._queue.append(bid)
            self._dispatch = dispatch
            self._loop = asyncio.get_running_loop()
            held = self._held
        if not held:
            self._kick()
        return batch

    def list(self) -> list[Batch]:
        with self._lock:
            return list(self._batches.values())

    def get(self, batch_id: str) -> Batch | None:
        with self._lock:
            return self._batches.get(batch_id)

    def delete(self, batch_id: str) -> bool:
        """Forget a batch; a running one stops before its next operation. False when unknown."""
        with self._changed:
            if self._batches.pop(batch_id, None) is None:
                return False
            if batch_id in self._queue:
                self._queue.remove(batch_id)
            self._changed.notify_all()
            return True

    def results_archive(self, name: str, signature: str) -> bytes | None:
        """The archive named `<id>-response.tar.gz` when the signature is the batch's, else None."""
        batch = self.get(name.removesuffix("-response.tar.gz")) if name.endswith("-response.tar.gz") else None
        if batch is None or batch.archive is None or not hmac.compare_digest(batch.signature, signature):
            return None
        return batch.archive

    # -- running -------------------------------------------------------------------------------------
    def _live(self) -> bool:
        """False once the world was reset (this book belongs to a store that is gone)."""
        return getattr(self.world.mailchimp, "batches", None) is self

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        ran = 0
        while not self._held:
            moved = await self._step()
            if moved is None:
                return
            if moved == "operation":
                ran += 1
                if self.world.config.batch_op_ms:
                    await asyncio.sleep(self.world.config.batch_op_ms / 1000)
                elif ran % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)

    async def _step(self) -> str | None:
        """Advance the batch at the head of the queue by one step: "transition", "operation" or None (idle)."""
        if self._step_lock is None:
            self._step_lock = asyncio.Lock()
        async with self._step_lock:
            with self._lock:
                batch = self._batches.get(self._queue[0]) if self._queue and self._live() else None
            if batch is None:
                return None
            if batch.status == "started" and batch.finished < batch.total:
                await self._run_operation(batch, batch.operations[batch.finished])
                return "operation"
            with self._changed:
                if batch.status == "preprocessing":
                    batch.total = len(batch.operations)
                elif batch.status == "finalizing":
                    batch.completed_ms = self.world.clock.now_ms()
                    batch.archive = build_archive(batch, batch.completed_ms // 1000)
                    self._queue.popleft()
                batch.status = STEPS[STEPS.index(batch.status) + 1]
                self._changed.notify_all()
            return "transition"

    async def _run_operation(self, batch: Batch, op: Operation) -> None:
        world, dispatch = self.world, self._dispatch
        matched, template, params = dispatch.match(op.method, op.path)
        world.stats.count(f"BATCH {op.method}", template or "<unknown>")
        journal = world.journal if op.method in WRITE_METHODS else None
        entry = (
            journal.begin(
                world,
                op.method,
                template,
                params,
                op.path,
                op.query,
                op.body,
                via="batch",
                batch_id=batch.id,
                operation_id=op.operation_id,
            )
            if journal is not None
            else None
        )
        status, body = await dispatch.call(matched, op.method, op.path, op.query, op.body, batch.base)
        if entry is not None:
            journal.finish(world, entry, status)
        with self._changed:
            batch.results.append(
                {"status_code": status, "operation_id": op.operation_id, "response": body.decode("utf-8", "replace")}
            )
            batch.finished += 1
            batch.errored += status >= 400
            self._changed.notify_all()

    # -- test hooks (any thread but the event loop's) ------------------------------------------------
    def hold(self) -> None:
        """Stop the runner before its next step (batches stay where they are until `step` or `release`)."""
        with self._lock:
            self._held = True

    def release(self) -> None:
        """Let the runner work through the queue again."""
        with self._lock:
            self._held = False
            loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._kick)

    def step(self, steps: int = 1, timeout: float = 10.0) -> dict[str, Any] | None:
        """Make `steps` steps of the held runner (each a status transition or one operation) and return the
        summary of the batch last moved (None when there was nothing to do)."""
        if self._loop is None:
            return None

        async def run() -> dict[str, Any] | None:
            moved = None
            for _ in range(steps):
                with self._lock:
                    head = self._batches.get(self._queue[0]) if self._queue else None
                if head is None or await self._step() is None:
                    break
                moved = head.summary()
            return moved

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def wait(self, batch_id: str, timeout: float = 10.0) -> str:
        """Block until the batch has finished (or was deleted); its final status ("deleted" when gone).
        Raises TimeoutError."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: batch_id not in self._batches or self._batches[batch_id].status == "finished", timeout
            )
            if not done:
                raise TimeoutError(f"batch {batch_id} did not finish within {timeout} s")
            return self._batches[batch_id].status if batch_id in self._batches else "deleted"


# -- routes ----------------------------------------------------------------------------------------------
class BatchRoutes:
    def __init__(self, world: Any, dispatch: Any) -> None:
        self.world, self.dispatch = world, dispatch

    def book(self) -> BatchBook:
        return self.world.mailchimp.batches

    def batch(self, request: Request) -> Batch:
        batch = self.book().get(request.path_params["batch_id"])
        if batch is None:
            raise mailchimp_error(404, "Resource Not Found", "The requested resource could not be found.")
        return batch

    def body(self, request: Request, batch: Batch) -> dict[str, Any]:
        from sandbox.mailchimp.routes import _link

        url = ""
        if batch.archive is not None:
            host = dict(batch.base["headers"]).get(b"host", b"").decode("latin-1")
            url = (
                f"{batch.base['scheme']}://{host}{BATCH_RESULTS_PREFIX}{batch.id}-response.tar.gz?"
                f"{urlencode({'Signature': batch.signature})}"
            )
        return {
            **batch.summary(),
            "submitted_at": mailchimp_ts(batch.submitted_ms),
            "completed_at": mailchimp_ts(batch.completed_ms) if batch.completed_ms is not None else "",
            "response_body_url": url,
            "_links": [
                _link(request, "parent", "/batches"),
                _link(request, "self", f"/batches/{batch.id}"),
                _link(request, "delete", f"/batches/{batch.id}", "DELETE"),
            ],
        }

    async def start(self, request: Request) -> Response:
        from sandbox.mailchimp.routes import _respond

        operations = parse_operations(await q.json_body(request))
        host = request.headers.get("host", "")
        base = {
            "scheme": request.url.scheme,
            "server": request.scope.get("server"),
            "headers": [(b"host", host.encode("latin-1"))],
        }
        batch = self.book().submit(operations, base, self.dispatch)
        return _respond(request, self.body(request, batch))

    async def list(self, request: Request) -> Response:
        from sandbox.mailchimp.routes import _link, _respond

        count, offset = q.paging(request)
        batches = self.book().list()
        return _respond(
            request,
            {
                "batches": [self.body(request, b) for b in batches[offset : offset + count]],
                "total_items": len(batches),
                "_links": [_link(request, "self", "/batches"), _link(request, "create", "/batches", "POST")],
            },
        )

    async def status(self, request: Request) -> Response:
        from sandbox.mailchimp.routes import _respond

        return _respond(request, self.body(request, self.batch(request)))

    async def delete(self, request: Request) -> Response:
        if not self.book().delete(self.batch(request).id):
            raise mailchimp_error(404, "Resource Not Found", "The requested resource could not be found.")
        return Response(status_code=204)

    async def results(self, request: Request) -> Response:
        """The archive, as S3 serves it: no authentication, a signature in the query."""
        archive = self.book().results_archive(request.path_params["name"], request.query_params.get("Signature", ""))
        if archive is None:
            return Response(
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                "<Message>Access Denied</Message></Error>",
                status_code=403,
                media_type="application/xml",
            )
        return Response(archive, media_type="application/x-gzip")

    def routes(self) -> list[Route]:
        return [
            Route("/3.0/batches", self.start, methods=["POST"]),
            Route("/3.0/batches", self.list, methods=["GET"]),
            Route("/3.0/batches/{batch_id}", self.status, methods=["GET"]),
            Route("/3.0/batches/{batch_id}", self.delete, methods=["DELETE"]),
            Route(BATCH_RESULTS_PREFIX + "{name}", self.results, methods=["GET"]),
        ]


def batch_routes(world: Any, dispatch: Any) -> list[Route]:
    """The batch routes for `build_app`; `dispatch` runs each operation (sandbox.app.InternalDispatch)."""
    return BatchRoutes(world, dispatch).routes()
