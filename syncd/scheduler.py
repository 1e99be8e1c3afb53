"""The daemon: for each workspace, one APScheduler job per stream, score and push; short leases so one
replica at a time runs each job; replicas that spread the workspaces between them; clean signals.

* Workspaces: one deployment may serve several (a HubSpot account and a Mailchimp audience each, their
  data apart: see syncd.settings.load_workspaces). Each has its own store, context and jobs.
* Leases: a job runs only under its lease row. A lease lasts `lease_ttl_s` (30 s by default) and is renewed
  every third of that while the job runs, so a replica that dies (or a daemon that is SIGKILLed and
  restarted) frees its jobs within one lease period. Holders are unique per process start. Taking a lease
  gives it a new token; the pusher claims outbox commands only under its token (one UPDATE, while it holds
  the lease), and a job that loses its lease is told to stop before its next call.
* Replicas: each beats into every workspace's `replicas` table; among the live ones, rendezvous hashing
  picks the replica that prefers each workspace, so N replicas split the workspaces without a coordinator.
  A replica runs another's workspace only when that work is overdue (its preferred replica died or
  stalls) and its lease is free, so a dead replica's jobs move as soon as their leases lapse: within one
  lease period of its death, plus the job's interval.
* Jobs are coalesced and never overlap themselves. Their outcome is recorded in the shared `jobs` and
  `job_runs` tables, so `/readyz` can tell "a healthy peer runs this job" from "nobody has run it".
* A bad environment (database unreachable, a vendor down, a revoked token) never kills the daemon: it
  keeps serving `/healthz`, says what is wrong in `/readyz` and on the status page, and retries with
  backoff.
* Signals: SIGTERM and SIGINT stop taking runs, let running jobs finish their page or batch, drain each
  workspace's outbox under its push lease within `drain_s` seconds in all, release the leases and exit 0.
  SIGHUP reloads the scoring rules and the mappings.
* Rule files: an edit is noticed by its content within half a second (SIGHUP re-reads at once); a valid
  one applies from the next job on and is stored as the last good version (a change of the field mappings
  has every lead decided again); a broken one is refused (log event, /readyz, /metrics, the status page)
  and the last good files keep running, across restarts too (see syncd/configfiles.py).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import Histogram

from syncd import decide, pipeline, push, streams
from syncd.context import Context

RETRY_FIRST_S, RETRY_MAX_S = 1.0, 60.0  # backoff while the environment is broken
FAILING_AFTER = 2  # failed runs in a row before /readyz calls a job failing
OVERDUE_FACTOR = 1.5  # a job not started for this many intervals is anyone's to run (under its lease)


def _stream_job(stream: streams.Stream) -> Callable[[Context], int]:
    return lambda ctx: streams.run(ctx, stream)


def jobs() -> dict[str, Callable[..., Any]]:
    """The daemon's jobs: one per registered stream (syncd/streams.py), then score and push."""
    out: dict[str, Callable[..., Any]] = {s.name: _stream_job(s) for s in streams.REGISTRY}
    out["score"] = decide.score_and_decide
    out["push"] = push.push_side_by_side
    return out


def wall_ms() -> int:
    """Leases and job records use the machine's clock, never the services' (simulated) one."""
    return int(time.time() * 1000)


def new_holder() -> str:
    """A lease holder id unique to this process start (a restarted daemon is a new holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def preferred(workspace: str, replicas: list[str]) -> str | None:
    """The replica that prefers `workspace` among `replicas` (rendezvous hashing: stable, and only the
    workspaces of a replica that comes or goes move)."""
    if not replicas:
        return None
    return max(replicas, key=lambda r: hashlib.sha256(f"{workspace}|{r}".encode()).hexdigest())


class Space:
    """One workspace in the daemon: its settings and rule files, its context once connected, and what this
    replica knows of its jobs."""

    def __init__(self, settings: Any, config: tuple[Any, Any]) -> None:
        self.settings = settings
        self.name: str = settings.workspace
        self.config = config
        self.ctx: Context | None = None
        self.setup_done = False
        self.problems: dict[str, str] = {}  # environment problems: store, setup, reload
        self.lease_waits: dict[str, dict[str, Any]] = {}  # job -> since when it could not get its lease
        self.health: dict[str, dict[str, Any]] = {}  # this replica's view of each job
        self.held: dict[str, str | None] = {}  # job -> lease token (None once renewal failed)
        self.retry_s = RETRY_FIRST_S
        self.next_attempt = 0.0
        self.replicas: list[str] = []  # live replicas, as of the last heartbeat
        self.first_pulls_done = False  # every stream finished once: scoring may begin
        # the rule files: the version running (`files`), the content last looked at (`seen`, so a refused
        # edit is reported once, not at every look), refusals so far, work left for the next connect
        self.files: Any = None  # configfiles.Files of the running config (None: given by the caller)
        self.seen: dict[str, str] = {}
        self.reload_failures = 0
        self.reloaded_ms: int | None = None
        self.save_pending = False  # the running files are not stored as the last good version yet
        self.resync_pending = False  # field mappings changed before the store was connected
        self.running: set[str] = set()  # jobs running on this replica now
        self.again: set[str] = set()  # jobs to run again as soon as their run in progress ends


class Daemon:
    """`Daemon(workspaces, configs, connect).serve()`: `workspaces` are the Settings of each workspace,
    `configs` their (rules, mappings), `connect(settings, (rules, mappings))` builds a workspace's Context
    (it may fail: retried with backoff)."""

    def __init__(
        self,
        workspaces: list[Any],
        configs: list[tuple[Any, Any]],
        connect: Callable[[Any, tuple[Any, Any]], Context],
        holder: str | None = None,
        files: list[Any] | None = None,
        refused: list[str | None] | None = None,
    ) -> None:
        self.spaces = [Space(s, c) for s, c in zip(workspaces, configs, strict=True)]
        # `files`: the configfiles.Files each config was loaded from (stored as the last good version once
        # the store is connected); `refused`: the error of files that were broken at start (the last good
        # version runs instead), reported like a refused reload
        for i, space in enumerate(self.spaces):
            space.files = files[i] if files else None
            space.seen = space.files.digests if space.files is not None else {}
            space.save_pending = space.files is not None and not (refused and refused[i])
            error = refused[i] if refused else None
            if error:
                from syncd import configfiles

                space.problems["reload"] = f"{error} (running the last good version stored in the database)"
                space.reload_failures = 1
                space.seen = configfiles.read(space.settings).digests  # the broken files: reported once
        self.by_name = {space.name: space for space in self.spaces}
        self.settings = workspaces[0]  # the deployment-wide settings (intervals, leases, HTTP) are the same
        self.jobs = jobs()
        self.connect = connect
        self.holder = holder or new_holder()
        self.started_ms = wall_ms()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._current = threading.local()  # (space, job) this worker thread is running
        cfg = self.settings.config
        self.lease_ttl_s = cfg.lease_ttl_s
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )
        # this replica's run durations; /metrics serves them (syncd.web.metrics)
        self.job_seconds = Histogram(
            "syncd_job_duration_seconds",
            "Duration of job runs on this replica",
            ["workspace", "job", "outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=None,
        )
        self._beater = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)
        self.log = structlog.get_logger("syncd")

    # -- environment -------------------------------------------------------------------------
    def environment_ready(self, space: Space) -> bool:
        """Connect (store) and run setup (HubSpot properties, merge fields) once, retrying with backoff
        while they fail; record what is wrong for /readyz and the status page."""
        if space.ctx is not None and space.setup_done:
            return True
        with self._lock:
            if time.monotonic() < space.next_attempt:
                return False
            try:
                if space.ctx is None:
                    space.ctx = self.connect(space.settings, space.config)
                    space.ctx.should_stop = self._should_stop
                    space.problems.pop("store", None)
                    self._beat(space)  # known to the other replicas before its first job
                if space.save_pending and space.files is not None:
                    from syncd import configfiles

                    configfiles.save_last_good(space.ctx.store, space.files)
                    space.save_pending = False
                if space.resync_pending:
                    self._resync(space)
                pipeline.setup(space.ctx)
                space.setup_done = True
                space.problems.pop("setup", None)
                space.retry_s = RETRY_FIRST_S
                return True
            except Exception as exc:
                area = "store" if space.ctx is None else "setup"
                space.problems[area] = describe(exc)
                space.next_attempt = time.monotonic() + space.retry_s
                self._log(
                    "error",
                    "daemon.environment_failed",
                    space,
                    area=area,
                    error=space.problems[area],
                    retry_in_s=space.retry_s,
                )
                space.retry_s = min(space.retry_s * 2, RETRY_MAX_S)
                return False

    def _log(self, level: str, event: str, space: Space | None = None, **kw: Any) -> None:
        if space is not None:
            kw["workspace"] = space.name
        getattr(self.log, level)(event, holder=self.holder, **kw)

    # -- jobs ----------------------------------------------------------------------------------
    def run_job(self, workspace: str, job: str) -> None:
        """Run one job of one workspace under its lease; record its health; never raise into the scheduler."""
        space = self.by_name[workspace]
        if self.stopping.is_set() or not self.environment_ready(space):
            return
        ctx = space.ctx
        assert ctx is not None
        if not self._mine_or_overdue(space, job):
            self._record(space, job, "standby", f"preferred by {preferred(space.name, space.replicas)}", 0.0)
            return
        waiting = self._first_pulls_missing(space) if job == "score" else []
        if waiting:
            # deciding on half a picture would, say, subscribe a contact whose member was not read yet
            self._record(space, job, "standby", f"waiting for the first pull of {', '.join(waiting)}", 0.0)
            return
        token = self._take_lease(space, job)
        if token is None:
            return
        if not self._due(space, job):
            self._release(space, job)
            return
        started, started_ms = time.monotonic(), wall_ms()
        error, result = None, None
        with self._lock:
            space.running.add(job)
            space.again.discard(job)  # this run reads everything committed so far
        before = (ctx.calls.snapshot(), dict(ctx.counters))
        self._current.where = (space, job)
        try:
            ctx.tick()  # follow a sandbox's clock, advanced or not since the last job
            ctx.store.job_started(job, self.holder, started_ms)
            fn = self.jobs[job]
            if job == "push":
                result = fn(ctx, should_stop=self._should_stop, fence=("push", self.holder, token))
            else:
                result = fn(ctx)
        except Exception as exc:
            error = describe(exc)
            self._log("error", "job.failed", space, job=job, error=error)
        finally:
            self._current.where = None
            self._finish(space, job, error, time.monotonic() - started, started_ms, result, before)

    def _chain(self, space: Space, job: str) -> None:
        """Run `job` now instead of at its next interval: a pull that brought records is scored at once, a
        score that changed leads is pushed at once, so an event reaches its task in about one pull interval,
        not three. A job running now runs again when it ends (it may have read before the change)."""
        with self._lock:
            if job in space.running:
                space.again.add(job)
                return
        if self.stopping.is_set():
            return
        try:
            self.scheduler.modify_job(f"{space.name}:{job}", next_run_time=datetime.now(UTC))
        except JobLookupError:  # the scheduler is stopping, or the job was not added (a test's daemon)
            pass

    def _should_stop(self) -> bool:
        """For the running job's loops: stop at the next page or batch on SIGTERM, or when this replica
        lost the job's lease (another replica took it over: it must make no further call)."""
        where = getattr(self._current, "where", None)
        if self.stopping.is_set():
            return True
        return where is not None and where[0].held.get(where[1]) is None

    def _first_pulls_missing(self, space: Space) -> list[str]:
        """The streams that never finished a run in this workspace (on any replica, ever): scoring waits
        for them once, at the workspace's very start."""
        if space.first_pulls_done:
            return []
        ctx = space.ctx
        assert ctx is not None
        rows = ctx.store.job_statuses()
        missing = [name for name in streams.REGISTRY.names() if not (rows.get(name) or {}).get("last_ok_ms")]
        space.first_pulls_done = not missing
        return missing

    def _mine_or_overdue(self, space: Space, job: str) -> bool:
        """Whether this replica should try the job: the workspace prefers it, or the job is overdue."""
        choice = preferred(space.name, space.replicas)
        if choice is None or choice == self.holder:
            return True
        ctx = space.ctx
        assert ctx is not None
        row = ctx.store.job_statuses().get(job) or {}
        last = max(row.get("last_finished_ms") or 0, row.get("last_started_ms") or 0, self.started_ms)
        # a run that is still going holds the job's lease, so trying costs one statement and takes nothing
        return wall_ms() - last > OVERDUE_FACTOR * self.settings.config.interval(job) * 1000

    def _due(self, space: Space, job: str) -> bool:
        """Replicas share one schedule: a job another replica finished less than ~an interval ago is
        not due here (each replica's scheduler fires on its own clock)."""
        ctx = space.ctx
        assert ctx is not None
        row = ctx.store.job_statuses().get(job) or {}
        finished = row.get("last_finished_ms")
        return (
            row.get("holder") == self.holder
            or finished is None
            or wall_ms() - finished >= 0.9 * self.settings.config.interval(job) * 1000
        )

    def _take_lease(self, space: Space, job: str) -> str | None:
        ctx = space.ctx
        assert ctx is not None
        now = wall_ms()
        try:
            token = ctx.store.acquire(job, self.holder, self.lease_ttl_s, now)
        except Exception as exc:
            space.problems["store"] = describe(exc)
            return None
        if token is None:
            holder, expires = ctx.store.lease_holders().get(job, ("?", now))
            wait = space.lease_waits.setdefault(job, {"since_ms": now})
            wait.update(holder=holder, expires_ms=expires)
            self._record(space, job, "standby", f"lease held by {holder}", 0.0)
            self._log(
                "info",
                "job.lease_unavailable",
                space,
                job=job,
                lease_holder=holder,
                expires_in_s=round((expires - now) / 1000, 1),
            )
            return None
        space.lease_waits.pop(job, None)
        with self._lock:
            space.held[job] = token
        return token

    def _release(self, space: Space, job: str) -> None:
        with self._lock:
            space.held.pop(job, None)
        try:
            space.ctx.store.release(job, self.holder)  # type: ignore[union-attr]
        except Exception as exc:
            space.problems["store"] = describe(exc)

    def _finish(
        self,
        space: Space,
        job: str,
        error: str | None,
        seconds: float,
        started_ms: int,
        result: Any,
        before: tuple[dict[str, Any], dict[str, int]],
    ) -> None:
        ctx = space.ctx
        assert ctx is not None
        figures = run_figures(job, round(seconds, 3), before, (ctx.calls.snapshot(), dict(ctx.counters)))
        try:
            ctx.store.job_finished(job, self.holder, wall_ms(), error)
            ctx.store.record_job_run(job, self.holder, started_ms, wall_ms(), error, figures)
            if job == "score" and error is None:
                ctx.store.record_segment_day(ctx.clock())
        except Exception as exc:
            space.problems["store"] = describe(exc)
        self._release(space, job)
        with self._lock:
            space.running.discard(job)
            rerun = job in space.again
            space.again.discard(job)
        self._record(space, job, "error" if error else "ok", error, seconds)
        self.job_seconds.labels(space.name, job, "error" if error else "ok").observe(seconds)
        if error is None:
            self._log("info", "job.done", space, job=job, result=result, **figures)
            if figures["pulled"] and "score" in self.jobs:
                self._chain(space, "score")
            if figures["scored"] and "push" in self.jobs:
                self._chain(space, "push")
        if rerun:
            self._chain(space, job)

    def _record(self, space: Space, job: str, status: str, error: str | None, seconds: float) -> None:
        with self._lock:
            h = space.health.setdefault(job, {"runs": 0, "errors": 0, "failures_in_a_row": 0})
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

    # -- heartbeat and leases ------------------------------------------------------------------
    def _beat_loop(self) -> None:
        """Every third of a lease period: beat into each workspace, renew the leases of running jobs (and
        flag the ones lost)."""
        while not self.stopping.wait(self.lease_ttl_s / 3):
            self.beat_once()

    def _beat(self, space: Space) -> bool:
        """Beat into the workspace's store and learn the live replicas; False when the store failed."""
        ctx = space.ctx
        if ctx is None:
            return False
        now = wall_ms()
        try:
            ctx.store.heartbeat(self.holder, now, self.started_ms)
            space.replicas = ctx.store.live_replicas(now, self.lease_ttl_s * 1000)
        except Exception as exc:  # reported; leases lapse if this lasts
            space.problems["store"] = describe(exc)
            return False
        return True

    def beat_once(self) -> None:
        for space in self.spaces:
            ctx = space.ctx
            if ctx is None or not self._beat(space):
                continue
            with self._lock:
                running = [job for job, token in space.held.items() if token is not None]
            for job in running:
                try:
                    token = ctx.store.acquire(job, self.holder, self.lease_ttl_s, wall_ms())
                except Exception as exc:
                    space.problems["store"] = describe(exc)
                    continue
                if token is None or token != space.held.get(job):
                    with self._lock:
                        space.held[job] = None
                    self._log("warning", "job.lease_lost", space, job=job)

    # -- readiness -----------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, list[str], dict[str, Any]]:
        """(ready, problems, detail) over every workspace (problems are prefixed with the workspace's name
        when there are several). See `space_readiness`."""
        problems: list[str] = []
        detail: dict[str, Any] = {"holder": self.holder, "workspaces": {}}
        for space in self.spaces:
            ok, found, info = self.space_readiness(space)
            detail["workspaces"][space.name] = {"ready": ok, "problems": found, **info}
            problems += [f"{space.name}: {p}" if len(self.spaces) > 1 else p for p in found]
        if len(self.spaces) == 1:
            detail["leases"] = detail["workspaces"][self.spaces[0].name].get("leases", {})
        return not problems, problems, detail

    def space_readiness(self, space: Space) -> tuple[bool, list[str], dict[str, Any]]:
        """Ready: the store answers, setup is done, the last config reload was good, no job is failing its
        last runs, and every job ran successfully somewhere recently (a standby replica whose peer does the
        work is ready)."""
        problems = [f"{area}: {reason}" for area, reason in sorted(space.problems.items())]
        detail: dict[str, Any] = {"leases": {}, "replicas": list(space.replicas), "config": config_detail(space)}
        ctx = space.ctx
        if ctx is None:
            return False, problems or ["store: not connected yet"], detail
        try:
            shared = ctx.store.job_statuses()
            holders = ctx.store.lease_holders()
        except Exception as exc:
            return False, [*problems, f"store: {describe(exc)}"], detail
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
                wait = space.lease_waits.get(job)
                why = f" (lease held by {wait['holder']})" if wait else ""
                age = round((now - (last_ok or self.started_ms)) / 1000)
                problems.append(f"{job}: no successful run for {age} s{why}")
        return not problems, problems, detail

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        now = datetime.now(UTC)
        for space in self.spaces:
            for job in self.jobs:  # every job runs once right away, then on its interval
                self.scheduler.add_job(
                    self.run_job,
                    "interval",
                    args=[space.name, job],
                    id=f"{space.name}:{job}",
                    name=f"{space.name}:{job}",
                    seconds=self.settings.config.interval(job),
                    next_run_time=now,
                )
        self.scheduler.start()
        self._beater.start()

    def reload(self, force: bool = False) -> bool:
        """Look at scoring.yaml and the mappings of every workspace: a file whose content changed since it
        was last looked at (or any, with `force`: SIGHUP) is validated; a valid edit applies from the next
        job on, is stored as the last good version, and when the field mappings changed every lead is
        decided again (the score job's chunks, then the pusher's batches); an invalid one is refused with
        every problem (file:line) logged, counted and shown on /readyz, /metrics and the status page, and
        the last good files keep running. Returns False when a workspace refused its files."""
        from syncd import configfiles

        ok = True
        for space in self.spaces:
            files = configfiles.read(space.settings)
            digests = files.digests
            if not force and digests == space.seen:
                if "reload" in space.problems:
                    ok = False
                continue
            space.seen = digests
            running = space.files.digests if space.files is not None else None
            try:
                rules, mappings = configfiles.load(files)
            except Exception as exc:
                error = configfiles.describe_error(exc)
                space.problems["reload"] = f"{error} (the last good version keeps running)"
                space.reload_failures += 1
                changed = [name for name in configfiles.FILES if running is None or running[name] != digests[name]]
                self._log("error", "config.reload_refused", space, error=error, files=changed)
                ok = False
                continue
            space.problems.pop("reload", None)
            before = space.config[1]
            changed = [name for name in configfiles.FILES if running is None or running[name] != digests[name]]
            space.config, space.files = (rules, mappings), files
            space.reloaded_ms = wall_ms()
            fields_changed = _meaning(before) != _meaning(mappings)
            if space.ctx is not None:
                space.ctx.rules, space.ctx.mappings = rules, mappings
                space.setup_done = False  # merge fields a new mapping needs are created before the next run
                try:
                    configfiles.save_last_good(space.ctx.store, files)
                except Exception as exc:
                    space.save_pending = True
                    space.problems["store"] = describe(exc)
            else:
                space.save_pending = True
            if fields_changed:
                space.resync_pending = True
                if space.ctx is not None:
                    self._resync(space)
            self._log("info", "config.reloaded", space, files=changed, mappings_changed=fields_changed)
        return ok

    def _resync(self, space: Space) -> None:
        """After the mappings changed: every lead is decided again by the next score job (in its chunks),
        and what changed for it is pushed in the pusher's batches."""
        ctx = space.ctx
        assert ctx is not None
        from syncd.store import schema as t

        try:
            with ctx.store.begin() as conn:
                n = conn.execute(t.identities.update().values(**t.touch(ctx.clock()))).rowcount
        except Exception as exc:
            space.problems["store"] = describe(exc)
            return
        space.resync_pending = False
        self._log("info", "config.resync", space, leads=n)

    def stop(self) -> None:
        """Stop taking runs, let running jobs finish their page, drain each workspace's outbox under its push
        lease (within `drain_s` in all), release every lease."""
        self.stopping.set()
        deadline = time.monotonic() + float(self.settings.config.drain_s)
        self.scheduler.shutdown(wait=True)
        drained = 0
        for space in self.spaces:
            ctx = space.ctx
            if ctx is None:
                continue
            try:
                token = ctx.store.acquire("push", self.holder, self.lease_ttl_s, wall_ms())
                if time.monotonic() < deadline and token is not None:
                    drained += push.push(
                        ctx, should_stop=lambda: time.monotonic() >= deadline, fence=("push", self.holder, token)
                    )
            except Exception as exc:
                self._log("warning", "daemon.drain_failed", space, error=describe(exc))
            finally:
                for job in self.jobs:
                    try:
                        ctx.store.release(job, self.holder)
                    except Exception:
                        pass
                try:
                    ctx.store.forget_replica(self.holder)
                except Exception:
                    pass
        self._log("info", "daemon.stopped", drained=drained)

    def serve(self, install_signals: bool = True) -> int:
        done = threading.Event()
        reload_wanted = threading.Event()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: done.set())
            signal.signal(signal.SIGHUP, lambda *_: reload_wanted.set())
        self.start()
        self._log("info", "daemon.started", workspaces=[s.name for s in self.spaces], jobs=list(self.jobs))
        for space in self.spaces:
            if "reload" in space.problems:
                self._log("error", "config.refused_at_start", space, error=space.problems["reload"])
        while not done.wait(0.5):
            # an edited rule file is noticed by its content within a turn of this loop; SIGHUP re-reads both
            forced = reload_wanted.is_set()
            reload_wanted.clear()
            self.reload(force=forced)
            self.retry_environment()
        self.stop()
        return 0

    def retry_environment(self) -> None:
        """While a workspace's environment is broken, try again when the backoff allows, and once it works
        run its jobs at once instead of waiting for their intervals."""
        for space in self.spaces:
            if space.setup_done and space.ctx is not None:
                continue
            if time.monotonic() >= space.next_attempt and self.environment_ready(space):
                self.beat_once()
                now = datetime.now(UTC)
                for job in self.jobs:
                    self.scheduler.modify_job(f"{space.name}:{job}", next_run_time=now)


def _meaning(mappings: Any) -> Any:
    """What the mappings mean, without the line numbers their entries were read from (an edit of a comment
    moves lines; it changes no value)."""
    import dataclasses

    def strip(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: strip(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "line"}
        if isinstance(value, (list, tuple)):
            return [strip(v) for v in value]
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        return value

    return strip(mappings)


def config_detail(space: Space) -> dict[str, Any]:
    """The rule files a workspace runs on, for /readyz: paths and content hashes of the running version,
    the refused edit's problems (None when the files on disk are the ones running), refusals so far."""
    files = space.files
    return {
        "files": dict(files.paths) if files is not None else {},
        "running_sha256": files.digests if files is not None else {},
        "refused": space.problems.get("reload"),
        "reload_failures": space.reload_failures,
        "reloaded_ms": space.reloaded_ms,
    }


def run_figures(
    job: str,
    seconds: float,
    before: tuple[dict[str, Any], dict[str, int]],
    after: tuple[dict[str, Any], dict[str, int]],
) -> dict[str, Any]:
    """What one run did, from the workspace's call stats and counters before and after it. Jobs of one
    workspace run at once on worker threads and share those; each figure is taken from what only this job
    moves (its stream's counter, its system's endpoints; push's pushed and failed counts)."""
    (calls0, count0), (calls1, count1) = before, after

    def delta(prefix: str, bucket: dict[str, int], old: dict[str, int]) -> int:
        return sum(n - old.get(k, 0) for k, n in bucket.items() if k.startswith(prefix))

    system = streams.REGISTRY.get(job).system + "." if job in streams.REGISTRY.names() else ""
    return {
        "seconds": seconds,
        "pulled": delta(f"pulled.{job}", count1, count0) if system else 0,
        "pushed": delta("pushed.", count1, count0) if job == "push" else 0,
        "failed": delta("failed.", count1, count0) if job == "push" else 0,
        "scored": delta("scored", count1, count0) if job == "score" else 0,
        "calls": delta(system, calls1["calls"], calls0["calls"]),
        "http_429": delta(system, calls1["rate_limited"], calls0["rate_limited"]),
    }


def describe(exc: BaseException) -> str:
    """One line an admin can act on, for any failure of the environment (see syncd.failures)."""
    from syncd.failures import explain

    return explain(exc)
