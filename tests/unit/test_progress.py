"""Progress of long pulls: the figures (done, total, rate, ETA; partitions estimated), the log lines written
without a terminal on an injected clock, and the rich bars on a forced terminal."""

from __future__ import annotations

import io
import json
import re

import pytest
import structlog
from rich.console import Console

from syncd import progress
from syncd.logs import configure_logging


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Lines:
    """A structlog-style logger that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def info(self, event: str, **kw) -> None:
        self.events.append({"event": event, "level": "info", **kw})

    def warning(self, event: str, **kw) -> None:
        self.events.append({"event": event, "level": "warning", **kw})


def test_log_lines_every_interval_with_done_total_rate_and_eta():
    clock, log = FakeClock(), Lines()
    reporter = progress.LogReporter(interval_s=5, clock=clock, log=log)
    with progress.reporting(reporter):
        tracker = progress.track("mailchimp_members", partitions=1, unit="members")
    tracker.begin_partition()
    for page in range(5):  # 5 pages of 1,000 from a listing of 5,000, 2 s each
        clock.advance(2)
        tracker.advance(1000, remaining=5000 - 1000 * page)
    tracker.finish()

    # pages end at 2, 4, 6, 8 and 10 s: one line at 6 s (the first page 5 s or more after the start), none at
    # 10 s (4 s after it), and the closing line
    lines = [e for e in log.events if e["event"] == "pull.progress"]
    assert [(e["done"], e["total"], e["finished"]) for e in lines] == [(3000, 5000, False), (5000, 5000, True)]
    first = lines[0]
    assert first["stream"] == "mailchimp_members" and first["unit"] == "members"
    assert first["rate_per_s"] == 500.0  # 3,000 in 6 s
    assert first["eta_s"] == 4  # 2,000 left at 500/s
    assert first["elapsed_s"] == 6.0 and first["estimated"] is False
    assert lines[-1]["eta_s"] == 0


def test_a_short_run_logs_nothing():
    clock, log = FakeClock(), Lines()
    tracker = progress.Tracker(progress.LogReporter(5, clock, log), "hubspot_owners", 1, "owners", clock)
    clock.advance(0.2)
    tracker.advance(5)
    tracker.finish()
    assert log.events == []


def test_without_a_total_only_the_count_and_the_rate():
    clock, log = FakeClock(), Lines()
    tracker = progress.Tracker(progress.LogReporter(1, clock, log), "hubspot_owners", 1, "owners", clock)
    clock.advance(4)
    tracker.advance(100)
    (line,) = log.events
    assert line["done"] == 100 and line["total"] is None and line["eta_s"] is None
    assert line["rate_per_s"] == 25.0


def test_partitions_not_started_are_estimated_from_the_started_ones():
    clock = FakeClock()
    tracker = progress.Tracker(progress.LogReporter(1, clock, Lines()), "mailchimp_activity", 4, "recipients", clock)
    tracker.begin_partition()
    clock.advance(10)
    tracker.advance(300, remaining=300)
    tracker.end_partition()
    tracker.begin_partition()
    tracker.advance(100, remaining=500)  # 100 of 500 read in the second campaign
    f = tracker.figures()
    assert f.done == 400 and f.partition == 2 and f.partitions == 4
    assert f.estimated is True
    assert f.total == 300 + 500 + 2 * 400  # two campaigns not started, at the average of the two known (400)
    assert f.rate_per_s == 40.0 and f.eta_s == pytest.approx((1600 - 400) / 40)
    tracker.begin_partition()  # a partition whose size the vendor does not say: the whole is unknown
    tracker.advance(7)
    assert tracker.figures().total is None


def test_a_partition_that_ends_early_holds_what_was_read():
    clock = FakeClock()
    tracker = progress.Tracker(progress.LogReporter(1, clock, Lines()), "hubspot_contacts", 1, "contacts", clock)
    tracker.advance(100, remaining=1000)
    tracker.end_partition()
    clock.advance(1)
    assert tracker.figures().total == tracker.figures().done == 100


def test_a_stopped_run_says_so_in_its_last_line():
    clock, log = FakeClock(), Lines()
    tracker = progress.Tracker(progress.LogReporter(1, clock, log), "hubspot_contacts", 1, "contacts", clock)
    clock.advance(2)
    tracker.advance(100, remaining=1000)
    tracker.finish(ok=False)
    assert [e["event"] for e in log.events] == ["pull.progress", "pull.progress_stopped"]
    assert log.events[-1]["level"] == "warning" and log.events[-1]["total"] == 1000


def test_the_log_lines_go_through_syncd_logging_as_json():
    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)
    clock = FakeClock()
    tracker = progress.Tracker(progress.LogReporter(5, clock), "hubspot_contacts", 1, "contacts", clock)
    clock.advance(10)
    tracker.advance(2000, remaining=50_000)
    structlog.reset_defaults()
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["event"] == "pull.progress" and line["level"] == "info"
    assert (line["done"], line["total"], line["rate_per_s"], line["eta_s"]) == (2000, 50_000, 200.0, 240)


def test_an_interval_must_be_positive():
    with pytest.raises(ValueError, match="above 0"):
        progress.LogReporter(interval_s=0)


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_rich_bars_show_totals_rate_and_eta_on_a_terminal():
    clock, buffer = FakeClock(), io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120, color_system=None)
    with progress.RichReporter(console, clock=clock, auto_refresh=False) as bars, progress.reporting(bars):
        contacts = progress.track("hubspot_contacts", 1, "contacts")
        clock.advance(10)
        contacts.advance(12_000, remaining=50_000)
        owners = progress.track("hubspot_owners", 1, "owners")
        clock.advance(1)
        owners.advance(7)
        bars.refresh()
        live = _plain(buffer.getvalue())
        assert "hubspot_contacts" in live and "12,000/50,000 contacts" in live
        assert "1,200.0/s" in live  # 12,000 in 10 s, at its last page
        assert "ETA 32 s" in live  # 38,000 left at that rate
        assert "7 owners" in live and "ETA" not in live.split("7 owners")[1].splitlines()[0]  # no total: no ETA
        contacts.advance(38_000, remaining=38_000)
        contacts.finish()
    shown = _plain(buffer.getvalue()).splitlines()
    assert any("50,000/50,000 contacts" in line and "done" in line for line in shown)


def test_format_seconds():
    assert [progress.format_seconds(s) for s in (7, 125, 3780)] == ["7 s", "2 min 05 s", "1 h 03 min"]
