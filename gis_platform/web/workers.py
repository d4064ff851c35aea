"""Several worker processes on one port, each with its own ``SO_REUSEPORT`` listening socket.

uvicorn's ``--workers`` shares one listening socket, and whichever worker wakes first accepts every
connection waiting: a client that opens a few long-lived keep-alive connections at once (a reverse proxy's
upstream pool, a load generator) often lands 14 of 16 on one worker while the other idles. With one
socket per worker in a ``SO_REUSEPORT`` group the kernel spreads new connections over the workers by
hash. uvicorn has no option for it (its supervisor's classes are internal and change between
releases), so this module is a small supervisor of its own: it starts the workers, restarts one that
dies, stops when a worker cannot start at all, and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from typing import Any

import uvicorn

logger = logging.getLogger("uvicorn.error")

#: uvicorn's exit status of a worker that failed before serving (bad app, port taken): not retried.
STARTUP_FAILURE = 3
_POLL_S = 0.5
_STOP_S = 30.0


def reuse_port_supported() -> bool:
    """Whether this system balances ``SO_REUSEPORT`` groups (Linux does; elsewhere uvicorn's way is used)."""
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuse_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that joins the port's ``SO_REUSEPORT`` group."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` when anything holds ``host:port``, another server of ours included.

    The probe does not set ``SO_REUSEPORT``, so it fails against a running group too: two ``serve``
    commands on one port would otherwise share its connections silently.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _worker(options: dict[str, Any]) -> None:
    """One worker process: its own socket in the group, then uvicorn's server on it."""
    config = uvicorn.Config(**options)
    try:
        sock = reuse_port_socket(config.host, config.port, config.backlog)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Start ``workers`` processes serving ``options`` (``uvicorn.Config`` keywords); keep them running."""

    def __init__(self, options: dict[str, Any], workers: int) -> None:
        self.options = options
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.stopping = threading.Event()
        self.processes: list[Any] = []

    def _start(self) -> Any:
        process = self.context.Process(target=_worker, args=(self.options,), name="gis-platform-worker")
        process.start()
        return process

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM (0), or until a worker cannot start (1)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.processes = [self._start() for _ in range(self.workers)]
        logger.info("started %d workers, one listening socket each (SO_REUSEPORT)", self.workers)
        status = 0
        while not self.stopping.wait(_POLL_S):
            for i, process in enumerate(self.processes):
                if process.is_alive() or self.stopping.is_set():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    logger.error("worker %s could not start; stopping", process.pid)
                    status = 1
                    self.stopping.set()
                    break
                logger.warning("worker %s exited (%s); starting another", process.pid, process.exitcode)
                self.processes[i] = self._start()
        self.stop()
        return status

    def stop(self) -> None:
        """SIGTERM every worker (uvicorn drains its connections), then wait; kill those still running."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(_STOP_S)
            if process.is_alive():
                process.kill()
                process.join()


__all__ = ["Supervisor", "check_port_free", "reuse_port_socket", "reuse_port_supported"]
