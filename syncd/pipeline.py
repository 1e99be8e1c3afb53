"""One cycle: setup (first run), pull, merge, score, decide, push; and its one-object summary."""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from contracts.errors import ConnectorError
from contracts.threads import ContextPool
from syncd import decide, push, streams
from syncd.context import Context
from syncd.failures import explain
from syncd.owned import CONTACT_PROPERTIES, GROUP


def setup(ctx: Context) -> None:
    """Create syncd's property group and properties (with those the mappings add), and mapped merge fields
    (radio and dropdown ones with their choices), when they are missing (once per definition change);
    learn the portal's lifecycle stage order and the definitions the field conversions read."""
    from syncd.owned import mapped_properties, schemas_json

    extra = mapped_properties(ctx.mappings)
    merge_fields = ctx.mappings.merge_field_defs()
    defs = {
        "group": GROUP,
        "properties": CONTACT_PROPERTIES + extra,
        "merge_fields": merge_fields,
        "fields": repr(ctx.mappings.fields),
    }
    digest = hashlib.sha1(json.dumps(defs, sort_keys=True).encode()).hexdigest()
    with ctx.store.begin() as conn:
        done = ctx.store.get_cursor(conn, "setup") or {}
    if done.get("digest") != digest:
        props = ctx.hubspot.get_properties("contacts")
        ctx.hubspot.ensure_property_group("contacts", GROUP["name"], GROUP["label"])
        ctx.hubspot.ensure_properties("contacts", CONTACT_PROPERTIES + extra)
        known = props + [d for d in CONTACT_PROPERTIES + extra if d["name"] not in {p.get("name") for p in props}]
        # radio/dropdown choices come from the HubSpot options: never created with `choices: []`
        merge_fields = ctx.mappings.merge_field_defs(decide.field_schemas(schemas_json(ctx.mappings, known, [])))
        if merge_fields:
            ctx.mailchimp.ensure_merge_fields(merge_fields)
        live = ctx.mailchimp.get_merge_fields() if ctx.mappings.fields else []
        stages = _stage_order(ctx, props)
        done = {"digest": digest, "stages": stages, "fields": schemas_json(ctx.mappings, known, live)}
        with ctx.store.begin() as conn:
            ctx.store.set_cursor(conn, "setup", done)
        ctx.log.info("setup.done", properties=len(CONTACT_PROPERTIES) + len(extra), merge_fields=len(merge_fields))
    ctx.stage_order = tuple(done.get("stages") or decide.DEFAULT_STAGES)


def _stage_order(ctx: Context, props: list[dict[str, Any]]) -> list[str]:
    """Lifecycle stages are customisable per portal: read their order from the property's options."""
    for p in props:
        if p.get("name") == "lifecyclestage" and p.get("options"):
            opts = sorted(p["options"], key=lambda o: o.get("displayOrder", 0))
            return [o["value"] for o in opts]
    return list(decide.DEFAULT_STAGES)


def pull_side_by_side(
    ctx: Context, timed: Callable[[str, Callable[[], Any]], None], should_stop: Callable[[], bool]
) -> None:
    """Every stream once, each system's streams in registry order in a thread of their own: HubSpot's and
    Mailchimp's limits are independent, so the pull costs the slower system's time, not the sum (the
    streams of one system share its budget and keep their order: owners before contacts, campaigns
    before their activity)."""
    systems: dict[str, list[streams.Stream]] = {}
    for stream in streams.REGISTRY:
        systems.setdefault(stream.system, []).append(stream)

    def run_system(group: list[streams.Stream]) -> None:
        for stream in group:
            if should_stop():
                return
            timed(stream.name, functools.partial(streams.run, ctx, stream))

    if len(systems) <= 1:
        for group in systems.values():
            run_system(group)
        return
    with ContextPool(max_workers=len(systems), thread_name_prefix="pull") as pool:
        for future in [pool.submit(run_system, group) for group in systems.values()]:
            future.result()  # a stream's ConnectorError is recorded by `timed`; anything else is raised here


def run_cycle(ctx: Context, should_stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Run every stage once and return the summary that `syncd once --json` prints."""
    started = time.monotonic()
    calls_before = ctx.calls.snapshot()
    ctx.counters.clear()
    ctx.tick()
    ctx.run_id = ctx.store.start_run(ctx.clock())
    ok, error = True, None
    stage_seconds: dict[str, float] = {}
    stage_errors: dict[str, str] = {}

    def timed(name: str, fn: Callable[[], Any], isolated: bool = True) -> None:
        """Run one stage; a stream's failure is recorded and the other streams still run."""
        t0 = time.monotonic()
        try:
            fn()
        except ConnectorError as exc:
            if not isolated:
                raise
            stage_errors[name] = explain(exc, ctx.settings)
            ctx.log.error("stage.failed", stage=name, error=stage_errors[name])
        finally:
            stage_seconds[name] = round(time.monotonic() - t0, 3)

    try:
        timed("setup", lambda: setup(ctx), isolated=False)  # nothing can be written safely without it
        pull_side_by_side(ctx, timed, should_stop)
        if not should_stop():
            timed("score_and_decide", lambda: decide.score_and_decide(ctx))
        timed(
            "push",
            lambda: push.push_side_by_side(
                ctx,
                should_stop=lambda: False,  # on SIGTERM the outbox still drains
                errors=stage_errors,
            ),
        )
    except Exception as exc:
        ok, error = False, explain(exc, ctx.settings)
        raise
    finally:
        ok = ok and not stage_errors
        summary = summarize(ctx, time.monotonic() - started, ok, error, calls_before)
        summary["stage_seconds"] = stage_seconds
        if stage_errors:
            summary["stage_errors"] = stage_errors
        ctx.store.finish_run(ctx.run_id, ctx.clock(), ok, summary)
    return summary


def _since(before: dict, after: dict) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


def summarize(
    ctx: Context, seconds: float, ok: bool = True, error: str | None = None, calls_before: dict | None = None
) -> dict[str, Any]:
    """This cycle's figures (API counters are cumulative in the connectors: the difference is taken)."""
    c = ctx.counters
    by_prefix = lambda p: {k[len(p) :]: v for k, v in sorted(c.items()) if k.startswith(p)}
    now, before = ctx.calls.snapshot(), calls_before or {}
    calls = {k: _since(before.get(k, {}), now.get(k, {})) for k in ("calls", "errors", "retries", "rate_limited")}
    out: dict[str, Any] = {
        "ok": ok,
        "streams": {name: {"records_pulled": c.get(f"pulled.{name}", 0)} for name in streams.REGISTRY.names()},
        "events_merged": c.get("merged.events", 0),
        "identities_scored": c.get("scored", 0),
        "commands": {
            "enqueued": by_prefix("enqueued."),
            "pushed": by_prefix("pushed."),
            "failed": by_prefix("failed."),
            "recovered": by_prefix("recovered."),
        },
        "api_calls": calls.get("calls", {}),
        "api_calls_total": sum(calls["calls"].values()),
        "http_429_seen": sum(calls["rate_limited"].values()),
        "http_429_by_endpoint": calls["rate_limited"],
        "retries": sum(calls["retries"].values()),
        "errors_by_endpoint": calls["errors"],
        "quarantined": c.get("quarantined", 0),
        "seconds": round(seconds, 3),
    }
    if error:
        out["error"] = error
    return out
