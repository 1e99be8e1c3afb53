"""`syncd explain EMAIL`: the lead's score recomputed from the stored event log, rule by rule."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from contracts.identity import normalize_email
from syncd import decide
from syncd.clock import Clock
from syncd.context import Context
from syncd.store import schema as t

NOT_NEEDED: Any = None


def explain(settings: Any, email: str, clock: Any = None, store: Any = None) -> dict[str, Any]:
    """Returns {"table": str, "json": dict}. Raises LookupError when the email is unknown."""
    from syncd.domain.explain import ledger_table, result_to_dict
    from syncd.rules import load_rules
    from syncd.store.db import open_store

    norm = normalize_email(email)
    if norm is None:
        raise LookupError(f"{email!r} is not an email address")
    store = store or open_store(settings.database_url, schema=settings.database_schema)
    clock = clock or Clock(settings.clock_url)
    ctx = Context(
        settings=settings,
        store=store,
        hubspot=NOT_NEEDED,  # the score is recomputed from the stored log: no vendor is called
        mailchimp=NOT_NEEDED,
        rules=load_rules(settings.config.paths.scoring),
        mappings=NOT_NEEDED,
        clock=clock,
        calls=NOT_NEEDED,
    )
    now = clock()
    with store.begin() as conn:
        ident = conn.execute(sa.select(t.identities).where(t.identities.c.email == norm)).first()
        if ident is None:
            raise LookupError(f"no lead with email {norm} in {settings.database_url.split('@')[-1]}")
        chunk = decide.Chunk(ctx, conn, [ident], now)
        lead = chunk.lead(ident)
        result = chunk.score(lead)
    head = f"{norm}  (HubSpot {ident.hubspot_id or '-'}, Mailchimp {'member' if lead.member else '-'})"
    data = result_to_dict(result)
    data["email"] = norm
    return {"table": head + "\n" + ledger_table(result), "json": data}
