"""The edge's executor (``TranslateSession``) on its own: the core's commands carried out.

The session gets a fake client socket and a fake backend: fakes of our own interfaces
(``ClientSocket``, ``SessionSpeech``), never of the Speech SDK; the core inside is the real
one. What each test checks is what the edge does with the core's commands: reading starts
when the core says, results and TTS go out in order and in the format asked for, the Close
comes last, a client that takes nothing is abandoned at the core's write deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiohttp import web

from shim.legacy.errors import Failure
from shim.legacy.request import parse_request
from shim.legacy.vocabulary import Ending, Limits
from shim.server.legacy_socket import ClientClose, Received
from shim.server.placement import Seat
from shim.server.translate_session import SessionSpeech, TranslateService, TranslateSession
from shim.speech.events import (
    BridgeEvent,
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)
from shim.speech.synthesis import Spoken
from shim.wsframes import DataChunk, Opcode
from tests.support.legacy_requests import Resolver, sdk_wav
from tests.support.legacy_ws import header46

pytestmark = pytest.mark.unit

TICKS = 10_000_000


class FakeSocket:
    """A client's WebSocket as the session sees it; records what the session did to it."""

    def __init__(self, *, takes_writes: bool = True) -> None:
        self.done: list[tuple[object, ...]] = []
        self.consumer: Callable[[Received], None] | None = None
        self.on_gone: Callable[[], None] = lambda: None
        self._takes_writes = takes_writes
        self.closed = asyncio.Event()

    @property
    def response(self) -> web.StreamResponse:
        raise AssertionError("the session never answers HTTP")

    def start(self, consumer: Callable[[Received], None]) -> None:
        self.consumer = consumer
        self.done.append(("start",))

    def hold(self) -> None:
        self.done.append(("hold",))

    def release(self) -> None:
        self.done.append(("release",))

    def ping(self) -> None:
        self.done.append(("ping",))

    def abort(self) -> None:
        self.done.append(("abort",))

    def detach(self) -> None:
        self.consumer = None

    def discard_input(self) -> None:
        pass

    async def _write(self) -> bool:
        if not self._takes_writes:
            await asyncio.Event().wait()  # a client that reads nothing: never drains
        return True

    async def send_text(self, text: bytes) -> bool:
        self.done.append(("text", text.decode()))
        return await self._write()

    async def send_fragmented_binary(self, fragments: list[bytes]) -> bool:
        self.done.append(("binary", b"".join(fragments)))
        return await self._write()

    async def close(
        self, code: int, reason: str = "", on_sent: Callable[[], None] = lambda: None
    ) -> None:
        self.done.append(("close", code, reason))
        on_sent()
        self.closed.set()

    def receive(self, item: Received) -> None:
        assert self.consumer is not None, "the session is not reading"
        self.consumer(item)

    def kinds(self) -> list[object]:
        return [entry[0] for entry in self.done]


class FakeSpeech:
    """A session's backend as the session sees it; the test plays its events (``sink``)."""

    def __init__(self, *, starts: bool = True, moves_to: int | None = None) -> None:
        self._starts = starts
        self._moves_to = moves_to
        self.sink: Callable[[BridgeEvent, float], None] = lambda event, at: None
        self.started = 0
        self.audio = bytearray()
        self.ended = False
        self.kept: list[int] = []
        self.moves: list[tuple[Failure, str | None, int]] = []
        self.closed: bool | None = None  # abandon=, once closed

    def factory(
        self, sink: Callable[[BridgeEvent, float], None], connected: Callable[[], None]
    ) -> SessionSpeech:
        self.sink = sink
        return self

    async def start(self) -> bool:
        self.started += 1
        return self._starts

    def write(self, pcm: bytes) -> None:
        self.audio += pcm

    def end_audio(self) -> None:
        self.ended = True

    def keep_from(self, tick: int) -> None:
        self.kept.append(tick)

    def move(self, failure: Failure, code: str | None, resume_at: int) -> int | None:
        self.moves.append((failure, code, resume_at))
        return self._moves_to

    def resynthesize(
        self,
        final_id: str,
        text: str,
        voice: str,
        timeout: float,
        on_spoken: Callable[[Spoken], None],
    ) -> None:
        raise AssertionError("no final is spoken again in these tests")

    async def close(self, *, abandon: bool) -> None:
        self.closed = abandon

    def event(self, event: BridgeEvent) -> None:
        self.sink(event, 0.0)


class Session:
    """A running session with its fakes."""

    def __init__(
        self,
        features: str = "",
        *,
        audio_format: str = "audio/wav",
        pooled: bool = False,
        limits: Limits | None = None,
        socket: FakeSocket | None = None,
        speech: FakeSpeech | None = None,
    ) -> None:
        query = [("api-version", "1.0"), ("from", "en-US"), ("to", "de")]
        query += [("features", features), ("format", audio_format)]
        request = parse_request(query, {"Ocp-Apim-Subscription-Key": "k"}, Resolver())
        self.executor = ThreadPoolExecutor(1)
        unused = cast(Any, None)  # catalog, authentication and placement: the endpoint's
        service = TranslateService(
            unused, unused, unused, self.executor, unused, limits=limits or Limits()
        )
        seat = cast(Seat, SimpleNamespace(pooled=pooled))
        self.socket = socket or FakeSocket()
        self.speech = speech or FakeSpeech()
        self.session = TranslateSession(
            service, request, seat, self.socket, "test", speech=self.speech.factory
        )
        self.task: asyncio.Task[Ending | None] = asyncio.create_task(self.session.run())

    async def ending(self) -> Ending | None:
        try:
            return await asyncio.wait_for(self.task, 10)
        finally:
            self.executor.shutdown()

    def audio(self, data: bytes, *, start: bool = False) -> None:
        self.socket.receive(DataChunk(Opcode.BINARY, data, start, False))


async def settle() -> None:
    """Let the session's tasks run (its writer, a backend's start)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reading_starts_when_the_backend_started_and_audio_reaches_it() -> None:
    waiting = FakeSpeech()
    started = asyncio.Event()

    async def slow_start() -> bool:
        await started.wait()
        waiting.started += 1
        return True

    waiting.start = slow_start  # type: ignore[method-assign]
    run = Session(speech=waiting)
    await settle()
    assert run.socket.kinds() == []  # nothing read before a backend started
    started.set()
    await settle()
    assert run.socket.kinds() == ["start"]
    run.audio(header46() + bytes(3200), start=True)
    assert bytes(run.speech.audio) == bytes(3200)
    run.socket.receive(ClientClose(1000))
    assert run.speech.ended
    run.speech.event(Stopped())
    ending = await run.ending()
    assert ending is not None and (ending.failure, ending.code) == (Failure.COMPLETED, 1000)
    assert run.socket.kinds() == ["start", "close"]
    assert run.speech.closed is False  # released in order, not abandoned


@pytest.mark.parametrize(("audio_format", "magic"), [("audio/wav", b"RIFF"), ("audio/mp3", b"")])
async def test_a_final_and_its_speech_go_out_in_order_in_the_format_asked_for(
    audio_format: str, magic: bytes
) -> None:
    run = Session("texttospeech", audio_format=audio_format)
    await settle()
    run.audio(header46() + bytes(32000), start=True)
    run.speech.event(Recognized(True, "Hello.", "Hallo.", 0, TICKS))
    run.speech.event(SynthesisAudio(sdk_wav(16000)))
    run.speech.event(SynthesisCompleted())
    run.socket.receive(ClientClose(1000))
    run.speech.event(Stopped())
    await run.ending()
    kinds = run.socket.kinds()
    assert kinds == ["start", "text", "binary", "close"]  # TS1: the final's audio, then Close
    assert '"recognition":"Hello."' in str(run.socket.done[1][1])
    speech = run.socket.done[2][1]
    assert isinstance(speech, bytes)
    if magic:
        assert speech.startswith(magic)
    else:  # MP3: an ID3 tag or a frame sync, never the SDK's WAV
        assert not speech.startswith(b"RIFF")
        assert speech[:3] == b"ID3" or (speech[0] == 0xFF and speech[1] & 0xE0 == 0xE0)


async def test_a_backend_that_cannot_start_closes_1011_and_nothing_is_read() -> None:
    run = Session(speech=FakeSpeech(starts=False))
    ending = await run.ending()
    assert ending is not None and ending.code == 1011
    assert run.socket.kinds() == ["close"]
    assert run.socket.done[-1] == ("close", 1011, "Speech backend error")


async def test_a_close_behind_a_result_the_client_never_takes_is_abandoned_too() -> None:
    socket = FakeSocket(takes_writes=False)
    run = Session("partial", limits=Limits(write_timeout=0.2), socket=socket)
    await settle()
    run.audio(header46() + bytes(3200), start=True)
    run.speech.event(Recognizing("Hel", "Hal", 0, TICKS))
    run.speech.event(Canceled("Error", "ServiceError", ""))  # the Close waits behind it
    ending = await run.ending()
    assert socket.kinds() == ["start", "text", "abort"]
    assert ending is not None and ending.failure is Failure.BACKEND_ERROR  # the Close's
    assert run.speech.closed is True


async def test_a_result_the_client_never_takes_abandons_the_session() -> None:
    socket = FakeSocket(takes_writes=False)
    run = Session("partial", limits=Limits(write_timeout=0.2), socket=socket)
    await settle()
    run.audio(header46() + bytes(3200), start=True)
    run.speech.event(Recognized(True, "Hello.", "Hallo.", 0, TICKS))
    ending = await run.ending()
    assert ending is not None and ending.failure is Failure.CLIENT_NOT_READING
    assert socket.kinds() == ["start", "text", "abort"]  # never a Close it could not take
    assert run.speech.closed is True  # the backend released at once


async def test_a_client_gone_is_abandoned_and_its_backend_released_at_once() -> None:
    run = Session()
    await settle()
    run.socket.on_gone()
    ending = await run.ending()
    assert ending is not None and ending.failure is Failure.CLIENT_GONE
    assert run.socket.kinds() == ["start", "abort"]
    assert run.speech.closed is True


async def test_a_lost_backend_is_moved_and_the_next_one_started_without_reading_again() -> None:
    run = Session(pooled=True, speech=FakeSpeech(moves_to=0))
    await settle()
    run.audio(header46() + bytes(3200), start=True)
    run.speech.event(Canceled("Error", "ServiceError", ""))
    await settle()
    assert run.speech.moves == [(Failure.BACKEND_ERROR, "ServiceError", 0)]
    assert run.speech.started == 2
    assert run.socket.kinds() == ["start"]  # one StartReading for the session
    run.socket.receive(ClientClose(1000))
    run.speech.event(Stopped())
    ending = await run.ending()
    assert ending is not None and ending.code == 1000


async def test_nowhere_to_move_ends_the_session_as_the_failure_says() -> None:
    run = Session(pooled=True, speech=FakeSpeech(moves_to=None))
    await settle()
    run.speech.event(Canceled("Error", "TooManyRequests", ""))
    ending = await run.ending()
    assert ending is not None and (ending.failure, ending.code) == (Failure.BACKEND_THROTTLED, 1001)
    assert run.speech.started == 1


# ---- a fault of ours ends that session 1011, never a hang or a dropped connection ----------
FAULT = ("close", 1011, "internal server error")


class BrokenSpeech(FakeSpeech):
    """A backend with a bug: taking audio raises."""

    def write(self, pcm: bytes) -> None:
        raise ValueError("a bug in the backend's write")


class BrokenSocket(FakeSocket):
    """A client socket with a bug: sending a result raises."""

    async def send_text(self, text: bytes) -> bool:
        raise ValueError("a bug in the socket's send")


async def test_a_fault_while_handling_an_event_closes_1011_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = Session(speech=BrokenSpeech())
    await settle()
    run.audio(header46() + bytes(3200), start=True)
    ending = await run.ending()
    assert ending is not None and (ending.failure, ending.code) == (Failure.INTERNAL, 1011)
    assert run.socket.done[-1] == FAULT
    assert run.speech.closed is True  # its results are nobody's: abandoned
    assert "session test: internal error handling AudioReceived" in caplog.text
    assert "a bug in the backend's write" in caplog.text  # with its traceback


async def test_a_fault_while_writing_a_result_closes_1011() -> None:
    run = Session(socket=BrokenSocket())
    await settle()
    run.audio(header46() + bytes(32000), start=True)
    run.speech.event(Recognized(True, "Hello.", "Hallo.", 0, TICKS))
    ending = await run.ending()
    assert ending is not None and (ending.failure, ending.code) == (Failure.INTERNAL, 1011)
    assert run.socket.done[-1] == FAULT


async def test_a_backend_that_cannot_even_be_made_closes_1011() -> None:
    speech = FakeSpeech()

    def broken_factory(
        sink: Callable[[BridgeEvent, float], None], connected: Callable[[], None]
    ) -> SessionSpeech:
        raise ValueError("a bug in making the backend")

    speech.factory = broken_factory  # type: ignore[method-assign]
    run = Session(speech=speech)
    ending = await run.ending()
    assert ending is not None and ending.failure is Failure.INTERNAL
    assert run.socket.kinds() == ["close"] and run.socket.done[-1] == FAULT
