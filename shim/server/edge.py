"""The hardened HTTP edge: a header timeout, a connection cap, half-open connections, TCP
keepalive, and legacy-shaped answers to requests that aiohttp cannot parse.

aiohttp has no public setting for a request-header timeout or a connection cap, and its
answer to an unparseable request is a plain-text 400 whose log line (logger
``aiohttp.server``, at ERROR, with a traceback) quotes the start of the request line — with
a ``subscription-key=`` in it, the key. So this module subclasses aiohttp's protocol class
(:class:`aiohttp.web_protocol.RequestHandler`) and server, the one place those three things
can be expressed; `tests/e2e/test_shim_edge.py` pins the behaviour against the installed
aiohttp.

* **Header timeout**: a connection that has not sent complete request headers
  ``header_timeout`` seconds after it opened is closed (slowloris, half-open sockets). Idle
  keep-alive connections are closed by aiohttp's own ``keepalive_timeout``, which the runner
  sets to the same value.
* **Connection cap**: ``max_connections`` legacy connections (WebSocket sessions, counted
  from their handshake: the translate endpoint refuses the next with ``503`` and the legacy
  JSON body). Probes and the other endpoints keep ``OTHER_CONNECTIONS`` more for themselves,
  so ``/readyz`` still answers at the cap and says why; beyond both, a new connection is
  answered ``503`` at once, and closed only once its request was read (or after
  ``REFUSED_LINGER`` seconds), so the client gets the answer, not a reset. The default leaves
  room under the process's open-files limit for the Speech SDK's own socket per session
  (and, with the embedded local Speech service, its end of it):
  ``(RLIMIT_NOFILE - 64 - OTHER_CONNECTIONS) // 3``.
* **Half-open connections**: a client that ends its side of the connection (TCP FIN) after the
  upgrade may still read; the legacy socket (``on_end_of_stream``) decides whether the
  connection stays open for writing. aiohttp's protocol would close it.
* **TCP keepalive** on every accepted connection (probes after ``KEEPALIVE_IDLE`` seconds,
  every ``KEEPALIVE_INTERVAL``, ``KEEPALIVE_COUNT`` of them), and a TCP user timeout of
  ``USER_TIMEOUT`` seconds for sent data the client never acknowledges: a client whose host
  vanished makes the connection fail instead of holding it for the kernel's 15 minutes.
* **Bad requests**: oversized request lines or headers and other parse errors get the
  legacy ``400`` JSON body with an ``X-RequestId``, and one INFO log line naming the error
  class only (never the request line).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web, web_protocol, web_server
from aiohttp.web_request import BaseRequest

from shim.legacy.errors import Failure, HandshakeError, http_error
from shim.server import metrics

log = logging.getLogger("shim.server")

_RESERVED_FILES = 64  # log files, the listening sockets, the SDK's own files
_FILES_PER_CONNECTION = 3  # client socket + SDK socket (+ the embedded service's end)
OTHER_CONNECTIONS = 64  # beyond the legacy cap: probes, /languages, issueToken, handshakes
REFUSED_LINGER = 2.0  # a refused connection is closed once its request is read, or after this
KEEPALIVE_IDLE = 10  # seconds of silence before TCP keepalive probes start
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3
USER_TIMEOUT = 30  # seconds sent data may stay unacknowledged (the write timeout's length)


def default_max_connections() -> int:
    """Connections that fit under the open-files limit, after raising the soft limit to the
    hard one (the usual first thing a server does; the soft default is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    return max(16, (soft - _RESERVED_FILES - OTHER_CONNECTIONS) // _FILES_PER_CONNECTION)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    max_connections: int = 1000


class ConnectionCounts:
    """Counts open connections, and legacy ones; shared by every connection of one server."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open = 0  # TCP connections
        self.legacy = 0  # legacy connections, from their handshake to their end
        self.refused = 0  # at either cap
        self.timed_out = 0  # headers too slow

    @property
    def at_capacity(self) -> bool:
        """No room for another legacy connection (what ``/readyz`` reports)."""
        return self.legacy >= self.limits.max_connections

    @property
    def full(self) -> bool:
        """No room for any connection: the legacy cap and the others' reserve are used up."""
        return self.open >= self.limits.max_connections + OTHER_CONNECTIONS

    def refuse(self) -> None:
        self.refused += 1
        metrics.CONNECTIONS_REFUSED.labels("connection_cap").inc()


def _json_response(failure: Failure, message: str) -> web.Response:
    error = http_error(HandshakeError(failure, message))
    response = web.Response(
        status=error.status, text=error.body, content_type="application/json", charset="utf-8"
    )
    response.headers["X-RequestId"] = uuid.uuid4().hex
    response.force_close()
    return response


def _keepalive(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT * 1000)
    except (OSError, AttributeError):  # not Linux, or the connection is already gone
        pass


def _raw_busy_response() -> bytes:
    error = http_error(
        HandshakeError(Failure.SERVER_UNAVAILABLE, "too many connections; retry later")
    )
    body = error.body.encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-RequestId: {uuid.uuid4().hex}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class EdgeRequestHandler(web_protocol.RequestHandler):
    """aiohttp's protocol, with the edge's header timeout, connection cap, bad-request answer, TCP
    keepalive and half-open connections."""

    counts: ConnectionCounts
    # Set by whoever took the connection over after an upgrade: called when the client ends
    # its side; True keeps the connection open for writing (shim/server/legacy_socket.py).
    on_end_of_stream: Callable[[], bool] | None = None
    _header_timer: asyncio.TimerHandle | None = None
    _counted = False
    _refused: bytes | None = None  # the refused request's bytes so far (its head's end ends it)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        _keepalive(transport)
        connections = self.counts
        if connections.full:
            connections.refuse()
            self._refuse(transport)
            return
        connections.open += 1
        metrics.CONNECTIONS_OPEN.inc()
        self._counted = True
        self._header_timer = asyncio.get_running_loop().call_later(
            connections.limits.header_timeout, self._headers_too_slow
        )

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        """Answer 503 now; close once the request is read (or after the linger): closing a
        socket with unread bytes would reset the connection, and the client might lose the
        answer."""
        assert isinstance(transport, asyncio.Transport)
        transport.write(_raw_busy_response())
        self._refused = b""
        self._header_timer = asyncio.get_running_loop().call_later(REFUSED_LINGER, self.force_close)

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio's contract: True keeps it open
        if self._refused is not None:
            return False  # the refused client is done: the transport closes
        hook = self.on_end_of_stream
        return hook() if hook is not None else False

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            window = self._refused + data
            if b"\r\n\r\n" in window:
                self.force_close()
            self._refused = window[-3:]
            return
        super().data_received(data)
        # A parsed request (or a parse error) counts: its headers are complete.
        if self._header_timer is not None and self._request_count:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self.counts.timed_out += 1
        metrics.CONNECTIONS_REFUSED.labels("header_timeout").inc()
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._counted:
            self._counted = False
            self.counts.open -= 1
            metrics.CONNECTIONS_OPEN.dec()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error response")
        kind = type(exc).__name__ if exc is not None else f"HTTP {status}"
        if status >= 500:
            # Our own bug: the traceback matters (the redacting log filter still applies).
            self.logger.error("internal error handling a request (%s)", kind, exc_info=exc)
            return _json_response(Failure.INTERNAL, "internal server error")
        log.info("request refused: malformed or oversized HTTP request (%s)", kind)
        metrics.CONNECTIONS_REFUSED.labels("bad_request").inc()
        return _json_response(
            Failure.BAD_PARAMETER,
            "malformed HTTP request: request line or headers too long or invalid",
        )


class EdgeServer(web_server.Server):
    def __init__(self, inner: web_server.Server, counts: ConnectionCounts) -> None:
        super().__init__(
            inner.request_handler,
            request_factory=inner.request_factory,
            handler_cancellation=inner.handler_cancellation,
            loop=inner._loop,
            **inner._kwargs,
        )
        self.counts = counts

    def __call__(self) -> web_protocol.RequestHandler:
        handler = EdgeRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.counts = self.counts
        return handler


class EdgeAppRunner(web.AppRunner):
    """An AppRunner whose connections are counted and capped (:class:`ConnectionCounts`)."""

    def __init__(self, app: web.Application, counts: ConnectionCounts, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", counts.limits.header_timeout)
        super().__init__(app, **kwargs)
        self.counts = counts

    async def _make_server(self) -> web_server.Server:
        return EdgeServer(await super()._make_server(), self.counts)


def describe(connections: ConnectionCounts) -> dict[str, Any]:
    """The connection counts, for /healthz."""
    return {
        "connections": connections.open,
        "legacy_connections": connections.legacy,
        "max_connections": connections.limits.max_connections,
        "refused_at_cap": connections.refused,
        "header_timeouts": connections.timed_out,
    }


__all__ = [
    "ConnectionCounts",
    "ConnectionLimits",
    "EdgeAppRunner",
    "default_max_connections",
    "describe",
]
