"""Serve the daemon's health, metrics and status page in a background thread."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

from syncd.web.app import build_web


def start_web(daemon: Any, port: int, host: str = "127.0.0.1") -> uvicorn.Server:
    """Listen on `host`:`port` (SYNCD_HTTP_HOST, SYNCD_HTTP_PORT; the image sets the host to 0.0.0.0)."""
    server = uvicorn.Server(
        uvicorn.Config(build_web(daemon), host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    )
    # run in a thread that is not the main one, uvicorn leaves the signals alone: the daemon owns SIGTERM
    threading.Thread(target=server.run, name="web", daemon=True).start()
    return server
