"""TEST-ONLY fault points: SIGKILL this process at a chosen SDK call, and trace every call.

Inert unless one of these variables is set (the check is one dictionary lookup per call, done once):

* ``SYNCD_FAULT_KILL_AT_CALL=N``: SIGKILL the process at the N-th SDK call (1-based). The count is of
  every call (each HTTP attempt, retries included) or, with ``SYNCD_FAULT_KILL_ENDPOINT=name``
  (``hubspot.tasks.create``, ``mailchimp.members.tags`` ...), only of that endpoint's calls.
* ``SYNCD_FAULT_KILL_WHEN=before|after`` (default ``before``): ``before`` kills just before the request
  is sent; ``after`` kills just after its response was received (or its error raised), before syncd
  recorded anything: the service applied the write but syncd never learnt it, the nastiest case.
* ``SYNCD_FAULT_TRACE=path``: append one line per call, ``<n> <endpoint> <k>`` (global ordinal,
  endpoint, ordinal within the endpoint), so a test can enumerate a cycle's call sites.

The hooks are called by `connectors.errors.CallStats` (`called` before, `returned` after), the one place
every SDK call of both connectors passes through. Nothing here is meant for production use: the daemon
never sets these variables, and a deployment must not either.
"""
from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Mapping

ENV_KILL_AT = "SYNCD_FAULT_KILL_AT_CALL"
ENV_KILL_WHEN = "SYNCD_FAULT_KILL_WHEN"
ENV_KILL_ENDPOINT = "SYNCD_FAULT_KILL_ENDPOINT"
ENV_TRACE = "SYNCD_FAULT_TRACE"
WHEN = ("before", "after")


class FaultPoints:
    """The state of the fault points of one process (see the module docstring)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        at = env.get(ENV_KILL_AT, "").strip()
        self.kill_at = int(at) if at else None
        if self.kill_at is not None and self.kill_at < 1:
            raise ValueError(f"{ENV_KILL_AT} must be a positive integer, not {at!r}")
        self.kill_when = env.get(ENV_KILL_WHEN, "before").strip() or "before"
        if self.kill_when not in WHEN:
            raise ValueError(f"{ENV_KILL_WHEN} must be one of {WHEN}, not {self.kill_when!r}")
        self.kill_endpoint = env.get(ENV_KILL_ENDPOINT, "").strip() or None
        self.trace_path = env.get(ENV_TRACE, "").strip() or None
        self.active = self.kill_at is not None or self.trace_path is not None
        self._lock = threading.Lock()
        self._total = 0
        self._per_endpoint: Counter[str] = Counter()
        # thread -> the ordinal its current call got, so `after` kills the very call `before` counted
        self._current = threading.local()

    def before(self, endpoint: str) -> None:
        with self._lock:
            self._total += 1
            self._per_endpoint[endpoint] += 1
            n, k = self._total, self._per_endpoint[endpoint]
            if self.trace_path:
                with open(self.trace_path, "a", encoding="utf-8") as f:
                    f.write(f"{n} {endpoint} {k}\n")
        target = self._is_target(endpoint, n, k)
        self._current.target = target
        if target and self.kill_when == "before":
            _kill()

    def after(self, endpoint: str) -> None:
        if getattr(self._current, "target", False):
            self._current.target = False
            if self.kill_when == "after":
                _kill()

    def _is_target(self, endpoint: str, n: int, k: int) -> bool:
        if self.kill_at is None:
            return False
        if self.kill_endpoint is None:
            return n == self.kill_at
        return endpoint == self.kill_endpoint and k == self.kill_at


def _kill() -> None:
    # SIGKILL, not sys.exit: no finally block, atexit hook or buffered flush may run, as in a real crash
    os.kill(os.getpid(), signal.SIGKILL)


_points: FaultPoints | None = None
_init_lock = threading.Lock()


def _get() -> FaultPoints:
    global _points
    if _points is None:
        with _init_lock:
            if _points is None:
                _points = FaultPoints(os.environ)
    return _points


def before_call(endpoint: str) -> None:
    """Called just before an SDK call is sent. May SIGKILL the process (only when configured)."""
    points = _get()
    if points.active:
        points.before(endpoint)


def after_call(endpoint: str) -> None:
    """Called just after an SDK call returned or raised. May SIGKILL the process (only when configured)."""
    points = _get()
    if points.active:
        points.after(endpoint)


def reset(env: Mapping[str, str] | None = None) -> None:
    """Re-read the configuration (from `env`, default os.environ) and restart the counts. For tests."""
    global _points
    with _init_lock:
        _points = FaultPoints(os.environ if env is None else env)
