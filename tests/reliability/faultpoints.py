"""Test machinery: SIGKILL a syncd process at a chosen SDK call, and trace every call. Not part of the
product: the test harness installs it (`install()`, or by running syncd through `syncd_with_faults.py`) as
an observer of every call (contracts.calls.CallStats.observe), configured by these variables:

* ``SYNCD_FAULT_KILL_AT_CALL=N``: SIGKILL the process at the N-th SDK call (1-based). The count is of
  every call (each HTTP attempt, retries included) or, with ``SYNCD_FAULT_KILL_ENDPOINT=name``
  (``hubspot.tasks.create``, ``mailchimp.members.tags`` ...), only of that endpoint's calls.
* ``SYNCD_FAULT_KILL_WHEN=before|after`` (default ``before``): ``before`` kills just before the request
  is sent; ``after`` kills just after its response was received (or its error raised), before syncd
  recorded anything: the service applied the write but syncd never learnt it, the nastiest case.
* ``SYNCD_FAULT_TRACE=path``: append one line per call, ``<n> <endpoint> <k>`` (global ordinal,
  endpoint, ordinal within the endpoint), so a test can enumerate a cycle's call sites.

CallStats (`called` before, `returned` after) is the one place every SDK call of both connectors passes
through, so an observer there sees every call site.
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


def install(env: Mapping[str, str] | None = None) -> FaultPoints | None:
    """Observe every call of this process with the fault points `env` (default os.environ) configures;
    None (nothing installed) when it sets none. Raises ValueError for a bad value."""
    from contracts.calls import CallStats

    points = FaultPoints(os.environ if env is None else env)
    if not points.active:
        return None
    CallStats.observe(points)
    return points
