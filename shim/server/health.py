"""Probes: ``/livez`` (the process serves HTTP), ``/readyz`` (it should get new sessions),
``/healthz`` (the original status document, kept for existing monitors).

Readiness depends on facts other parts of the server own (draining on SIGTERM, the backend
being known unreachable, the connection cap), so :class:`Readiness` holds one callable per
fact; whoever knows the fact sets its callable on ``app[READINESS]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web


def _never() -> bool:
    return False


@dataclass
class Readiness:
    """Why the server should not get new sessions now; each check is cheap and non-blocking."""

    draining: Callable[[], bool] = _never  # SIGTERM: open sessions finish, new ones get 503
    backend_unreachable: Callable[[], bool] = _never  # the speech backend is known down
    at_connection_cap: Callable[[], bool] = _never  # no room for another session

    def reasons(self) -> list[str]:
        checks = {
            "draining": self.draining,
            "backend unreachable": self.backend_unreachable,
            "at connection cap": self.at_connection_cap,
        }
        return [reason for reason, check in checks.items() if check()]


READINESS = web.AppKey("readiness", Readiness)


async def livez(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    reasons = request.app[READINESS].reasons()
    if reasons:
        return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


def add_routes(
    app: web.Application, readiness: Readiness, status: Callable[[], dict[str, object]]
) -> None:
    """The three probes; ``status`` is ``/healthz``'s document (always 200)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(status())

    app[READINESS] = readiness
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/healthz", healthz)
