"""Running an aiohttp app as a process: bind, say ``ready URL``, stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("shim")
RunnerFactory = Callable[..., web.AppRunner]


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout: float = 5.0,
    runner_factory: RunnerFactory = web.AppRunner,
) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; port 0 picks a free one. Returns the runner and the bound port.

    ``runner_factory`` makes the runner, e.g. the drop-in server's guarded edge
    (``shim/server/edge.py``)."""
    runner = runner_factory(
        app, handle_signals=False, shutdown_timeout=shutdown_timeout, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, int(bound)


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
) -> None:
    runner, bound = await start_site(
        app,
        host,
        port,
        ssl_context=ssl_context,
        shutdown_timeout=shutdown_timeout,
        runner_factory=runner_factory,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"ready {scheme}://{shown_host}:{bound}", flush=True)
    try:
        await stop.wait()
        log.info("signal received: shutting down")
        if before_cleanup is not None:
            await before_cleanup()
    finally:
        await runner.cleanup()
