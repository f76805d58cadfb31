"""``serve --workers N``: N worker processes accepting on one port, and their supervisor.

One Python process is bounded by its GIL (the Speech SDK's Python layer runs on it), so a
server uses several cores by running several processes. Each worker is an ordinary
``serve`` process, started by the supervisor with ``--workers 1`` and these environment
variables, which :class:`WorkerContext` reads:

* ``SHIM_WORKER_INDEX`` / ``SHIM_WORKER_COUNT``: which worker this is (``/healthz``, logs, the
  ``X-Shim-Worker`` response header);
* ``SHIM_REUSE_PORT=1``: bind with ``SO_REUSEPORT``, so the kernel spreads new connections
  over the workers' listening sockets;
* ``SHIM_STATE_DIR``: the shared directory for per-key session counts and passthrough keys
  (:mod:`shim.auth.shared`) and the embedded service's description;
* ``PROMETHEUS_MULTIPROC_DIR``: where each worker writes its metrics, so ``/metrics`` on any
  worker reports them all;
* ``SHIM_TOKEN_SECRET``: the one token secret (made up by the supervisor if none is
  configured), so a token issued by one worker is accepted by all.

The supervisor runs the embedded local Speech service itself, once, so the offline engines
load once; restarts a worker that dies; forwards SIGTERM so every worker drains; and exits 0
once all have.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shim.catalog.catalog import Catalog
from shim.config import ServerSettings
from shim.logs import register_secret, say_ready
from shim.server.embedded import EmbeddedBackend, run_embedded

log = logging.getLogger("shim.workers")

EMBEDDED_FILE = "embedded.json"
_READY_TIMEOUT = 120.0  # a worker's start-up, engines included
_RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # after deaths in quick succession
_STABLE_AFTER = 30.0  # a worker that lived this long resets the backoff
_EXIT_GRACE = 15.0  # after the drain timeout: how long a worker may take to exit


@dataclass(frozen=True)
class WorkerContext:
    """What a worker process knows about being one (None outside ``--workers``)."""

    index: int
    count: int
    state_dir: Path
    reuse_port: bool

    @classmethod
    def from_environ(cls) -> WorkerContext | None:
        index = os.environ.get("SHIM_WORKER_INDEX")
        state = os.environ.get("SHIM_STATE_DIR")
        if index is None or state is None:
            return None
        return cls(
            int(index),
            int(os.environ.get("SHIM_WORKER_COUNT", "1")),
            Path(state),
            os.environ.get("SHIM_REUSE_PORT") == "1",
        )

    @property
    def embedded(self) -> Path | None:
        path = self.state_dir / EMBEDDED_FILE
        return path if path.exists() else None

    def describe(self) -> dict[str, int]:
        return {"index": self.index, "of": self.count, "pid": os.getpid()}


def _state_directory() -> Path:
    """Private (0700), in memory when /dev/shm exists: keys may be kept there."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="translator-speech-shim-", dir=base))


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port another server holds (SO_REUSEPORT would otherwise share it). The probe
    binds as the workers' listeners do, with SO_REUSEADDR: a connection of the last run still
    in TIME-WAIT does not hold the port, a listening server does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise ValueError(f"cannot listen on {host}:{port}: {reason}") from None


def _reserve_port(host: str) -> socket.socket:
    """A free port, held (bound, not listening) with SO_REUSEPORT until the workers bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, 0))
    return holder


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    deaths: int = 0


class Supervisor:
    def __init__(self, settings: ServerSettings, serve_args: Sequence[str]) -> None:
        self.settings = settings
        self.serve_args = list(serve_args)
        self.count = settings.workers
        self._state: Path | None = None  # made once the port is known to be free
        self.secret = settings.token_secret or secrets.token_urlsafe(32)
        register_secret(self.secret)
        self.workers = [_Worker(i) for i in range(self.count)]
        self.port = settings.port
        self.stopping = False
        self._exit_codes: list[int] = []

    @property
    def state(self) -> Path:
        """The shared directory (exists while :meth:`run` runs; removed when it ends)."""
        assert self._state is not None, "run() makes it"
        return self._state

    # ---- lifecycle -----------------------------------------------------------------------
    async def run(self) -> int:
        settings = self.settings
        holder = None
        if self.port == 0:
            holder = _reserve_port(settings.host)
            self.port = holder.getsockname()[1]
        else:
            _check_port_free(settings.host, self.port)
        self._state = _state_directory()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if settings.backend_kind == "embedded":
                    backend = await stack.enter_async_context(
                        run_embedded(settings.scenario, settings.engine)
                    )
                    await loop.run_in_executor(
                        None, backend.save, self.state / EMBEDDED_FILE, Catalog.bundled()
                    )
                ready = await asyncio.gather(*(self._start(w) for w in self.workers))
                if holder is not None:
                    holder.close()
                    holder = None
                if not all(ready):
                    log.error("a worker did not start; stopping the others")
                    await self._stop_all()
                    return 2
                scheme = "https" if settings.tls_cert else "http"
                host = f"[{settings.host}]" if ":" in settings.host else settings.host
                log.info("%d workers serving on port %d", self.count, self.port)
                say_ready(f"{scheme}://{host}:{self.port}")
                watchers = [asyncio.create_task(self._watch(w)) for w in self.workers]
                await stop.wait()
                log.info("signal received: draining %d workers", self.count)
                self.stopping = True
                await self._stop_all()
                for watcher in watchers:
                    watcher.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
        finally:
            if holder is not None:
                holder.close()
            shutil.rmtree(self.state, ignore_errors=True)
        failed = [code for code in self._exit_codes if code != 0]
        return 1 if failed else 0

    def _environment(self, worker: _Worker) -> dict[str, str]:
        metrics = self.state / "metrics"
        metrics.mkdir(mode=0o700, exist_ok=True)
        return {
            **os.environ,
            "SHIM_WORKER_INDEX": str(worker.index),
            "SHIM_WORKER_COUNT": str(self.count),
            "SHIM_STATE_DIR": str(self.state),
            "SHIM_REUSE_PORT": "1",
            "SHIM_TOKEN_SECRET": self.secret,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }

    async def _start(self, worker: _Worker) -> bool:
        args = [
            sys.executable,
            "-m",
            "shim",
            "serve",
            *self.serve_args,
            "--workers",
            "1",
            "--port",
            str(self.port),
        ]
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env=self._environment(worker),
        )
        worker.process, worker.started = process, time.monotonic()
        assert process.stdout is not None
        try:
            async with asyncio.timeout(_READY_TIMEOUT):
                line = await process.stdout.readline()
        except TimeoutError:
            line = b""
        if not line.startswith(b"ready "):
            log.error("worker %d did not become ready", worker.index)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return False
        log.info("worker %d ready (pid %d)", worker.index, process.pid)
        return True

    async def _watch(self, worker: _Worker) -> None:
        """Restart the worker whenever it dies, unless the server is stopping."""
        while True:
            process = worker.process
            assert process is not None
            code = await process.wait()
            self._forget(process.pid)
            if self.stopping:
                return
            lived = time.monotonic() - worker.started
            worker.deaths = 0 if lived >= _STABLE_AFTER else worker.deaths + 1
            delay = _RESTART_BACKOFF[min(worker.deaths, len(_RESTART_BACKOFF) - 1)]
            log.warning(
                "worker %d (pid %d) exited with %s after %.0f s; restarting in %.1f s",
                worker.index,
                process.pid,
                code,
                lived,
                delay,
            )
            await asyncio.sleep(delay)
            if self.stopping:
                return
            while not await self._start(worker):
                await asyncio.sleep(_RESTART_BACKOFF[-1])
                if self.stopping:
                    return

    def _forget(self, pid: int) -> None:
        """A dead worker's live gauges and session leases must not outlive it."""
        from prometheus_client import multiprocess

        from shim.auth.shared import SharedSessionCounts
        from shim.server.placement import POOL_LEASES

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, str(self.state / "metrics"))  # type: ignore[no-untyped-call]
        SharedSessionCounts(self.state / "sessions").forget_process(pid)
        SharedSessionCounts(self.state / POOL_LEASES).forget_process(pid)

    async def _stop_all(self) -> None:
        """SIGTERM to every worker (each drains its sessions), then wait for them."""
        processes = [w.process for w in self.workers if w.process is not None]
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        limit = self.settings.drain_timeout + _EXIT_GRACE
        for process in processes:
            try:
                async with asyncio.timeout(limit):
                    code = await process.wait()
            except TimeoutError:
                log.error("worker pid %d did not exit in %.0f s; killing it", process.pid, limit)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                code = await process.wait()
            self._exit_codes.append(code)


def run_supervisor(settings: ServerSettings, serve_args: Sequence[str]) -> int:
    """``serve --workers N`` with N > 1; ``serve_args`` are the arguments after ``serve``."""
    return asyncio.run(Supervisor(settings, serve_args).run())


__all__ = ["EmbeddedBackend", "Supervisor", "WorkerContext", "run_supervisor"]
