"""The `syncd` command. Every subcommand exits 0 on success, non-zero with a one-line reason on failure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


class CommandError(Exception):
    """A failure explained in one line to the user (exit 1)."""


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import SandboxServer
    from sandbox.world import SandboxConfig

    options: dict[str, Any] = dict(
        contacts=args.contacts,
        seed=args.seed,
        hubspot_burst=args.hubspot_tier,
        rate_scale=args.rate_scale,
        fault_rate=args.faults,
        latency_ms=args.latency_ms,
        start_ms=args.start_ms,
        history_days=args.history_days,
    )
    kinds = tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()) if args.fault_kinds else None
    if kinds:
        options["fault_kinds"] = kinds
    try:
        cfg = SandboxConfig(**options)
        server = SandboxServer(cfg, host=args.host, port=args.port)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    for name, value in server.env.items():
        print(f"export {name}={value}")
    sys.stdout.flush()
    server.serve_forever()
    return 0


_SELECTED: dict[str, str | None] = {"workspace": None}  # --workspace, set by main


def _all_settings():
    """The settings of every workspace (one, "default", without a `workspaces` list), or the one picked
    with --workspace."""
    from syncd.settings import SettingsError, load_workspaces

    try:
        spaces = load_workspaces()
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    chosen = _SELECTED["workspace"]
    if chosen is None:
        return spaces
    picked = [s for s in spaces if s.workspace == chosen]
    if not picked:
        raise CommandError(f"no workspace {chosen!r}; this deployment serves: {', '.join(s.workspace for s in spaces)}")
    return picked


def _settings():
    """The settings of the one workspace a command works on."""
    spaces = _all_settings()
    if len(spaces) > 1:
        names = ", ".join(s.workspace for s in spaces)
        raise CommandError(f"this deployment serves several workspaces ({names}): pick one with --workspace NAME")
    return spaces[0]


def _config(settings):
    from syncd.app import load_config
    from syncd.mappings import MappingsError
    from syncd.rules import RulesError

    try:
        return load_config(settings)
    except (RulesError, MappingsError) as exc:
        raise CommandError(str(exc)) from None


def _context(settings=None):
    from syncd.app import build_context
    from syncd.settings import SettingsError

    settings = settings or _settings()
    try:
        settings.require_credentials()
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    return build_context(settings, config=_config(settings))


def _print_summary(summary: dict) -> None:
    print(f"cycle {'ok' if summary['ok'] else 'FAILED'} in {summary['seconds']} s")
    for name, s in summary["streams"].items():
        print(f"  pulled {s['records_pulled']:>7} {name}")
    print(f"  merged {summary['events_merged']:>7} events; scored {summary['identities_scored']} leads")
    for kind, n in summary["commands"]["pushed"].items():
        print(f"  pushed {n:>7} {kind}")
    for kind, n in summary["commands"]["failed"].items():
        print(f"  failed {n:>7} {kind}")
    print(
        f"  API calls {sum(summary['api_calls'].values())}, 429s {summary['http_429_seen']}, "
        f"quarantined {summary['quarantined']}"
    )
    for stage, reason in (summary.get("stage_errors") or {}).items():
        print(f"  FAILED {stage}: {reason}")


def _cmd_once(args: argparse.Namespace) -> int:
    """One cycle of each workspace (or of the one --workspace names), in turn. On a terminal each stream's
    pull shows a progress bar (stderr); otherwise progress is logged every --progress-interval seconds.
    The counts are followed by what changed: who went hot, the tasks created, the problems."""
    import json

    from syncd import progress, report
    from syncd.logs import configure_logging
    from syncd.pipeline import run_cycle

    if args.progress_interval is not None and args.progress_interval <= 0:
        raise CommandError(f"--progress-interval must be above 0 seconds, not {args.progress_interval:g}")
    spaces = _all_settings()
    ok = True
    for settings in spaces:
        ctx = _context(settings)
        bars = sys.stderr.isatty()
        reporter: progress.Reporter
        if bars:
            reporter = progress.RichReporter()
            # log lines go through the bars' stderr while they are shown, above them
            configure_logging(settings.log_format, settings.log_level, settings.secrets(), stream=progress.STDERR)
        else:
            reporter = progress.LogReporter(interval_s=args.progress_interval or settings.config.progress_interval_s)
        store_from = ctx.store.clock()
        try:
            with progress.showing(reporter), progress.reporting(reporter):
                summary = run_cycle(ctx)
        finally:
            if bars:
                configure_logging(settings.log_format, settings.log_level, settings.secrets())
        window = report.window_of(ctx.store, ctx.run_id, store_from, ctx.store.clock())
        changes = report.cycle_report(ctx.store, ctx.rules, window, summary.get("stage_errors"))
        if len(spaces) > 1:
            summary["workspace"] = settings.workspace
        if args.json:
            print(json.dumps({**summary, "report": changes}, sort_keys=True))
        else:
            if len(spaces) > 1:
                print(f"workspace {settings.workspace}:")
            _print_summary(summary)
            print(report.render(changes))
        if not summary["ok"]:
            ok = False
            where = f"{settings.workspace}: " if len(spaces) > 1 else ""
            for stage, reason in (summary.get("stage_errors") or {}).items():
                print(f"syncd once: {where}{stage}: {reason}", file=sys.stderr)
    return 0 if ok else 1


def _cmd_run(args: argparse.Namespace) -> int:
    """The daemon, for every workspace. Bad settings or rule files stop it at once (exit 1); a bad
    environment (database or vendor unreachable, credentials refused) does not: it serves /healthz,
    reports the problem in /readyz and on the status page, and retries with backoff."""
    from syncd.app import build_context
    from syncd.logs import configure_logging
    from syncd.scheduler import Daemon
    from syncd.settings import SettingsError

    spaces = _all_settings()
    problems = []
    for settings in spaces:
        try:
            settings.require_credentials()
        except SettingsError as exc:
            problems.append(str(exc))
    if problems:
        raise CommandError("; ".join(problems))
    from syncd.configfiles import StartupRefused, startup

    try:
        # broken files with a last good version stored: that one runs, and the error is shown everywhere
        started = [startup(settings) for settings in spaces]
    except StartupRefused as exc:
        raise CommandError(str(exc)) from None
    first = spaces[0]
    configure_logging(first.log_format, first.log_level, [secret for s in spaces for secret in s.secrets()])
    daemon = Daemon(
        spaces,
        [config for config, _, _ in started],
        connect=lambda settings, config: build_context(settings, config=config),
        files=[files for _, files, _ in started],
        refused=[error for _, _, error in started],
    )
    if first.http_port:
        from syncd.web.server import start_web

        start_web(daemon, first.http_port, first.http_host)
    return daemon.serve()


def _cmd_demo(args: argparse.Namespace) -> int:
    from syncd.demo import run_demo

    return run_demo(
        contacts=args.contacts, weeks=args.weeks, seed=args.seed, json_out=args.json, history_days=args.history_days
    )


def _cmd_explain(args: argparse.Namespace) -> int:
    import json

    from syncd.explain import explain

    settings = _settings()
    try:
        result = explain(settings, args.email)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps(result["json"], indent=2, sort_keys=True) if args.json else result["table"])
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    """What the next cycle would change: a summary, then --sample N contacts' diffs; --json for all of it."""
    import json

    from syncd.plan import plan, render, summarize

    ctx = _context()
    result = summarize(plan(ctx, pull_first=not args.no_pull))
    if args.json:
        print(json.dumps(result, sort_keys=True, default=str))
    else:
        for line in render(result, args.sample):
            print(line)
    return 0


def _cmd_mappings_check(args: argparse.Namespace) -> int:
    """Every problem of the mappings file as file:line:column: message, then a count line; exit 1 on any
    error. Against the live schemas (credentials needed), or --offline against HubSpot's standard contact
    properties; --fix creates the missing merge fields and properties, then checks again."""
    import json

    from syncd import mapcheck

    if args.fix and args.offline:
        raise CommandError("--fix creates through the live APIs: leave out --offline")
    settings = _settings()
    path = args.file or settings.config.paths.mappings
    connectors = None
    if args.offline:
        schemas = mapcheck.offline_schemas()
    else:
        from connectors.errors import CallStats
        from syncd.app import build_connectors
        from syncd.settings import SettingsError

        try:
            settings.require_credentials()
        except SettingsError as exc:
            raise CommandError(f"{exc} (or check the names offline: syncd mappings check --offline)") from None
        connectors = build_connectors(settings, CallStats())
        schemas = mapcheck.live_schemas(*connectors)
    report = mapcheck.check_file(path, schemas)
    if args.fix and connectors is not None and report.creations:
        print("will create:")
        for creation in report.creations:
            print(f"  {creation.describe()}")
        created = mapcheck.fix(report, *connectors)
        for what in created:
            print(f"created {what}")
        report = mapcheck.check_file(path, mapcheck.live_schemas(*connectors))
    if args.json:
        print(json.dumps(report.as_json(), sort_keys=True))
    else:
        for line in report.lines():
            print(line)
    if report.errors:
        raise CommandError(report.count_line())
    return 0


def _cmd_quarantine_list(args: argparse.Namespace) -> int:
    """id, when, kind (push, pull, mapping), record, field, value (truncated), reason; oldest first."""
    import json

    from syncd.quarantine import describe, table
    from syncd.store.db import open_store

    settings = _settings()
    store = open_store(settings.database_url, schema=settings.database_schema)
    try:
        rows = [describe(r) for r in store.quarantined(limit=args.limit)]
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, sort_keys=True, default=str))
    else:
        for line in table(rows):
            print(line)
    return 0


def _cmd_quarantine_retry(args: argparse.Namespace) -> int:
    """Push-side rows requeue their commands, pull-side contacts and members are read again and ingested,
    mapping rows make their lead be decided again; one line per row; exit 1 when one could not be retried."""
    from syncd.quarantine import retry

    if (args.id is None) == (not args.all):
        raise CommandError("name one quarantine row (syncd quarantine retry ID) or every row (--all)")
    ctx = _context()
    try:
        done = retry(ctx, None if args.all else args.id)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
    if not done:
        print("the quarantine is empty")
    for r in done:
        print(f"{r.id:>6}  {r.kind:<7}  {r.record}: {r.outcome}")
    bad = [r for r in done if not r.ok]
    if bad:
        raise CommandError(f"{len(bad)} of {len(done)} row(s) not retried or still bad")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    """Read-only: every check on one line (ok / FAIL with a fix / skip / note); exit 1 when one fails."""
    import json

    from syncd.check import failed, render, report, run_checks

    spaces = _all_settings()  # every workspace, or the one --workspace names
    bad_anywhere = False
    for settings in spaces:
        checks = run_checks(settings)
        where = f"workspace {settings.workspace}: " if len(spaces) > 1 else ""
        if args.json:
            print(json.dumps(report(checks) | ({"workspace": settings.workspace} if where else {}), sort_keys=True))
        else:
            print(f"{where}\n{render(checks)}" if where else render(checks))
        bad = failed(checks)
        if bad:
            bad_anywhere = True
            names = ", ".join(c.name for c in bad)
            print(f"syncd check: {where}{len(bad)} check(s) failed: {names}", file=sys.stderr)
    return 1 if bad_anywhere else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syncd", description=__doc__)
    p.add_argument(
        "--workspace",
        metavar="NAME",
        help="with several workspaces in config/syncd.yaml: the one to work on (once and run: all by default)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ck = sub.add_parser(
        "check",
        help="check credentials, scopes, audience and schemas against HubSpot and Mailchimp, writing nothing"
        " (every workspace, or --workspace)",
    )
    ck.add_argument("--json", action="store_true", help="print one JSON object: ok and every check")
    ck.set_defaults(func=_cmd_check)

    sb = sub.add_parser("sandbox", help="serve a local HubSpot + Mailchimp with a simulated population")
    sb.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 picks a free one)")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--contacts", type=int, default=1000, help="size of the simulated population")
    sb.add_argument("--seed", type=int, default=1, help="population and fault seed (reproducible)")
    sb.add_argument("--rate-scale", type=float, default=1.0, help="multiply every rate limit by X")
    sb.add_argument(
        "--hubspot-tier", type=int, default=190, choices=(100, 190, 250), help="HubSpot requests per rolling 10 s"
    )
    sb.add_argument("--faults", type=float, default=0.0, help="fraction of API requests that get a fault")
    sb.add_argument("--fault-kinds", default="", help="comma list of 429,500,502,503,slow,drop (default all)")
    sb.add_argument("--latency-ms", type=float, default=0.0, help="added to every API answer")
    sb.add_argument("--start-ms", type=int, default=None, help="simulated start, epoch ms (default now)")
    sb.add_argument(
        "--history-days",
        type=float,
        default=90.0,
        help="days of past campaigns and engagement before the start (0: an empty start)",
    )
    sb.set_defaults(func=_cmd_sandbox)

    o = sub.add_parser("once", help="run one full cycle (pull, merge, score, decide, push)")
    o.add_argument("--json", action="store_true", help="print one JSON summary object (with a `report` of changes)")
    o.add_argument(
        "--progress-interval",
        type=float,
        default=None,
        metavar="S",
        help="without a terminal: log each long pull's progress every S seconds (default: progress_interval_s"
        " in config/syncd.yaml, 5)",
    )
    o.set_defaults(func=_cmd_once)

    r = sub.add_parser("run", help="run the daemon (health, metrics and status on SYNCD_HTTP_PORT)")
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser("demo", help="start a sandbox and run syncd through simulated weeks; no credentials")
    d.add_argument("--contacts", type=int, default=400)
    d.add_argument("--weeks", type=int, default=6)
    d.add_argument("--seed", type=int, default=42)
    d.add_argument(
        "--history-days",
        type=int,
        default=90,
        help="days of past campaigns and engagement the sandbox starts with (a real account's past)",
    )
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.set_defaults(func=_cmd_demo)

    e = sub.add_parser("explain", help="a lead's score and its ledger, rule by rule")
    e.add_argument("email")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_cmd_explain)

    pl = sub.add_parser("plan", help="what the next cycle would change, writing nothing")
    pl.add_argument(
        "--json", action="store_true", help="print one JSON object: summary, records (per-contact diffs), commands"
    )
    pl.add_argument("--no-pull", action="store_true", help="decide from the stored snapshot only")
    pl.add_argument(
        "--sample", type=int, default=0, metavar="N", help="after the summary, N contacts' diffs (before -> after)"
    )
    pl.set_defaults(func=_cmd_plan)

    m = sub.add_parser("mappings", help="field mappings")
    msub = m.add_subparsers(dest="mappings_command", required=True, metavar="SUBCOMMAND")
    mc = msub.add_parser(
        "check",
        help="every problem of the mappings file (file:line:column), against the live HubSpot properties and"
        " Mailchimp merge fields",
    )
    mc.add_argument("--file", help="mappings file (default: from config)")
    mc.add_argument(
        "--offline",
        action="store_true",
        help="no API calls: check names against HubSpot's standard contact properties (custom ones are listed)",
    )
    mc.add_argument(
        "--fix", action="store_true", help="create the missing merge fields (with choices) and HubSpot properties"
    )
    mc.add_argument("--json", action="store_true", help="print one JSON object: ok, problems, not_checked")
    mc.set_defaults(func=_cmd_mappings_check)
    q = sub.add_parser("quarantine", help="records and commands set aside with a reason, and retrying them")
    qsub = q.add_subparsers(dest="quarantine_command", required=True, metavar="SUBCOMMAND")
    ql = qsub.add_parser("list", help="id, when, kind, record, field, value (truncated) and reason of each row")
    ql.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    ql.add_argument("--limit", type=int, default=None, metavar="N", help="the N oldest rows only")
    ql.set_defaults(func=_cmd_quarantine_list)
    qr = qsub.add_parser(
        "retry",
        help="push-side rows: queue their commands again; pull-side rows: read the record again and store it",
    )
    qr.add_argument("id", nargs="?", type=int, help="the row to retry (from syncd quarantine list)")
    qr.add_argument("--all", action="store_true", help="retry every row")
    qr.set_defaults(func=_cmd_quarantine_retry)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import os

    from contracts.errors import ConnectorError
    from syncd.clock import ClockError
    from syncd.failures import explain
    from syncd.mappings import MappingsError
    from syncd.rules import RulesError
    from syncd.settings import SettingsError
    from syncd.store.db import StoreError

    args = build_parser().parse_args(argv)
    _SELECTED["workspace"] = args.workspace
    try:
        return int(args.func(args) or 0)
    except (CommandError, RulesError, MappingsError, SettingsError) as exc:
        print(f"syncd {args.command}: {exc}", file=sys.stderr)
        return 1
    except (ConnectorError, StoreError, ClockError) as exc:
        print(f"syncd {args.command}: {explain(exc, _settings_or_none())}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`syncd explain x | head`): no traceback, and no second error on exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"syncd {args.command}: output closed by the reader (broken pipe)", file=sys.stderr)
        return 141
    except KeyboardInterrupt:
        return 130


def _settings_or_none():
    try:
        from syncd.settings import load_settings

        return load_settings()
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
