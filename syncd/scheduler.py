"""The daemon: one APScheduler job per stage, leases so one replica runs each job, clean SIGTERM.

Jobs are coalesced and never overlap themselves. Each run takes the job's lease row first (a replica
whose lease is held elsewhere skips the run). On SIGTERM the scheduler stops taking runs, waits for the
running ones to finish their batch, drains the outbox, releases the leases and the process exits 0.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler

from syncd import decide, pipeline, pull, push
from syncd.context import Context

JOBS: dict[str, tuple[str, Callable[[Context], Any]]] = {
    # job name: (interval setting, function)
    "hubspot_owners": ("hubspot_owners", pull.pull_owners),
    "hubspot_contacts": ("hubspot_contacts", pull.pull_hubspot_contacts),
    "mailchimp_members": ("mailchimp_members", pull.pull_mailchimp_members),
    "mailchimp_activity": ("mailchimp_activity", pull.pull_mailchimp_activity),
    "score": ("score", decide.score_and_decide),
    "push": ("push", push.push),
}


class Daemon:
    def __init__(self, ctx: Context, holder: str | None = None) -> None:
        self.ctx = ctx
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.health: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1,
                                                           "misfire_grace_time": 60})

    def _lease_ttl(self, job: str) -> int:
        return max(60, 3 * int(getattr(self.ctx.settings.config.intervals, JOBS[job][0])))

    def run_job(self, job: str) -> None:
        """Run one job under its lease; record its health; never raise into the scheduler."""
        if self.stopping.is_set():
            return
        store, now = self.ctx.store, self.ctx.clock()
        if not store.acquire(job, self.holder, self._lease_ttl(job), now):
            self._record(job, "skipped", "lease held by another replica")
            return
        started = time.monotonic()
        try:
            fn = JOBS[job][1]
            fn(self.ctx) if job != "push" else fn(self.ctx, should_stop=lambda: False)
            self._record(job, "ok", None, time.monotonic() - started)
        except Exception as exc:  # a job's failure is logged and retried at its next interval
            self.ctx.log.error("job.failed", job=job, error=f"{type(exc).__name__}: {exc}")
            self._record(job, "error", f"{type(exc).__name__}: {exc}", time.monotonic() - started)

    def _record(self, job: str, status: str, error: str | None, seconds: float = 0.0) -> None:
        with self._lock:
            h = self.health.setdefault(job, {"runs": 0, "errors": 0})
            h.update(status=status, error=error, at=time.time(), seconds=round(seconds, 3))
            h["runs"] += 1
            if status == "error":
                h["errors"] += 1
            else:
                h["last_ok"] = time.time()

    def start(self) -> None:
        pipeline.setup(self.ctx)
        now = datetime.now(timezone.utc)
        for job, (interval_name, _) in JOBS.items():  # every stage runs once right away, then on its interval
            seconds = int(getattr(self.ctx.settings.config.intervals, interval_name))
            self.scheduler.add_job(self.run_job, "interval", args=[job], id=job, seconds=seconds,
                                   next_run_time=now)
        self.scheduler.start()

    def stop(self) -> None:
        """Finish running jobs, drain the outbox, release leases."""
        self.stopping.set()
        self.scheduler.shutdown(wait=True)
        try:
            push.push(self.ctx)
        finally:
            for job in JOBS:
                self.ctx.store.release(job, self.holder)
        self.ctx.log.info("daemon.stopped", holder=self.holder)

    def serve(self, install_signals: bool = True) -> int:
        done = threading.Event()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: done.set())
        self.start()
        self.ctx.log.info("daemon.started", holder=self.holder, jobs=list(JOBS))
        done.wait()
        self.stop()
        return 0

