"""The cheapest read path for a large delta: when most of the CRM changed since the last pass (syncd's own
first writes, an import), reading the contact list (100 a page at the general rate) is faster than searching
the changes (200 a page at 4 a second), so the contact stream reads the list and then catches up from its
start; a small delta is still searched. Call counts are the sandbox's own."""

from __future__ import annotations

import sqlalchemy as sa
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput
from syncd_harness import Engine, sdk_clients

from connectors.limiter import HubSpotBudget
from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig
from syncd.store import schema as t

START = 1_767_225_600_000
SCALE = 50  # the sandbox's limits and syncd's pacing both x50; syncd's cost model stays at the real limits
LIST = "GET /crm/v3/objects/contacts"
SEARCH = "POST /crm/v3/objects/contacts/search"


def _contact_reads(engine: Engine) -> tuple[int, int]:
    requests_by_endpoint = engine.stats()["requests"]
    return requests_by_endpoint.get(LIST, 0), requests_by_endpoint.get(SEARCH, 0)


def test_a_large_delta_is_read_through_the_list_and_a_small_one_searched(tmp_path) -> None:
    with SandboxServer(SandboxConfig(contacts=2000, seed=5, start_ms=START, rate_scale=SCALE)) as sb:
        engine = Engine(sb, tmp_path)
        engine.ctx.hubspot._budget = HubSpotBudget(burst=190 * SCALE, search_per_s=4 * SCALE)
        engine.cycle()  # the backfill writes syncd's properties on (nearly) every contact
        stored = sb.world.hubspot.table("contacts").live_count()

        # the echoes of those writes: nearly every contact changed since the backfill's bound. The clock moves
        # only past the pull's 30 s lag window (not settle's 14 minutes, in which a contact created 30 days
        # before the start turns silent_30_days and rightly changes score)
        engine.advance(45 / 86_400)
        engine.reset_stats()
        echoes = engine.cycle()
        lists, searches = _contact_reads(engine)
        assert lists >= stored // 100, (lists, searches)  # every contact read through the list ...
        assert searches <= 3, (lists, searches)  # ... after the one search page that sized the delta
        assert echoes["streams"]["hubspot_contacts"]["records_pulled"] >= stored
        assert echoes["commands"]["enqueued"] == {}  # re-reading unchanged contacts changes nothing

        # then a small change made by another integration: searched, not listed
        ids = [c.id for c in sdk_clients(sb)[0].crm.contacts.basic_api.get_page(limit=20).results]
        sdk_clients(sb)[0].crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "Head of Growth"}) for i in ids]
            )
        )
        engine.settle()
        engine.reset_stats()
        small = engine.cycle()
        lists, searches = _contact_reads(engine)
        assert lists == 0 and 1 <= searches <= 2, (lists, searches)
        assert small["streams"]["hubspot_contacts"]["records_pulled"] >= len(ids)
        with engine.ctx.store.begin() as conn:
            stored_props = conn.execute(
                sa.select(t.hubspot_contacts.c.properties).where(t.hubspot_contacts.c.hubspot_id.in_(ids))
            ).all()
        assert [p.properties.get("jobtitle") for p in stored_props] == ["Head of Growth"] * len(ids)
