"""Run the sandbox on a loopback port, in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import threading
import time

import uvicorn

from sandbox.app import build_app
from sandbox.world import SandboxConfig, World


class _Quiet(logging.Filter):
    """A dropped connection is a fault we inject on purpose: do not log it as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "DropConnection"


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket. Raises OSError (with strerror) when the port is in use, out of range or refused."""
    if not 0 <= port <= 65535:
        raise OSError(errno.EINVAL, f"port must be within 0-65535, got {port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit it: without it each small keep-alive answer waits ~40 ms (Nagle + delayed ACK)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGTERM/SIGINT only stop it: serve_forever then returns normally.

    uvicorn records the signal and raises it again once shut down, so the process would die of SIGTERM
    (exit 143) or raise KeyboardInterrupt; `syncd sandbox` is meant to exit 0 when asked to stop.
    """

    def handle_exit(self, sig: int, frame: object) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        else:
            self.should_exit = True


class SandboxServer:
    """`with SandboxServer(SandboxConfig(contacts=100)) as sb: sb.url, sb.env, sb.world`."""

    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0, world: World | None = None
    ) -> None:
        self.host = host
        self._sock = _bind(host, port)  # first: a port in use fails before a big world is built
        try:
            self.world = world or World(config)
        except BaseException:
            self._sock.close()
            raise
        self.port = self._sock.getsockname()[1]
        logging.getLogger("uvicorn.error").addFilter(_Quiet())
        self._server = _Server(
            uvicorn.Config(
                build_app(self.world),
                log_level="warning",
                access_log=False,
                lifespan="off",
                loop="uvloop",
                http="httptools",
                timeout_keep_alive=30,
                backlog=1024,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return self.world.env(self.url)

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])), name="sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self._sock.close()

    def serve_forever(self) -> None:
        """Foreground: returns after SIGINT/SIGTERM (uvicorn installs the handlers)."""
        self._server.run(sockets=[self._sock])
        self._sock.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
