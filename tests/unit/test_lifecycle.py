"""Lifecycle targets (forward only unless demotion is allowed) and the write plan (clear, then set)."""

from __future__ import annotations

from syncd.domain import lifecycle
from syncd.domain.models import LifecyclePlan
from syncd.rules import DEFAULT_RULES_PATH, load_default_rules, parse_rules

RULES = load_default_rules()  # lead 10, MQL 50, SQL 80
DEMOTING = parse_rules(
    DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace("allow_demotion: false", "allow_demotion: true")
)


def test_by_score_climbs_the_thresholds():
    assert [lifecycle.by_score(RULES, s) for s in (-5, 9, 10, 49, 50, 79, 80, 500)] == [
        None,
        None,
        "lead",
        "lead",
        "marketingqualifiedlead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "salesqualifiedlead",
    ]


def test_target_moves_forward_only():
    assert lifecycle.target(RULES, 55, "subscriber") == "marketingqualifiedlead"
    assert lifecycle.target(RULES, 55, None) == "marketingqualifiedlead"
    assert lifecycle.target(RULES, 5, "salesqualifiedlead") == "salesqualifiedlead"
    assert lifecycle.target(RULES, 95, "customer") == "customer"  # sales' stages are left alone
    assert lifecycle.target(RULES, 95, "partner") == "partner"  # a custom stage syncd cannot place
    assert lifecycle.target(RULES, 3, "") is None


def test_target_with_demotion_stays_within_managed_stages():
    assert lifecycle.target(DEMOTING, 20, "salesqualifiedlead") == "lead"
    assert lifecycle.target(DEMOTING, 0, "marketingqualifiedlead") == "lead"  # never below the lowest
    assert lifecycle.target(DEMOTING, 0, "opportunity") == "opportunity"


def test_plan_forward_is_one_write():
    plan = lifecycle.plan("lead", "salesqualifiedlead", RULES)
    assert plan == LifecyclePlan(
        ("salesqualifiedlead",), False, "forward from lead to salesqualifiedlead", "lead", "salesqualifiedlead"
    )
    assert lifecycle.plan(None, "lead", RULES).steps == ("lead",)


def test_plan_refuses_backward_moves_by_default():
    plan = lifecycle.plan("salesqualifiedlead", "lead", RULES)
    assert plan.steps == () and not plan.demotion and plan.reason.startswith("refused")


def test_plan_demotion_clears_then_sets_when_allowed():
    plan = lifecycle.plan("salesqualifiedlead", "lead", DEMOTING)
    assert plan.steps == ("", "lead") and plan.demotion
    assert "demotion" in plan.reason
    assert lifecycle.plan("customer", "lead", DEMOTING).steps == ()


def test_plan_nothing_or_unknown():
    assert lifecycle.plan("lead", "lead", RULES).steps == ()
    assert lifecycle.plan("lead", None, RULES).steps == ()
    assert "unknown stage" in lifecycle.plan("lead", "vip", RULES).reason
    assert lifecycle.plan("partner", "lead", RULES).steps == ()


def test_live_stage_order_is_used_when_given():
    order = ["subscriber", "lead", "marketingqualifiedlead", "trial", "salesqualifiedlead", "customer"]
    assert lifecycle.plan("trial", "marketingqualifiedlead", RULES, order).steps == ()
    assert lifecycle.plan("trial", "salesqualifiedlead", RULES, order).steps == ("salesqualifiedlead",)
    assert lifecycle.target(RULES, 60, "trial", order) == "trial"
