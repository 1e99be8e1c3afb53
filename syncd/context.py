"""What every stage of a cycle needs, built once by the composition root (syncd/app.py)."""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from connectors.hubspot.sink import HubSpotConnector
    from connectors.mailchimp.sink import MailchimpConnector
    from contracts.calls import CallStats
    from syncd.domain.mapping import Mappings
    from syncd.rules import Rules
    from syncd.settings import Settings
    from syncd.store.db import Store


@dataclass
class Context:
    """Settings, the store, both connectors, the rules and mappings in force, the clock, the call figures.
    A command that needs no vendor (`syncd explain`) leaves the connectors and mappings unset."""

    settings: Settings
    store: Store
    hubspot: HubSpotConnector
    mailchimp: MailchimpConnector
    rules: Rules
    mappings: Mappings
    clock: Callable[[], int]  # epoch ms: the system clock, or a sandbox's (syncd/clock.py)
    calls: CallStats
    counters: collections.Counter[str] = field(default_factory=collections.Counter)
    run_id: int | None = None
    log: Any = field(default_factory=lambda: structlog.get_logger("syncd"))
    stage_order: tuple[str, ...] = ()
    should_stop: Callable[[], bool] = lambda: False  # set on SIGTERM: loops stop at their next page

    def tick(self) -> None:
        """A new tick begins (a cycle, a daemon job): a clock that follows a sandbox reads its time again."""
        tick = getattr(self.clock, "tick", None)
        if tick is not None:
            tick()

    def count(self, name: str, n: int = 1) -> None:
        if n:
            self.counters[name] += n
