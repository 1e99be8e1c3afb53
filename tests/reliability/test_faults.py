"""With the sandbox injecting 10% faults (429, 500, 502, 503, slow answers, connections dropped mid-body),
cycles run until the outbox is empty and nothing more is pushed, and the final state equals the
fault-free run's (same comparison as the crash tests, see rel_support).

In-process (build_context + run_cycle) so the one retry policy can be given a sleep that only records
what it was asked to wait: Retry-After and backoff are honoured in number, not in wall time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import requests
from rel_support import (
    SandboxServer,
    advance,
    diff_fingerprints,
    fingerprint,
    inject_engagement,
    invariant_4_violations,
    state,
    store_events,
    store_rows,
    world_config,
)

import syncd.retrying
from syncd.app import build_context
from syncd.pipeline import run_cycle
from syncd.settings import load_settings

MAX_CYCLES = 6


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the retry policy asks for, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(syncd.retrying, "retry_call", functools.partial(syncd.retrying.retry_call, sleep=waits.append))
    return waits


def _sync_until_quiet(sb: SandboxServer, db: Path) -> list[dict[str, Any]]:
    env = {**sb.env, "SYNCD_DATABASE_URL": f"sqlite:///{db}", "SYNCD_LOG_LEVEL": "WARNING", "SYNCD_HTTP_PORT": "0"}
    ctx = build_context(load_settings(env=env), clock=sb.world.clock.now_ms)
    summaries = []
    try:
        for _ in range(MAX_CYCLES):
            summary = run_cycle(ctx)
            summaries.append(summary)
            left = store_rows(db, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'attempted')")[0][0]
            if len(summaries) > 1 and left == 0 and not summary["commands"]["pushed"]:
                return summaries
            advance(sb)  # past the lag window, so the next pull sees this cycle's writes
    finally:
        ctx.store.close()
    pytest.fail(f"not quiet after {MAX_CYCLES} cycles: {[s['commands'] for s in summaries]}")


def _final(sb: SandboxServer, db: Path) -> tuple[dict, set]:
    st = state(sb)
    assert invariant_4_violations(st) == []
    assert store_rows(db, "SELECT kind, target, last_error FROM outbox WHERE state != 'done'") == []
    assert store_rows(db, "SELECT source, record_key, reason FROM quarantine") == []
    return fingerprint(st), store_events(db)


@pytest.fixture(scope="module")
def fault_free(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, set]:
    db = tmp_path_factory.mktemp("fault-free") / "syncd.db"
    with SandboxServer(world_config()) as clean:
        inject_engagement(clean)
        _sync_until_quiet(clean, db)
        return _final(clean, db)


@pytest.mark.parametrize("fault_seed", [1, 2, 3, 4, 5])
def test_ten_percent_faults_reach_the_fault_free_state(
    tmp_path: Path, fast_retries: list[float], fault_free: tuple[dict, set], fault_seed: int
) -> None:
    want, want_events = fault_free
    with SandboxServer(world_config()) as faulty:
        inject_engagement(faulty)  # before the faults: the setup of the world is not under test
        requests.post(
            f"{faulty.url}/_sandbox/faults", json={"rate": 0.1, "seed": fault_seed}, timeout=30
        ).raise_for_status()
        summaries = _sync_until_quiet(faulty, tmp_path / "faulty.db")
        got, got_events = _final(faulty, tmp_path / "faulty.db")
        served = requests.get(f"{faulty.url}/_sandbox/stats", timeout=30).json()["faults"]

    assert diff_fingerprints(got, want) == []
    assert want_events <= got_events, sorted(want_events - got_events)[:5]
    # the faults did happen (a cycle makes ~60 calls: a handful of faults, not every kind each seed), and
    # were absorbed by retries (waits recorded, not slept)
    assert sum(served.values()) >= 3, served
    # every 429/5xx fault is a failed attempt that was retried (a drop may cut an empty 204 body: harmless)
    assert sum(s["retries"] for s in summaries) >= sum(served[k] for k in ("429", "500", "502", "503"))
    if served["429"]:
        assert max(fast_retries) >= 1.0  # a 429's Retry-After: 1 was honoured (in number)
    assert all(s["ok"] for s in summaries)
    assert sum(s["commands"]["pushed"].get("hubspot.task", 0) for s in summaries) == len(
        [t for ts in want["tasks"].values() for t in ts]
    )
