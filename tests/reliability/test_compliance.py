"""Invariant 1 by construction: over several cycles with self- and admin-unsubscribes, bounces and consent
removals injected between and during cycles, with faults and SIGKILLs, every request syncd sent to
Mailchimp is recorded (the sandbox's journal, batch operations included) and none of them could have
re-subscribed anyone. Mailchimp accepts `status: subscribed` for a member an admin or the API
unsubscribed, so the proof is that no request carries `status` for a member that existed, not that
Mailchimp refused something.

The first cycle runs with the member pull failing, so syncd decides without having read one member:
it must then treat every member as possibly existing (creates use `status_if_new`)."""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path

import requests
from rel_support import START_MS, state, syncd_once

from connectors.mailchimp.translate import subscriber_hash
from contracts.errors import FatalError
from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd import decide, pipeline, push, streams
from syncd.retrying import retry_call
from tests.integration.syncd_harness import Engine, sdk_clients

GONE = ("unsubscribed", "cleaned")
ADMIN = "N/A (Unsubscribed by admin)"


def _carries_status(body: object) -> bool:
    """Whether a request body sets a `status` anywhere (a member's own, or one of a batch's members) other
    than `unsubscribed`, the one status syncd sends to an existing member (a HubSpot opt-out)."""
    if isinstance(body, dict):
        return body.get("status", "unsubscribed") != "unsubscribed" or any(_carries_status(v) for v in body.values())
    if isinstance(body, list):
        return any(_carries_status(v) for v in body)
    return False


def _no_wait(engine: Engine) -> None:
    """Retries of the injected faults without real waiting (the sandbox's 429s are faults, not limits)."""
    for connector in (engine.ctx.hubspot, engine.ctx.mailchimp):
        connector._retry = partial(retry_call, sleep=lambda _s: None)
    engine.ctx.mailchimp._sleep = lambda _s: None


def _members(sb: SandboxServer) -> dict[str, dict]:
    return {m["email_address"].lower(): m for m in state(sb)["mailchimp"]["members"]}


def _admin_unsubscribe(mc, list_id: str, emails: list[str]) -> None:
    for email in emails:
        mc.lists.update_list_member(list_id, subscriber_hash(email), {"status": "unsubscribed"})


def _withdraw_consent(hs, contact_ids: list[str]) -> None:
    for cid in contact_ids:
        hs.crm.contacts.basic_api.update(cid, {"properties": {"hs_legal_basis": ""}})


def _rename(hs, contact_ids: list[str], n: int) -> None:
    for cid in contact_ids:
        hs.crm.contacts.basic_api.update(cid, {"properties": {"firstname": f"Renamed{n}"}})


def test_no_request_syncd_sends_could_resubscribe_anyone(tmp_path: Path) -> None:
    rng = random.Random(7)
    cfg = SandboxConfig(contacts=260, seed=21, start_ms=START_MS, journal=True, rate_scale=20)
    with SandboxServer(cfg) as sb:
        hs, mc = sdk_clients(sb)
        list_id = sb.world.list_id
        engine = Engine(sb, tmp_path)
        _no_wait(engine)
        withdrawn_at: dict[str, int] = {}  # email -> journal length when its consent was withdrawn

        ours: list[range] = []  # journal positions of the test's own writes (admin unsubscribes)

        def admin_unsubscribe(emails: list[str]) -> None:
            start = len(sb.world.journal)
            _admin_unsubscribe(mc, list_id, emails)
            ours.append(range(start, len(sb.world.journal)))

        def faults(rate: float) -> None:
            requests.post(f"{sb.url}/_sandbox/faults", json={"rate": rate}, timeout=10).raise_for_status()

        def withdraw(contacts: list[dict]) -> None:
            for c in contacts:
                withdrawn_at[c["properties"]["email"].lower()] = len(sb.world.journal)
            _withdraw_consent(hs, [c["id"] for c in contacts])

        def consented(st: dict) -> list[dict]:
            return [
                c
                for c in st["hubspot"]["contacts"]
                if "Freely given consent" in (c["properties"].get("hs_legal_basis") or "")
            ]

        # 1. a first cycle that has read no member at all (its member pull fails)
        read_members = engine.ctx.mailchimp.list_members

        def unreadable(*_a, **_k):
            raise FatalError("mailchimp.members.list: 503 (held back by the test)", service="mailchimp", status=503)

        engine.ctx.mailchimp.list_members = unreadable
        first = pipeline.run_cycle(engine.ctx)
        assert set(first["stage_errors"]) == {"mailchimp_members"}
        created_blind = first["commands"]["pushed"].get("mailchimp.subscribe", 0)
        engine.ctx.mailchimp.list_members = read_members

        for n in range(6):
            engine.advance(rng.choice((1, 2, 3)))  # campaigns: opens, clicks, self-unsubscribes, hard bounces
            st = state(sb)
            members = _members(sb)
            subscribed = sorted(e for e, m in members.items() if m["status"] == "subscribed")
            in_crm = {c["properties"]["email"].lower(): c for c in st["hubspot"]["contacts"]}
            # between cycles: an admin unsubscribes some, some withdraw consent, some change their name
            admin_unsubscribe(rng.sample(subscribed, 4))
            withdraw(rng.sample(consented(st), 3))
            _rename(hs, [in_crm[e]["id"] for e in rng.sample([e for e in subscribed if e in in_crm], 8)], n)
            engine.settle()
            rate = 0.15 if n in (2, 3, 4) else 0.0  # faults while syncd works (never on the test's own calls)
            if n == 3:
                # a SIGKILL in the middle of a cycle, after Mailchimp applied a batch syncd never heard of
                faults(rate)
                killed = syncd_once(
                    sb,
                    tmp_path / "syncd.db",
                    SYNCD_FAULT_KILL_AT_CALL="1",
                    SYNCD_FAULT_KILL_ENDPOINT="mailchimp.batches.start",
                    SYNCD_FAULT_KILL_WHEN="after",
                )
                faults(0.0)
                assert killed.returncode == -9, killed.stderr[-2000:]  # killed just after a batch started
                continue
            # a cycle during which people unsubscribe and withdraw consent, after syncd decided and
            # before it pushes: exactly the members and contacts its pending commands are about
            ctx = engine.ctx
            faults(rate)
            pipeline.setup(ctx)
            for stream in streams.REGISTRY:
                streams.run(ctx, stream)
            decide.score_and_decide(ctx)
            faults(0.0)
            pending = engine.outbox()
            updates = sorted(
                {
                    r.payload["email_address"].lower()
                    for r in pending
                    if r.state == "pending" and r.kind == "mailchimp.update_member"
                }
            )
            subscribes = [r for r in pending if r.state == "pending" and r.kind == "mailchimp.subscribe"]
            now_members = _members(sb)
            admin_unsubscribe([e for e in updates if now_members.get(e, {}).get("status") == "subscribed"][:5])
            st = state(sb)
            by_id = {c["id"]: c for c in st["hubspot"]["contacts"]}
            withdraw([by_id[r.payload["contact_id"]] for r in subscribes[:3] if r.payload.get("contact_id") in by_id])
            faults(rate)
            push.push(ctx)
            faults(0.0)
        engine.settle()
        engine.cycle()
        mine = {i for r in ours for i in r}
        journal = [e for i, e in enumerate(sb.world.journal.entries()) if i not in mine]
        assert len(mine) >= 4 * 6
        final = _members(sb)
        final_state = state(sb)

    writes = [e for e in journal if e["status"] and e["status"] < 300]
    assert created_blind > 0 and len(writes) > 100, (created_blind, len(writes))
    assert any(e["via"] == "batch" for e in journal) and any(e["via"] == "api" for e in journal)
    # no request could re-subscribe anyone: none carries a `status` for a member that existed, except
    # `unsubscribed` (a HubSpot opt-out: towards less email)
    carrying = [
        (e["seq"], e["method"], e["template"], m["email_address"], m["before"])
        for e in journal
        for m in e["members"]
        if m["before"] is not None and _carries_status(e["body"])
    ]
    assert carrying == [], carrying[:5]
    assert not [e for e in journal if e["template"] == "/3.0/lists/{list_id}" and e["method"] == "POST"], (
        "batch subscribe sends `status` for every member: syncd must not use it"
    )
    # ...and none did: nobody moved from unsubscribed or cleaned to subscribed
    resubscribed = [
        (e["seq"], m["email_address"], m["before"])
        for e in journal
        for m in e["members"]
        if m["before"] in GONE and m["after"] == "subscribed"
    ]
    assert resubscribed == [], resubscribed[:5]
    # nobody was created after withdrawing consent
    late = [
        (m["email_address"], e["seq"])
        for e in journal
        for m in e["members"]
        if m["before"] is None
        and m["after"] == "subscribed"
        and e["seq"] >= withdrawn_at.get((m["email_address"] or "").lower(), 1 << 60)
    ]
    assert late == [], late
    admin_gone = [e for e, m in final.items() if m.get("unsubscribe_reason") == ADMIN]
    assert admin_gone and all(final[e]["status"] == "unsubscribed" for e in admin_gone)
    # HubSpot says what Mailchimp holds, never "subscribed" for someone who is not
    for c in final_state["hubspot"]["contacts"]:
        status = c["properties"].get("syncd_email_status")
        member = final.get((c["properties"].get("email") or "").lower())
        if status == "subscribed":
            assert member is not None and member["status"] == "subscribed", (c["properties"]["email"], member)
