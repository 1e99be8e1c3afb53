"""A cycle makes the same calls whichever vendor answers first: HubSpot's side of the side-by-side drain
claims only what was enqueued before the drain began, so the email statuses Mailchimp's drain enqueues (the
status it reported, written to HubSpot after it reported it) always go in the pass after it, never mixed
into HubSpot's own writes of that drain (the crash-restart tests kill at a call's ordinal and saw the
count change under load)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from syncd_harness import Engine, make_lead

from sandbox.world import SandboxConfig
from syncd import push


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=20, seed=5, start_ms=1_767_225_600_000, rate_scale=20)


def test_statuses_mailchimp_reports_during_the_drain_go_in_the_next_pass(
    sandbox, hubspot, mailchimp, tmp_path, monkeypatch
):
    engine = Engine(sandbox, tmp_path)
    engine.cycle()
    for i in range(3):
        make_lead(sandbox, hubspot, mailchimp, f"new.lead{i}@example.com", member=False)
    engine.settle()

    store = engine.ctx.store
    status_enqueued = threading.Event()
    enqueue, drain = store.enqueue, push.push

    def spying_enqueue(conn: Any, commands: list[dict[str, Any]], *a: Any, **kw: Any) -> Any:
        out = enqueue(conn, commands, *a, **kw)
        if any(c["key"].startswith("hs.mcstatus:") for c in commands):
            status_enqueued.set()
        return out

    def late_hubspot(ctx: Any, *a: Any, kinds: tuple[str, ...] = push.ORDER, **kw: Any) -> int:
        # HubSpot's side of the drain starts only once Mailchimp's has enqueued the statuses: the order a
        # loaded machine produces now and then, made certain here
        if len(kinds) > 1 and all(k.startswith("hubspot.") for k in kinds):
            assert status_enqueued.wait(60), "Mailchimp's drain never enqueued a status"
        return drain(ctx, *a, kinds=kinds, **kw)

    batches: list[list[str]] = []
    handler = push.HANDLERS["hubspot.update_contact"]

    def recording(ctx: Any, rows: list) -> int:
        batches.append([r.key for r in rows])
        return handler(ctx, rows)

    monkeypatch.setattr(store, "enqueue", spying_enqueue)
    monkeypatch.setattr(push, "push", late_hubspot)
    monkeypatch.setitem(push.HANDLERS, "hubspot.update_contact", recording)
    engine.cycle()

    kinds = [{key.startswith("hs.mcstatus:") for key in batch} for batch in batches]
    assert {True} in kinds and {False} in kinds, batches  # both were written, in separate calls...
    assert all(len(k) == 1 for k in kinds), batches  # ...never mixed in one
    first_status = kinds.index({True})
    assert all(k == {True} for k in kinds[first_status:]), batches  # the statuses after HubSpot's own writes
