"""The hardened edge under attack, on loopback, bounded in bytes and time.

Memory bounds are assertions ("grows by < 50 MB"), not timings: the server's RSS is sampled
while a hostile client does its worst, and compared with what it was before.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, RunningProcess, Shim, shim_args, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MB = 1 << 20
SECRET = "attack-secret-key-5f0c2b9e"


@pytest.fixture
def server(emulator: Emulator, tmp_path: Path) -> Iterator[RunningProcess]:
    running = start_process(
        shim_args(emulator, "--header-timeout", "2", "--max-connections", "2000"),
        tmp_path / "shim.log",
    )
    yield running
    assert running.stop() == 0


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.split("//")[1].split(":")
    return host, int(port)


class RssProbe:
    """Samples a process's RSS in the background; ``growth`` is peak minus the start."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.start = self._process.memory_info().rss
        self.peak = self.start
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._process.memory_info().rss)
            await asyncio.sleep(0.05)

    def __enter__(self) -> RssProbe:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / MB


async def _upgrade(url: str, key: str = "k") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = _host_port(url)
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        "GET /speech/translate?api-version=1.0&from=en-US&to=de HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        f"Sec-WebSocket-Version: 13\r\nOcp-Apim-Subscription-Key: {key}\r\n\r\n"
    )
    writer.write(request.encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def _masked_header(opcode: int, length: int, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return struct.pack(">BB", first, 0x80 | length) + b"\0\0\0\0"
    if length < 65536:
        return struct.pack(">BBH", first, 0x80 | 126, length) + b"\0\0\0\0"
    return struct.pack(">BBQ", first, 0x80 | 127, length) + b"\0\0\0\0"  # mask of zeros


async def _push(writer: asyncio.StreamWriter, total: int, seconds: float) -> int:
    """Write up to ``total`` bytes for at most ``seconds``; returns what the server took."""
    chunk = bytes(MB)
    sent = 0
    deadline = time.monotonic() + seconds
    with contextlib.suppress(ConnectionError, OSError):
        while sent < total and time.monotonic() < deadline:
            writer.write(chunk)
            async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                await writer.drain()
            sent += len(chunk)
    return sent


@pytest.mark.parametrize(
    "opening",
    [
        struct.pack(">BB", 0x82, 0x04) + b"abcd",  # an unmasked client frame: 1002
        _masked_header(0x2, 1 << 40, fin=True),  # a 1 TiB frame: streamed, never buffered
    ],
    ids=["unmasked-frame-1002", "terabyte-frame"],
)
async def test_a_client_pushing_300_mib_after_a_bad_frame_grows_the_server_by_under_50_mb(
    server: RunningProcess, opening: bytes
) -> None:
    _reader, writer = await _upgrade(server.url)
    with RssProbe(server.process.pid) as rss:
        writer.write(opening)
        await _push(writer, 300 * MB, seconds=20)
        await asyncio.sleep(0.5)
    writer.close()
    assert rss.growth_mb < 50, f"RSS grew by {rss.growth_mb:.0f} MB"


async def test_a_client_that_never_reads_and_floods_pings_grows_the_server_by_under_50_mb(
    server: RunningProcess,
) -> None:
    host, port = _host_port(server.url)
    raw = socket.create_connection((host, port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read a byte
    _reader, writer = await asyncio.open_connection(sock=raw)
    request = (
        "GET /speech/translate?api-version=1.0&from=en-US&to=de HTTP/1.1\r\n"
        f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\nOcp-Apim-Subscription-Key: k\r\n\r\n"
    )
    writer.write(request.encode())
    ping = _masked_header(0x9, 125) + bytes(125)
    burst = ping * 512
    with RssProbe(server.process.pid) as rss:
        deadline = time.monotonic() + 15
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            while time.monotonic() < deadline:
                writer.write(burst)
                async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                    await writer.drain()
    writer.transport.abort()
    assert rss.growth_mb < 50, f"RSS grew by {rss.growth_mb:.0f} MB"


async def test_a_client_streaming_fast_without_reading_grows_the_server_by_under_50_mb(
    server: RunningProcess, emulator: Emulator
) -> None:
    key = emulator.scenario({"utterances": [], "faults": []})
    _reader, writer = await _upgrade(server.url, key)
    writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pcm = read_pcm(INSPECT)
    audio = _masked_header(0x2, len(header46()) + len(pcm) * 20, fin=True)
    with RssProbe(server.process.pid) as rss:
        writer.write(audio + header46())
        deadline = time.monotonic() + 15
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            for _ in range(20):  # ~8 minutes of audio as fast as the server takes it
                writer.write(pcm)  # zero mask: the payload goes as it is
                async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                    await writer.drain()
    writer.transport.abort()
    assert rss.growth_mb < 50, f"RSS grew by {rss.growth_mb:.0f} MB"


async def test_300_slowloris_sockets_are_closed_within_the_header_timeout_while_a_session_works(
    server: RunningProcess, emulator: Emulator
) -> None:
    host, port = _host_port(server.url)
    streams = [await asyncio.open_connection(host, port) for _ in range(300)]
    request = b"GET /speech/translate?api-version=1.0&from=en-US&to=de HTTP/1.1\r\nHost: x\r\n"
    started = time.monotonic()

    async def drip(index: int) -> float | None:
        """One byte every half second; returns when the server closed on us."""
        reader, writer = streams[index]
        for byte in request:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                async with asyncio.timeout(0.5):
                    if await reader.read(1024) == b"":
                        return time.monotonic() - started
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                return time.monotonic() - started
        return None

    drips = [asyncio.create_task(drip(i)) for i in range(len(streams))]
    healthy = await run_messages(
        server.url,
        emulator.scenario(THREE),
        [header46() + read_pcm(INSPECT), bytes(32_000)],
        close_after_send=True,
    )
    closed_after = await asyncio.gather(*drips)
    for _, writer in streams:
        writer.transport.abort()
    assert [f["recognition"] for f in healthy.finals] == [u["text"] for u in THREE["utterances"]]
    assert healthy.close_code == 1000
    assert all(t is not None for t in closed_after), "some slowloris sockets were never closed"
    assert max(t for t in closed_after if t is not None) < 2 + 3  # header timeout 2 s + slack


async def test_an_oversized_url_with_a_key_gets_a_json_400_and_never_logs_the_key(
    server: RunningProcess,
) -> None:
    host, port = _host_port(server.url)
    reader, writer = await asyncio.open_connection(host, port)
    path = f"/speech/translate?subscription-key={SECRET}&api-version=1.0&pad={'x' * 9000}"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read(65536)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", head  # (HTTP/1.0: the request line never parsed)
    assert b"x-requestid:" in head.lower()
    assert body.startswith(b'{"error":{"code":400000')
    await asyncio.sleep(0.5)
    log = server.log()
    assert SECRET not in log
    assert "Traceback" not in log


# ---- audio that multiplies: 1 kHz 8-bit mono is 32 times the bytes at 16 kHz 16-bit ----------
def _riff_1khz_8bit(size: int) -> bytes:
    """A legal whole file of ``size`` bytes of 1 kHz 8-bit mono audio (35 minutes for 2 MiB)."""
    payload = bytes((i * 37) & 0xFF for i in range(256)) * (size // 256)
    fmt = struct.pack("<HHIIHH", 1, 1, 1000, 1000, 1, 8)
    return (
        b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVEfmt " + struct.pack("<I", 16)
        + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    )  # fmt: skip


MULTIPLYING = _riff_1khz_8bit(2 * MB)


@pytest.fixture
def quick_server(emulator: Emulator, tmp_path: Path) -> Iterator[RunningProcess]:
    """Sessions end after 10 s of audio without speech: a 2 MiB file ends in well under 1 s."""
    running = start_process(shim_args(emulator, "--silence-timeout", "10"), tmp_path / "shim.log")
    yield running
    assert running.stop() == 0


async def _multiplying_session(url: str, key: str) -> int | None:
    outcome = await run_messages(url, key, [MULTIPLYING], close_after_send=True, timeout=120)
    return outcome.close_code


async def _session_objects(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as response:
        document = await response.json()
    return int(document["session_objects"])


async def test_ten_clients_sending_2_mib_of_1_khz_8_bit_audio_grow_the_server_by_under_50_mb(
    quick_server: RunningProcess, emulator: Emulator
) -> None:
    key = emulator.scenario({"utterances": [], "faults": []})
    for _ in range(2):  # the SDK's first sessions load what every later one shares
        await _multiplying_session(quick_server.url, key)
    with RssProbe(quick_server.process.pid) as rss:
        codes = await asyncio.gather(
            *(_multiplying_session(quick_server.url, key) for _ in range(10))
        )
    assert codes == [1000] * 10
    assert rss.growth_mb < 50, f"RSS grew by {rss.growth_mb:.0f} MB"


async def test_200_sequential_1_khz_8_bit_sessions_leave_rss_near_its_plateau_and_no_session(
    quick_server: RunningProcess, emulator: Emulator
) -> None:
    key = emulator.scenario({"utterances": [], "faults": []})
    process = psutil.Process(quick_server.process.pid)
    plateau = 0
    for index in range(200):
        assert await _multiplying_session(quick_server.url, key) == 1000
        if index == 19:
            plateau = process.memory_info().rss
    deadline = time.monotonic() + 10  # the last session's teardown may still be running
    while await _session_objects(quick_server.url) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert await _session_objects(quick_server.url) == 0
    grown = (process.memory_info().rss - plateau) / MB
    assert grown < 30, f"RSS {grown:.0f} MB above its plateau after 200 sessions"


# ---- Close frames RFC 6455 forbids (§5.5.1, §7.4): 1002, or 1007 for a reason not UTF-8 ------
BAD_CLOSES = [
    *((f"code-{code}", struct.pack(">H", code) + b"bye", 1002)
      for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535)),
    ("one-byte", b"\x03", 1002),
    ("reason-not-utf8", struct.pack(">H", 1000) + b"ok \xff\xfe", 1007),
]  # fmt: skip


def _server_close_code(data: bytes) -> int | None:
    """The code of the Close frame among the server's (unmasked) frames."""
    position = 0
    while position + 2 <= len(data):
        opcode, length = data[position] & 0x0F, data[position + 1] & 0x7F
        position += 2
        if length == 126:
            length, position = struct.unpack_from(">H", data, position)[0], position + 2
        elif length == 127:
            length, position = struct.unpack_from(">Q", data, position)[0], position + 8
        payload = data[position : position + length]
        position += length
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big")
    return None


async def _close_with(url: str, key: str, payload: bytes) -> int | None:
    reader, writer = await _upgrade(url, key)
    audio = header46() + bytes(32_000)
    writer.write(_masked_header(0x2, len(audio)) + audio)  # zero mask: payload as it is
    writer.write(_masked_header(0x8, len(payload)) + payload)
    received = await asyncio.wait_for(reader.read(), 30)  # until the server closes
    writer.close()
    return _server_close_code(received)


async def test_every_invalid_close_frame_is_answered_1002_or_1007_never_1000(
    shim: Shim, emulator: Emulator
) -> None:
    key = emulator.scenario(THREE)
    codes = await asyncio.gather(*(_close_with(shim.url, key, p) for _, p, _ in BAD_CLOSES))
    assert dict(zip([n for n, _, _ in BAD_CLOSES], codes, strict=True)) == {
        name: expected for name, _, expected in BAD_CLOSES
    }
