"""The `syncd` command. Every subcommand exits 0 on success, non-zero with a one-line reason on failure."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


class CommandError(Exception):
    """A failure explained in one line to the user (exit 1)."""


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import SandboxServer
    from sandbox.world import SandboxConfig

    kinds = tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()) if args.fault_kinds else None
    cfg = SandboxConfig(contacts=args.contacts, seed=args.seed, hubspot_burst=args.hubspot_tier,
                        rate_scale=args.rate_scale, fault_rate=args.faults, latency_ms=args.latency_ms,
                        start_ms=args.start_ms, **({"fault_kinds": kinds} if kinds else {}))
    try:
        server = SandboxServer(cfg, host=args.host, port=args.port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    for name, value in server.env.items():
        print(f"export {name}={value}")
    sys.stdout.flush()
    server.serve_forever()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syncd", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sb = sub.add_parser("sandbox", help="serve a local HubSpot + Mailchimp with a simulated population")
    sb.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 picks a free one)")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--contacts", type=int, default=1000, help="size of the simulated population")
    sb.add_argument("--seed", type=int, default=1, help="population and fault seed (reproducible)")
    sb.add_argument("--rate-scale", type=float, default=1.0, help="multiply every rate limit by X")
    sb.add_argument("--hubspot-tier", type=int, default=190, choices=(100, 190, 250),
                    help="HubSpot requests per rolling 10 s")
    sb.add_argument("--faults", type=float, default=0.0, help="fraction of API requests that get a fault")
    sb.add_argument("--fault-kinds", default="", help="comma list of 429,500,502,503,slow,drop (default all)")
    sb.add_argument("--latency-ms", type=float, default=0.0, help="added to every API answer")
    sb.add_argument("--start-ms", type=int, default=None, help="simulated start, epoch ms (default now)")
    sb.set_defaults(func=_cmd_sandbox)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"syncd {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
