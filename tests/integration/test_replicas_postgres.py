"""Replicas and workspaces on PostgreSQL: three workspaces (three sandboxes: a HubSpot account and a
Mailchimp audience each) served by two `syncd run` replicas on one database. One replica is SIGKILLed
while it pushes one of its workspaces; the other takes the workspace over once the dead one's push
lease lapses. Each workspace then ends in the state a single `syncd once` process reaches on an identical
sandbox (tests/reliability/rel_support.py says what "the same state" means), with no task or note written
twice, and every member once.

Without a reachable PostgreSQL the test skips and says why (tests/integration/pg_support.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from sandbox.server import SandboxServer
from tests.integration.pg_support import PG_URL, admin
from tests.reliability.rel_support import (
    ROOT,
    advance,
    diff_fingerprints,
    fingerprint,
    inject_engagement,
    invariant_4_violations,
    state,
    syncd_once_advance_once,
    world_config,
)

SEEDS = (11, 12, 13)
CONTACTS = 60
LEASE_TTL_S = 6
INTERVALS = {
    "hubspot_owners": 5,
    "hubspot_contacts": 1,
    "mailchimp_members": 1,
    "mailchimp_campaigns": 2,
    "mailchimp_activity": 2,
    "mailchimp_unsubscribes": 2,
    "score": 1,
    "push": 1,
}
# no fading (linear, full for ten years): the live run ends a minute after its reference, and a score
# must not differ by the decay of that minute
SCORING_PATCH = (
    "decay:\n  mode: half_life\n  half_life_days: 21\n",
    "decay:\n  mode: linear\n  full_days: 3650\n  fade_days: 30\n",
)


def _scoring(tmp: Path) -> Path:
    text = (ROOT / "config/scoring.yaml").read_text()
    assert SCORING_PATCH[0] in text
    path = tmp / "scoring.yaml"
    path.write_text(text.replace(*SCORING_PATCH))
    return path


def _config(tmp: Path, names: list[str] | None) -> Path:
    lines = [
        "batch_sizes: {mailchimp_direct_max: 0}",  # as the reliability suite: member writes as batch operations
        f"paths: {{mappings: {ROOT / 'mappings/default.yaml'}, scoring: {_scoring(tmp)}}}",
    ]
    if names:
        lines += [
            f"lease_ttl_s: {LEASE_TTL_S}",
            "drain_s: 3",
            "intervals: " + json.dumps(INTERVALS),
            "workspaces:",
            *[f"  - {{name: {n}, env_prefix: W{i}}}" for i, n in enumerate(names)],
        ]
    path = tmp / ("syncd-replicas.yaml" if names else "syncd-reference.yaml")
    path.write_text("\n".join(lines) + "\n")
    return path


def _settled(fp: dict) -> dict:
    """The fingerprint with each task reduced to who, what and for whom. A daemon decides while the
    records arrive: a lead's task fires the first time it qualifies and quotes the score and reasons of
    that moment, where one `syncd once` sees every event at once. How many tasks each lead has, their
    trigger, owner and kind may not differ (nor contacts, notes and members, compared whole)."""
    tasks = {
        email: sorted((subject.split(" — score")[0], *rest[:4]) for subject, *rest in items)
        for email, items in fp["tasks"].items()
    }
    return {**fp, "tasks": tasks}


def _replica_env(tmp: Path, names: list[str], sandboxes: list[SandboxServer]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "MAILCHIMP_", "SYNCD_"))}
    env.update(
        SYNCD_DATABASE_URL=PG_URL,
        SYNCD_CONFIG=str(_config(tmp, names)),
        SYNCD_HTTP_PORT="0",
        SYNCD_LOG_FORMAT="json",
        SYNCD_LOG_LEVEL="INFO",
    )
    for i, sb in enumerate(sandboxes):
        env.update({f"W{i}_{k}": v for k, v in sb.env.items()})
    return env


def _pg(schema: str, sql: str) -> list[tuple]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        try:
            return conn.execute(sql).fetchall()
        except psycopg.errors.UndefinedTable:
            return []  # not migrated yet


def _push_lease(schema: str) -> tuple[str, int] | None:
    rows = _pg(schema, "SELECT holder, expires_ms FROM leases WHERE job = 'push'")
    return (rows[0][0], int(rows[0][1])) if rows else None


def _outbox(schema: str) -> dict[str, int]:
    return dict(_pg(schema, "SELECT state, count(*) FROM outbox GROUP BY state"))


def _pid_of(holder: str) -> int:
    return int(holder.split(":")[1])  # host:pid:random (syncd.scheduler.new_holder)


def _wait(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)  # polling real subprocesses and a real database: bounded
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _quiet(schemas: list[str], since_ms: int, still_s: float = 4.0) -> bool:
    """Every workspace has nothing left to push, ran score and push after `since_ms`, and its outbox did
    not grow for `still_s`."""

    def snapshot():
        out = []
        for schema in schemas:
            box = _outbox(schema)
            jobs = dict(_pg(schema, "SELECT job, last_ok_ms FROM jobs WHERE job IN ('score', 'push')"))
            if (
                box.get("pending")
                or box.get("attempted")
                or any((jobs.get(j) or 0) < since_ms for j in ("score", "push"))
            ):
                return None
            out.append(sum(box.values()))
        return out

    first = snapshot()
    if first is None:
        return False
    time.sleep(still_s)  # the outbox must stay the same over two score and push intervals
    return snapshot() == first


@pytest.fixture
def workspaces():
    """Three workspace names unique to this run; their schemas are dropped afterwards."""
    admin()  # skips when PostgreSQL is not reachable
    suffix = uuid.uuid4().hex[:8]
    names = [f"w{i}_{suffix}" for i in range(len(SEEDS))]
    yield names
    with admin() as conn:
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "syncd_{name}" CASCADE')


def test_three_workspaces_on_two_replicas_one_killed_mid_push(workspaces, tmp_path):
    names = workspaces
    schemas = [f"syncd_{n}" for n in names]
    procs: list[subprocess.Popen] = []
    with contextlib.ExitStack() as stack:
        live = [
            stack.enter_context(SandboxServer(world_config(contacts=CONTACTS, seed=s, latency_ms=40))) for s in SEEDS
        ]
        for sb in live:
            inject_engagement(sb)
        env = _replica_env(tmp_path, names, live)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "syncd.cli", "run"],
                    env=env,
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp_path / f"replica{i}.log").open("w"),
                )
            )
        try:
            # the moment one replica holds a workspace's push lease with commands done and still pending
            def mid_push():
                for schema in schemas:
                    lease, box = _push_lease(schema), _outbox(schema)
                    if lease and lease[1] > time.time() * 1000 and box.get("done") and box.get("pending"):
                        return schema, lease[0]
                return None

            schema, holder = _wait(mid_push, 90, "a replica in the middle of a push")
            victim = next(p for p in procs if p.pid == _pid_of(holder))
            survivor = next(p for p in procs if p is not victim)
            victim.send_signal(signal.SIGKILL)
            killed_at = time.time()
            victim.wait(timeout=10)
            left_behind = _outbox(schema)
            assert left_behind.get("pending"), "the kill must leave work in the outbox"

            # the survivor takes the push over once the dead replica's lease lapsed
            def taken_over():
                lease = _push_lease(schema)
                return lease is not None and _pid_of(lease[0]) == survivor.pid

            _wait(taken_over, 3 * LEASE_TTL_S, "the survivor to take the push lease over")
            takeover_s = time.time() - killed_at
            print(f"takeover of {schema}'s push: {takeover_s:.2f} s after the SIGKILL (lease {LEASE_TTL_S} s)")
            # within one lease period, plus the push job's interval and this loop's polling
            assert takeover_s <= LEASE_TTL_S + INTERVALS["push"] + 0.5

            since = int(killed_at * 1000)
            _wait(lambda: _quiet(schemas, since), 180, "every workspace to settle", step=0.5)
            for sb in live:  # as the reference does: past the pull lag window, so the echoes are read back
                advance(sb)
            since = int(time.time() * 1000)
            _wait(lambda: _quiet(schemas, since), 120, "every workspace to settle after the clock moved", step=0.5)
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(timeout=30) == 0
            finals = [state(sb) for sb in live]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

    # every workspace was worked on: both replicas had a share, and the survivor finished the victim's
    holders = {_pid_of(h) for schema in schemas for (h,) in _pg(schema, "SELECT DISTINCT holder FROM job_runs")}
    assert holders == {victim.pid, survivor.pid}, holders
    for schema in schemas:
        assert _pg(schema, "SELECT count(*) FROM outbox WHERE state <> 'done'") == [(0,)]
        assert _pg(schema, "SELECT count(*) FROM quarantine") == [(0,)]

    reference_cfg = _config(tmp_path, None)
    for seed, final, name in zip(SEEDS, finals, names, strict=True):
        with SandboxServer(world_config(contacts=CONTACTS, seed=seed)) as sb:
            inject_engagement(sb)
            syncd_once_advance_once(sb, tmp_path / f"reference-{seed}.db", SYNCD_CONFIG=str(reference_cfg))
            want = fingerprint(state(sb))
        assert invariant_4_violations(final) == [], name
        emails = [m["email_address"].lower() for m in final["mailchimp"]["members"]]
        assert len(emails) == len(set(emails)), f"{name}: a member twice"
        assert want["tasks"], "the reference must create tasks, or the comparison proves little"
        assert diff_fingerprints(_settled(fingerprint(final)), _settled(want)) == [], name
