"""Running uvicorn for `inbox serve`: one server in this process, or (`--workers N`) N servers in
forked child processes on one listening socket, and the parent that watches them.

Owns the uvicorn configuration, the collector's tuning, forking, signals, restarts and the exit
status. The parent binds the socket (after migrations
and the first-run bootstrap, inbox/serve.py), then forks; it serves nothing and opens no database
connection after the fork. Why a fork of one bound socket rather than uvicorn's own `workers=N`:
uvicorn spawns fresh interpreters that import everything again (a second or two each, no pages
shared) and rebuild the app from an import string, so the `Settings` handed to `serve` would be
read again from the environment; a fork shares the imported code copy-on-write (frozen by `gc.freeze`
first, so the collector does not dirty those pages), and the dead-child policy below is ours.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

from inbox.config import Settings

log = logging.getLogger("inbox.serve")

# A child that dies on its own is restarted after this pause; this many deaths within the window
# stop the server with status 1, so that the service manager (systemd, Docker) sees a crash loop
# instead of a server quietly serving with fewer processes, or restarting one forever.
RESTART_PAUSE = 1.0
MAX_DEATHS, DEATH_WINDOW = 5, 60.0
# On SIGTERM/SIGINT each child drains (uvicorn's 5 s for open connections, then the runtime's stop:
# the outbox hands rows in flight back, workers cancelled within 5 s); past this it is killed.
STOP_WITHIN = 30.0
_PR_SET_PDEATHSIG = 1


def config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=settings.log_level in ("debug", "info"),
        # Browsers ask for per-message deflate by default; for our small frames it doubles memory
        # per socket and halves the delivery rate (PERFORMANCE.md), so it stays off.
        ws_per_message_deflate=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def tune_gc() -> None:
    """Everything loaded so far lives as long as the process: the cyclic collector stops scanning it,
    and collects young objects every 20,000 allocations instead of 700. Under load the default ran a
    collection every few requests (measured: 15-20% more webhooks/s with this). Pauses, measured over
    20,000-70,000 ingested webhooks: young collections up to 15 ms, no full one; with the defaults,
    full collections of the unfrozen heap took 60-75 ms every ~5,000 webhooks. Before a fork it also
    keeps the imported code's pages shared between the children (no refcount-free GC writes)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def run_server(settings: Settings, host: str, port: int, sock: socket.socket | None = None) -> bool:
    """One uvicorn server in this process (on `sock` when given, bound by the parent); False when
    the app did not start (its lifespan failed)."""
    from inbox.app import create_app

    server = uvicorn.Server(config(create_app(settings), settings, host, port))
    tune_gc()
    server.run(sockets=None if sock is None else [sock])
    return server.started


def _die_with_parent(parent: int) -> None:
    """SIGTERM this child when the parent dies (even by SIGKILL), so that no orphan keeps the port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _child(settings: Settings, host: str, port: int, sock: socket.socket, parent: int) -> None:
    # uvicorn installs its own SIGINT/SIGTERM handlers while it serves and, once it has shut down,
    # raises the signal again against the handler found before: ignored here, so a graceful stop
    # ends with status 0 rather than death by signal.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    if not run_server(settings, host, port, sock):
        sys.exit(3)  # uvicorn's status for an app that failed to start


def _status(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int, processes: int) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.n = processes
        self.ctx = multiprocessing.get_context("fork")
        self.children: dict[int, BaseProcess] = {}  # slot -> process
        self.deaths: deque[float] = deque()
        self.stopping = False
        self.sock: socket.socket | None = None

    def _signal(self, sig: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("%s: stopping %d server processes", signal.Signals(sig).name, len(self.children))
        self.stopping = True

    def _start(self, slot: int) -> None:
        assert self.sock is not None
        # Nothing buffered may be written twice (once by each side of the fork).
        sys.stdout.flush()
        sys.stderr.flush()
        proc = self.ctx.Process(
            target=_child,
            args=(self.settings, self.host, self.port, self.sock, os.getpid()),
            name=f"inbox-serve-{slot}",
        )
        proc.start()
        self.children[slot] = proc

    def run(self) -> int:
        # uvicorn's own binding (IPv6, SO_REUSEADDR, the "running on" line), once, in the parent.
        self.sock = config("inbox.app:create_app", self.settings, self.host, self.port).bind_socket()
        import inbox.app  # noqa: F401  # imported once, shared by the children copy-on-write

        tune_gc()
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        for slot in range(self.n):
            self._start(slot)
        log.info("%d server processes on %s:%d", self.n, self.host, self.port)
        status = self._watch()
        return self._stop(status)

    def _watch(self) -> int:
        """Until a signal (0) or a crash loop (1): restart children that die on their own."""
        while not self.stopping:
            wait([p.sentinel for p in self.children.values()], timeout=0.5)
            for slot, proc in list(self.children.items()):
                if proc.exitcode is None or self.stopping:
                    continue
                now = time.monotonic()
                self.deaths.append(now)
                while self.deaths and self.deaths[0] < now - DEATH_WINDOW:
                    self.deaths.popleft()
                if len(self.deaths) >= MAX_DEATHS:
                    log.error(
                        "server process %d (pid %s) ended (%s): %d deaths within %.0f s, stopping",
                        slot, proc.pid, _status(proc.exitcode), len(self.deaths), DEATH_WINDOW,
                    )  # fmt: skip
                    del self.children[slot]
                    return 1
                log.error(
                    "server process %d (pid %s) ended (%s); starting another in %.0f s",
                    slot, proc.pid, _status(proc.exitcode), RESTART_PAUSE,
                )  # fmt: skip
                time.sleep(RESTART_PAUSE)
                if not self.stopping:
                    self._start(slot)
        return 0

    def _stop(self, status: int) -> int:
        """SIGTERM to every child, wait (bounded), SIGKILL the late ones. 0 only when every child
        stopped gracefully."""
        for proc in self.children.values():
            if proc.exitcode is None and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WITHIN
        for proc in self.children.values():
            proc.join(max(0.0, deadline - time.monotonic()))
        for slot, proc in self.children.items():
            if proc.exitcode is None:
                log.error(
                    "server process %d (pid %s) not stopped in %.0f s: killed", slot, proc.pid, STOP_WITHIN
                )
                proc.kill()
                proc.join()
                status = 1
            elif proc.exitcode != 0:
                log.error("server process %d (pid %s) ended with %s", slot, proc.pid, _status(proc.exitcode))
                status = 1
        if self.sock is not None:
            self.sock.close()
        return status
