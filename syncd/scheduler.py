"""The daemon: one APScheduler job per stage, short leases so one replica runs each job, clean signals.

* Leases: a job runs only under its lease row. A lease lasts `lease_ttl_s` (30 s by default) and is renewed
  every third of that while the job runs, so a replica that dies (or a daemon that is SIGKILLed and
  restarted) frees its jobs within one lease period. Holders are unique per process start, never a
  reused `hostname:pid`. A job that loses its lease (renewal refused: another replica took it after a
  stall) is told to stop before its next call.
* Jobs are coalesced and never overlap themselves. Their outcome is recorded in the shared `jobs` table,
  so `/readyz` can tell "a healthy peer runs this job" from "nobody has run it for several periods".
* A bad environment (database unreachable, a vendor down, a revoked token) never kills the daemon: it
  keeps serving `/healthz`, says what is wrong in `/readyz` and on the status page, and retries with
  backoff.
* Signals: SIGTERM and SIGINT stop taking runs, let running jobs finish their page or batch, drain the
  outbox under the push lease for at most `drain_s` seconds, release the leases and exit 0. SIGHUP
  reloads the scoring rules and the mappings (a broken edit is refused and the last good files keep
  running).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from syncd import decide, pipeline, push, streams
from syncd.context import Context


def _stream_job(stream: streams.Stream) -> Callable[[Context], int]:
    return lambda ctx: streams.run(ctx, stream)


def jobs() -> dict[str, Callable[..., Any]]:
    """The daemon's jobs: one per registered stream (syncd/streams.py), then score and push."""
    out: dict[str, Callable[..., Any]] = {s.name: _stream_job(s) for s in streams.REGISTRY}
    out["score"] = decide.score_and_decide
    out["push"] = push.push
    return out


RETRY_FIRST_S, RETRY_MAX_S = 1.0, 60.0  # backoff while the environment is broken
FAILING_AFTER = 2  # failed runs in a row before /readyz calls a job failing


def wall_ms() -> int:
    """Leases and job records use the machine's clock, never the services' (simulated) one."""
    return int(time.time() * 1000)


def new_holder() -> str:
    """A lease holder id unique to this process start (a restarted daemon is a new holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Daemon:
    """`Daemon(settings, (rules, mappings), connect).serve()`; `connect((rules, mappings))` builds the
    Context (it may fail: retried with backoff)."""

    def __init__(
        self,
        settings: Any,
        config: tuple[Any, Any],
        connect: Callable[[tuple[Any, Any]], Context],
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = jobs()
        self.config = config
        self.connect = connect
        self.ctx: Context | None = None
        self.holder = holder or new_holder()
        self.started_ms = wall_ms()
        self.stopping = threading.Event()
        self.health: dict[str, dict[str, Any]] = {}  # this replica's view of each job
        self.problems: dict[str, str] = {}  # environment problems: store, setup, reload
        self.lease_waits: dict[str, dict[str, Any]] = {}  # job -> since when it could not get its lease
        self._lock = threading.Lock()
        self._current = threading.local()  # the job this worker thread is running
        self._held: dict[str, bool] = {}  # job -> still ours (False once renewal failed)
        self._setup_done = False
        self._retry_s = RETRY_FIRST_S
        self._next_attempt = 0.0
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )
        cfg = settings.config
        self.lease_ttl_s = cfg.lease_ttl_s
        self.log: Any = None
        self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)

    # -- environment -------------------------------------------------------------------------
    def _environment_ready(self) -> bool:
        """Connect (store) and run setup (HubSpot properties, merge fields) once, retrying with backoff
        while they fail; record what is wrong for /readyz and the status page."""
        if self.ctx is not None and self._setup_done:
            return True
        with self._lock:
            if time.monotonic() < self._next_attempt:
                return False
            try:
                if self.ctx is None:
                    self.ctx = self.connect(self.config)
                    self.ctx.should_stop = self._should_stop
                    self.log = self.ctx.log
                    self.problems.pop("store", None)
                pipeline.setup(self.ctx)
                self._setup_done = True
                self.problems.pop("setup", None)
                self._retry_s = RETRY_FIRST_S
                return True
            except Exception as exc:
                area = "store" if self.ctx is None else "setup"
                self.problems[area] = describe(exc)
                self._next_attempt = time.monotonic() + self._retry_s
                self._log(
                    "error", "daemon.environment_failed", area=area, error=self.problems[area], retry_in_s=self._retry_s
                )
                self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
                return False

    def _log(self, level: str, event: str, **kw: Any) -> None:
        import structlog

        getattr(self.log or structlog.get_logger("syncd"), level)(event, holder=self.holder, **kw)

    # -- jobs ----------------------------------------------------------------------------------
    def run_job(self, job: str) -> None:
        """Run one job under its lease; record its health; never raise into the scheduler."""
        if self.stopping.is_set() or not self._environment_ready():
            return
        ctx = self.ctx
        assert ctx is not None
        if not self._take_lease(job):
            return
        if not self._due(job):
            self._release(job)
            return
        started = time.monotonic()
        error = None
        self._current.job = job
        try:
            ctx.tick()  # follow a sandbox's clock, advanced or not since the last job
            ctx.store.job_started(job, self.holder, wall_ms())
            fn = self.jobs[job]
            if job == "push":
                fn(ctx, should_stop=self._should_stop)
            else:
                fn(ctx)
        except Exception as exc:
            error = describe(exc)
            self._log("error", "job.failed", job=job, error=error)
        finally:
            self._current.job = None
            self._finish(job, error, time.monotonic() - started)

    def _should_stop(self) -> bool:
        """For the running job's loops: stop at the next page or batch on SIGTERM, or when this replica
        lost the job's lease (another replica took it over: it must make no further call)."""
        job = getattr(self._current, "job", None)
        return self.stopping.is_set() or (job is not None and not self._held.get(job, False))

    def _due(self, job: str) -> bool:
        """Replicas share one schedule: a job another replica finished less than ~an interval ago is
        not due here (each replica's scheduler fires on its own clock)."""
        ctx = self.ctx
        assert ctx is not None
        row = ctx.store.job_statuses().get(job) or {}
        interval_ms = self.settings.config.interval(job) * 1000
        finished = row.get("last_finished_ms")
        return row.get("holder") == self.holder or finished is None or wall_ms() - finished >= 0.9 * interval_ms

    def _release(self, job: str) -> None:
        with self._lock:
            self._held.pop(job, None)
        try:
            self.ctx.store.release(job, self.holder)  # type: ignore[union-attr]
        except Exception as exc:
            self.problems["store"] = describe(exc)

    def _take_lease(self, job: str) -> bool:
        ctx = self.ctx
        assert ctx is not None
        now = wall_ms()
        try:
            got = ctx.store.acquire(job, self.holder, self.lease_ttl_s, now)
        except Exception as exc:
            self.problems["store"] = describe(exc)
            return False
        if not got:
            holder, expires = ctx.store.lease_holders().get(job, ("?", now))
            wait = self.lease_waits.setdefault(job, {"since_ms": now})
            wait.update(holder=holder, expires_ms=expires)
            self._record(job, "standby", f"lease held by {holder}", 0.0)
            self._log(
                "info",
                "job.lease_unavailable",
                job=job,
                lease_holder=holder,
                expires_in_s=round((expires - now) / 1000, 1),
            )
            return False
        self.lease_waits.pop(job, None)
        with self._lock:
            self._held[job] = True
        return True

    def _finish(self, job: str, error: str | None, seconds: float) -> None:
        ctx = self.ctx
        assert ctx is not None
        try:
            ctx.store.job_finished(job, self.holder, wall_ms(), error)
        except Exception as exc:
            self.problems["store"] = describe(exc)
        self._release(job)
        self._record(job, "error" if error else "ok", error, seconds)
        if error is None:
            self._log("info", "job.done", job=job, seconds=round(seconds, 3))

    def _record(self, job: str, status: str, error: str | None, seconds: float) -> None:
        with self._lock:
            h = self.health.setdefault(job, {"runs": 0, "errors": 0, "failures_in_a_row": 0})
            h.update(status=status, error=error, at=time.time(), seconds=round(seconds, 3))
            if status == "standby":
                return
            h["runs"] += 1
            if status == "error":
                h["errors"] += 1
                h["failures_in_a_row"] += 1
            else:
                h["last_ok"] = time.time()
                h["failures_in_a_row"] = 0

    def _renew_loop(self) -> None:
        """Renew the leases of running jobs every third of a lease period; flag the ones we lost."""
        while not self.stopping.wait(self.lease_ttl_s / 3):
            self.renew_once()

    def renew_once(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        with self._lock:
            running = [job for job, ours in self._held.items() if ours]
        for job in running:
            try:
                ok = ctx.store.acquire(job, self.holder, self.lease_ttl_s, wall_ms())
            except Exception as exc:
                self.problems["store"] = describe(exc)
                continue
            if not ok:
                with self._lock:
                    self._held[job] = False
                self._log("warning", "job.lease_lost", job=job)

    # -- readiness -----------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, list[str], dict[str, Any]]:
        """(ready, problems, detail). Ready: the store answers, setup is done, the last config reload
        was good, no job is failing its last runs, and every job ran successfully somewhere recently
        (a standby replica whose peer does the work is ready)."""
        problems = [f"{area}: {reason}" for area, reason in sorted(self.problems.items())]
        detail: dict[str, Any] = {"holder": self.holder, "leases": {}}
        ctx = self.ctx
        if ctx is None:
            return False, problems or ["store: not connected yet"], detail
        try:
            shared = ctx.store.job_statuses()
            holders = ctx.store.lease_holders()
        except Exception as exc:
            return False, problems + [f"store: {describe(exc)}"], detail
        now = wall_ms()
        for job in self.jobs:
            interval_ms = self.settings.config.interval(job) * 1000
            row = shared.get(job) or {}
            if job in holders:
                holder, expires = holders[job]
                detail["leases"][job] = {
                    "holder": holder,
                    "expires_in_s": round((expires - now) / 1000, 1),
                    "ours": holder == self.holder,
                }
            if (row.get("failures_in_a_row") or 0) >= FAILING_AFTER:
                problems.append(f"{job}: failing ({row['failures_in_a_row']} runs in a row): {row.get('last_error')}")
            grace = 2 * interval_ms + 2 * self.lease_ttl_s * 1000
            last_ok = row.get("last_ok_ms")
            running = (
                job in holders
                and holders[job][1] > now
                and (row.get("last_started_ms") or 0) > (row.get("last_finished_ms") or 0)
            )
            if not running and now - max(last_ok or 0, self.started_ms) > grace:
                wait = self.lease_waits.get(job)
                why = f" (lease held by {wait['holder']})" if wait else ""
                problems.append(
                    f"{job}: no successful run for {round((now - (last_ok or self.started_ms)) / 1000)} s" + why
                )
        return not problems, problems, detail

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        now = datetime.now(UTC)
        for job in self.jobs:  # every stage runs once right away, then on its interval
            seconds = self.settings.config.interval(job)
            self.scheduler.add_job(
                self.run_job, "interval", args=[job], id=job, name=job, seconds=seconds, next_run_time=now
            )
        self.scheduler.start()
        self._renewer.start()

    def reload(self) -> bool:
        """Re-read scoring.yaml and the mappings (SIGHUP). A valid edit applies from the next job on; an
        invalid one is refused with every problem logged, and the last good files keep running."""
        from syncd.app import load_config

        try:
            rules, mappings = load_config(self.settings)
        except Exception as exc:
            self.problems["reload"] = describe(exc)
            self._log("error", "config.reload_refused", error=self.problems["reload"])
            return False
        self.problems.pop("reload", None)
        self.config = (rules, mappings)
        if self.ctx is not None:
            self.ctx.rules, self.ctx.mappings = rules, mappings
            self._setup_done = False  # merge fields a new mapping needs are created before the next run
        self._log("info", "config.reloaded")
        return True

    def stop(self) -> None:
        """Stop taking runs, let running jobs finish their page, drain the outbox for at most `drain_s`
        under the push lease, release every lease."""
        self.stopping.set()
        deadline = time.monotonic() + float(self.settings.config.drain_s)
        self.scheduler.shutdown(wait=True)
        ctx = self.ctx
        if ctx is None:
            return
        drained = 0
        try:
            if time.monotonic() < deadline and ctx.store.acquire("push", self.holder, self.lease_ttl_s, wall_ms()):
                drained = push.push(ctx, should_stop=lambda: time.monotonic() >= deadline)
        except Exception as exc:
            self._log("warning", "daemon.drain_failed", error=describe(exc))
        finally:
            for job in self.jobs:
                try:
                    ctx.store.release(job, self.holder)
                except Exception:
                    pass
        self._log("info", "daemon.stopped", drained=drained)

    def serve(self, install_signals: bool = True) -> int:
        done = threading.Event()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: done.set())
            reload_wanted = threading.Event()
            signal.signal(signal.SIGHUP, lambda *_: reload_wanted.set())
        self.start()
        self._log("info", "daemon.started", jobs=list(self.jobs))
        while not done.wait(0.5):
            if install_signals and reload_wanted.is_set():
                reload_wanted.clear()
                self.reload()
            self.retry_environment()
        self.stop()
        return 0

    def retry_environment(self) -> None:
        """While the environment is broken, try again when the backoff allows, and once it works run every
        job at once instead of waiting for their intervals."""
        if self._setup_done and self.ctx is not None:
            return
        if time.monotonic() >= self._next_attempt and self._environment_ready():
            now = datetime.now(UTC)
            for job in self.jobs:
                self.scheduler.modify_job(job, next_run_time=now)


def describe(exc: BaseException) -> str:
    """One line an admin can act on, for any failure of the environment (see syncd.failures)."""
    from syncd.failures import explain

    return explain(exc)
