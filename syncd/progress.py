"""Progress of long pulls (a backfill, a first run over a big audience): done, total, rate and ETA per stream.

`syncd.streams.run` opens a `Tracker` for each stream it pulls (`track`) and tells it, page by page, how
many items the page covered and how many the vendor says were still to read (Mailchimp's `total_items`,
HubSpot search's `total`; list endpoints give none, so then only the count and the rate are known). A
stream split into partitions (one per campaign) adds up its partitions; those not started yet are estimated
at the average of the started ones, and the figures say so (`estimated`).

Two views of the same figures:
- `LogReporter` (the default: the daemon, `syncd once` without a terminal): a structlog event
  `pull.progress` every `interval_s` seconds while a stream runs (stream, done, total, rate_per_s, eta_s),
  and a last one when it ends if it logged before, on a monotonic clock that tests inject;
- `RichReporter` (`syncd once` on a terminal): a `rich` progress bar per stream.

`reporting(reporter)` installs a reporter for the calls made inside it (a context variable: the daemon's
worker threads keep the default).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
from rich.text import Text

DEFAULT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Figures:
    """Where one stream's run stands. `total` is None when no vendor total is known; `estimated` when it
    includes a guess for partitions not started yet; `rate_per_s` is items per second since the run began
    (None before any time passed); `eta_s` the seconds left at that rate (None without a total or a rate)."""

    stream: str
    unit: str
    done: int
    total: int | None
    estimated: bool
    rate_per_s: float | None
    eta_s: float | None
    elapsed_s: float
    partition: int  # 1-based index of the partition being read (0 before the first)
    partitions: int
    finished: bool = False


class Reporter(Protocol):
    """Shows figures: `update` after each page, `finish` once at the end of a stream's run."""

    def opened(self, tracker: Tracker) -> None: ...

    def update(self, tracker: Tracker) -> None: ...

    def finish(self, tracker: Tracker, ok: bool) -> None: ...


class Tracker:
    """One stream's run: partitions begun and ended, items advanced. Not thread-safe (one run, one thread)."""

    def __init__(self, reporter: Reporter, stream: str, partitions: int, unit: str, clock: Callable[[], float]) -> None:
        self.reporter, self.stream, self.unit, self.clock = reporter, stream, unit, clock
        self.partitions = max(0, int(partitions))
        self.started = clock()
        self._ended: list[int] = []  # the items each ended partition held
        self._index = 0
        self._done_here = 0  # in the partition being read
        self._total_here: int | None = None
        self._in_partition = False
        self.notes: dict[str, Any] = {}  # the reporter's own bookkeeping for this run
        self.reporter.opened(self)

    def begin_partition(self) -> None:
        """The next partition starts (call before its first page)."""
        if self._in_partition:
            self.end_partition()
        self._index += 1
        self._done_here, self._total_here, self._in_partition = 0, None, True

    def advance(self, units: int, remaining: int | None = None) -> None:
        """A page covered `units` items; `remaining` is how many the vendor said were left to read from this
        page on (this page included), or None when it gives no total."""
        if not self._in_partition:
            self.begin_partition()
        if remaining is not None:
            self._total_here = self._done_here + max(int(remaining), int(units))
        self._done_here += max(0, int(units))
        if self._total_here is not None and self._done_here > self._total_here:
            self._total_here = self._done_here
        self.reporter.update(self)

    def end_partition(self) -> None:
        """The partition was read to its end: what it held is what was read."""
        if self._in_partition:
            self._ended.append(self._done_here)
            self._done_here, self._total_here, self._in_partition = 0, None, False

    def finish(self, ok: bool = True) -> None:
        """The run ended: read to its end (`ok`), or stopped by an error."""
        if ok:
            self.end_partition()
        self.reporter.finish(self, ok)

    def figures(self, finished: bool = False) -> Figures:
        """The figures now (`finished`: the run ended, whatever was planned)."""
        elapsed = max(0.0, self.clock() - self.started)
        done = sum(self._ended) + self._done_here
        total, estimated = self._total(done, finished)
        rate = done / elapsed if elapsed > 0 else None
        eta = None
        if total is not None and rate:
            eta = max(0.0, (total - done) / rate)
        elif total is not None and done >= total:
            eta = 0.0
        return Figures(
            stream=self.stream,
            unit=self.unit,
            done=done,
            total=total,
            estimated=estimated,
            rate_per_s=rate,
            eta_s=eta,
            elapsed_s=elapsed,
            partition=self._index,
            partitions=max(self.partitions, self._index),
            finished=finished,
        )

    def _total(self, done: int, finished: bool) -> tuple[int | None, bool]:
        if finished:
            return done, False
        if self._in_partition and self._total_here is None:
            return None, False  # this partition's size is unknown: so is the whole
        known = [*self._ended, *([self._total_here] if self._in_partition and self._total_here is not None else [])]
        left = max(0, self.partitions - len(known))
        if not left:
            return sum(known), False
        if not known:
            return None, False
        average = sum(known) / len(known)
        return sum(known) + math.ceil(average * left), True


class LogReporter:
    """`pull.progress` log lines, at most one per `interval_s` per stream, and a last one at the end of a
    stream that logged before. `clock` is monotonic seconds; `log` a structlog-style logger."""

    def __init__(
        self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic, log: Any = None
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"the progress interval must be above 0 seconds, not {interval_s}")
        self.interval_s, self.clock, self._log = interval_s, clock, log

    @property
    def log(self) -> Any:
        if self._log is None:
            from syncd.logs import get_logger

            return get_logger("syncd")
        return self._log

    def opened(self, tracker: Tracker) -> None:
        tracker.notes["logged_at"] = tracker.started

    def update(self, tracker: Tracker) -> None:
        now = self.clock()
        if now - tracker.notes.get("logged_at", tracker.started) >= self.interval_s:
            tracker.notes["logged_at"], tracker.notes["logged"] = now, True
            self._emit(tracker.figures())

    def finish(self, tracker: Tracker, ok: bool) -> None:
        if tracker.notes.get("logged"):  # a run short enough to log nothing ends silently too
            self._emit(tracker.figures(finished=ok), ok=ok)

    def _emit(self, f: Figures, ok: bool = True) -> None:
        (self.log.info if ok else self.log.warning)(
            "pull.progress" if ok else "pull.progress_stopped",
            stream=f.stream,
            unit=f.unit,
            done=f.done,
            total=f.total,
            estimated=f.estimated,
            rate_per_s=None if f.rate_per_s is None else round(f.rate_per_s, 1),
            eta_s=None if f.eta_s is None else round(f.eta_s),
            elapsed_s=round(f.elapsed_s, 1),
            partition=f.partition,
            partitions=f.partitions,
            finished=f.finished,
        )


class RichReporter:
    """A `rich` progress bar per stream: done/total, items per second and time left (no total: a count and
    a rate). Use as a context manager around the work; `console` defaults to stderr."""

    def __init__(self, console: Any = None, clock: Callable[[], float] = time.monotonic, auto_refresh: bool = True):
        self.clock = clock
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            _CountColumn(),
            _RateColumn(),
            _EtaColumn(),
            console=self.console,
            auto_refresh=auto_refresh,
            get_time=clock,
            redirect_stderr=True,
            redirect_stdout=False,
        )

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def opened(self, tracker: Tracker) -> None:
        tracker.notes["task"] = self.progress.add_task(tracker.stream, total=None, **_fields(tracker.figures()))

    def update(self, tracker: Tracker) -> None:
        self._show(tracker, tracker.figures())

    def finish(self, tracker: Tracker, ok: bool) -> None:
        self._show(tracker, tracker.figures(finished=ok), state="done" if ok else "stopped")

    def refresh(self) -> None:
        self.progress.refresh()

    def _show(self, tracker: Tracker, f: Figures, state: str = "") -> None:
        where = f" {f.partition}/{f.partitions}" if f.partitions > 1 and not f.finished else ""
        self.progress.update(
            tracker.notes["task"],
            description=f"{f.stream}{where}",
            completed=f.done,
            total=f.total,
            **_fields(f, state),
        )


def _fields(f: Figures, state: str = "") -> dict[str, Any]:
    return {"unit": f.unit, "rate": f.rate_per_s, "eta": f.eta_s, "estimated": f.estimated, "state": state}


class _CountColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        done, unit = f"{int(task.completed):,}", task.fields.get("unit", "")
        if task.total is None:
            return Text(f"{done} {unit}".rstrip())
        approx = "~" if task.fields.get("estimated") else ""
        return Text(f"{done}/{approx}{int(task.total):,} {unit}".rstrip())


class _RateColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        rate = task.fields.get("rate")
        return Text("" if rate is None else f"{rate:,.1f}/s")


class _EtaColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        state = task.fields.get("state")
        if state:
            return Text(state)
        eta = task.fields.get("eta")
        return Text("" if eta is None else f"ETA {format_seconds(eta)}")


def format_seconds(seconds: float) -> str:
    """ "7 s", "2 min 05 s", "1 h 03 min"."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class _Stderr:
    """A file that writes to whatever `sys.stderr` is at the moment: while rich shows its bars it is rich's
    proxy, which prints the line above them."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


STDERR: Any = _Stderr()


@contextlib.contextmanager
def showing(reporter: Reporter) -> Iterator[Reporter]:
    """Run the block with `reporter` on screen (a RichReporter's bars; nothing to do for the others)."""
    if isinstance(reporter, RichReporter):
        with reporter:
            yield reporter
    else:
        yield reporter


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("syncd_progress", default=None)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Make `reporter` show the progress of the pulls run inside the block (in this thread)."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)


def track(stream: str, partitions: int = 1, unit: str = "records", interval_s: float | None = None) -> Tracker:
    """A tracker for one run of `stream` on the reporter in force; by default log lines every `interval_s`
    seconds (DEFAULT_INTERVAL_S when None)."""
    reporter = _current.get() or LogReporter(DEFAULT_INTERVAL_S if interval_s is None else interval_s)
    clock = getattr(reporter, "clock", time.monotonic)
    return Tracker(reporter, stream, partitions, unit, clock)
