"""Serving an aiohttp app as a process: bind, say ``ready URL``, stop cleanly on a signal.

(Not the Speech SDK's threads: those are ``shim.speech.runtime``.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from shim.logs import AccessLogger, say_ready
from shim.logs import configure_logging as configure_logging  # the harness's entry point

log = logging.getLogger("shim")
ACCESS_LOG = logging.getLogger("shim.access")
RunnerFactory = Callable[..., web.AppRunner]
SiteFactory = Callable[..., web.TCPSite]


class ListenError(OSError):
    """The address cannot be bound (in use, not local, no permission); says which."""


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout: float = 5.0,
    runner_factory: RunnerFactory = web.AppRunner,
    access_log: bool = True,
    reuse_port: bool = False,
    site_factory: SiteFactory = web.TCPSite,
    backlog: int | None = None,
) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; port 0 picks a free one. Returns the runner and the bound port.

    ``runner_factory`` makes the runner, e.g. the drop-in server's guarded edge
    (``shim/server/edge.py``), and ``site_factory`` the listening site; ``access_log`` writes
    a ``shim.access`` line per request. ``backlog``: the listening socket's queue of
    connections not yet accepted (None: the kernel's ``somaxconn``, as nginx and gunicorn
    default to about; aiohttp's own default, 128, overflows in a burst of arrivals and the
    clients' SYN retries then cost them seconds)."""
    runner = runner_factory(
        app,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        access_log=ACCESS_LOG if access_log else None,
        access_log_class=AccessLogger,
    )
    await runner.setup()
    # reuse_port: worker processes share the port (SO_REUSEPORT; server/workers.py).
    site = site_factory(
        runner,
        host,
        port,
        ssl_context=ssl_context,
        reuse_port=reuse_port or None,
        backlog=backlog if backlog is not None else somaxconn(),
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        # asyncio's own message repeats the address; getaddrinfo's errors have negative numbers
        reason = exc.strerror or str(exc)
        if exc.errno is not None and exc.errno > 0:
            reason = os.strerror(exc.errno).lower()
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from exc
    bound = runner.addresses[0][1]
    return runner, int(bound)


def somaxconn() -> int:
    """The kernel's cap on a listening socket's backlog (what ``listen`` is given beyond it is
    cut to it); 4096 where it cannot be read."""
    try:
        with open("/proc/sys/net/core/somaxconn") as file:
            return max(1, int(file.read().strip()))
    except (OSError, ValueError):
        return 4096


async def serve_until_signal(
    app: web.Application,
    host: str,
    port: int,
    scheme: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    before_cleanup: Callable[[], Awaitable[None]] | None = None,
    shutdown_timeout: float = 5.0,
    runner_factory: RunnerFactory = web.AppRunner,
    reuse_port: bool = False,
    site_factory: SiteFactory = web.TCPSite,
    backlog: int | None = None,
) -> None:
    runner, bound = await start_site(
        app,
        host,
        port,
        ssl_context=ssl_context,
        shutdown_timeout=shutdown_timeout,
        runner_factory=runner_factory,
        reuse_port=reuse_port,
        site_factory=site_factory,
        backlog=backlog,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    shown_host = f"[{host}]" if ":" in host else host
    say_ready(f"{scheme}://{shown_host}:{bound}")
    try:
        await stop.wait()
        log.info("signal received: shutting down")
        if before_cleanup is not None:
            await before_cleanup()
    finally:
        await runner.cleanup()
