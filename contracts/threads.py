"""A thread pool whose tasks see the submitting thread's context variables.

`concurrent.futures.ThreadPoolExecutor` runs each task in the worker thread's own (empty) context, so
whatever the caller set with `contextvars` (the progress reporter of `syncd once`, structlog's bound
fields such as the workspace) is missing inside the task. `ContextPool` copies the caller's context at
each `submit` (and so at each item of `map`) and runs the task inside that copy: one copy per task, as
a context cannot be entered by two threads at once.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ContextPool(ThreadPoolExecutor):
    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
