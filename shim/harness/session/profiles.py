"""How real legacy clients send audio (spec §2.3), as schedules of WebSocket frames.

Servers break on the differences between clients, not on the common case: a header alone
in its own message, a whole file plus 100 s of silence in two messages, 160-byte fragments,
a fragmented message that never ends, a RIFF header on every browser blob. Each
:class:`Profile` turns a WAV file into the exact frames one family of clients sends, with
the pauses between them, and says how such a client ends its session and what it counts as
success. The schedule is data, so tests can check it byte by byte without a socket.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from websockets.frames import Frame, Opcode

from shim.audiotime import BYTES_PER_SECOND
from shim.harness.session import wavfile

BROWSER_RATE = 44_100
BROWSER_CHANNELS = 2
BROWSER_BLOB_SECONDS = 0.2


@dataclass(frozen=True)
class Step:
    """Send ``frame`` after waiting ``delay`` seconds (at speed 1) since the previous step."""

    delay: float
    frame: Frame


class Finish(enum.Enum):
    """What the client does once its last frame is out."""

    CLOSE = "close right away"
    SETTLE_THEN_CLOSE = "wait until results stop arriving, then close"
    FIRST_RESULT_THEN_CLOSE = "close after the first TTS message (the first final without TTS)"
    AFTER_RESULTS = "close once a given number of finals and TTS messages arrived (replay)"


@dataclass(frozen=True)
class Ending:
    """How a session of this client ends, and which ending counts as expected."""

    finish: Finish
    close_code: int = 1000
    close_reason: str = ""
    expected_close_codes: frozenset[int] = frozenset({1000})
    expectation: str = ""
    results_before_close: int = 0  # AFTER_RESULTS: finals + TTS messages to wait for
    # After its Close the client ends its side of TCP (shutdown(SHUT_WR)) at once and reads on
    # for ``close_wait`` seconds, as the `websocket` npm library does (socket.end() right after
    # the Close frame, closeTimeout 5 s): a server that takes the end of stream for a vanished
    # client loses every final it still owes.
    half_close: bool = False
    close_wait: float | None = None  # None: the session's result timeout plus its timeout


Builder = Callable[[bytes], Iterator[Step]]


@dataclass(frozen=True)
class Profile:
    name: str
    clients: str  # the §2.3 rows this profile reproduces
    ending: Ending
    build: Builder

    def schedule(self, wav: bytes, *, speed: float = 1.0) -> list[Step]:
        """The frames to send for ``wav``; pauses divided by ``speed`` (0: no pauses)."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        steps = list(self.build(wav))
        if speed == 1.0:
            return steps
        return [Step(0.0 if speed == 0 else step.delay / speed, step.frame) for step in steps]


def pacing(steps: list[Step]) -> float:
    """Total time spent waiting between frames."""
    return sum(step.delay for step in steps)


def _binary(data: bytes, fin: bool = True) -> Frame:
    return Frame(Opcode.BINARY, data, fin)


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _messages(chunks: Iterator[bytes], interval: float, first_delay: float) -> Iterator[Step]:
    """One binary message per chunk, ``interval`` apart (send, then sleep: clients pace so)."""
    delay = first_delay
    for chunk in chunks:
        yield Step(delay, _binary(chunk))
        delay = interval


def _fragments(data: bytes, size: int, *, finish: bool) -> Iterator[Frame]:
    """One message as frames of ``size`` bytes: BINARY, then CONTINUATION; FIN on the last
    only when ``finish``."""
    pieces = list(_chunks(data, size)) or [b""]
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        opcode = Opcode.BINARY if index == 0 else Opcode.CONT
        yield Frame(opcode, piece, finish and index == last)


def _silence(seconds: float) -> bytes:
    return bytes(round(seconds * BYTES_PER_SECOND) & ~1)


# -- the profiles --------------------------------------------------------------------------


def _realtime(wav: bytes) -> Iterator[Step]:
    """46-byte header alone, then 3,200 B (100 ms) every 100 ms, then 2 s of silence."""
    yield Step(0.0, _binary(wavfile.header()))
    audio = wavfile.pcm16_mono(wav) + _silence(2.0)
    yield from _messages(_chunks(audio, 3_200), 0.1, first_delay=0.0)


def _burst(wav: bytes) -> Iterator[Step]:
    """Header and audio cut into 32,000 B messages every 100 ms (10x real time), then 100
    such messages of silence (3,200,000 B)."""
    audio = wavfile.header() + wavfile.pcm16_mono(wav)
    silence = bytes(32_000)
    chunks = [*_chunks(audio, 32_000), *([silence] * 100)]
    yield from _messages(iter(chunks), 0.1, first_delay=0.0)


def _whole_file(wav: bytes) -> Iterator[Step]:
    """The file as it is, header and all, in one message; 3,200,000 B of zeros in another."""
    yield Step(0.0, _binary(wav))
    yield Step(0.0, _binary(bytes(3_200_000)))


def _fragmented(wav: bytes) -> Iterator[Step]:
    """One message in 160-byte frames (header, audio, 5 s of silence), 32,000 B per 100 ms."""
    data = wavfile.header() + wavfile.pcm16_mono(wav) + _silence(5.0)
    per_burst = 32_000 // 160
    for index, frame in enumerate(_fragments(data, 160, finish=True)):
        delay = 0.1 if index and index % per_burst == 0 else 0.0
        yield Step(delay, frame)


UNFINISHED_FRAME = 4_096  # a stream writer's buffer; the Java quickstart does not choose one


def _unfinished(wav: bytes) -> Iterator[Step]:
    """Header, audio and 10 s of silence as frames of a message whose FIN never comes."""
    data = wavfile.header() + wavfile.pcm16_mono(wav) + _silence(10.0)
    for frame in _fragments(data, UNFINISHED_FRAME, finish=False):
        yield Step(0.0, frame)


def _browser(wav: bytes) -> Iterator[Step]:
    """Stereo 44.1 kHz WAV blobs of 200 ms, each a complete file with its own 44-byte
    header, one every 200 ms; 2 s of silent blobs at the end (the microphone keeps going)."""
    frame_bytes = 2 * BROWSER_CHANNELS
    blob_bytes = round(BROWSER_RATE * BROWSER_BLOB_SECONDS) * frame_bytes
    pcm = wavfile.convert(wav, rate=BROWSER_RATE, channels=BROWSER_CHANNELS)
    pcm += bytes(round(2.0 / BROWSER_BLOB_SECONDS) * blob_bytes)
    blobs = (
        wavfile.make_wav(chunk, sample_rate=BROWSER_RATE, channels=BROWSER_CHANNELS)
        for chunk in _chunks(pcm, blob_bytes)
    )
    yield from _messages(blobs, BROWSER_BLOB_SECONDS, first_delay=0.0)


_SETTLE = Ending(
    Finish.SETTLE_THEN_CLOSE,
    expectation="results arrive while streaming; the server answers the client's close with 1000",
)
_FLUSH = "the server sends the pending results, then answers the client's close with 1000"
# Clients on the `websocket` npm library: Close, socket.end() at once, then 5 s (closeTimeout)
# for the server's Close. (The library itself hands the application nothing after close();
# the harness records what still arrives, so a report shows the finals such a client needs
# before its Close.) The other profiles' clients close without ending their TCP side first:
# websocket-client (Python) and javax/Tyrus (Java) send Close and read until the server's
# Close; .NET ClientWebSocket.CloseAsync and browsers likewise.
NPM_CLOSE = Ending(
    Finish.CLOSE,
    close_reason="end of file",
    expectation="after its Close and TCP half-close the client still reads for 5 s: "
    + _FLUSH.replace("the server", "the server still", 1),
    half_close=True,
    close_wait=5.0,
)

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("realtime", "PYS speech.py, ST WPF, JAVA (official)", _SETTLE, _realtime),
        Profile(
            "burst", "Node quickstart, NodeJs-Example, CMD (official C#), NOOP", NPM_CLOSE, _burst
        ),
        Profile(
            "whole-file",
            "C# quickstart (Python quickstart sends the file whole too)",
            Ending(Finish.CLOSE, expectation=_FLUSH),
            _whole_file,
        ),
        Profile(
            "fragmented",
            "node-cognitive-services (fragmentationThreshold 160)",
            replace(NPM_CLOSE, close_reason=""),
            _fragmented,
        ),
        Profile(
            "unfinished",
            "Java quickstart (javax getSendStream, never closed)",
            Ending(
                Finish.FIRST_RESULT_THEN_CLOSE,
                expectation="results arrive although the message never ends;"
                " the server answers the client's close with 1000",
            ),
            _unfinished,
        ),
        Profile("browser", "MediaStreamRecorder browser clients (WEB)", _SETTLE, _browser),
    )
}
