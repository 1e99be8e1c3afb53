"""The status page from plain views: escaping, links, empty states, the health banner, cycles, times,
the segment chart, and the routes (token, retry, redirects)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from urllib.parse import urljoin

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from status_support import empty_workspace, parse_html, trend, view, workspace

from syncd.web.status import (
    MAX_TREND_DAYS,
    PLOT_BASE,
    SEGMENT_COLOURS,
    SEGMENTS,
    ago,
    duration,
    parse_time,
    render_status,
    segment_chart_svg,
    status_routes,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>\'&amp;'


def page(*workspaces, **kw):
    return parse_html(render_status(view(*workspaces), **kw))


# -- escaping --------------------------------------------------------------------------------------
def hostile_workspace() -> dict:
    def h(field: str) -> str:
        return f"{field}:{HOSTILE}"

    return workspace(
        name=h("name"),
        health={"state": "failing", "problems": [h("problem")]},
        cycles=[
            {
                "job": h("job"),
                "started_at": "2026-01-20T11:00:00Z",
                "seconds": 1.0,
                "pulled": 1,
                "pushed": 1,
                "failed": 1,
                "http_429": 0,
                "ok": False,
                "error": h("error"),
            }
        ],
        lag=[{"stream": h("stream"), "lag_s": 1.0, "cursor_at": h("cursor_at")}],
        tasks=[
            {
                "lead_name": h("lead_name"),
                "lead_email": h("lead_email"),
                "owner": h("owner"),
                "trigger": h("trigger"),
                "reasons": [h("reason")],
                "created_at": h("created_at"),
                "hubspot_url": h("url"),
            }
        ],
        quarantine={
            "total": 1,
            "items": [
                {
                    "id": 5,
                    "source": h("source"),
                    "record": h("record"),
                    "reason": h("qreason"),
                    "created_at": "2026-01-20T11:00:00Z",
                }
            ],
        },
        config_errors=[h("config_error")],
    )


def test_every_hostile_value_shows_as_text_and_never_as_markup():
    html = render_status(view(hostile_workspace()), notice=f"notice:{HOSTILE}")
    assert "<script" not in html.lower() and "<img" not in html.lower()
    doc = parse_html(html)
    assert not doc.find_all("script") and not doc.find_all("img")
    assert not [(n.tag, a) for n in doc.iter() for a in n.attrs if a.startswith("on")]
    text = doc.text()
    for field in (
        "name",
        "problem",
        "job",
        "error",
        "stream",
        "cursor_at",
        "lead_name",
        "lead_email",
        "owner",
        "trigger",
        "reason",
        "created_at",
        "source",
        "record",
        "qreason",
        "config_error",
        "notice",
    ):
        assert f"{field}:{HOSTILE}" in text, field


@pytest.mark.parametrize(
    "url, linked",
    [
        ("https://app.hubspot.com/contacts/123/record/0-1/42", True),
        ("http://localhost:8080/contacts/1", True),
        ("HTTPS://APP.HUBSPOT.COM/contacts/1", True),
        ('https://app.hubspot.com/x"onmouseover="alert(1)', True),  # stays inside the attribute
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("\x01https://app.hubspot.com/x", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox(1)", False),
        ("//evil.example/x", False),
        ("https:evil.example", False),
        ("https:///path-only", False),
        ("/contacts/1", False),
        ("", False),
    ],
)
def test_task_links_are_only_absolute_http_urls(url, linked):
    ws = workspace()
    ws["tasks"][0]["hubspot_url"] = url
    doc = page(ws)
    links = doc.find_all("a")
    assert [a.attrs["href"] for a in links] == ([url] if linked else [])
    for a in links:
        assert set(a.attrs) == {"href", "rel", "target"} and "noreferrer" in a.attrs["rel"]
    if not linked:
        assert "no valid link" in doc.find("tr", "task").text()


# -- empty states ----------------------------------------------------------------------------------
def test_empty_workspace_reads_well_and_offers_nothing_to_retry():
    doc = page(empty_workspace())
    text = doc.text()
    for phrase in (
        "no cycle yet",
        "quarantine is empty",
        "no hand-off task yet",
        "no stream pulled yet",
        "no mapping or scoring errors",
        "no scored leads yet",
    ):
        assert phrase in text, phrase
    assert not doc.find_all("form")
    assert not doc.find_all("rect")


def test_no_workspace_reads_well():
    doc = parse_html(render_status({"generated_at": "2026-01-20T12:00:00Z", "workspaces": []}))
    assert "no workspace configured yet" in doc.text()


def test_a_missing_key_is_an_error_not_an_empty_state():
    ws = workspace()
    del ws["tasks"]
    with pytest.raises(KeyError):
        render_status(view(ws))


# -- the health banner -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "state, label",
    [("ok", "OK"), ("degraded", "Degraded"), ("failing", "Failing"), ("paused", "Unknown state: paused")],
)
def test_banner_class_and_label_follow_the_state(state, label):
    problems = [] if state == "ok" else ["push: failing (3 runs in a row): HubSpot 500", "store: locked"]
    doc = page(workspace(health={"state": state, "problems": problems}))
    banners = doc.find_all("div", "banner")
    assert len(banners) == 1
    expected = state if state in ("ok", "degraded", "failing") else "unknown"
    assert banners[0].classes == ["banner", f"banner-{expected}"]
    assert banners[0].find("strong").text() == label
    assert [li.text() for li in banners[0].find_all("li")] == problems


@pytest.mark.parametrize(
    "states, title",
    [
        (("ok", "ok"), "syncd · OK"),
        (("ok", "degraded"), "syncd · degraded"),
        (("failing", "degraded"), "syncd · failing"),
    ],
)
def test_title_names_the_worst_workspace_state(states, title):
    doc = page(*(workspace(name=f"ws{i}", health={"state": s, "problems": []}) for i, s in enumerate(states)))
    assert doc.find("title").text() == title


# -- cycles, lag, tasks, quarantine ----------------------------------------------------------------
def test_a_failed_cycle_is_visible():
    ws = workspace()
    ws["cycles"][0].update(ok=False, failed=3, error="HubSpot answered 500")
    doc = page(ws)
    rows = doc.find("div", "cycles").find_all("tr")[1:]
    assert rows[0].classes == ["row-bad"] and rows[1].classes == ["row-ok"]
    cells = [td for td in rows[0].find_all("td")]
    assert cells[0].text() == "push"
    assert "failed: HubSpot answered 500" in cells[-1].text()
    assert "bad" in cells[5].classes and cells[5].text() == "3"
    assert "warn" in rows[1].find_all("td")[6].classes  # one 429
    assert "1 of the 2 shown failed" in doc.find("div", "cycles").text()


def test_cycle_figures_and_times_in_utc_with_minutes_ago():
    ws = workspace()
    ws["cycles"][1]["started_at"] = "2026-01-20T13:50:00+02:00"
    doc = page(ws)
    rows = doc.find("div", "cycles").find_all("tr")[1:]
    first = [td.text() for td in rows[0].find_all("td")]
    assert first[:7] == ["push", "2026-01-20 11:57:00 UTC 3 min ago", "12 s", "0", "1,234", "0", "0"]
    assert rows[0].find("time").attrs["datetime"] == "2026-01-20T11:57:00Z"
    assert rows[1].find_all("td")[1].text() == "2026-01-20 11:50:00 UTC 10 min ago"


def test_lag_in_human_units():
    ws = workspace(
        lag=[
            {"stream": "a", "lag_s": 75.0, "cursor_at": "2026-01-20T11:58:45Z"},
            {"stream": "b", "lag_s": 7200, "cursor_at": None},
            {"stream": "c", "lag_s": None, "cursor_at": None},
        ]
    )
    rows = page(ws).find("div", "lag").find_all("tr")[1:]
    assert [[td.text() for td in r.find_all("td")] for r in rows] == [
        ["a", "1 min 15 s", "2026-01-20 11:58:45 UTC 1 min ago"],
        ["b", "2 h", "—"],
        ["c", "not pulled yet", "—"],
    ]


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.42, "0.4 s"),
        (12.4, "12 s"),
        (60, "1 min"),
        (185, "3 min 5 s"),
        (7800, "2 h 10 min"),
        (90061, "1 d 1 h"),
        (-3, "0.0 s"),
        (None, "—"),
        (math.inf, "—"),
        (True, "—"),
    ],
)
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(
    "then, text",
    [
        ("2026-01-20T11:59:30Z", "just now"),
        ("2026-01-20T11:57:00Z", "3 min ago"),
        ("2026-01-20T09:00:00Z", "3 h ago"),
        ("2026-01-17T12:00:00Z", "3 days ago"),
        ("2026-01-20T12:05:00Z", "in 5 min"),
        ("2026-01-20T11:57:00", "3 min ago"),
    ],
)
def test_ago(then, text):
    assert ago(parse_time(then), parse_time("2026-01-20T12:00:00Z")) == text


def test_a_task_shows_lead_owner_trigger_top_reasons_and_link():
    row = page(workspace()).find("tr", "task")
    cells = row.find_all("td")
    assert cells[0].text() == "Ada Lovelaceada@example.com" and row.find("td", "owner").text() == "Grace Hopper"
    assert cells[2].text() == "went hot"
    assert [li.text() for li in cells[3].find_all("li")] == ["opened 5 campaigns", "clicked /pricing", "fit: CTO"]
    assert "and 1 more" in cells[3].text() and "form: demo request" not in row.text()
    assert cells[4].text() == "2026-01-20 10:00:00 UTC 2 h ago"
    assert row.find("a").attrs["href"] == "https://app.hubspot.com/contacts/123/record/0-1/42"


def test_quarantine_lists_reasons_with_a_retry_form_per_item_and_one_for_all():
    doc = page(workspace())
    panel = doc.find("div", "quarantine")
    rows = panel.find_all("tr", "quarantined")
    assert [[td.text() for td in r.find_all("td")][:4] for r in rows] == [
        ["7", "mailchimp_members", "bad@@example", "invalid email"],
        ["9", "mailchimp_activity", "click:abc", "event dated in the future"],
    ]
    assert [(f.attrs["method"], f.attrs["action"]) for f in panel.find_all("form")] == [
        ("post", "quarantine/retry"),
        ("post", "quarantine/7/retry"),
        ("post", "quarantine/9/retry"),
    ]
    assert "Retry all 3" in panel.find_all("form")[0].text()
    assert "and 1 older, not shown" in panel.text()


def test_with_several_workspaces_retry_all_is_offered_once_and_says_it_covers_them_all():
    doc = page(workspace(name="a"), workspace(name="b"))
    forms = [f for f in doc.find_all("form") if f.attrs["action"] == "quarantine/retry"]
    assert len(forms) == 1 and forms[0].text() == "Retry all 6"
    assert "every workspace" in doc.find("header").text()
    # quarantine ids are per workspace: each retry form names its workspace
    actions = [f.attrs["action"] for f in doc.find_all("form") if f.attrs["action"] != "quarantine/retry"]
    assert actions == [
        "quarantine/7/retry?workspace=a",
        "quarantine/9/retry?workspace=a",
        "quarantine/7/retry?workspace=b",
        "quarantine/9/retry?workspace=b",
    ]


def test_a_query_token_is_kept_in_forms_and_the_refresh_link():
    doc = page(workspace(), token="s3&cr=t x")
    actions = [f.attrs["action"] for f in doc.find_all("form")]
    assert actions and all(a.endswith("?token=s3%26cr%3Dt+x") for a in actions)
    refresh = [m for m in doc.find_all("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert [m.attrs["content"] for m in refresh] == ["30; url=./?token=s3%26cr%3Dt+x"]


def test_the_page_refreshes_itself_and_keeps_referrers_home():
    doc = page(workspace())
    metas = {m.attrs.get("http-equiv") or m.attrs.get("name"): m.attrs.get("content") for m in doc.find_all("meta")}
    assert metas["refresh"] == "30; url=./" and metas["referrer"] == "no-referrer"
    assert not doc.find_all("link") and not doc.find_all("script")  # nothing loaded from anywhere


# -- the chart -------------------------------------------------------------------------------------
def bars(svg: str) -> list[dict]:
    """Each bar of the chart, left to right: its day and {segment: (y, height)}."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(f"{SVG}g"):
        if "bar" in (g.get("class") or "").split():
            rects = {
                r.get("class").split()[1][4:]: (float(r.get("y")), float(r.get("height")), r.get("fill"))
                for r in g.iter(f"{SVG}rect")
            }
            xs = {float(r.get("x")) for r in g.iter(f"{SVG}rect")}
            out.append({"day": g.get("data-day"), "rects": rects, "x": min(xs) if xs else None})
    return out


def test_chart_bars_are_stacked_and_proportional_to_the_counts():
    days = trend(10)
    current = {"cold": 520, "warm": 260, "hot": 140, "reengage": 30}
    shuffled = days[5:] + days[:5]
    drawn = bars(segment_chart_svg(shuffled, current))
    assert [b["day"] for b in drawn] == [d["day"] for d in days] + ["now"]
    assert [b["x"] for b in drawn] == sorted(b["x"] for b in drawn)
    expected = days + [current]
    scales = set()
    for bar, counts in zip(drawn, expected):
        bottom = PLOT_BASE
        for seg in SEGMENTS:
            y, h, fill = bar["rects"][seg]
            assert fill == SEGMENT_COLOURS[seg]
            assert y + h == pytest.approx(bottom, abs=0.02)  # stacked without gaps, cold at the bottom
            bottom = y
            scales.add(round(h / counts[seg], 3))
    assert max(scales) - min(scales) <= 0.002, scales  # one scale for every bar and segment


def test_chart_legend_and_labels_carry_todays_counts():
    root = ET.fromstring(segment_chart_svg(trend(3), {"cold": 1520, "warm": 2, "hot": 1, "reengage": 0}))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    for label in ("cold 1,520", "warm 2", "hot 1", "re-engage 0", "now", "01-01", "01-03", "1,523"):
        assert label in texts, label
    assert "cold 1,520" in root.find(f"{SVG}title").text


def test_chart_escapes_everything_and_stays_well_formed():
    days = [
        {"day": HOSTILE, "cold": 5, "warm": "<b>", "hot": -3, "reengage": math.nan},
        {"day": "2026-01-02", "cold": True, "warm": math.inf, "hot": 2, "reengage": 1},
    ]
    svg = segment_chart_svg(days, {"cold": "9", "warm": None, "hot": 4, "reengage": 1})
    root = ET.fromstring(svg)  # raises on any markup that escaped
    assert not [e for e in root.iter() if e.tag.endswith(("script", "img"))]
    titles = ["".join(t.itertext()) for t in root.iter(f"{SVG}title")]
    assert any(HOSTILE in t for t in titles)
    drawn = bars(svg)  # "2026-01-02" sorts before "<script..."
    assert [d["day"] for d in drawn] == ["2026-01-02", HOSTILE, "now"]
    # True, inf, "<b>", -3, NaN, "9" and None are not counts: drawn as nothing
    assert [sorted(d["rects"]) for d in drawn] == [["hot", "reengage"], ["cold"], ["hot", "reengage"]]


def test_chart_draws_the_last_days_only():
    first = date(2025, 10, 1)
    days = [
        {"day": (first + timedelta(days=i)).isoformat(), "cold": 1, "warm": 1, "hot": 1, "reengage": 1}
        for i in range(120)
    ]
    drawn = bars(segment_chart_svg(days[::-1], {"cold": 1, "warm": 1, "hot": 1, "reengage": 1}))
    assert len(drawn) == MAX_TREND_DAYS + 1
    assert drawn[0]["day"] == days[120 - MAX_TREND_DAYS]["day"] and drawn[-2]["day"] == days[-1]["day"]


def test_chart_without_any_lead_says_so():
    svg = segment_chart_svg([], {"cold": 0, "warm": 0, "hot": 0, "reengage": 0})
    root = ET.fromstring(svg)
    assert not list(root.iter(f"{SVG}rect"))
    assert "no scored leads yet" in "".join(root.itertext())


# -- the routes ------------------------------------------------------------------------------------
class Backend:
    """get_view and retry as the daemon would give them, recording the retries asked for."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.retries: list[tuple[int | None, str | None]] = []
        self.fail = fail

    def get_view(self) -> dict:
        if self.fail:
            raise self.fail
        return view(workspace())

    def retry(self, record_id: int | None, workspace: str | None) -> int:
        self.retries.append((record_id, workspace))
        return 1 if record_id is not None else 3


def make_client(token: str | None = None, backend: Backend | None = None, prefix: str | None = None):
    backend = backend or Backend()
    routes = status_routes(backend.get_view, backend.retry, token)

    async def healthz(_):
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/healthz", healthz)] + ([Mount(prefix, routes=routes)] if prefix else routes))
    return TestClient(app, follow_redirects=False), backend


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_token_the_page_is_open(token):
    client, _ = make_client(token)
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Grace Hopper" in r.text


def test_with_a_token_the_page_needs_it():
    client, _ = make_client("s3cret")
    for kw in (
        {},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"params": {"token": "wrong"}},
        {"headers": {"Authorization": "Basic s3cret"}},
        {"params": {"token": "s3cre"}},
        {"params": {"token": "s3cret2"}},
    ):
        r = client.get("/", **kw)
        assert r.status_code == 401, kw
        assert r.text.startswith("unauthorized") and "s3cret" not in r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
    by_header = client.get("/", headers={"Authorization": "Bearer s3cret"})
    assert by_header.status_code == 200 and "token=" not in by_header.text  # the header is not copied into links
    by_query = client.get("/", params={"token": "s3cret"})
    assert by_query.status_code == 200 and 'action="quarantine/7/retry?token=s3cret"' in by_query.text


def test_health_routes_stay_open_when_the_page_has_a_token():
    client, _ = make_client("s3cret")
    assert client.get("/healthz").status_code == 200


def test_the_page_is_served_with_restrictive_headers():
    r = make_client()[0].get("/")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-store"


def test_retry_one_calls_back_and_redirects_to_the_page_with_the_outcome():
    client, backend = make_client()
    r = client.post("/quarantine/7/retry")
    assert r.status_code == 303 and backend.retries == [(7, None)]
    back = urljoin(str(r.url), r.headers["location"])
    assert back == "http://testserver/?retried=1"
    notice = parse_html(client.get(back).text).find("p", "notice").text()
    assert notice == "1 quarantined record queued for retry."


def test_retry_one_names_the_workspace_given_in_the_query():
    client, backend = make_client()
    assert client.post("/quarantine/7/retry", params={"workspace": "emea"}).status_code == 303
    assert backend.retries == [(7, "emea")]


def test_retry_all_calls_back_with_none():
    client, backend = make_client()
    r = client.post("/quarantine/retry")
    assert r.status_code == 303 and backend.retries == [(None, None)]
    assert urljoin(str(r.url), r.headers["location"]) == "http://testserver/?retried=3"
    assert "3 quarantined records queued for retry." in client.get("/?retried=3").text
    assert "Nothing to retry" in client.get("/?retried=0").text
    assert 'class="notice"' not in client.get("/?retried=<script>").text


def test_retry_needs_the_token_and_keeps_it_on_the_way_back():
    client, backend = make_client("s3&cr=t")
    assert client.post("/quarantine/7/retry").status_code == 401
    assert client.post("/quarantine/retry", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert backend.retries == []
    doc = parse_html(client.get("/", params={"token": "s3&cr=t"}).text)
    action = doc.find("div", "quarantine").find_all("form")[1].attrs["action"]  # as the browser would post it
    r = client.post(urljoin("http://testserver/", action))
    assert r.status_code == 303 and backend.retries == [(7, None)]
    back = urljoin(str(r.url), r.headers["location"])
    assert client.get(back).status_code == 200
    assert client.post("/quarantine/retry", headers={"Authorization": "Bearer s3&cr=t"}).status_code == 303
    assert backend.retries == [(7, None), (None, None)]


def test_a_retry_posted_from_another_site_is_refused():
    client, backend = make_client()
    assert client.post("/quarantine/7/retry", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post("/quarantine/retry", headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert backend.retries == []
    assert client.post("/quarantine/7/retry", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    assert backend.retries == [(7, None)]


def test_mounted_under_a_prefix_the_retry_comes_back_to_the_page():
    client, backend = make_client(prefix="/status")
    assert client.get("/status/").status_code == 200
    r = client.post("/status/quarantine/9/retry")
    assert urljoin(str(r.url), r.headers["location"]) == "http://testserver/status/?retried=1"
    r = client.post("/status/quarantine/retry")
    assert urljoin(str(r.url), r.headers["location"]) == "http://testserver/status/?retried=3"
    assert backend.retries == [(9, None), (None, None)]


def test_a_failing_view_is_a_short_500_that_shows_no_details():
    client, _ = make_client(backend=Backend(fail=RuntimeError("postgresql://syncd:hunter2@db/syncd refused")))
    r = client.get("/")
    assert r.status_code == 500 and "RuntimeError" in r.text and "hunter2" not in r.text
