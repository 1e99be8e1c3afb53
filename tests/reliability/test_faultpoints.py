"""The test fault points: inert without their variables; count calls, trace them, pick the right one to kill;
installed as an observer of every call."""

from __future__ import annotations

from pathlib import Path

import faultpoints
import pytest
from faultpoints import FaultPoints

from contracts.calls import CallStats


@pytest.fixture
def kills(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record kills instead of performing them."""
    seen: list[str] = []
    monkeypatch.setattr(faultpoints, "_kill", lambda: seen.append("killed"))
    return seen


def test_inert_without_variables(kills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    points = FaultPoints({})
    assert not points.active
    monkeypatch.setattr(CallStats, "observers", [])
    assert faultpoints.install({}) is None and CallStats.observers == []
    stats = CallStats()
    for _ in range(3):
        stats.called("hubspot.contacts.list")
        stats.returned("hubspot.contacts.list")
    assert kills == []


def test_installed_points_observe_every_call(kills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CallStats, "observers", [])
    points = faultpoints.install({"SYNCD_FAULT_KILL_AT_CALL": "3"})
    assert CallStats.observers == [points]
    one, other = CallStats(), CallStats()  # the HubSpot and the Mailchimp connector's statistics
    one.called("a")
    other.called("b")
    assert kills == []
    one.called("c")
    assert kills == ["killed"]


def test_kills_before_the_nth_call_of_an_endpoint(kills: list[str]) -> None:
    points = FaultPoints({"SYNCD_FAULT_KILL_AT_CALL": "2", "SYNCD_FAULT_KILL_ENDPOINT": "hubspot.tasks.create"})
    for endpoint in ["hubspot.tasks.create", "hubspot.notes.create", "hubspot.notes.create"]:
        points.before(endpoint)
        points.after(endpoint)
    assert kills == []
    points.before("hubspot.tasks.create")
    assert kills == ["killed"]


def test_kills_after_the_nth_call_overall(kills: list[str]) -> None:
    points = FaultPoints({"SYNCD_FAULT_KILL_AT_CALL": "2", "SYNCD_FAULT_KILL_WHEN": "after"})
    points.before("a")
    points.after("a")
    points.before("b")
    assert kills == []  # the request goes out ...
    points.after("b")
    assert kills == ["killed"]  # ... and its answer is never used


def test_trace_lists_every_call(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    points = FaultPoints({"SYNCD_FAULT_TRACE": str(trace)})
    for endpoint in ["x.list", "x.create", "x.create"]:
        points.before(endpoint)
    assert trace.read_text().splitlines() == ["1 x.list 1", "2 x.create 1", "3 x.create 2"]


@pytest.mark.parametrize(
    "env",
    [
        {"SYNCD_FAULT_KILL_AT_CALL": "0"},
        {"SYNCD_FAULT_KILL_AT_CALL": "x"},
        {"SYNCD_FAULT_KILL_AT_CALL": "1", "SYNCD_FAULT_KILL_WHEN": "during"},
    ],
)
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        FaultPoints(env)
