"""TLS connections a client may half-close, and the listening site that serves them.

Legacy Node clients (the ``websocket`` npm library) send their Close frame and at once end
their side of the connection, then read for 5 s more: over TLS that is a close_notify alert
and a TCP FIN. TLS allows the other side to go on writing (RFC 8446 §6.1: a close_notify
closes only its sender's direction), but asyncio's TLS layer
(``asyncio.sslproto.SSLProtocol``) answers the close_notify, or the bare FIN, by shutting the
whole connection down ("returning true from eof_received() has no effect when using ssl"),
and every final still owed would be lost. No public asyncio or aiohttp setting changes that,
so :class:`HalfOpenTLSProtocol` subclasses asyncio's protocol, the one place it can be
expressed: when the application asks to keep the connection open (its ``eof_received``
returns True, as the edge does for a legacy session), the peer's close_notify and FIN only
end reading; writing goes on until the application closes the transport, which then sends
its own close_notify and closes. It overrides three private methods of asyncio 3.11's
implementation; ``tests/e2e/test_shim_half_close.py`` pins the behaviour over real TLS.

:class:`ServerSite` is aiohttp's ``TCPSite`` with that protocol under TLS connections.
"""

# The private members of asyncio 3.11's SSLProtocol it overrides and uses are not in typeshed.
# mypy: disable-error-code="attr-defined, misc, has-type, override"

from __future__ import annotations

import asyncio
import contextlib
import ssl
from asyncio import sslproto
from typing import Any

from aiohttp import web


class HalfOpenTLSProtocol(sslproto.SSLProtocol):
    """asyncio's TLS protocol, letting the application keep writing after the peer's end."""

    _half_open = False  # the peer ended, the application keeps writing
    _tcp_eof = False  # the peer's FIN arrived (it can send nothing more, close_notify included)

    def _call_eof_received(self) -> None:
        if (
            self._app_state == sslproto.AppProtocolState.STATE_CON_MADE
            and self._state == sslproto.SSLProtocolState.WRAPPED
        ):
            self._app_state = sslproto.AppProtocolState.STATE_EOF
            try:
                self._half_open = bool(self._app_protocol.eof_received())
            except Exception as exc:
                self._fatal_error(exc, "Error calling eof_received()")
            return
        super()._call_eof_received()

    def _start_shutdown(self) -> None:
        app_transport = self._app_transport
        if self._half_open and app_transport is not None and not app_transport._closed:
            return  # the peer's close_notify: only its direction is closed
        super()._start_shutdown()

    def eof_received(self) -> bool | None:
        if self._state == sslproto.SSLProtocolState.WRAPPED:
            if not self._half_open:
                self._do_read()  # what came before the FIN (a close_notify, perhaps)
                self._call_eof_received()  # a FIN without a close_notify ends the stream too
            if self._half_open:
                self._tcp_eof = True
                return True  # keep the TCP connection open for writing
        result: bool | None = super().eof_received()
        return result

    def _do_shutdown(self) -> None:
        if not self._tcp_eof:
            super()._do_shutdown()
            return
        # The peer sends nothing more, so its close_notify is not waited for: ours is sent,
        # then the connection closes.
        with contextlib.suppress(ssl.SSLError):
            self._sslobj.unwrap()
        self._process_outgoing()
        self._call_eof_received()
        self._on_shutdown_complete(None)


class ServerSite(web.TCPSite):
    """aiohttp's TCP site; its TLS connections are :class:`HalfOpenTLSProtocol` ones."""

    async def start(self) -> None:
        context = self._ssl_context
        if context is None:
            await super().start()
            return
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def protocol() -> Any:
            waiter: Any = None  # asyncio's own servers pass none either
            return HalfOpenTLSProtocol(loop, server(), context, waiter, server_side=True)

        self._server = await loop.create_server(
            protocol,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
