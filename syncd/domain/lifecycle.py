"""HubSpot lifecycle stage: which stage the score calls for, and how to get there.

Stages only move forward (HubSpot ignores a backward set unless the field is cleared first). With
`allow_demotion` on, a falling score may move a stage that syncd manages (those with a threshold) back,
as two writes: clear, then set. Stages beyond the managed ones (opportunity, customer...) belong to
sales and are never touched, and neither is a stage missing from the stage order (a custom stage syncd
cannot place).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from syncd.domain.models import LifecyclePlan

if TYPE_CHECKING:
    from syncd.rules import Rules


def by_score(rules: Rules, score: int, stage_order: Sequence[str] | None = None) -> str | None:
    """Return the latest managed stage whose threshold `score` reaches, or None below them all."""
    order = tuple(stage_order or rules.lifecycle.stage_order)
    reached = None
    for stage in _managed(rules, order):
        if score >= rules.lifecycle.thresholds[stage]:
            reached = stage
    return reached


def target(rules: Rules, score: int, current_stage: str | None, stage_order: Sequence[str] | None = None) -> str | None:
    """Return the stage the contact should have given `score` and its `current_stage`.

    Without demotion this is never earlier than the current stage. Returns None only when the contact
    has no stage and the score reaches no threshold.
    """
    order = tuple(stage_order or rules.lifecycle.stage_order)
    current = (current_stage or "").strip() or None
    wanted = by_score(rules, score, order)
    if current is None:
        return wanted
    if current not in order:
        return current
    managed = _managed(rules, order)
    if rules.lifecycle.allow_demotion and current in managed:
        return wanted or (managed[0] if managed else current)
    if wanted is None or order.index(wanted) <= order.index(current):
        return current
    return wanted


def plan(
    current_stage: str | None, target_stage: str | None, rules: Rules, stage_order: Sequence[str] | None = None
) -> LifecyclePlan:
    """Return the writes that move `lifecyclestage` from `current_stage` to `target_stage`.

    Forward: one step (the target). Backward: ("", target) with demotion=True when the rules allow
    demotion of that managed stage, otherwise no step and the refusal in `reason`. Nothing to do, an
    unknown target or an unplaceable current stage: no step, with the reason.
    """
    order = tuple(stage_order or rules.lifecycle.stage_order)
    current = (current_stage or "").strip() or None
    wanted = (target_stage or "").strip() or None

    def result(steps: tuple[str, ...], reason: str, demotion: bool = False) -> LifecyclePlan:
        return LifecyclePlan(steps=steps, demotion=demotion, reason=reason, current=current, target=wanted)

    if wanted is None or wanted == current:
        return result((), f"no change: stage stays {current or 'unset'}")
    if wanted not in order:
        return result((), f"refused: unknown stage '{wanted}'")
    if current is None:
        return result((wanted,), f"set {wanted} (no stage yet)")
    if current not in order:
        return result((), f"refused: current stage '{current}' is not in the stage order; left alone")
    if order.index(wanted) > order.index(current):
        return result((wanted,), f"forward from {current} to {wanted}")
    managed = _managed(rules, order)
    if rules.lifecycle.allow_demotion and current in managed and wanted in managed:
        return result(
            ("", wanted), f"demotion from {current} to {wanted} (allow_demotion is on): clear, then set", demotion=True
        )
    return result((), f"refused: {wanted} is before {current} and stages only move forward")


def _managed(rules: Rules, order: Sequence[str]) -> tuple[str, ...]:
    return tuple(s for s in order if s in rules.lifecycle.thresholds)
