"""Prometheus metrics of a running daemon, per workspace, read from each workspace's store at each scrape.

    syncd_job_duration_seconds{workspace,job,outcome}        histogram of job runs on this replica
    syncd_job_last_success_timestamp_seconds{workspace,job}  last successful run on any replica
    syncd_job_failures_in_a_row{workspace,job}
    syncd_stream_lag_seconds{workspace,stream}               now minus the stream's cursor (streams.lag)
    syncd_outbox_commands{workspace,state}
    syncd_outbox_oldest_pending_age_seconds{workspace}       0 when nothing is pending
    syncd_quarantined_records{workspace}
    syncd_leads{workspace,segment}
    syncd_workspace_ready{workspace}                         1 when /readyz has no problem for it
    syncd_config_error{workspace}                            1 while an edited rule file is refused
    syncd_config_reload_failures_total{workspace}            rule file edits refused so far
    syncd_api_calls_total / syncd_api_429_total / syncd_api_retries_total{workspace,endpoint}
    syncd_stage_total{workspace,name}                        pulled, pushed, failed, quarantined ...

A workspace whose store cannot be read is left out of that scrape (its readiness says why).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from syncd import streams
from syncd.context import Context
from syncd.store import schema as t

log = structlog.get_logger("syncd.web")


def store_figures(ctx: Context) -> dict[str, Any]:
    """Counts from one workspace's store: outbox by state and its oldest pending command, the quarantine,
    leads by segment."""
    ob = t.outbox.c
    with ctx.store.begin() as conn:
        outbox = {str(k): int(n) for k, n in conn.execute(sa.select(ob.state, sa.func.count()).group_by(ob.state))}
        oldest = conn.execute(
            sa.select(sa.func.min(ob.created_ms)).where(ob.state.in_(("pending", "attempted")))
        ).scalar()
        segments = {
            str(k): int(n)
            for k, n in conn.execute(sa.select(t.scores.c.segment, sa.func.count()).group_by(t.scores.c.segment))
            if k is not None
        }
        quarantined = int(conn.execute(sa.select(sa.func.count()).select_from(t.quarantine)).scalar_one())
    now = ctx.store.clock()
    return {
        "outbox": outbox,
        "oldest_pending_s": max(0.0, (now - oldest) / 1000) if oldest is not None else 0.0,
        "segments": segments,
        "quarantined": quarantined,
    }


class DaemonCollector:
    """Yields every metric above at each scrape."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        fam: dict[str, Any] = {
            "last_ok": GaugeMetricFamily(
                "syncd_job_last_success_timestamp_seconds",
                "Last successful run of each job, on any replica (epoch s)",
                labels=["workspace", "job"],
            ),
            "failing": GaugeMetricFamily(
                "syncd_job_failures_in_a_row", "Failed runs in a row of each job", labels=["workspace", "job"]
            ),
            "lag": GaugeMetricFamily(
                "syncd_stream_lag_seconds",
                "Now minus the time each stream has caught up to",
                labels=["workspace", "stream"],
            ),
            "outbox": GaugeMetricFamily(
                "syncd_outbox_commands", "Outbox commands by state", labels=["workspace", "state"]
            ),
            "oldest": GaugeMetricFamily(
                "syncd_outbox_oldest_pending_age_seconds",
                "Age of the oldest pending outbox command",
                labels=["workspace"],
            ),
            "quarantine": GaugeMetricFamily("syncd_quarantined_records", "Records in quarantine", labels=["workspace"]),
            "leads": GaugeMetricFamily("syncd_leads", "Scored leads by segment", labels=["workspace", "segment"]),
            "ready": GaugeMetricFamily("syncd_workspace_ready", "1 when the workspace is ready", labels=["workspace"]),
            "config_error": GaugeMetricFamily(
                "syncd_config_error",
                "1 while an edited rule file is refused (the last good version keeps running)",
                labels=["workspace"],
            ),
            "reload_failures": CounterMetricFamily(
                "syncd_config_reload_failures",
                "Rule file edits refused (at a reload, or at start with the last good version)",
                labels=["workspace"],
            ),
            "calls": CounterMetricFamily("syncd_api_calls", "API calls by endpoint", labels=["workspace", "endpoint"]),
            "429": CounterMetricFamily("syncd_api_429", "429 answers by endpoint", labels=["workspace", "endpoint"]),
            "retries": CounterMetricFamily(
                "syncd_api_retries", "Retried API calls by endpoint", labels=["workspace", "endpoint"]
            ),
            "stage": CounterMetricFamily(
                "syncd_stage", "Stage counters (pulled, pushed, failed...)", labels=["workspace", "name"]
            ),
        }
        for space in self.daemon.spaces:
            ok, _problems, _detail = self.daemon.space_readiness(space)
            fam["ready"].add_metric([space.name], 1 if ok else 0)
            fam["config_error"].add_metric([space.name], 1 if "reload" in space.problems else 0)
            fam["reload_failures"].add_metric([space.name], space.reload_failures)
            ctx = space.ctx
            if ctx is None:
                continue
            try:
                self._workspace(space.name, ctx, fam)
            except Exception as exc:
                log.warning("metrics.workspace_failed", workspace=space.name, error_type=type(exc).__name__)
        yield from fam.values()

    @staticmethod
    def _workspace(name: str, ctx: Context, fam: dict[str, Any]) -> None:
        for job, row in sorted(ctx.store.job_statuses().items()):
            if row.get("last_ok_ms"):
                fam["last_ok"].add_metric([name, job], row["last_ok_ms"] / 1000)
            fam["failing"].add_metric([name, job], row.get("failures_in_a_row") or 0)
        for item in streams.lag(ctx):
            if item["lag_s"] is not None:
                fam["lag"].add_metric([name, item["stream"]], item["lag_s"])
        f = store_figures(ctx)
        for state, n in sorted(f["outbox"].items()):
            fam["outbox"].add_metric([name, state], n)
        fam["oldest"].add_metric([name], f["oldest_pending_s"])
        fam["quarantine"].add_metric([name], f["quarantined"])
        for segment, n in sorted(f["segments"].items()):
            fam["leads"].add_metric([name, segment], n)
        calls = ctx.calls.snapshot()
        for key, bucket in (("calls", "calls"), ("429", "rate_limited"), ("retries", "retries")):
            for endpoint, n in sorted(calls.get(bucket, {}).items()):
                fam[key].add_metric([name, endpoint], n)
        for counter, n in sorted(ctx.counters.items()):
            fam["stage"].add_metric([name, counter], n)


def registry_for(daemon: Any) -> CollectorRegistry:
    """A registry with the daemon's job histogram and the per-workspace figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(daemon.job_seconds)
    registry.register(DaemonCollector(daemon))
    return registry
