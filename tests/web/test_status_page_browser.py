"""The status page as a person sees it: served over loopback by uvicorn, drawn by headless Chromium.

The screenshot must show the chart's bars (the segment colours, stacked, each as tall as its count),
the banner in red for a failing workspace (green once it is ok); the DOM Chromium built must hold the
hand-off task's row and show a hostile lead name as text. Chromium gets no route off the machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from status_support import parse_html, trend, view, workspace

from syncd.web.status import SEGMENT_COLOURS, SEGMENTS, status_routes

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "t0ken&more"
FAILING_RED = (0xB3, 0x26, 0x1E)  # .banner-failing
OK_GREEN = (0x2E, 0x7D, 0x32)  # .banner-ok
WIDTH, HEIGHT = 1280, 2000
HOSTILE_LEAD = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium with apt)"
)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def failing_workspace() -> dict:
    ws = workspace(
        name="acme", health={"state": "failing", "problems": ["push: failing (3 runs in a row): HubSpot answered 500"]}
    )
    ws["tasks"].append(
        {
            **ws["tasks"][0],
            "lead_name": HOSTILE_LEAD,
            "lead_email": "x@example.com",
            "owner": "Linus",
            "hubspot_url": "javascript:alert(1)",
        }
    )
    return ws


@pytest.fixture(scope="module")
def site():
    """The status routes on a loopback port, serving whatever view `shown["view"]` holds."""
    shown = {"view": view(failing_workspace())}
    app = Starlette(routes=status_routes(lambda: shown["view"], lambda _id: 0, TOKEN))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections queue here until uvicorn's loop accepts them: nothing to wait for
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="status-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/?token=t0ken%26more", shown
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def browse(url: str, tmp_path: Path):
    """Chromium's screenshot (as an RGB array) and the DOM it built, for `url`."""
    png = tmp_path / "page.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no name resolves: loopback only
        f"--screenshot={png}",
        "--dump-dom",
        url,
    ]
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)  # bounded
    assert proc.returncode == 0 and png.exists(), f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    return pixels, parse_html(proc.stdout)


def mask(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(pixels == np.array(colour, dtype=pixels.dtype), axis=-1)


def bbox(m: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the True pixels, inclusive."""
    ys, xs = np.nonzero(m)
    assert len(xs), "colour not on screen"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def stacks(pixels: np.ndarray, region: tuple[int, int, int, int]) -> list[dict[str, int]]:
    """The bars in the chart region, left to right: pixel height of each segment along the bar's centre."""
    colours = {seg: rgb(SEGMENT_COLOURS[seg]) for seg in SEGMENTS}
    masks = {seg: mask(pixels, c) for seg, c in colours.items()}
    left, top, right, bottom = region
    cold = masks["cold"]
    row = top + int(np.argmax(cold[top : bottom + 1, left : right + 1].sum(axis=1)))  # the row crossing every bar
    xs = np.nonzero(cold[row, left : right + 1])[0] + left
    runs = np.split(xs, np.nonzero(np.diff(xs) > 1)[0] + 1)
    out = []
    for run in runs:
        x = int(run[len(run) // 2])
        heights = dict.fromkeys(SEGMENTS, 0)
        y = row
        while y + 1 < HEIGHT and cold[y + 1, x]:
            y += 1  # down to the bar's foot
        while y >= 0:  # then up through the stack, one segment colour after another
            seg = next((s for s in SEGMENTS if masks[s][y, x]), None)
            if seg is None:
                break
            heights[seg] += 1
            y -= 1
        out.append({"x": x, "width": len(run), **heights})
    return out


def test_a_person_sees_the_chart_the_failing_banner_and_the_tasks(site, tmp_path):
    url, shown = site
    ws = failing_workspace()
    shown["view"] = view(ws)
    pixels, dom = browse(url, tmp_path)

    # The failing banner is drawn in red, wide, above everything else of the workspace.
    red = bbox(mask(pixels, FAILING_RED))
    assert red[2] - red[0] > WIDTH // 2 and red[3] - red[1] > 30, red
    assert not mask(pixels, OK_GREEN).any()
    banner = dom.find("div", "banner")
    assert banner.classes == ["banner", "banner-failing"] and banner.text().strip().startswith("Failing")

    # The chart: every segment colour on screen, in one region below the banner, on the left.
    chart = tuple(np.array([bbox(mask(pixels, rgb(SEGMENT_COLOURS[s]))) for s in SEGMENTS]).T)
    region = (min(chart[0]), min(chart[1]), max(chart[2]), max(chart[3]))
    assert region[1] > red[3] and region[2] < WIDTH * 0.75, region
    assert region[2] - region[0] > 300 and region[3] - region[1] > 150, region

    # One bar per day and one for now, each segment as tall as its count (one scale for all).
    drawn = stacks(pixels, region)
    expected = ws["segments"]["trend"] + [ws["segments"]["current"]]
    assert len(drawn) == len(expected), drawn
    scale = sum(sum(b[s] for s in SEGMENTS) for b in drawn) / sum(sum(e[s] for s in SEGMENTS) for e in expected)
    assert scale > 0.1, scale  # bars tall enough to be seen
    for bar, counts in zip(drawn, expected):
        for seg in SEGMENTS:
            assert abs(bar[seg] - counts[seg] * scale) <= 1.5, (seg, bar, counts, scale)

    # The hand-off tasks: lead and owner in a row; a hostile name is text, its bad link no link.
    rows = dom.find_all("tr", "task")
    assert [(r.find("td", "lead").text(), r.find("td", "owner").text()) for r in rows] == [
        ("Ada Lovelaceada@example.com", "Grace Hopper"),
        (HOSTILE_LEAD + "x@example.com", "Linus"),
    ]
    assert not dom.find_all("img") and not dom.find_all("script")
    assert [a.attrs["href"] for a in dom.find_all("a")] == [ws["tasks"][0]["hubspot_url"]]


def test_the_banner_turns_green_when_the_workspace_is_ok(site, tmp_path):
    url, shown = site
    shown["view"] = view(
        workspace(
            name="acme",
            health={"state": "ok", "problems": []},
            segments={"current": {"cold": 10, "warm": 5, "hot": 2, "reengage": 1}, "trend": trend(3)},
        )
    )
    pixels, dom = browse(url, tmp_path)
    green = bbox(mask(pixels, OK_GREEN))
    assert green[2] - green[0] > WIDTH // 2 and green[3] - green[1] > 20, green
    assert not mask(pixels, FAILING_RED).any()
    assert dom.find("div", "banner").classes == ["banner", "banner-ok"]
