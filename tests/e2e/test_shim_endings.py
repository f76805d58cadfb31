"""Honest endings, end to end: the real Speech SDK in the shim, the local Speech service's
faults, and legacy clients that close at once, stream in real time, or vanish.

A session closes 1000 only when every final it owed was sent; what used to be a silent loss
(a 1000 with finals missing) is now 1011 or 1001 with a reason (ER3, ER4).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.legacy_ws import THREE_QUERY, header46
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, Shim, shim_args, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e

SILENCE_1S = bytes(32_000)


@dataclass
class Ended:
    finals: list[dict[str, Any]] = field(default_factory=list)
    code: int | None = None
    reason: str = ""
    request_id: str = ""
    finals_at: list[float] = field(default_factory=list)  # seconds after the first send
    closed_at: float = 0.0


async def legacy_session(
    url: str,
    key: str,
    chunks: list[bytes],
    *,
    pace: float = 0.0,  # seconds between chunks (0: all at once)
    close_after_send: bool = True,
    drop_after_send: bool = False,  # Close, then reset the TCP connection mid-flush
    timeout: float = 90.0,
) -> Ended:
    """One legacy session, as a client that sends ``chunks`` and then closes (or vanishes)."""
    ended = Ended()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            url + "/speech/translate",
            params=THREE_QUERY,
            headers={"Ocp-Apim-Subscription-Key": key},
            autoclose=False,
            timeout=aiohttp.ClientWSTimeout(ws_receive=timeout),
        ) as ws,
    ):
        ended.request_id = ws._response.headers["X-RequestId"]
        t0 = time.monotonic()

        async def send() -> None:
            for chunk in chunks:
                await ws.send_bytes(chunk)
                if pace:
                    await asyncio.sleep(pace)
            if drop_after_send:  # Close (the server starts its flush), then vanish
                await ws._writer.send_frame(b"\x03\xe8", aiohttp.WSMsgType.CLOSE)
                await asyncio.sleep(0.5)
                transport = ws._response.connection.transport  # type: ignore[union-attr]
                # A reset, as from a client killed with data unread: a plain FIN would be a
                # half-close, which the server keeps writing to (test_shim_half_close.py).
                linger = struct.pack("ii", 1, 0)
                transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, linger
                )
                transport.abort()
            elif close_after_send:
                await ws._writer.send_frame(b"\x03\xe8", aiohttp.WSMsgType.CLOSE)

        sender = asyncio.create_task(send())
        if drop_after_send:
            await sender
            return ended
        while True:  # (`async for` stops before a CLOSE message: its code would be lost)
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                result = json.loads(message.data)
                if result["type"] == "final":
                    ended.finals.append(result)
                    ended.finals_at.append(time.monotonic() - t0)
            elif message.type == aiohttp.WSMsgType.CLOSE:
                ended.code, ended.reason = message.data, message.extra or ""
                break
            elif message.type != aiohttp.WSMsgType.BINARY:
                break
        ended.closed_at = time.monotonic() - t0
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    return ended


def whole_file(pcm: bytes, silence_s: int = 1) -> list[bytes]:
    return [header46() + pcm, SILENCE_1S * silence_s]


def texts(ended: Ended) -> list[str]:
    return [f["recognition"] for f in ended.finals]


EXPECTED = [u["text"] for u in THREE["utterances"]]


@pytest.mark.parametrize(
    "fault",
    [
        {"at_upgrade": True, "http_status": 401},
        {"at_upgrade": True, "http_status": 500},
        {"at_turn_start": True, "close_code": 1011},  # every turn, every retry
        {"at_turn_start": True, "hang": True},
    ],
    ids=["http-401", "http-500", "1011-every-turn", "hang"],
)
async def test_whole_file_then_close_gets_1011_not_1000_when_the_backend_fails(
    shim: Shim, fault: dict[str, Any]
) -> None:
    key = shim.emulator.scenario({**THREE, "faults": [fault]})
    ended = await legacy_session(shim.url, key, whole_file(read_pcm(INSPECT)))
    assert ended.finals == []
    assert ended.code == 1011, (ended.code, ended.reason)
    assert ended.reason and "SessionId" not in ended.reason  # ER4: plain words


@pytest.mark.parametrize(
    "lost", [[2], [3], [1, 2, 3]], ids=["a-middle-one", "the-last", "every-one"]
)
async def test_a_service_that_loses_finals_ends_1011_never_1000_with_them_missing(
    shim: Shim, lost: list[int]
) -> None:
    """The service sends a phrase's hypotheses and never its final: the SDK goes on to the
    next phrase, or reports the end of the stream as if all were done. The session sends
    the finals before the first one lost, then 1011."""
    faults = [{"on_phrase": n, "lose": True} for n in lost]
    key = shim.emulator.scenario({**THREE, "faults": faults})
    ended = await legacy_session(shim.url, key, whole_file(read_pcm(INSPECT)))
    assert texts(ended) == EXPECTED[: lost[0] - 1]
    assert (ended.code, ended.reason) == (
        1011,
        "Speech backend did not send every final; results were lost",
    )


async def test_backend_throttling_after_the_client_close_is_1001_ER3(shim: Shim) -> None:
    key = shim.emulator.scenario({**THREE, "faults": [{"at_upgrade": True, "http_status": 503}]})
    ended = await legacy_session(shim.url, key, whole_file(read_pcm(INSPECT)))
    assert (ended.code, ended.finals) == (1001, [])
    assert "retry" in ended.reason


async def test_a_backend_that_hangs_while_the_client_streams_ends_1011_within_15_s(
    shim: Shim,
) -> None:
    key = shim.emulator.scenario({**THREE, "faults": [{"after_phrase": 1, "hang": True}]})
    pcm = read_pcm(INSPECT)
    pace = 0.5  # 1 s of audio every 0.5 s: twice real time
    chunks = [header46()] + [pcm[i : i + 32_000] for i in range(0, len(pcm), 32_000)]
    chunks += [SILENCE_1S] * 40  # the client keeps streaming until the server ends it
    ended = await legacy_session(
        shim.url, key, chunks, pace=pace, close_after_send=False, timeout=120
    )
    assert texts(ended) == EXPECTED[:1]
    assert ended.code == 1011 and "stopped responding" in ended.reason
    last = THREE["utterances"][-1]
    last_expected_at = (last["offset_ms"] + last["duration_ms"]) / 1000 * pace  # when it was sent
    assert ended.closed_at - last_expected_at <= 15, ended.closed_at


def _lamp(delay_ms: int) -> dict[str, Any]:
    return {
        "utterances": [
            {"offset_ms": 300, "duration_ms": 1500, "text": "Turn on"},
            {"offset_ms": 2500, "duration_ms": 1200, "text": "the lamp"},
        ],
        "faults": [{"at_turn_start": True, "delay_ms": delay_ms}],
    }


LAMP = read_pcm("en-US_turn-on-the-lamp.wav") + bytes(64_000)


async def test_a_slow_backend_still_delivers_every_final_before_1000(shim: Shim) -> None:
    key = shim.emulator.scenario(_lamp(1500))  # every message 1.5 s late
    ended = await legacy_session(shim.url, key, whole_file(LAMP))
    assert texts(ended) == ["Turn on", "the lamp"]
    assert ended.code == 1000


async def test_a_5_s_backend_delay_never_hides_lost_finals_behind_1000(shim: Shim) -> None:
    key = shim.emulator.scenario(_lamp(5000))
    ended = await legacy_session(shim.url, key, whole_file(LAMP))
    if ended.code == 1000:
        assert texts(ended) == ["Turn on", "the lamp"]
    else:
        assert ended.code == 1011 and ended.reason


async def test_a_client_that_drops_tcp_during_the_flush_releases_its_backend_at_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = start_process(shim_args(emulator), tmp_path / "shim.log")
    try:
        # The backend is slow (every message 1.5 s late): its flush takes ~15 s.
        key = emulator.scenario(_lamp(1500))
        dropped = await legacy_session(running.url, key, whole_file(LAMP), drop_after_send=True)
        dropped_at = time.monotonic()
        pattern = rf"session end request_id={dropped.request_id} .*outcome=client_gone"
        while not re.search(pattern, running.log()) and time.monotonic() - dropped_at < 10:
            await asyncio.sleep(0.05)
        ended_after = time.monotonic() - dropped_at
        assert re.search(pattern, running.log()), running.log()[-2000:]
        assert ended_after <= 2.0, ended_after
        # Released: the SDK closes its connection to the service soon after (it waits up to
        # its stop timeout of 1 s, then up to 1 s for the busy service's close handshake).
        closed = re.compile(r"connection \w+ closed")
        before = len(closed.findall(emulator.running.log()))
        deadline = time.monotonic() + 6
        while len(closed.findall(emulator.running.log())) == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(closed.findall(emulator.running.log())) > before
        assert running.stop() == 0
    finally:
        running.stop()
