"""The sandbox's whole state: clock, population, the two services' stores, limits, faults, stats."""

from __future__ import annotations

import collections
import hashlib
import numbers
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sandbox.clock import SimClock
from sandbox.faults import KINDS, FaultInjector
from sandbox.limits import HubSpotLimiter, InFlightLimiter, RequestGate
from sandbox.population import Population
from sandbox.timefmt import parse_ts_ms

EVENT_ACTIONS = ("open", "click", "bounce", "unsubscribe", "form_submission", "email_optout")
HUBSPOT_ACTIONS = ("form_submission", "email_optout")  # events of a HubSpot contact, not a Mailchimp member


@dataclass(frozen=True)
class SandboxConfig:
    contacts: int = 1000
    seed: int = 1
    start_ms: int | None = None  # simulated start; None = now
    hubspot_burst: int = 190  # requests per rolling 10 s: 100, 190 or 250
    rate_scale: float = 1.0  # multiplies every limit
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = KINDS
    latency_ms: float = 0.0  # added to every API answer, emulating the network round trip
    batch_op_ms: float = 0.0  # wall-clock ms each batch operation takes (0: as fast as it runs)
    journal: bool = False  # record every Mailchimp write (world.journal, GET /_sandbox/journal)
    hubspot_token: str = "pat-sandbox-0000-0000-0000-000000000000"
    hubspot_scopes: tuple[str, ...] | None = None  # the default token's scopes; None = every scope
    mailchimp_key: str = "0123456789abcdef0123456789abcdef-us1"
    list_id: str = ""  # derived from the seed when empty
    history_days: float = 0  # simulated past before "now": campaigns and what they caused

    def __post_init__(self) -> None:
        """Raises ValueError naming the first setting that cannot work."""

        def number(value: Any) -> bool:
            return isinstance(value, numbers.Real) and not isinstance(value, bool)

        if not isinstance(self.contacts, numbers.Integral) or isinstance(self.contacts, bool) or self.contacts < 0:
            raise ValueError(f"contacts must be a whole number >= 0, got {self.contacts!r}")
        if not number(self.hubspot_burst) or self.hubspot_burst < 1:
            raise ValueError(f"hubspot_burst must be >= 1 request per 10 s, got {self.hubspot_burst!r}")
        if not number(self.rate_scale) or not self.rate_scale > 0:
            raise ValueError(f"rate_scale must be > 0, got {self.rate_scale!r}")
        if not number(self.batch_op_ms) or self.batch_op_ms < 0:
            raise ValueError(f"batch_op_ms must be >= 0, got {self.batch_op_ms!r}")
        if not number(self.latency_ms) or self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms!r}")
        if not number(self.history_days) or not 0 <= self.history_days <= 3650:
            raise ValueError(f"history_days must be a number of days between 0 and 3650, got {self.history_days!r}")
        FaultInjector(self.fault_rate, self.fault_kinds)  # raises ValueError on a bad rate or kind
        if self.hubspot_scopes is not None:
            from sandbox.hubspot.auth import check_scopes

            check_scopes(self.hubspot_scopes)  # raises ValueError naming an unknown scope

    def with_list_id(self) -> SandboxConfig:
        if self.list_id:
            return self
        return replace(self, list_id=hashlib.md5(f"list-{self.seed}".encode()).hexdigest()[:10])


class Stats:
    """Requests per method and path template, responses per status, 429s served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()
        self.responses: collections.Counter[str] = collections.Counter()
        self.rate_limited = {"hubspot": 0, "mailchimp": 0}
        self.served_429 = 0

    def count(self, method: str, template: str) -> None:
        with self._lock:
            self.requests[f"{method} {template}"] += 1

    def answered(self, status: int) -> None:
        with self._lock:
            self.responses[str(status)] += 1
            if status == 429:
                self.served_429 += 1

    def snapshot(self, faults: FaultInjector) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.requests.values()),
                "requests": dict(sorted(self.requests.items())),
                "responses": dict(sorted(self.responses.items())),
                "rate_limited": dict(self.rate_limited),
                "served_429": self.served_429,
                "faults": dict(faults.served),
            }


class World:
    """Test hooks, kept across reset() (docs/sandbox.md):

    - `limits_clock`: the monotonic clock (seconds) of every rate-limit window and of the figures derived
      from them; time.monotonic unless given. reset() builds the limiters on it (set it before a reset),
      so a test moves the limits' time by moving its clock, never by sleeping.
    - `mailchimp_gate`: a RequestGate, or None (the default, which costs nothing). When set, every
      Mailchimp API request the connection limit admits waits at the gate, keeping its slot, until released.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        limits_clock: Callable[[], float] | None = None,
        mailchimp_gate: RequestGate | None = None,
    ) -> None:
        self.config = (config or SandboxConfig()).with_list_id()
        self.limits_clock: Callable[[], float] = limits_clock or time.monotonic
        self.mailchimp_gate = mailchimp_gate
        self.faults = FaultInjector(self.config.fault_rate, self.config.fault_kinds, seed=self.config.seed)
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Rebuild the population and both services from the configuration; clear limits and stats."""
        from sandbox.hubspot.store import HubSpotStore
        from sandbox.mailchimp.journal import Journal
        from sandbox.mailchimp.store import MailchimpStore
        from sandbox.simulation import Simulator

        c = self.config
        self.clock = SimClock(c.start_ms)
        self.population = Population(c.contacts, c.seed, self.clock.start_ms)
        self.hubspot = HubSpotStore(self)
        self.mailchimp = MailchimpStore(self)
        self.simulator = Simulator(self)
        # the past a real account brings: the clock's own model run over the days before "now"
        self.history = self.simulator.history(self.clock.start_ms, c.history_days) if c.history_days else {}
        self.hubspot_limiter = HubSpotLimiter(c.hubspot_burst, c.rate_scale, now=self.limits_clock)
        self.mailchimp_in_flight = InFlightLimiter(scale=c.rate_scale)
        self.faults.configure(c.fault_rate, c.fault_kinds, seed=c.seed)
        self.faults.clear_counts()
        self.stats = Stats()
        self.journal = Journal() if c.journal else None

    @property
    def list_id(self) -> str:
        return self.config.list_id

    # -- control ------------------------------------------------------------------------------
    def advance_days(self, days: float) -> dict[str, Any]:
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days < 0 or days > 3650:
            raise ValueError("advance_days must be a number of days between 0 and 3650")
        start, end = self.clock.advance_days(days)
        generated = self.simulator.advance(start, end)
        return {"from_ms": start, "to_ms": end, "generated": generated}

    def inject_events(self, items: Any) -> dict[str, Any]:
        """Validate every item first (ValueError naming the index), then apply them all.

        Nothing is applied when any item is invalid, names an unknown address or campaign, or has a bad
        field, so a client can fix its list and send it again without doubling the good events.
        """
        if not isinstance(items, list):
            raise ValueError("body must be a JSON list of events")
        parsed = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValueError(f"event {i}: must be an object")
            email, action = item.get("email"), item.get("action")
            if not isinstance(email, str) or "@" not in email:
                raise ValueError(f"event {i}: 'email' must be an email address")
            if action not in EVENT_ACTIONS:
                raise ValueError(f"event {i}: 'action' must be one of {list(EVENT_ACTIONS)}")
            for name in ("url", "campaign_id", "form"):
                if item.get(name) is not None and not isinstance(item[name], str):
                    raise ValueError(f"event {i}: '{name}' must be a string")
            if item.get("type", "hard") not in ("hard", "soft"):
                raise ValueError(f"event {i}: 'type' (of a bounce) must be 'hard' or 'soft'")
            ts = item.get("timestamp")
            try:
                if isinstance(ts, bool):
                    raise TypeError("a boolean is not a time")
                ts_ms = self.clock.now_ms() if ts is None else parse_ts_ms(ts)
            except (TypeError, ValueError, OverflowError):
                raise ValueError(f"event {i}: 'timestamp' must be ISO 8601 or epoch ms") from None
            if action in HUBSPOT_ACTIONS:
                if self.hubspot.contacts.id_of_email(email) is None:
                    raise ValueError(f"event {i}: no contact with email {email!r}")
            else:
                if self.mailchimp.find(email) is None:
                    raise ValueError(f"event {i}: no member with email {email!r}")
                campaign_id = item.get("campaign_id")
                if campaign_id is not None:
                    try:
                        self.mailchimp.campaign(campaign_id)
                    except KeyError:
                        raise ValueError(f"event {i}: no campaign with id {campaign_id!r}") from None
            parsed.append((email, action, item.get("url"), item.get("campaign_id"), ts_ms, item))
        for email, action, url, campaign_id, ts_ms, item in parsed:
            if action == "form_submission":
                self.hubspot.record_conversion(email, item.get("form") or "Contact us", ts_ms)
            elif action == "email_optout":  # hs_email_optout is read-only through the CRM API
                self.hubspot.record_email_optout(email, ts_ms)
            else:
                self.mailchimp.inject_event(
                    email, action, url=url, campaign_id=campaign_id, ts_ms=ts_ms, bounce_type=item.get("type", "hard")
                )
        return {"applied": len(parsed)}

    def state(self) -> dict[str, Any]:
        # exactly the two services (the simulated time is GET /_sandbox/clock)
        return {
            "hubspot": self.hubspot.state(),
            "mailchimp": {"list_id": self.list_id, **self.mailchimp.state()},
        }

    def env(self, base_url: str) -> dict[str, str]:
        """The environment that points syncd at this sandbox."""
        return {
            "HUBSPOT_BASE_URL": base_url,
            "HUBSPOT_ACCESS_TOKEN": self.config.hubspot_token,
            "MAILCHIMP_BASE_URL": f"{base_url}/3.0",
            "MAILCHIMP_API_KEY": self.config.mailchimp_key,
            "MAILCHIMP_LIST_ID": self.list_id,
            "SYNCD_CLOCK_URL": f"{base_url}/_sandbox/clock",
        }
