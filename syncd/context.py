"""What every stage of a cycle needs, built once by the composition root (syncd/app.py)."""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Callable

import structlog


@dataclass
class Context:
    settings: Any
    store: Any                      # syncd.store.db.Store
    hubspot: Any                    # connectors.hubspot.source/sink HubSpotConnector
    mailchimp: Any                  # connectors.mailchimp MailchimpConnector
    rules: Any                      # syncd.rules.Rules
    mappings: Any                   # syncd.mappings.Mappings
    clock: Callable[[], int]        # epoch ms; the services' clock (see syncd/app.py)
    calls: Any                      # connectors' CallStats
    counters: collections.Counter = field(default_factory=collections.Counter)
    run_id: int | None = None
    log: Any = field(default_factory=lambda: structlog.get_logger("syncd"))
    stage_order: tuple[str, ...] = ()
    should_stop: Callable[[], bool] = lambda: False   # set on SIGTERM: loops stop at their next page

    def tick(self) -> None:
        """A new tick begins (a cycle, a daemon job): a clock that follows a sandbox reads its time again."""
        tick = getattr(self.clock, "tick", None)
        if tick is not None:
            tick()

    def count(self, name: str, n: int = 1) -> None:
        if n:
            self.counters[name] += n
