"""The two kinds of benchmark client, each run as a worker process of its own.

``python -m bench.overhead_clients legacy|direct --url URL --run TAG --sessions N ...``

* ``legacy``: N Translator Speech API v1.0 clients (aiohttp WebSockets) against the shim.
* ``direct``: N Speech SDK ``TranslationRecognizer`` + ``PushAudioInputStream`` clients
  against the local Speech service, configured as the shim configures its own.

Each worker is driven by the benchmark over stdin/stdout, one line each way per step, so
the benchmark can measure the processes between steps and both sides stream in the same
window::

    worker: {"event": "loaded"}         bench: setup
    worker: {"event": "ready", ...}     bench: go <monotonic start time>
    worker: {"event": "streamed", ...}
    worker: {"event": "results"}        (raw results written to --results)
    worker: {"event": "done"}           (every session shut down)

Streaming is bounded: a client that falls more than ``--stream-factor`` times behind real
time stops sending, so an overloaded run ends and reports how far it got.

Times are ``time.monotonic()`` (CLOCK_MONOTONIC, the same clock in every process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.overhead_plan import (
    SOURCE_LOCALE,
    TARGET_LANGUAGE,
    Plan,
    load_chunks,
    session_key,
)

CONNECT_CONCURRENCY = 16  # opening all sessions at once only measures a thundering herd


@dataclass
class SessionRecord:
    """What one client saw; the benchmark turns it into latencies."""

    session: int
    sent: list[float] = field(default_factory=list)  # when each chunk went out
    finals: list[tuple[float, str]] = field(default_factory=list)  # (arrived, recognition)
    partials: int = 0
    audio_messages: int = 0  # TTS: legacy binary messages, or SDK synthesis completions
    errors: list[str] = field(default_factory=list)


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def command(expected: str) -> str:
    """The benchmark's next line on stdin; its first word must be ``expected``."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    words = line.split()
    if not words or words[0] != expected:
        raise SystemExit(f"expected {expected!r} from the benchmark, got {line!r}")
    return str(line)


async def sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class _Stopped(Exception):
    """A legacy client's connection ended while it was still sending."""


async def pace(
    chunks: Sequence[bytes],
    due: Sequence[float],
    send: Callable[[bytes], Awaitable[None]],
    give_up: float,
    sent: list[float] | None = None,
) -> list[float]:
    """Send each chunk at its due time (absolute, so lateness never accumulates) until the
    ``give_up`` time; returns when each chunk went out (also kept in ``sent`` as it goes, for
    a sender that stops by raising)."""
    sent = [] if sent is None else sent
    for chunk, when in zip(chunks, due, strict=True):
        await sleep_until(when)
        if time.monotonic() > give_up:
            break
        await send(chunk)
        sent.append(time.monotonic())
    return sent


async def bounded(jobs: Sequence[Callable[[], Awaitable[None]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


async def _wait_finals(all_finals: asyncio.Event, deadline: float, record: SessionRecord) -> None:
    try:
        await asyncio.wait_for(all_finals.wait(), max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        record.errors.append("finals missing at the deadline")


# ---- legacy clients ------------------------------------------------------------------------


class LegacyClient:
    """A real-time legacy client: a 46-byte WAV header message, then 100 ms PCM chunks."""

    def __init__(
        self, http: Any, url: str, key: str, plan: Plan, session: int, tts: bool = False
    ) -> None:
        self._tts = tts
        self._http = http
        self._url = url
        self._key = key
        self._expected = len(plan.utterances(session))
        self.record = SessionRecord(session)
        self._all_finals = asyncio.Event()
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ws_gone = False  # a send failed: the connection is over

    async def connect(self) -> None:
        from shim.legacy.tts import wav_header

        query = {
            "api-version": "1.0",
            "from": SOURCE_LOCALE,
            "to": TARGET_LANGUAGE,
            "features": "partial,texttospeech" if self._tts else "partial",
        }
        self._ws = await self._http.ws_connect(
            self._url,
            params=query,
            headers={"Ocp-Apim-Subscription-Key": self._key},
            autoclose=False,
            max_msg_size=0,
        )
        self._reader = asyncio.create_task(self._read())
        await self._ws.send_bytes(wav_header(0))  # streaming: size unknown

    async def _read(self) -> None:
        import aiohttp

        async for message in self._ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self._result(time.monotonic(), json.loads(message.data))
            elif message.type == aiohttp.WSMsgType.BINARY:
                self.record.audio_messages += 1
            elif message.type == aiohttp.WSMsgType.CLOSE:  # before the client closed
                self.record.errors.append(f"closed by the shim: {message.data} {message.extra}")
                return

    def _result(self, arrived: float, result: dict[str, Any]) -> None:
        if result.get("type") == "final":
            self.record.finals.append((arrived, str(result.get("recognition", ""))))
            if len(self.record.finals) >= self._expected:
                self._all_finals.set()
        elif result.get("type") == "partial":
            self.record.partials += 1
        else:
            self.record.errors.append(f"unexpected message {result!r:.200}")

    async def stream(self, chunks: Sequence[bytes], due: Sequence[float], give_up: float) -> None:
        async def send(chunk: bytes) -> None:
            if self._ws.closed or self._ws_gone:
                raise _Stopped
            try:
                await self._ws.send_bytes(chunk)
            except ConnectionError as error:  # the shim ended the session: stop sending
                self.record.errors.append(f"sending failed: {error}")
                self._ws_gone = True
                raise _Stopped from error

        self.record.sent = []
        with contextlib.suppress(_Stopped):
            await pace(chunks, due, send, give_up, self.record.sent)

    async def wait_finals(self, deadline: float) -> None:
        await _wait_finals(self._all_finals, deadline, self.record)

    async def close(self) -> None:
        """Close as the legacy client did (the shim flushes, then echoes the Close)."""
        await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()


async def run_legacy(args: argparse.Namespace, plan: Plan) -> None:
    import aiohttp

    chunks = load_chunks(plan)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        url = args.url.rstrip("/") + "/speech/translate"
        clients = [
            LegacyClient(http, url, session_key(args.run, i), plan, i, args.tts)
            for i in range(plan.sessions)
        ]
        await drive(clients, chunks, plan, args)


# ---- direct Speech SDK clients -------------------------------------------------------------

# What the shim sets for a local backend besides shim.server.app.LOCAL_PROPERTIES
# (shim.speech.bridge._config): profanity Masked (the legacy default, Marked + Asterisk).
STOP_TIMEOUT_PROPERTY = ("SPEECH-StopRecognitionTimeoutInSeconds", "1")
TTS_VOICE = "de-DE-KatjaNeural"  # what the shim resolves the legacy default German voice to
SIGNALS = ("recognizing", "recognized", "synthesizing", "canceled", "session_stopped")


class DirectClient:
    """A Speech SDK client fed at real time, configured as the shim configures its sessions."""

    def __init__(
        self,
        url: str,
        key: str,
        plan: Plan,
        session: int,
        properties: dict[str, str],
        tts: bool = False,
    ) -> None:
        self._tts = tts
        self._url = url
        self._key = key
        self._properties = properties
        self._expected = len(plan.utterances(session))
        self.record = SessionRecord(session)
        self._all_finals = asyncio.Event()
        self._stopped = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._stream: Any = None
        self._recognizer: Any = None

    def _config(self) -> Any:
        import azure.cognitiveservices.speech as speechsdk

        config = speechsdk.translation.SpeechTranslationConfig(
            host=self._url, subscription=self._key
        )
        config.speech_recognition_language = SOURCE_LOCALE
        config.add_target_language(TARGET_LANGUAGE)
        config.set_profanity(speechsdk.ProfanityOption.Masked)
        if self._tts:
            config.voice_name = TTS_VOICE
        config.set_property_by_name(*STOP_TIMEOUT_PROPERTY)
        for name, value in self._properties.items():
            config.set_property_by_name(name, value)
        return config

    async def connect(self) -> None:
        import azure.cognitiveservices.speech as speechsdk

        self._stream = speechsdk.audio.PushAudioInputStream()
        self._recognizer = speechsdk.translation.TranslationRecognizer(
            translation_config=self._config(),
            audio_config=speechsdk.audio.AudioConfig(stream=self._stream),
        )
        handlers: dict[str, Callable[[Any], None]] = {
            "recognizing": self._on_recognizing,
            "recognized": self._on_recognized,
            "synthesizing": self._on_synthesizing,  # connected, as the shim does
            "canceled": self._on_canceled,
            "session_stopped": lambda args: self._stopped.set(),
        }
        for signal in SIGNALS:
            getattr(self._recognizer, signal).connect(handlers[signal])
        self._recognizer.start_continuous_recognition_async().get()

    # SDK threads: record and return at once.
    def _on_recognizing(self, args: Any) -> None:
        self.record.partials += 1

    def _on_synthesizing(self, args: Any) -> None:
        if self._tts and not args.result.audio:  # SynthesizingAudioCompleted
            self.record.audio_messages += 1

    def _on_recognized(self, args: Any) -> None:
        arrived = time.monotonic()
        self.record.finals.append((arrived, args.result.text))
        if len(self.record.finals) == self._expected:
            self._loop.call_soon_threadsafe(self._all_finals.set)

    def _on_canceled(self, args: Any) -> None:
        details = args.cancellation_details
        if details.reason.name != "EndOfStream":
            self.record.errors.append(f"canceled {details.code.name}: {details.error_details}")

    async def stream(self, chunks: Sequence[bytes], due: Sequence[float], give_up: float) -> None:
        async def write(chunk: bytes) -> None:
            self._stream.write(chunk)

        self.record.sent = await pace(chunks, due, write, give_up)

    async def wait_finals(self, deadline: float) -> None:
        await _wait_finals(self._all_finals, deadline, self.record)

    async def close(self) -> None:
        """Shut down in the order of usp-speech-service.md §10."""
        self._stream.close()
        await self._loop.run_in_executor(None, self._stopped.wait, 5.0)
        self._recognizer.stop_continuous_recognition_async().get()
        for signal in SIGNALS:
            getattr(self._recognizer, signal).disconnect_all()
        self._recognizer = None  # destroyed here, before its stream (§10 step 5, then 6)
        self._stream = None


async def run_direct(args: argparse.Namespace, plan: Plan) -> None:
    from shim.server.app import LOCAL_PROPERTIES

    properties = {**LOCAL_PROPERTIES, **dict(p.split("=", 1) for p in args.property)}
    chunks = load_chunks(plan)
    clients = [
        DirectClient(args.url, session_key(args.run, i), plan, i, properties, args.tts)
        for i in range(plan.sessions)
    ]
    await drive(clients, chunks, plan, args)


# ---- the common script ---------------------------------------------------------------------


async def drive(
    clients: Sequence[LegacyClient] | Sequence[DirectClient],
    chunks: Sequence[bytes],
    plan: Plan,
    args: argparse.Namespace,
) -> None:
    await command("setup")
    started = time.monotonic()
    await bounded([client.connect for client in clients], CONNECT_CONCURRENCY)
    emit("ready", setup_seconds=round(time.monotonic() - started, 3))
    t0 = float((await command("go")).split()[1])
    give_up = t0 + plan.audio_seconds * args.stream_factor
    await asyncio.gather(
        *(
            client.stream(chunks, plan.schedule(client.record.session, t0), give_up)
            for client in clients
        )
    )
    emit("streamed", at=time.monotonic(), chunks=sum(len(c.record.sent) for c in clients))
    deadline = time.monotonic() + args.result_timeout
    await asyncio.gather(*(client.wait_finals(deadline) for client in clients))
    args.results.write_text(json.dumps([asdict(client.record) for client in clients]))
    emit("results")
    await asyncio.gather(*(client.close() for client in clients))
    gc.collect()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead_clients")
    parser.add_argument("kind", choices=["legacy", "direct"])
    parser.add_argument("--url", required=True, help="shim (legacy) or local Speech service")
    parser.add_argument("--run", required=True, help="tag of the run's scenario keys")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--result-timeout", type=float, default=30.0)
    parser.add_argument(
        "--stream-factor", type=float, default=2.0, help="stop sending at this x real time"
    )
    parser.add_argument("--property", action="append", default=[], help="SDK NAME=VALUE")
    parser.add_argument("--tts", action="store_true", help="ask for text-to-speech of finals")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(args.sessions, args.loops)
    runner = run_legacy if args.kind == "legacy" else run_direct
    if args.kind == "direct":
        import azure.cognitiveservices.speech  # noqa: F401  (loaded before the idle RSS is read)
    emit("loaded")
    asyncio.run(runner(args, plan))
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
