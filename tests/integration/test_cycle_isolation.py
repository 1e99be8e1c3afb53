"""One stream failing (its service refusing, unreachable) never stops the others: the rest of the cycle
pulls, scores and pushes, and the summary says which stage failed and why."""

from __future__ import annotations

import pytest
from syncd_harness import Engine

from contracts.errors import FatalError
from sandbox.world import SandboxConfig
from syncd.pipeline import run_cycle


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(contacts=60, seed=8, start_ms=1_767_225_600_000, rate_scale=20)


def test_a_failing_member_stream_leaves_the_rest_of_the_cycle_running(sandbox, tmp_path):
    engine = Engine(sandbox, tmp_path)

    def refuse(*_args, **_kwargs):
        raise FatalError("mailchimp.members.list: 403 Forbidden: API key lacks access", service="mailchimp", status=403)

    engine.ctx.mailchimp.list_members = refuse
    summary = run_cycle(engine.ctx)
    assert summary["ok"] is False
    assert set(summary["stage_errors"]) == {"mailchimp_members"}
    assert "Mailchimp refused the call" in summary["stage_errors"]["mailchimp_members"]
    assert summary["streams"]["hubspot_contacts"]["records_pulled"] > 40
    assert summary["identities_scored"] > 40
    assert summary["commands"]["pushed"].get("hubspot.update_contact", 0) > 40
    scored = [c for c in engine.state()["hubspot"]["contacts"] if c["properties"].get("syncd_score") is not None]
    assert len(scored) > 40
