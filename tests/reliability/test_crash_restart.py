"""SIGKILL between any two SDK calls, then restart: the final state equals an uninterrupted run's, with no
duplicate task, note or member and no lost event (invariants 4 and 5).

Kill points are chosen systematically from the reference run's own call trace (faultpoints.py with
SYNCD_FAULT_TRACE): for every endpoint a first cycle calls, its first and its last call, each killed
just before the request is sent and just after its answer arrived (the service applied the write,
syncd never recorded it). `ENDPOINTS` lists them; `test_kill_points_cover_every_call_site` fails when
the cycle gains or loses a call site, so the list cannot silently go stale.

Each scenario: a fresh sandbox identical to the reference's (same seed, same simulated start, the same
injected engagement), `syncd once` killed in a subprocess, then a fresh process runs `syncd once`, moves
the clock past the lag window (so the pull sees the echoes of every write) and runs `syncd once` a last
time. The reference does the same without the kill. See rel_support for what "the same state" means.
"""

from __future__ import annotations

import collections
import signal
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from rel_support import (
    SandboxServer,
    diff_fingerprints,
    fingerprint,
    inject_engagement,
    invariant_4_violations,
    state,
    store_events,
    store_rows,
    syncd_once,
    syncd_once_advance_once,
    world_config,
)

pytestmark = pytest.mark.slow

# Every call site of a first cycle -> whether it is called more than once (then "first" and "last" differ).
ENDPOINTS = {
    "hubspot.property_groups.create": False,
    "hubspot.properties.list": True,
    "hubspot.properties.create": True,
    "mailchimp.merge_fields.list": True,  # before creating the mapped fields, and after (their formats)
    "mailchimp.merge_fields.create": True,
    "hubspot.owners.list": False,
    "hubspot.contacts.list": True,
    "hubspot.contacts.search": True,  # the backfill's count (for its progress), then the catch-up search
    "mailchimp.members.list": False,
    "mailchimp.campaigns.list": False,
    "mailchimp.reports.list": True,  # the report totals: once for the activity stream, once for unsubscribes
    "mailchimp.reports.email_activity": False,
    "mailchimp.reports.unsubscribed": False,
    "hubspot.contacts.batch_read": False,  # consent read again just before members are created
    "mailchimp.batches.start": True,  # member creates and merge fields as batch operations
    "mailchimp.batches.status": True,
    "mailchimp.batches.results": True,
    "mailchimp.segments.list": False,
    "mailchimp.segments.create": True,
    "mailchimp.segments.members": True,
    "hubspot.contacts.batch_create": False,  # Mailchimp subscribers not in HubSpot become contacts
    "hubspot.contacts.batch_update": True,
    "hubspot.tasks.batch_create": False,  # tasks and notes: 100 a call
    "hubspot.notes.batch_create": False,
}
POINTS = [(ep, which) for ep, many in ENDPOINTS.items() for which in (("first", "last") if many else ("first",))]
# Creates whose answer is lost ("after"): the next run must find the object by its key, not create another.
EXACTLY_ONCE = {"hubspot.tasks.batch_create": "hubspot.task", "hubspot.notes.batch_create": "hubspot.note"}


class Reference(NamedTuple):
    fingerprint: dict[str, Any]
    events: set[tuple[str, str]]
    calls: dict[str, int]  # endpoint -> calls in the first cycle
    trace: list[str]  # endpoint of each call, in order
    summaries: list[dict[str, Any]]


def _trace(path: Path) -> list[str]:
    return [line.split()[1] for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The uninterrupted run: cycle, clock past the lag window, cycle (the second must change nothing)."""
    tmp = tmp_path_factory.mktemp("reference")
    db, trace = tmp / "syncd.db", tmp / "trace.txt"
    with SandboxServer(world_config()) as sb:
        inject_engagement(sb)
        first, second = syncd_once_advance_once(sb, db, SYNCD_FAULT_TRACE=str(trace))
        st = state(sb)
    assert invariant_4_violations(st) == []
    calls = _trace(trace)
    assert len(calls) == first["api_calls_total"] + second["api_calls_total"]
    calls = calls[: first["api_calls_total"]]  # the trace goes on through the second cycle of that process
    return Reference(fingerprint(st), store_events(db), dict(collections.Counter(calls)), calls, [first, second])


def test_reference_is_a_full_cycle(reference: Reference) -> None:
    first, second = reference.summaries
    pushed = first["commands"]["pushed"]
    # the kill points below only mean something if the cycle does all of this
    assert pushed.get("hubspot.task", 0) >= 3 and pushed.get("hubspot.note", 0) >= 5, pushed
    assert {"mailchimp.subscribe", "mailchimp.tags", "hubspot.update_contact"} <= set(pushed), pushed
    assert first["api_calls"] == reference.calls  # the trace saw every call CallStats counted
    assert second["commands"]["enqueued"] == {} and second["commands"]["pushed"] == {}
    assert len(reference.events) >= 18


def test_kill_points_cover_every_call_site(reference: Reference) -> None:
    assert set(reference.calls) == set(ENDPOINTS), "a call site was added or removed: update ENDPOINTS"
    for endpoint, many in ENDPOINTS.items():
        assert (reference.calls[endpoint] > 1) == many, (endpoint, reference.calls[endpoint])


def _ordinal(reference: Reference, endpoint: str, which: str) -> int:
    return 1 if which == "first" else reference.calls[endpoint]


def _assert_converged(reference: Reference, sb: SandboxServer, db: Path) -> None:
    st = state(sb)
    assert invariant_4_violations(st) == []
    assert diff_fingerprints(fingerprint(st), reference.fingerprint) == []
    missing = reference.events - store_events(db)
    assert not missing, f"events lost: {sorted(missing)[:5]}"
    left = store_rows(db, "SELECT kind, state, last_error FROM outbox WHERE state != 'done'")
    assert left == [], left
    assert store_rows(db, "SELECT source, record_key, reason FROM quarantine") == []


def _killed(proc: Any) -> None:
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout == ""  # killed before it could print a summary


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("endpoint,which", POINTS, ids=[f"{ep}#{w}" for ep, w in POINTS])
def test_sigkill_at_call_then_restart(
    reference: Reference, tmp_path: Path, endpoint: str, which: str, when: str
) -> None:
    n = _ordinal(reference, endpoint, which)
    db = tmp_path / "syncd.db"
    with SandboxServer(world_config()) as sb:
        inject_engagement(sb)
        _killed(
            syncd_once(
                sb, db, SYNCD_FAULT_KILL_AT_CALL=str(n), SYNCD_FAULT_KILL_ENDPOINT=endpoint, SYNCD_FAULT_KILL_WHEN=when
            )
        )
        restart, _ = syncd_once_advance_once(sb, db)
        _assert_converged(reference, sb, db)
    if when == "after" and endpoint in EXACTLY_ONCE:
        # the killed call created the object: the restart must have found it by its key
        assert restart["commands"]["recovered"].get(EXACTLY_ONCE[endpoint], 0) >= 1, restart["commands"]


# A second crash while recovering: the lookups that only a restart after a lost create makes.
RECOVERY_POINTS = [
    ("hubspot.tasks.batch_create", "hubspot.associations.batch_read", "before"),
    ("hubspot.tasks.batch_create", "hubspot.associations.batch_read", "after"),
    ("hubspot.tasks.batch_create", "hubspot.tasks.batch_read", "after"),
    ("hubspot.notes.batch_create", "hubspot.notes.batch_read", "before"),
    ("hubspot.notes.batch_create", "hubspot.notes.batch_read", "after"),
]


@pytest.mark.parametrize("create,lookup,when", RECOVERY_POINTS, ids=[f"{c}>{lk}-{w}" for c, lk, w in RECOVERY_POINTS])
def test_sigkill_again_during_recovery(
    reference: Reference, tmp_path: Path, create: str, lookup: str, when: str
) -> None:
    db = tmp_path / "syncd.db"
    with SandboxServer(world_config()) as sb:
        inject_engagement(sb)
        _killed(
            syncd_once(
                sb,
                db,
                SYNCD_FAULT_KILL_AT_CALL=str(reference.calls[create]),
                SYNCD_FAULT_KILL_ENDPOINT=create,
                SYNCD_FAULT_KILL_WHEN="after",
            )
        )
        # the restart looks the lost creates up by key; it dies again in the middle of that lookup
        _killed(
            syncd_once(
                sb, db, SYNCD_FAULT_KILL_AT_CALL="1", SYNCD_FAULT_KILL_ENDPOINT=lookup, SYNCD_FAULT_KILL_WHEN=when
            )
        )
        restart, _ = syncd_once_advance_once(sb, db)
        _assert_converged(reference, sb, db)
    assert restart["commands"]["recovered"].get(EXACTLY_ONCE[create], 0) >= 1, restart["commands"]
