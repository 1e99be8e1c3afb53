"""The daemon's HTTP side: /healthz (alive), /readyz (store reachable, jobs healthy), /metrics
(Prometheus text), / (a status page for the admin)."""

from __future__ import annotations

import html
import time
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from syncd.store import schema as t


def store_figures(store: Any) -> dict[str, Any]:
    with store.begin() as conn:
        outbox = dict(conn.execute(sa.select(t.outbox.c.state, sa.func.count()).group_by(t.outbox.c.state)).all())
        segments = dict(conn.execute(sa.select(t.scores.c.segment, sa.func.count()).group_by(t.scores.c.segment)).all())
        quarantined = conn.execute(sa.select(sa.func.count()).select_from(t.quarantine)).scalar_one()
        identities = conn.execute(sa.select(sa.func.count()).select_from(t.identities)).scalar_one()
        events = conn.execute(sa.select(sa.func.count()).select_from(t.events)).scalar_one()
        recent_q = conn.execute(sa.select(t.quarantine).order_by(t.quarantine.c.id.desc()).limit(10)).all()
    return {
        "outbox": outbox,
        "segments": segments,
        "quarantined": quarantined,
        "identities": identities,
        "events": events,
        "recent_quarantine": recent_q,
    }


class _Collector:
    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def collect(self):  # called on every scrape
        ctx = self.daemon.ctx
        if ctx is None:
            return
        f = store_figures(ctx.store)
        g = GaugeMetricFamily("syncd_outbox_commands", "Outbox commands by state", labels=["state"])
        for state, n in f["outbox"].items():
            g.add_metric([state], n)
        yield g
        g = GaugeMetricFamily("syncd_leads", "Scored leads by segment", labels=["segment"])
        for seg, n in f["segments"].items():
            g.add_metric([seg or "none"], n)
        yield g
        yield GaugeMetricFamily("syncd_quarantined_records", "Records in quarantine", value=f["quarantined"])
        yield GaugeMetricFamily("syncd_events", "Engagement events stored", value=f["events"])
        c = CounterMetricFamily("syncd_stage_total", "Stage counters (pulled, pushed, failed...)", labels=["name"])
        for name, n in sorted(ctx.counters.items()):
            c.add_metric([name], n)
        yield c
        calls = ctx.calls.snapshot() if hasattr(ctx.calls, "snapshot") else {}
        c = CounterMetricFamily("syncd_api_calls_total", "API calls by endpoint", labels=["endpoint"])
        for name, n in sorted(calls.get("calls", {}).items()):
            c.add_metric([name], n)
        yield c
        c = CounterMetricFamily("syncd_api_429_total", "429 answers seen by endpoint", labels=["endpoint"])
        for name, n in sorted(calls.get("rate_limited", {}).items()):
            c.add_metric([name], n)
        yield c
        c = CounterMetricFamily("syncd_api_retries_total", "Retried API calls by endpoint", labels=["endpoint"])
        for name, n in sorted(calls.get("retries", {}).items()):
            c.add_metric([name], n)
        yield c
        g = GaugeMetricFamily("syncd_job_last_ok_timestamp", "Last successful run per job", labels=["job"])
        for job, h in self.daemon.health.items():
            if "last_ok" in h:
                g.add_metric([job], h["last_ok"])
        yield g


def build_web(daemon: Any) -> Starlette:
    registry = CollectorRegistry()
    registry.register(_Collector(daemon))

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ready, problems, detail = daemon.readiness()
        return JSONResponse({"ready": ready, "problems": problems, **detail}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    async def status(_: Request) -> Response:
        esc = html.escape
        ready, problems, _detail = daemon.readiness()
        banner = (
            "<p>ready</p>"
            if ready
            else "<h2>Problems</h2><ul>" + "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul>"
        )
        if daemon.ctx is None:
            return HTMLResponse(
                f'<!doctype html><html><head><meta charset="utf-8"><title>syncd status</title>'
                f"</head><body><h1>syncd</h1>{banner}</body></html>",
                status_code=200,
            )
        f = store_figures(daemon.ctx.store)
        jobs = "".join(
            f"<tr><td>{esc(j)}</td><td>{esc(str(h.get('status')))}</td><td>{h.get('runs')}</td>"
            f"<td>{h.get('errors')}</td><td>{esc(str(h.get('error') or ''))}</td></tr>"
            for j, h in sorted(daemon.health.items())
        )
        seg = ", ".join(f"{esc(str(k))}: {v}" for k, v in sorted(f["segments"].items(), key=lambda kv: str(kv[0])))
        box = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(f["outbox"].items()))
        q = "".join(
            f"<tr><td>{esc(r.source)}</td><td>{esc(r.record_key)}</td><td>{esc(r.reason)}</td></tr>"
            for r in f["recent_quarantine"]
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>syncd status</title>
<style>body{{font:14px system-ui;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}</style>
</head><body><h1>syncd</h1>{banner}
<p>Identities: {f["identities"]} &middot; events: {f["events"]} &middot; quarantined: {f["quarantined"]}</p>
<p>Segments: {seg or "none yet"}</p><p>Outbox: {box or "empty"}</p>
<h2>Jobs</h2><table><tr><th>job</th><th>status</th><th>runs</th><th>errors</th><th>last error</th></tr>{jobs}</table>
<h2>Recent quarantine</h2><table><tr><th>source</th><th>record</th><th>reason</th></tr>{q}</table>
<p><small>rendered {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}</small></p></body></html>"""
        return HTMLResponse(page)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics), Route("/", status)]
    )
