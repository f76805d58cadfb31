"""What every WebSocket endpoint of the local Speech service shares: the USP receive loop.

:class:`UspConnection` parses each frame (:mod:`shim.emulator.usp`) and hands it to the
endpoint (recognition and translation in :mod:`~shim.emulator.recognition`, synthesis in
:mod:`~shim.emulator.synthesis_service`); a client that breaks the protocol, or asks for
what the engines cannot do, raises :class:`~shim.emulator.engines.base.BadInput` and the
connection closes with 1007 and the reason, as the service does.
"""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from shim.emulator import usp
from shim.emulator.engines.base import BadInput

log = logging.getLogger("shim.emulator")

CLOSE_BAD_INPUT = 1007


class StopConnection(Exception):
    """The endpoint already ended the connection (an injected fault): stop reading."""


class UspConnection:
    """The receive loop every USP endpoint shares: parse, dispatch, 1007 on bad input."""

    _ws: web.WebSocketResponse
    label = "connection"

    async def run(self) -> None:
        try:
            async for message in self._ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_text(usp.parse_text(message.data))
                elif message.type == WSMsgType.BINARY:
                    await self._on_binary(usp.parse_binary(message.data))
                elif message.type == WSMsgType.ERROR:
                    break
        except (usp.UspError, BadInput) as exc:
            log.warning("%s: bad input: %s", self.label, exc)
            await self._ws.close(code=CLOSE_BAD_INPUT, message=str(exc)[:120].encode())
        except (StopConnection, ConnectionResetError):
            pass

    async def _on_text(self, message: usp.Message) -> None:
        raise NotImplementedError

    async def _on_binary(self, message: usp.Message) -> None:
        raise BadInput(f"unexpected binary message {message.path!r}")
