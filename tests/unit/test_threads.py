"""ContextPool: a task sees the context variables of the thread that submitted it (the progress reporter of
`syncd once` and structlog's bound fields live there), each task in its own copy."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

from contracts.threads import ContextPool

where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="unset")


def _read_and_write(n: int) -> tuple[str, str]:
    seen = where.get()
    where.set(f"task {n}")  # a copy: neither the caller nor another task sees this
    return seen, threading.current_thread().name


def test_a_plain_pool_loses_the_callers_context_and_the_context_pool_keeps_it() -> None:
    token = where.set("caller")
    try:
        with ThreadPoolExecutor(max_workers=2) as plain:
            seen_plain = {seen for seen, _ in plain.map(_read_and_write, range(4))}
        # a plain worker runs in its own context: the caller's value is missing, an earlier task's leaks in
        assert "caller" not in seen_plain and "unset" in seen_plain
        with ContextPool(max_workers=2, thread_name_prefix="ctx") as pool:
            answers = list(pool.map(_read_and_write, range(8)))
            assert pool.submit(where.get).result() == "caller"
        assert [seen for seen, _ in answers] == ["caller"] * 8  # no task saw another's write
        assert all(name.startswith("ctx") for _, name in answers)
        assert where.get() == "caller"
    finally:
        where.reset(token)
