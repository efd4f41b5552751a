"""How `serve` starts and ends: a port already in use is a clear error at once, and a SIGTERM always ends the
process within the graceful-shutdown time (a watchdog ends it if a shutdown step hangs)."""

from __future__ import annotations

import errno
import socket
import sys
import threading
from types import FrameType

import uvicorn

from gateway.shutdown import EXIT_UNAVAILABLE, GRACEFUL_SHUTDOWN_S, SHUTDOWN_MARGIN_S, exit_after


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (bound as uvicorn binds it), or None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use (another carbon-gateway, or another server?)"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


class Server(uvicorn.Server):
    """uvicorn's server, plus a watchdog armed by the first exit signal."""

    _watchdog: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._watchdog is None:
            self._watchdog = exit_after(GRACEFUL_SHUTDOWN_S + SHUTDOWN_MARGIN_S)


def run(config: uvicorn.Config) -> int:
    """Serve until told to stop; 0, or EXIT_UNAVAILABLE when the server could not start."""
    server = Server(config)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind, after shutting the lifespan down
        print("carbon-gateway: the server could not start (see above)", file=sys.stderr, flush=True)
        return exc.code if isinstance(exc.code, int) and exc.code else EXIT_UNAVAILABLE
    if not server.started:
        print("carbon-gateway: the server could not start (see above)", file=sys.stderr, flush=True)
        return EXIT_UNAVAILABLE
    return 0
