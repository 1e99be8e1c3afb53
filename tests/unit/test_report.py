"""The summary `syncd once` prints after its counts, built from what a store holds: who went hot in the
cycle's window (and not before), the tasks HubSpot accepted, quarantined records, failed commands and failed
stages, each list capped with "and N more"."""

from __future__ import annotations

import sqlalchemy as sa

from syncd import report
from syncd.rules import load_default_rules
from syncd.store import open_store
from syncd.store import schema as t

RULES = load_default_rules()
T0 = 1_796_600_000_000  # the cycle's start on the services' clock
WALL = 1_700_000_000_000  # and on the store's


def _store(tmp_path):
    return open_store(f"sqlite:///{tmp_path / 'syncd.db'}", clock=lambda: WALL + 500)


def _score(email: str, score: float, segment: str, since: int, ledger=()) -> dict:
    return {
        "email": email,
        "score": score,
        "segment": segment,
        "segment_since_ms": since,
        "was_engaged": True,
        "ledger": list(ledger),
        "scored_ms": since,
        "cadence": "weekly",
    }


def _fill(store) -> int:
    with store.begin() as conn:
        run_id = conn.execute(
            sa.insert(t.runs).values(started_ms=T0, finished_ms=T0 + 60_000).returning(t.runs.c.id)
        ).scalar_one()
        conn.execute(sa.insert(t.owners), [{"id": "7", "first_name": "Julia", "last_name": "Novak", "fetched_ms": T0}])
        conn.execute(
            sa.insert(t.identities),
            [
                {"email": "ada@x.example", "hubspot_id": "101", "created_ms": T0, "updated_ms": T0},
                {"email": "old@x.example", "hubspot_id": "102", "created_ms": T0, "updated_ms": T0},
            ],
        )
        conn.execute(
            sa.insert(t.hubspot_contacts),
            [
                {
                    "hubspot_id": "101",
                    "email": "ada@x.example",
                    "properties": {"firstname": "Ada", "lastname": "Lane"},
                    "fetched_ms": T0,
                },
            ],
        )
        ledger = [
            {"rule": "email_open", "points_after_decay": 5.0, "detail": "opened email", "occurred_ms": T0 - 9},
            {
                "rule": "pricing_click",
                "points_after_decay": 20.0,
                "detail": "clicked https://x.example/pricing",
                "occurred_ms": T0 - 5,
            },
            {
                "rule": "senior_title",
                "points_after_decay": 15.0,
                "detail": "jobtitle='VP' matches",
                "occurred_ms": None,
            },
            {"rule": "unsubscribed", "points_after_decay": -40.0, "detail": "unsubscribed", "occurred_ms": T0 - 1},
        ]
        rows = [_score("ada@x.example", 72, "hot", T0 + 1000, ledger), _score("old@x.example", 90, "hot", T0 - 1)]
        rows += [_score(f"lead{i}@x.example", 61 + i, "hot", T0 + 2000 + i) for i in range(6)]
        rows += [_score("warm@x.example", 40, "warm", T0 + 1000)]
        conn.execute(sa.insert(t.scores), rows)
        outbox = [
            {
                "key": "task:101:x",
                "kind": "hubspot.task",
                "target": "hubspot:contact:101",
                "state": "done",
                "payload": {
                    "contact_id": "101",
                    "owner_id": "7",
                    "triggers": ["segment:hot"],
                    "lead": {"email": "ada@x.example", "name": "Ada Lane", "reasons": ["2026-12-01 clicked +20"]},
                    "properties": {"hs_timestamp": str(T0 + 86_400_000)},
                },
                "result": {"id": "30000000001"},
                "created_ms": WALL + 100,
                "updated_ms": WALL + 200,
            },
            {
                "key": "task:9:old",
                "kind": "hubspot.task",
                "target": "hubspot:contact:9",
                "state": "done",
                "payload": {"contact_id": "9", "owner_id": None, "triggers": ["segment:hot"], "lead": {}},
                "created_ms": WALL - 9000,
                "updated_ms": WALL - 5000,
            },  # an earlier cycle's
            {
                "key": "upd:102",
                "kind": "hubspot.update_contact",
                "target": "hubspot:contact:102",
                "state": "failed",
                "last_error": "PROPERTY_DOESNT_EXIST syncd_score",
                "payload": {},
                "created_ms": WALL + 10,
                "updated_ms": WALL + 300,
            },
        ]
        keys = ("result", "last_error")
        conn.execute(sa.insert(t.outbox), [{"attempts": 1, **dict.fromkeys(keys), **row} for row in outbox])
        conn.execute(
            sa.insert(t.quarantine),
            [
                {
                    "source": "hubspot",
                    "record_key": "555",
                    "reason": "invalid email 'not-an-email'",
                    "run_id": run_id,
                    "created_ms": WALL,
                },
                {
                    "source": "hubspot",
                    "record_key": "hubspot:contact:102",
                    "reason": "PROPERTY_DOESNT_EXIST",
                    "run_id": run_id,
                    "created_ms": WALL,
                },
                {
                    "source": "mailchimp",
                    "record_key": "abc",
                    "reason": "an older run's",
                    "run_id": run_id - 1,
                    "created_ms": WALL - 9000,
                },
            ],
        )
    return run_id


def test_the_report_says_what_this_cycle_changed(tmp_path):
    store = _store(tmp_path)
    run_id = _fill(store)
    window = report.window_of(store, run_id, WALL, WALL + 1000)
    assert (window.started_ms, window.finished_ms) == (T0, T0 + 60_000)
    data = report.cycle_report(store, RULES, window, {"mailchimp_activity": "Mailchimp answered 503 three times"})

    hot = data["went_hot"]
    assert hot["segment"] == "hot" and hot["count"] == 7  # not old@ (hot before the cycle), not warm@
    assert [lead["score"] for lead in hot["leads"]] == [72, 66, 65, 64, 63]  # the highest first, five shown
    ada = hot["leads"][0]
    assert (ada["name"], ada["email"]) == ("Ada Lane", "ada@x.example")
    assert ada["reasons"] == [
        "pricing_click +20 (clicked https://x.example/pricing)",
        "senior_title +15 (jobtitle='VP' matches)",
        "email_open +5 (opened email)",
    ]  # the penalty is not a reason to call
    (task,) = data["tasks"]["items"]  # the earlier cycle's task is not this one's
    assert (task["lead"], task["owner"], task["hubspot_task_id"]) == ("Ada Lane", "Julia Novak", "30000000001")
    assert task["due_ms"] == T0 + 86_400_000
    problems = data["problems"]
    assert problems["failed_commands"]["items"] == [
        {
            "kind": "hubspot.update_contact",
            "target": "hubspot:contact:102",
            "error": "PROPERTY_DOESNT_EXIST syncd_score",
        }
    ]
    # the failed command's quarantine row is said once (with the commands); the older run's not at all
    assert problems["quarantined"]["items"] == [
        {"source": "hubspot", "record": "555", "reason": "invalid email 'not-an-email'"}
    ]

    text = report.render(data)
    assert text.splitlines() == [
        "went hot: 7",
        "  Ada Lane <ada@x.example>, score 72: pricing_click +20 (clicked https://x.example/pricing); "
        "senior_title +15 (jobtitle='VP' matches); email_open +5 (opened email)",
        "  lead5@x.example, score 66: no single event stands out",
        "  lead4@x.example, score 65: no single event stands out",
        "  lead3@x.example, score 64: no single event stands out",
        "  lead2@x.example, score 63: no single event stands out",
        "  and 2 more",
        "tasks created: 1",
        "  Ada Lane <ada@x.example> -> Julia Novak (segment:hot, HubSpot task 30000000001)",
        "problems:",
        "  stage mailchimp_activity failed: Mailchimp answered 503 three times",
        "  commands failed: 1",
        "    hubspot.update_contact hubspot:contact:102: PROPERTY_DOESNT_EXIST syncd_score",
        "  records quarantined: 1",
        "    hubspot 555: invalid email 'not-an-email'",
    ]
    store.close()


def test_a_quiet_cycle_says_so(tmp_path):
    store = _store(tmp_path)
    window = report.window_of(store, None, WALL, WALL + 1000)
    text = report.render(report.cycle_report(store, RULES, window))
    assert text.splitlines() == ["went hot: nobody", "tasks created: none", "problems: none"]
    store.close()
