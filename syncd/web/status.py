"""The admin's status page: a pure renderer from plain data, and the Starlette routes that serve it.

`render_status(view)` turns a *view* (plain data, built from the database by the caller) into one HTML
page: no I/O, no clock (every "N min ago" is measured from `view["generated_at"]`), no external asset
(inline CSS and an inline SVG chart, no JavaScript), autoescaped Jinja2 templates shipped with the
package (`syncd/web/templates/`). The page reloads itself every 30 s.

The view's exact shape (`StatusView` below; times are ISO 8601 strings, UTC; a time without an offset
is taken as UTC):

    {"generated_at": "2026-01-05T12:00:00Z",
     "workspaces": [{
        "name": str,
        "health": {"state": "ok" | "degraded" | "failing", "problems": [str]},
        "cycles": [{"job": str, "started_at": iso, "seconds": float, "pulled": int, "pushed": int,
                    "failed": int, "http_429": int, "ok": bool, "error": str | None}],   # newest first
        "lag": [{"stream": str, "lag_s": float | None, "cursor_at": iso | None}],        # None: not pulled yet
        "segments": {"current": {"cold": int, "warm": int, "hot": int, "reengage": int},
                     "trend": [{"day": "YYYY-MM-DD", "cold": int, "warm": int, "hot": int, "reengage": int}]},
        "tasks": [{"lead_name": str, "lead_email": str, "owner": str, "trigger": str, "reasons": [str],
                   "created_at": iso, "hubspot_url": str}],                               # newest first
        "quarantine": {"total": int,                                                      # all of them
                       "items": [{"id": int, "source": str, "record": str, "reason": str,
                                  "created_at": iso}]},                                   # the ones shown
        "config_errors": [str]}]}                                  # current mapping or scoring errors

Every key is required (a missing one raises KeyError: the page never shows an empty state for data it
was not given). Values are shown as text whatever they hold; a health state other than the three is
shown as "unknown" in amber; a segment count that is not a finite non-negative number is drawn as 0; a
`hubspot_url` becomes a link only when it is an absolute http(s) URL; the chart draws the last
`MAX_TREND_DAYS` days of the trend, in day order.

`status_routes(get_view, retry, token)` gives the routes to add to the daemon's Starlette app:
`GET /` (the page), `POST /quarantine/{id}/retry[?workspace=name]` and `POST /quarantine/retry` (call
`retry(id, workspace)` or `retry(None, None)`, which return how many records were queued again, then
redirect back with 303). With a token, all three require it (`Authorization: Bearer <token>` or
`?token=<token>`), else 401.
"""

from __future__ import annotations

import functools
import hmac
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict
from urllib.parse import urlencode, urlsplit

import jinja2
import structlog
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

REFRESH_S = 30
MAX_TREND_DAYS = 90
TOP_REASONS = 3
SEGMENTS = ("cold", "warm", "hot", "reengage")
SEGMENT_LABELS = {"cold": "cold", "warm": "warm", "hot": "hot", "reengage": "re-engage"}
# The chart's colours; nothing else on the page uses them (the browser test looks for them).
SEGMENT_COLOURS = {"cold": "#3d7dca", "warm": "#f2a900", "hot": "#d62839", "reengage": "#7e57c2"}
HEALTH_STATES = ("ok", "degraded", "failing")

log = structlog.get_logger("syncd.web")


# -- the view --------------------------------------------------------------------------------------
class Health(TypedDict):
    state: Literal["ok", "degraded", "failing"]
    problems: list[str]


class Cycle(TypedDict):
    job: str
    started_at: str
    seconds: float
    pulled: int
    pushed: int
    failed: int
    http_429: int
    ok: bool
    error: str | None


class Lag(TypedDict):
    stream: str
    lag_s: float | None
    cursor_at: str | None


class SegmentCounts(TypedDict):
    cold: int
    warm: int
    hot: int
    reengage: int


class TrendDay(SegmentCounts):
    day: str


class Segments(TypedDict):
    current: SegmentCounts
    trend: list[TrendDay]


class Task(TypedDict):
    lead_name: str
    lead_email: str
    owner: str
    trigger: str
    reasons: list[str]
    created_at: str
    hubspot_url: str


class QuarantineItem(TypedDict):
    id: int
    source: str
    record: str
    reason: str
    created_at: str


class Quarantine(TypedDict):
    total: int
    items: list[QuarantineItem]


class Workspace(TypedDict):
    name: str
    health: Health
    cycles: list[Cycle]
    lag: list[Lag]
    segments: Segments
    tasks: list[Task]
    quarantine: Quarantine
    config_errors: list[str]


class StatusView(TypedDict):
    generated_at: str
    workspaces: list[Workspace]


# -- templates -------------------------------------------------------------------------------------
@functools.cache
def _templates() -> jinja2.Environment:
    # PackageLoader finds the templates through the import system, so an installed wheel works from any
    # folder; autoescape for every template (they are all HTML or SVG inside HTML).
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("syncd.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["count"] = count_text
    return env


# -- formatting (pure) -----------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string as an aware UTC datetime (no offset: UTC); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def ago(then: datetime, now: datetime) -> str:
    """`then` relative to `now`: "just now", "5 min ago", "3 h ago", "2 days ago", "in 4 min"."""
    seconds = (now - then).total_seconds()
    if abs(seconds) < 45:
        return "just now"
    span = abs(seconds)
    if span < 3600:
        text = f"{max(1, round(span / 60))} min"
    elif span < 48 * 3600:
        text = f"{round(span / 3600)} h"
    else:
        text = f"{round(span / 86400)} days"
    return f"{text} ago" if seconds > 0 else f"in {text}"


def duration(seconds: Any) -> str:
    """Seconds in human units: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"; "—" for no number."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "—"
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{round(s)} s"
    whole = round(s)
    if whole < 3600:
        m, rest = divmod(whole, 60)
        return f"{m} min {rest} s" if rest else f"{m} min"
    if whole < 86400:
        h, rest = divmod(whole, 3600)
        m = rest // 60
        return f"{h} h {m} min" if m else f"{h} h"
    d, rest = divmod(whole, 86400)
    h = rest // 3600
    return f"{d} d {h} h" if h else f"{d} d"


def count_text(value: Any) -> str:
    """An integer with thousands separators ("12,345"); anything else as its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def safe_href(url: Any) -> str | None:
    """`url` when it is an absolute http(s) URL that a browser reads as written, else None."""
    if not isinstance(url, str) or not url:
        return None
    # Browsers drop or tolerate whitespace and control characters that urlsplit would not see the same way.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return 0
    return int(value)


def _when(value: Any, now: datetime | None) -> dict[str, Any] | None:
    if value is None:
        return None
    parsed = parse_time(value)
    if parsed is None:
        return {"iso": None, "text": str(value), "ago": None}
    return {
        "iso": parsed.isoformat().replace("+00:00", "Z"),
        "text": parsed.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "ago": ago(parsed, now) if now else None,
    }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# -- the chart (pure) ------------------------------------------------------------------------------
CHART_W, CHART_H = 720, 270
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BASE = 52, 16, 22, 206


def _nice_ceiling(n: int) -> int:
    """The smallest of 1, 2, 4, 5, 6, 8 times a power of ten that is at least n (n >= 1)."""
    power = 10 ** max(0, len(str(n)) - 1)
    for step in (1, 2, 4, 5, 6, 8, 10):
        if step * power >= n:
            return step * power
    return 10 * power  # unreachable: 10 * power > n


def _chart_column(
    label: str, title: str, counts: Mapping[str, Any], x: float, width: float, top: int
) -> dict[str, Any]:
    plot_h = PLOT_BASE - PLOT_TOP
    y = float(PLOT_BASE)
    rects = []
    values = {seg: _number(counts.get(seg)) for seg in SEGMENTS}
    for seg in SEGMENTS:
        h = values[seg] / top * plot_h
        y -= h
        if values[seg]:
            rects.append(
                {
                    "segment": seg,
                    "colour": SEGMENT_COLOURS[seg],
                    "x": round(x, 2),
                    "width": round(width, 2),
                    "y": round(y, 2),
                    "height": round(h, 2),
                    "count": values[seg],
                    "title": f"{title}: {SEGMENT_LABELS[seg]} {values[seg]:,}",
                }
            )
    return {
        "label": label,
        "title": title,
        "x": round(x, 2),
        "width": round(width, 2),
        "center": round(x + width / 2, 2),
        "total": sum(values.values()),
        "top_y": round(y, 2),
        "rects": rects,
    }


def segment_chart_svg(trend: Sequence[Mapping[str, Any]], current: Mapping[str, Any]) -> str:
    """An inline SVG (markup-safe string) of leads by segment: a stacked bar per day of `trend` (the last
    MAX_TREND_DAYS, in day order), then today's `current` counts as a last bar ("now"), y axis labels and
    a legend with today's counts. Bar heights are proportional to the counts, one scale for all bars.
    Every value from the arguments is escaped. Without any scored lead it says so instead."""
    days = sorted(trend, key=lambda d: str(d.get("day", "")))[-MAX_TREND_DAYS:]
    now_counts = {seg: _number(current.get(seg)) for seg in SEGMENTS}
    totals = [sum(_number(d.get(seg)) for seg in SEGMENTS) for d in days] + [sum(now_counts.values())]
    legend = [
        {
            "segment": seg,
            "label": SEGMENT_LABELS[seg],
            "colour": SEGMENT_COLOURS[seg],
            "count": now_counts[seg],
            "x": PLOT_LEFT + i * 160,
        }
        for i, seg in enumerate(SEGMENTS)
    ]
    description = "Leads by segment now: " + ", ".join(f"{SEGMENT_LABELS[s]} {now_counts[s]:,}" for s in SEGMENTS)
    if max(totals) == 0:
        return Markup(
            _templates()
            .get_template("segment_chart.html")
            .render(empty=True, width=CHART_W, height=40, description=description)
        )
    top = _nice_ceiling(max(totals))
    plot_w = CHART_W - PLOT_LEFT - PLOT_RIGHT
    gap = 0.6 if days else 0.0  # room between the last day and "now"
    slot = plot_w / (len(days) + 1 + gap)
    width = min(slot * 0.72, 44.0)
    label_every = max(1, math.ceil(len(days) / 12))
    columns = []
    for i, day in enumerate(days):
        text = str(day.get("day", ""))
        short = text[5:] if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text[:10]
        col = _chart_column(short, text, day, PLOT_LEFT + i * slot + (slot - width) / 2, width, top)
        col["show_label"] = (len(days) - 1 - i) % label_every == 0
        columns.append(col)
    now = _chart_column("now", "now", now_counts, PLOT_LEFT + (len(days) + gap) * slot + (slot - width) / 2, width, top)
    plot_h = PLOT_BASE - PLOT_TOP
    ticks = [
        {"value": v, "y": round(PLOT_BASE - v / top * plot_h, 2)}
        for v in sorted({0, top // 2, top})
        if v == 0 or v == top or top % 2 == 0
    ]
    return Markup(
        _templates()
        .get_template("segment_chart.html")
        .render(
            empty=False,
            width=CHART_W,
            height=CHART_H,
            description=description,
            columns=columns,
            now=now,
            ticks=ticks,
            legend=legend,
            plot_left=PLOT_LEFT,
            plot_right=CHART_W - PLOT_RIGHT,
            base=PLOT_BASE,
            label_y=PLOT_BASE + 16,
            legend_y=CHART_H - 24,
            first_day=str(days[0].get("day", "")) if days else "",
            last_day=str(days[-1].get("day", "")) if days else "",
        )
    )


# -- the page (pure) -------------------------------------------------------------------------------
def _health(health: Mapping[str, Any]) -> dict[str, Any]:
    raw = health["state"]
    state = raw if raw in HEALTH_STATES else "unknown"
    label = {"ok": "OK", "degraded": "Degraded", "failing": "Failing"}.get(state, f"Unknown state: {raw}")
    problems = [str(p) for p in health["problems"]]
    summary = ("no problem" if not problems else _plural(len(problems), "problem")) if state != "unknown" else ""
    return {"state": state, "label": label, "problems": problems, "summary": summary}


def _workspace(ws: Mapping[str, Any], now: datetime | None, token: str | None, several: bool) -> dict[str, Any]:
    cycles = [
        {
            **c,
            "started": _when(c["started_at"], now),
            "duration": duration(c["seconds"]),
            "ok": c["ok"] is True,
            "failed_n": _number(c["failed"]),
            "http_429_n": _number(c["http_429"]),
        }
        for c in ws["cycles"]
    ]
    failed_cycles = sum(1 for c in cycles if not c["ok"])
    lag = [
        {
            "stream": row["stream"],
            "lag": None if row["lag_s"] is None else duration(row["lag_s"]),
            "cursor": _when(row["cursor_at"], now),
        }
        for row in ws["lag"]
    ]
    tasks = []
    for task in ws["tasks"]:
        reasons = [str(r) for r in task["reasons"]]
        tasks.append(
            {
                **task,
                "top_reasons": reasons[:TOP_REASONS],
                "more_reasons": max(0, len(reasons) - TOP_REASONS),
                "href": safe_href(task["hubspot_url"]),
                "created": _when(task["created_at"], now),
            }
        )
    q = ws["quarantine"]
    items = [
        {
            **item,
            "since": _when(item["created_at"], now),
            "action": f"quarantine/{_number(item['id'])}/retry{_query(token, ws['name'] if several else None)}",
        }
        for item in q["items"]
    ]
    total = _number(q["total"])
    segments = ws["segments"]
    return {
        "name": ws["name"],
        "health": _health(ws["health"]),
        "config_errors": [str(e) for e in ws["config_errors"]],
        "cycles": cycles,
        "failed_cycles": failed_cycles,
        "lag": lag,
        "chart": segment_chart_svg(segments["trend"], segments["current"]),
        "tasks": tasks,
        "quarantine": {"total": total, "rows": items, "hidden": max(0, total - len(items))},
    }


def _query(token: str | None, workspace: str | None = None) -> str:
    """ "?workspace=...&token=..." for the page's links and forms ("" when neither is needed)."""
    pairs = ({"workspace": workspace} if workspace else {}) | ({"token": token} if token else {})
    return "?" + urlencode(pairs) if pairs else ""


def _worst(states: Sequence[str]) -> str:
    rank = {"ok": 0, "unknown": 1, "degraded": 1, "failing": 2}
    return max(states, key=lambda s: rank[s]) if states else "unknown"


def render_status(view: Mapping[str, Any], *, token: str | None = None, notice: str | None = None) -> str:
    """The status page for `view` (see the module docstring for its shape), as a complete HTML document.

    `token`, when given, is kept as `?token=` in the page's forms and refresh link (for an admin who
    opened the page with it in the query); `notice` is a one-line message shown at the top (the outcome
    of a retry). Pure: the same arguments give the same page. Raises KeyError when a key is missing."""
    now = parse_time(view["generated_at"])
    link_query = _query(token)
    several = len(view["workspaces"]) > 1
    workspaces = [_workspace(ws, now, token, several) for ws in view["workspaces"]]
    overall = _worst([ws["health"]["state"] for ws in workspaces])
    return (
        _templates()
        .get_template("status.html")
        .render(
            generated=_when(view["generated_at"], None),
            workspaces=workspaces,
            notice=notice,
            overall={"ok": "OK", "degraded": "degraded", "failing": "failing"}.get(overall, "unknown"),
            refresh_s=REFRESH_S,
            page_url="./" + link_query,
            retry_all_action="quarantine/retry" + link_query,
            quarantined_total=sum(ws["quarantine"]["total"] for ws in workspaces),
        )
    )


# -- the routes ------------------------------------------------------------------------------------
# The page needs no script, image or external anything; forms post to this origin only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",  # a ?token= must not leave in a Referer to HubSpot
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
UNAUTHORIZED = "unauthorized: the status page needs its token (Authorization: Bearer <token> or ?token=<token>)\n"


def _retried_notice(raw: str | None) -> str | None:
    if raw is None or not raw.isdigit():
        return None
    n = int(raw)
    if n == 0:
        return "Nothing to retry: no matching record is in quarantine any more."
    return f"{_plural(n, 'quarantined record')} queued for retry."


def status_routes(
    get_view: Callable[[], Mapping[str, Any]], retry: Callable[[int | None, str | None], int], token: str | None
) -> list[Route]:
    """The status page's routes, to add to the daemon's app next to /healthz, /readyz and /metrics.

    - `GET /`: `render_status(get_view())`.
    - `POST /quarantine/{id}/retry[?workspace=name]`, `POST /quarantine/retry`: `retry(id, workspace)`
      (workspace None when the view has one), `retry(None, None)` (all of every workspace), then a 303
      back to the page, which says how many records `retry` reported queued.
    `get_view` and `retry` are called in a worker thread (they may block on the database). With a
    non-empty `token`, every route requires it, as `Authorization: Bearer <token>` or `?token=<token>`
    (compared in constant time), else 401; a token given in the query is kept in the page's links.
    A POST a browser marks as coming from another site is refused with 403."""
    secret = token.encode("utf-8") if token else None

    def matches(candidate: str | None) -> bool:
        return secret is not None and candidate is not None and hmac.compare_digest(candidate.encode("utf-8"), secret)

    def authorise(request: Request) -> tuple[bool, str | None]:
        """(allowed, the token to keep in links: the query's, when that is what matched)."""
        if secret is None:
            return True, None
        query = request.query_params.get("token")
        if matches(query):
            return True, query
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        return (scheme.lower() == "bearer" and matches(credentials.strip())), None

    def guard(request: Request) -> tuple[Response | None, str | None]:
        """(the refusal to send, or None; the token to keep in the page's links)."""
        allowed, keep = authorise(request)
        if not allowed:
            return PlainTextResponse(
                UNAUTHORIZED, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="syncd"'}
            ), None
        # A form another site makes the admin's browser submit (it needs no token when none is set).
        if request.method == "POST" and request.headers.get("sec-fetch-site", "same-origin") not in (
            "same-origin",
            "none",
        ):
            return PlainTextResponse("refused: a retry must come from the status page itself\n", status_code=403), None
        return None, keep

    async def page(request: Request) -> Response:
        refusal, keep = guard(request)
        if refusal is not None:
            return refusal
        try:
            view = await run_in_threadpool(get_view)
            body = render_status(view, token=keep, notice=_retried_notice(request.query_params.get("retried")))
        except Exception as exc:
            log.exception("web.status_failed", error_type=type(exc).__name__)
            return PlainTextResponse(
                f"the status could not be built ({type(exc).__name__}); see the daemon's log\n",
                status_code=500,
                headers={"Cache-Control": "no-store"},
            )
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    async def run_retry(request: Request, record_id: int | None, back: str) -> Response:
        refusal, keep = guard(request)
        if refusal is not None:
            return refusal
        try:
            n = await run_in_threadpool(
                retry, record_id, request.query_params.get("workspace") if record_id is not None else None
            )
        except Exception as exc:
            log.exception("web.retry_failed", record_id=record_id, error_type=type(exc).__name__)
            return PlainTextResponse(f"retry failed ({type(exc).__name__}); see the daemon's log\n", status_code=500)
        query = {"retried": str(_number(n))} | ({"token": keep} if keep else {})
        # Relative, so the page is found again wherever the routes are mounted (or proxied).
        return RedirectResponse(f"{back}?{urlencode(query)}", status_code=303)

    async def retry_one(request: Request) -> Response:
        return await run_retry(request, int(request.path_params["id"]), "../../")

    async def retry_all(request: Request) -> Response:
        return await run_retry(request, None, "../")

    return [
        Route("/", page, methods=["GET"], name="status_page"),
        Route("/quarantine/{id:int}/retry", retry_one, methods=["POST"], name="status_retry_one"),
        Route("/quarantine/retry", retry_all, methods=["POST"], name="status_retry_all"),
    ]
