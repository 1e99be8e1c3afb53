"""Who gets a lead's hand-off task: its owner when HubSpot still knows them, else one of the round-robin
reps (the same lead always lands on the same rep, with no shared counter to lose in a crash), else the
fallback owner, else nobody (the task is left unassigned)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Routing:
    """From config/syncd.yaml `tasks:`: reps for leads without a (known) owner, and the fallback."""

    round_robin: tuple[str, ...] = ()
    fallback: str | None = None


def pick_owner(email: str, owner: str | None, known: Collection[str], routing: Routing) -> tuple[str | None, str]:
    """(owner id or None, how it was chosen: "owner", "round_robin", "fallback" or "unassigned").

    `known` holds the owners HubSpot lists; empty means not read yet, and then any owner is trusted."""
    if owner and (not known or owner in known):
        return owner, "owner"
    pool: Sequence[str] = [o for o in routing.round_robin if not known or o in known]
    if pool:
        return pool[int(hashlib.md5(email.encode()).hexdigest(), 16) % len(pool)], "round_robin"
    if routing.fallback:
        return routing.fallback, "fallback"
    return None, "unassigned"
