"""Adding a data source touches no file of the core: a stream of webinar attendance from a third system,
declared here (a Stream subclass and a registry line), is pulled page by page with its cursor committed,
its attendances are merged as events of their own source and scored, and it shows in the summary, the
interval settings and the daemon's jobs."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from syncd_harness import ROOT, Engine, make_lead

from sandbox.world import SandboxConfig
from syncd import streams
from syncd.scheduler import jobs
from syncd.settings import load_settings
from syncd.store import schema as t

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class WebinarTool:
    """A third system's API: attendances, two a page, after an opaque position."""

    def __init__(self, attendances: list[dict[str, Any]]) -> None:
        self.attendances = attendances
        self.calls: list[int] = []

    def page(self, after: int) -> tuple[list[dict[str, Any]], int | None]:
        self.calls.append(after)
        chunk = self.attendances[after : after + 2]
        return chunk, (after + 2 if after + 2 < len(self.attendances) else None)


class WebinarAttendance(streams.Stream):
    name, system, cursor_kind, default_interval_s = "webinar_attendance", "webinars", "position", 1800
    tool: WebinarTool

    def start(self, ctx, partition, stored):
        return stored or {"position": 0}

    def fetch(self, ctx, partition, cursor):
        records, after = self.tool.page(cursor["position"])
        position = after if after is not None else cursor["position"] + len(records)
        return streams.Step(records, {"position": position}, after is not None)

    def rows(self, ctx, conn, partition, records):
        from syncd import pull

        pull.store_events(
            ctx,
            conn,
            "webinars",
            [
                {
                    "event_id": r["id"],
                    "email": r["email"],
                    "kind": "webinar",
                    "occurred": r["attended_at"],
                    "detail": r["title"],
                }
                for r in records
            ],
        )


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=20, seed=4, start_ms=START, rate_scale=20)


@pytest.fixture
def webinars():
    stream = streams.REGISTRY.add(WebinarAttendance())
    try:
        yield stream
    finally:
        streams.REGISTRY.remove(stream.name)


def test_a_stream_declared_outside_the_core_is_pulled_committed_and_scored(
    sandbox, hubspot, mailchimp, tmp_path, webinars
):
    assert "webinar_attendance" in jobs()
    assert load_settings({}, str(ROOT / "config/syncd.yaml")).config.interval("webinar_attendance") == 1800
    lead = make_lead(sandbox, hubspot, mailchimp, "webinar.fan@example.com")
    engine = Engine(sandbox, tmp_path)
    now = engine.now()
    webinars.tool = WebinarTool(
        [
            {
                "id": f"w{i}",
                "email": "Webinar.Fan@example.com" if i % 2 == 0 else "someone.else@example.com",
                "attended_at": now - (10 - i) * 3_600_000,
                "title": f"Pipeline clinic #{i}",
            }
            for i in range(5)
        ]
    )

    summary = engine.cycle()
    assert summary["streams"]["webinar_attendance"]["records_pulled"] == 5
    assert webinars.tool.calls == [0, 2, 4]  # three pages, each after the last position
    with engine.ctx.store.begin() as conn:
        assert engine.ctx.store.get_cursor(conn, "webinar_attendance") == {"position": 5}
        events = conn.execute(sa.select(t.events).where(t.events.c.source == "webinars")).all()
    assert {(e.email, e.kind) for e in events} == {
        ("webinar.fan@example.com", "webinar"),
        ("someone.else@example.com", "webinar"),
    }
    row = engine.score_row(lead["email"])
    attended = [e for e in row.ledger if e["rule"] == "webinar_attended"]
    # three attendances scored by the shipped webinar rule, whose cap counts two per 30 days
    assert len(attended) == 3 and sum(e["points_after_decay"] > 0 for e in attended) == 2, row.ledger

    # the next cycle starts after the committed position: nothing is read twice
    webinars.tool.attendances.append(
        {"id": "w5", "email": "webinar.fan@example.com", "attended_at": now, "title": "Pipeline clinic #5"}
    )
    engine.settle()
    assert engine.cycle()["streams"]["webinar_attendance"]["records_pulled"] == 1
    assert webinars.tool.calls[-1] == 5
