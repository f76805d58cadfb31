"""What every benchmark session streams, and what the local Speech service "hears" in it.

Both sides of the benchmark (legacy clients through the shim, direct Speech SDK clients)
stream the same real recording at real time in 100 ms chunks and get the same timed
utterances from the scripted engine, so their latencies can be compared per utterance.

The scripted engine sends an utterance's final when the audio it has received passes the
utterance's end (``offset_ms + duration_ms``); the chunk that carries that byte is the
utterance's *crossing chunk*, and a final's latency is measured from the moment the client
sent it.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT.parent / "shared" / "audio"
RECORDING = "en-US_katie-steve-conversation.wav"

BYTES_PER_MS = 32  # 16 kHz mono 16-bit
CHUNK_BYTES = 3_200  # 100 ms, as the legacy real-time clients sent
CHUNK_SECONDS = 0.1
SILENCE_SECONDS = 1.5  # sent after the speech, as a client that stops talking does
LOOP_MS = 19_100  # the recording (19.18 s) cut to whole chunks; its speech ends at 17.5 s

# Speech segments of the recording as the emulator's own VAD finds them
# (shim.emulator.engines.vad.EnergyVad(silence_ms=500)), with what is said in each.
SEGMENTS: tuple[tuple[int, int, str], ...] = (
    (1060, 780, "Good morning, Steve."),
    (2670, 640, "Good morning."),
    (4010, 3190, "Katie, have you heard about the new conversation transcription capability?"),
    (8030, 820, "No, tell me more."),
    (
        9500,
        4930,
        "It's the new feature that transcribes our discussion and lets us know who said what.",
    ),
    (15280, 2230, "That sounds interesting. I'm going to give this a try."),
)

SOURCE_LOCALE = "en-US"
TARGET_LANGUAGE = "de"


@dataclass(frozen=True)
class Utterance:
    index: int
    offset_ms: int
    duration_ms: int
    text: str

    @property
    def end_byte(self) -> int:
        return (self.offset_ms + self.duration_ms) * BYTES_PER_MS

    @property
    def crossing_chunk(self) -> int:
        """Index of the chunk whose bytes take the received audio past the utterance's end."""
        return math.ceil(self.end_byte / CHUNK_BYTES) - 1


@dataclass(frozen=True)
class Plan:
    """``loops`` passes over the recording, then silence; ``sessions`` clients per side."""

    sessions: int
    loops: int = 2

    @property
    def audio_seconds(self) -> float:
        return self.loops * LOOP_MS / 1000 + SILENCE_SECONDS

    @property
    def chunk_count(self) -> int:
        return round(self.audio_seconds / CHUNK_SECONDS)

    def utterances(self, session: int) -> list[Utterance]:
        """Distinct texts per session, so a result that reaches the wrong client shows."""
        found: list[Utterance] = []
        for loop in range(self.loops):
            for offset, duration, text in SEGMENTS:
                index = len(found)
                tagged = f"{text} (session {session} utterance {index})"
                found.append(Utterance(index, loop * LOOP_MS + offset, duration, tagged))
        return found

    def scenario(self, session: int, tts: str | None = None) -> dict[str, Any]:
        """The session's scenario; ``tts``: the synthesis engine of its finals' speech."""
        extra: dict[str, Any] = {"synthesis": {"engine": tts}} if tts else {}
        return {
            **extra,
            "utterances": [
                {
                    "offset_ms": u.offset_ms,
                    "duration_ms": u.duration_ms,
                    "text": u.text,
                    "translations": {TARGET_LANGUAGE: f"[{TARGET_LANGUAGE}] {u.text}"},
                }
                for u in self.utterances(session)
            ],
        }

    def phase(self, session: int) -> float:
        """Clients start spread evenly over one chunk period, as independent clients would."""
        return session * CHUNK_SECONDS / self.sessions

    def schedule(self, session: int, t0: float) -> list[float]:
        """When each chunk of ``session`` is due (monotonic seconds)."""
        start = t0 + self.phase(session)
        return [start + k * CHUNK_SECONDS for k in range(self.chunk_count)]


def session_key(run: str, session: int) -> str:
    """The subscription key both sides use for ``session``: it picks the scenario file."""
    return f"bench-{run}-s{session}"


def load_chunks(plan: Plan) -> list[bytes]:
    """The audio of one session as 100 ms chunks: the recording ``loops`` times, then silence."""
    with wave.open(str(AUDIO / RECORDING)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        pcm = wav.readframes(wav.getnframes())[: LOOP_MS * BYTES_PER_MS]
    audio = pcm * plan.loops + bytes(round(SILENCE_SECONDS * 1000) * BYTES_PER_MS)
    chunks = [audio[i : i + CHUNK_BYTES] for i in range(0, len(audio), CHUNK_BYTES)]
    assert len(chunks) == plan.chunk_count
    return chunks
