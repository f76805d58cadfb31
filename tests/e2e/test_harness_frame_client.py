"""The harness' frame-level WebSocket client against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from websockets.frames import Opcode

from shim.harness.session.frame_client import (
    Connection,
    ConnectionClosed,
    HandshakeRefused,
    MessageAssembler,
    connect,
    make_ssl_context,
)
from tests.support.frame_server import FrameServer, Peer

pytestmark = pytest.mark.e2e

Received = list[tuple[aiohttp.WSMsgType, Any]]


async def _start(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    return runner


def _base(runner: web.AppRunner, scheme: str = "ws") -> str:
    host, port = runner.addresses[0][:2]
    return f"{scheme}://{host}:{port}"


def _recording_app(received: Received, refuse: bool = False) -> web.Application:
    """An aiohttp endpoint that refuses without a key (JSON body, before the upgrade) and
    otherwise records the reassembled messages it gets."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if refuse and "Ocp-Apim-Subscription-Key" not in request.headers:
            return web.json_response(
                {"error": {"code": 401000, "message": "missing subscription key"}},
                status=401,
                headers={"X-RequestId": "refused-1"},
            )
        ws = web.WebSocketResponse(max_msg_size=0)
        ws.headers["X-RequestId"] = "req-42"
        await ws.prepare(request)
        async for message in ws:
            received.append((message.type, message.data))
            if message.type is aiohttp.WSMsgType.TEXT and message.data == "close-1003":
                await ws.close(code=1003, message=b"bad audio")
        return ws

    app = web.Application()
    app.router.add_get("/speech/translate", handler)
    return app


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[str, Received]]:
    received: Received = []
    runner = await _start(_recording_app(received, refuse=True))
    yield _base(runner) + "/speech/translate", received
    await runner.cleanup()


async def _open(url: str, **kwargs: Any) -> Connection:
    connection = await connect(url, {"Ocp-Apim-Subscription-Key": "k"}, timeout=5, **kwargs)
    assert isinstance(connection, Connection), connection
    return connection


async def test_a_message_sent_in_160_byte_frames_arrives_intact(
    recorded: tuple[str, Received],
) -> None:
    url, received = recorded
    payload = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes: 65 frames, the last short
    connection = await _open(url)
    assert await connection.send_message(payload, fragment_size=160) == 65
    await connection.close()
    assert received == [(aiohttp.WSMsgType.BINARY, payload)]
    assert connection.close_code == 1000
    assert connection.server_closed_first is False


async def test_fragments_leave_with_the_opcodes_and_fin_bits_given() -> None:
    async def read_all(peer: Peer) -> None:
        await peer.closed.wait()

    async with FrameServer(read_all) as server:
        connection = await _open(server.url)
        await connection.send_message(b"x" * 400, fragment_size=160)
        await connection.send_frame(Opcode.TEXT, b"\xff raw", fin=True)  # invalid UTF-8, raw
        await connection.close()
        frames = [(f.opcode, len(f.data), f.fin) for f in server.peers[0].frames]
    assert frames[:3] == [
        (Opcode.BINARY, 160, False),
        (Opcode.CONT, 160, False),
        (Opcode.CONT, 80, True),
    ]
    # The server fails the connection on the invalid text (1007): the client still closes.
    assert frames[3][0] in (Opcode.TEXT, Opcode.CLOSE)


async def test_an_unfinished_message_delivers_its_frames_as_they_arrive() -> None:
    async def answer_when_audio_arrives(peer: Peer) -> None:
        data = await peer.receive_data_until(3 * 4096)
        await peer.send(Opcode.TEXT, json.dumps({"bytes": len(data)}).encode())
        await peer.closed.wait()

    async with FrameServer(answer_when_audio_arrives) as server:
        connection = await _open(server.url)
        for index in range(3):
            opcode = Opcode.BINARY if index == 0 else Opcode.CONT
            await connection.send_frame(opcode, bytes([index]) * 4096, fin=False)
        frame = await connection.receive_frame(timeout=5)
        assert frame is not None and frame.opcode is Opcode.TEXT
        assert json.loads(bytes(frame.data)) == {"bytes": 3 * 4096}
        await connection.close()
        peer = server.peers[0]
    data_frames = [f for f in peer.frames if f.opcode is not Opcode.CLOSE]
    assert [f.fin for f in data_frames] == [False, False, False]
    assert b"".join(f.data for f in data_frames) == b"\x00" * 4096 + b"\x01" * 4096 + b"\x02" * 4096
    assert connection.closed


async def test_handshake_refusal_surfaces_status_headers_and_json_body(
    recorded: tuple[str, Received],
) -> None:
    url, _ = recorded
    refused = await connect(url, {}, timeout=5)
    assert isinstance(refused, HandshakeRefused)
    assert refused.status == 401
    assert refused.json() == {"error": {"code": 401000, "message": "missing subscription key"}}
    assert refused.message == "missing subscription key"
    assert refused.headers["X-RequestId"] == "refused-1"


async def test_response_headers_are_kept(recorded: tuple[str, Received]) -> None:
    url, _ = recorded
    connection = await _open(url.replace("ws://", "http://"))  # http:// is accepted too
    assert connection.response_headers["X-RequestId"] == "req-42"
    await connection.close()


async def test_a_fragmented_binary_message_is_reported_with_its_frame_count() -> None:
    tts = b"RIFF" + bytes(range(256)) * 100

    async def send_tts(peer: Peer) -> None:
        await peer.send(Opcode.TEXT, b'{"type":"final","id":"0"}')
        await peer.send_fragmented(tts, 8192)  # 4 frames: BINARY, CONT, CONT, CONT+FIN
        await peer.close(1000)
        await peer.closed.wait()

    seen: list[tuple[str, Opcode, bool]] = []
    async with FrameServer(send_tts) as server:
        connection = await connect(
            server.url, timeout=5, observer=lambda d, t, op, fin, data: seen.append((d, op, fin))
        )
        assert isinstance(connection, Connection)
        assembler, messages = MessageAssembler(), []
        while (frame := await connection.receive_frame(timeout=5)) is not None:
            if (message := assembler.feed(frame)) is not None:
                messages.append(message)
    assert [(m.opcode, m.frames) for m in messages] == [(Opcode.TEXT, 1), (Opcode.BINARY, 4)]
    assert messages[1].data == tts
    assert seen == [
        ("in", Opcode.TEXT, True),
        ("in", Opcode.BINARY, False),
        ("in", Opcode.CONT, False),
        ("in", Opcode.CONT, False),
        ("in", Opcode.CONT, True),
        ("in", Opcode.CLOSE, True),
        ("out", Opcode.CLOSE, True),  # the echo the protocol sent
    ]
    assert connection.close_code == 1000
    assert connection.server_closed_first is True


async def test_a_server_close_code_and_reason_reach_the_client(
    recorded: tuple[str, Received],
) -> None:
    url, _ = recorded
    connection = await _open(url)
    await connection.send_message("close-1003")
    frames = []
    while (frame := await connection.receive_frame(timeout=5)) is not None:
        frames.append(frame)
    assert [f.opcode for f in frames] == [Opcode.CLOSE]
    assert (connection.close_code, connection.close_reason) == (1003, "bad audio")
    assert connection.server_closed_first is True
    with pytest.raises(ConnectionClosed):
        await connection.send_message(b"more audio")


async def test_a_client_close_code_and_reason_reach_the_server() -> None:
    async def wait(peer: Peer) -> None:
        await peer.closed.wait()

    async with FrameServer(wait) as server:
        connection = await _open(server.url)
        await connection.close(4000, "end of file")
        close = server.peers[0].frames[-1]
    assert close.opcode is Opcode.CLOSE
    assert close.data == (4000).to_bytes(2, "big") + b"end of file"
    assert connection.close_sent_code == 4000
    assert connection.close_code == 4000  # websockets' server echoes the client's code
    assert connection.server_closed_first is False


async def test_pings_are_answered_while_the_client_only_sends() -> None:
    pongs: asyncio.Queue[bytes] = asyncio.Queue()

    async def ping(peer: Peer) -> None:
        await peer.send(Opcode.PING, b"are you there")
        while (frame := await peer.receive()) is not None:
            if frame.opcode is Opcode.PONG:
                pongs.put_nowait(bytes(frame.data))

    seen: list[tuple[str, Opcode, bytes]] = []
    async with FrameServer(ping) as server:
        connection = await connect(
            server.url, timeout=5, observer=lambda d, t, op, fin, data: seen.append((d, op, data))
        )
        assert isinstance(connection, Connection)
        assert await asyncio.wait_for(pongs.get(), 5) == b"are you there"
        await connection.close()
    assert ("in", Opcode.PING, b"are you there") in seen
    assert ("out", Opcode.PONG, b"are you there") in seen


async def test_a_server_that_never_answers_the_close_is_aborted_after_the_timeout() -> None:
    async def nothing(peer: Peer) -> None:
        return None

    async with FrameServer(nothing, deaf=True) as server:
        connection = await _open(server.url)
        connection.send_close()
        assert await connection.wait_closed(0.3) is False
        assert connection.closed
        assert connection.close_code == 1006


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_url(ca: trustme.CA) -> AsyncIterator[str]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    runner = await _start(_recording_app([]), server_context)
    yield _base(runner, "wss") + "/speech/translate"
    await runner.cleanup()


async def test_wss_with_a_trusted_ca_file(ca: trustme.CA, tls_url: str, tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    connection = await _open(tls_url, ssl=make_ssl_context(str(cafile)))
    await connection.send_message(b"audio", fragment_size=2)
    await connection.close()
    assert connection.close_code == 1000


async def test_wss_rejects_an_unknown_certificate_unless_insecure(tls_url: str) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(tls_url, timeout=5, ssl=make_ssl_context())
    connection = await _open(
        tls_url.replace("wss://", "https://"), ssl=make_ssl_context(insecure=True)
    )
    await connection.close()
    assert connection.close_code == 1000
