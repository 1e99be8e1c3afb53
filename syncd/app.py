"""Composition root: settings -> store -> connectors -> context (and the daemon around it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd.clock import Clock
from syncd.context import Context


def load_config(settings: Any) -> tuple[Any, Any]:
    """The scoring rules and the mappings the settings name. Raises RulesError, MappingsError."""
    from syncd.mappings import load_mappings
    from syncd.rules import load_rules

    return load_rules(settings.config.paths.scoring), load_mappings(settings.config.paths.mappings)


def build_context(
    settings: Any, clock: Callable[[], int] | None = None, store: Any = None, config: tuple[Any, Any] | None = None
) -> Context:
    """Everything a cycle needs (`config`: rules and mappings already loaded). Raises SettingsError
    (missing credentials), RulesError, MappingsError, StoreError (database unreachable)."""
    from connectors.errors import CallStats
    from syncd.logs import configure_logging
    from syncd.store.db import open_store

    settings.require_credentials()
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    rules, mappings = config or load_config(settings)
    store = store or open_store(settings.database_url, schema=settings.database_schema)
    stats = CallStats()
    hubspot, mailchimp = build_connectors(settings, stats)
    clock = clock or Clock(settings.clock_url)
    return Context(
        settings=settings,
        store=store,
        hubspot=hubspot,
        mailchimp=mailchimp,
        rules=rules,
        mappings=mappings,
        clock=clock,
        calls=stats,
    )


def build_connectors(settings: Any, stats: Any) -> tuple[Any, Any]:
    """The HubSpot and Mailchimp connectors of `settings` (credentials present), counting calls in `stats`;
    for the commands that talk to the vendors without a store (`syncd mappings check`)."""
    from connectors.hubspot.client import make_hubspot_client
    from connectors.hubspot.sink import HubSpotConnector
    from connectors.limiter import HubSpotBudget, InFlight
    from connectors.mailchimp.client import make_mailchimp_client
    from connectors.mailchimp.sink import MailchimpConnector
    from syncd import retrying

    cfg = settings.config
    retry = retrying.retry_call  # the one retry policy, injected into both connectors
    hubspot = HubSpotConnector(
        make_hubspot_client(settings.hubspot_access_token.get_secret_value(), settings.hubspot_base_url),
        stats,
        retry=retry,
        batch_size=cfg.batch_sizes.hubspot_batch,
        budget=HubSpotBudget(
            burst=round(cfg.hubspot_tier * cfg.rate_scale), search_per_s=max(1, round(4 * cfg.rate_scale))
        ),
    )  # search: 4 requests/s
    mailchimp = MailchimpConnector(
        make_mailchimp_client(settings.mailchimp_api_key.get_secret_value(), settings.mailchimp_base_url),
        settings.mailchimp_list_id,
        stats,
        retry=retry,
        in_flight=InFlight(max(1, round(10 * cfg.rate_scale))),  # Mailchimp: 10 connections at once
        direct_max=cfg.batch_sizes.mailchimp_direct_max,
        batch_size=cfg.batch_sizes.mailchimp_batch,
    )
    return hubspot, mailchimp
