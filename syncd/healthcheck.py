"""`syncd-healthcheck`: the container's HEALTHCHECK. Exit 0 when /healthz on SYNCD_HTTP_PORT answers 200."""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("SYNCD_HTTP_PORT", "8080")
    if port == "0":
        return 0  # the HTTP side is off: nothing to probe
    host = os.environ.get("SYNCD_HTTP_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: ask over loopback
        host = "127.0.0.1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"syncd-healthcheck: {url} unreachable: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
