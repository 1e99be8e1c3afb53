"""Replicas on one PostgreSQL database run the contact pull and the member pull at the same time. Both
create identities and update the same rows: the identity upserts must be race-free (ON CONFLICT, not a
read-then-insert that meets `uq_identities_email`) and rows must be locked in one order (no deadlock)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_support import schema_url

from contracts.identity import subscriber_hash
from syncd import pull
from syncd.context import Context
from syncd.rules import load_rules
from syncd.settings import load_settings
from syncd.store import schema as t
from syncd.store.db import open_store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres
NOW = 1_767_225_600_000


def _ctx(store) -> Context:
    settings = load_settings({}, str(ROOT / "config/syncd.yaml"))
    return Context(
        settings=settings,
        store=store,
        hubspot=None,
        mailchimp=None,
        rules=load_rules(ROOT / "config/scoring.yaml"),
        mappings=None,
        clock=lambda: NOW,
        calls=None,
    )


def _contacts(emails: list[str], base: int) -> list[dict]:
    return [
        {
            "id": str(base + i),
            "archived": False,
            "properties": {"email": e, "firstname": "A", "lastmodifieddate": str(NOW - 1000)},
        }
        for i, e in enumerate(emails)
    ]


def _members(emails: list[str]) -> list[dict]:
    return [
        {
            "id": subscriber_hash(e),
            "email_address": e,
            "status": "subscribed",
            "merge_fields": {},
            "tags": [],
            "last_changed": "2026-01-01T00:00:00+00:00",
        }
        for e in emails
    ]


def test_contact_and_member_pulls_racing_on_the_same_new_people_neither_fail_nor_deadlock():
    with schema_url() as url:
        stores = [open_store(url), open_store(url)]
        try:
            errors: list[BaseException] = []
            for round_ in range(8):
                emails = [f"p{round_}.{i}@race.example.com" for i in range(150)]
                start = threading.Barrier(2)

                def contacts() -> None:
                    ctx = _ctx(stores[0])
                    start.wait()
                    with ctx.store.begin() as conn:
                        pull.ingest_contacts(ctx, conn, _contacts(emails, 10_000 * (round_ + 1)))

                def members() -> None:
                    ctx = _ctx(stores[1])
                    start.wait()
                    with ctx.store.begin() as conn:  # the same people, in the opposite order
                        pull.ingest_members(ctx, conn, _members(list(reversed(emails))))

                def guarded(fn):
                    def run() -> None:
                        try:
                            fn()
                        except BaseException as exc:
                            errors.append(exc)

                    return run

                threads = [threading.Thread(target=guarded(contacts)), threading.Thread(target=guarded(members))]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join(timeout=60)
            assert errors == [], [f"{type(e).__name__}: {str(e).splitlines()[0]}" for e in errors]
            with stores[0].begin() as conn:
                rows = conn.execute(
                    sa.select(t.identities.c.email, t.identities.c.hubspot_id, t.identities.c.subscriber_hash)
                ).all()
            assert len(rows) == 8 * 150 == len({r.email for r in rows})
            assert all(r.hubspot_id and r.subscriber_hash == subscriber_hash(r.email) for r in rows)
        finally:
            for store in stores:
                store.close()
