"""``GET /speech/translate``: one legacy session's handshake, and its session started.

The handshake is validated before the upgrade (400/401/429/503 with a JSON body); then the
session runs in :mod:`shim.server.translate_session` (the executor that carries out the core's
commands), with one log line at its start and one at its end.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from aiohttp import web

from shim.auth.authenticator import Grant, SessionSlot
from shim.legacy.errors import Failure, HandshakeError, LegacyError
from shim.legacy.request import SessionRequest, parse_request
from shim.legacy.vocabulary import Ending
from shim.server import metrics
from shim.server.http import error_response
from shim.server.legacy_socket import HandshakeRejected, LegacySocket
from shim.server.placement import Seat
from shim.server.translate_session import TranslateService, TranslateSession

log = logging.getLogger("shim.session")


def _refusal(error: LegacyError, request_id: str) -> web.Response:
    """A refused upgrade: the legacy JSON error under the session's request id, counted."""
    response = error_response(error)
    response.headers["X-RequestId"] = request_id
    if response.status == 503:
        response.headers["Retry-After"] = "1"
    metrics.HANDSHAKE_REJECTIONS.labels(str(response.status)).inc()
    return response


async def translate(request: web.Request, service: TranslateService) -> web.StreamResponse:
    request_id = uuid.uuid4().hex
    connections = service.connections
    origin = time.monotonic()  # a capture's times count from the request
    try:
        if service.draining:
            raise HandshakeError(Failure.SERVER_UNAVAILABLE, "server is shutting down; retry")
        if connections is not None and connections.at_capacity:
            connections.refuse()
            raise HandshakeError(Failure.SERVER_UNAVAILABLE, "too many connections; retry later")
        parsed = parse_request(request.query.items(), request.headers, service.catalog.current())
        grant = service.authenticator.authenticate(parsed.credential)
        if service.pair_check is not None:
            why = service.pair_check(parsed.source_locale, parsed.target_language)
            if why:
                raise HandshakeError(
                    Failure.UNSUPPORTED_LANGUAGE_PAIR,
                    f"from={parsed.source_locale} to={parsed.target_language} is not supported"
                    f" by this server's speech backend: {why}",
                    "to",
                )
        slot = service.authenticator.open_session(grant)
        try:
            seat = service.placement.seat(grant, request_id)
        except LegacyError:
            slot.release()
            raise
    except LegacyError as error:
        response = _refusal(error, request_id)
        log.info(
            "request refused: %s",
            error.message,
            extra={"request_id": request_id, "status": response.status},
        )
        return response
    if connections is not None:
        connections.legacy += 1
    try:
        return await _serve(request, service, parsed, grant, slot, seat, request_id, origin)
    finally:
        if connections is not None:
            connections.legacy -= 1


async def _serve(
    request: web.Request,
    service: TranslateService,
    parsed: SessionRequest,
    grant: Grant,
    slot: SessionSlot,
    seat: Seat,
    request_id: str,
    origin: float,
) -> web.StreamResponse:
    ending: Ending | None = None
    with slot, seat:
        try:
            socket = await LegacySocket.accept(request, {"X-RequestId": request_id})
        except HandshakeRejected as rejected:
            return _refusal(HandshakeError(Failure.BAD_PARAMETER, str(rejected)), request_id)
        traffic = (
            service.traffic.observe(request, parsed, grant, socket, request_id, origin)
            if service.traffic is not None
            else None
        )
        session = TranslateSession(service, parsed, seat, socket, request_id, slot.release, traffic)
        service.sessions.add(session)
        service.started += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        log.info(
            "session start",
            extra={
                "request_id": request_id,
                "client_trace_id": parsed.client_trace_id,
                "from": parsed.source_locale,
                "to": parsed.target_language,
                "features": ",".join(sorted(f.value for f in parsed.features)) or None,
                "format": parsed.audio_format.value,
                "voice": parsed.voice,
                "client": grant.log_label,
                "resource": seat.resource,
            },
        )
        try:
            ending = await session.run()
        finally:
            seat.release(ending.failure if ending else None)
            service.sessions.discard(session)
            if traffic is not None:
                traffic.finish()
            session.telemetry.ended(ending, loop.time())
            log.info(
                "session end",
                extra={
                    "request_id": request_id,
                    "client_trace_id": parsed.client_trace_id,
                    "outcome": ending.failure.value if ending else "internal",
                    "close_code": ending.code if ending else None,
                    "close_reason": ending.reason if ending else None,
                    "finals": session.finals,
                    "backend_error_code": session.telemetry.cancel_code,
                    "duration_s": round(loop.time() - started, 3),
                },
            )
    return socket.response  # the 101, already sent; aiohttp finishes it
