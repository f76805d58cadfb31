"""The text-streaming turn of the local service's synthesis socket, message by message:
what the client sends (synthesis.context, text.piece, text.end) and what the service answers.
The socket is a recorder; the engine is the scripted one (its real speech)."""

from __future__ import annotations

from typing import Any

import pytest

from shim.emulator import usp
from shim.emulator.engines.base import BadInput
from shim.emulator.engines.scenario import Scenario
from shim.emulator.engines.scripted import ScriptedEngine
from shim.emulator.synthesis_service import SynthesisConnection

pytestmark = [pytest.mark.unit]

REQUEST = "5c4d5f0b8a1e4f7e9d2c3b4a59687766"
STREAMING = {
    "synthesis": {
        "audio": {
            "outputFormat": "raw-16khz-16bit-mono-pcm",
            "metadataOptions": {"wordBoundaryEnabled": True},
        },
        "input": {
            "bidirectionalStreamingMode": True,
            "voiceName": "en-US-AvaNeural",
            "language": "",
        },
    }
}


class Recorder:
    """Stands in for the WebSocket: keeps what the service sends, as (path, body)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def send_str(self, frame: str) -> None:
        message = usp.parse_text(frame)
        self.sent.append((message.path, message.json() if message.body else None))

    async def send_bytes(self, frame: bytes) -> None:
        self.sent.append((usp.parse_binary(frame).path, None))

    def paths(self) -> list[str]:
        return [path for path, _ in self.sent]


def _client(path: str, body: Any = None, content_type: str = "application/json") -> usp.Message:
    return usp.parse_text(usp.build_text(path, REQUEST, body, content_type=content_type))


async def _run(recorder: Recorder, messages: list[usp.Message], v2: bool = True) -> None:
    connection = SynthesisConnection(recorder, ScriptedEngine(), Scenario(), text_streaming=v2)  # type: ignore[arg-type]
    for message in messages:
        await connection._on_text(message)


async def test_one_turn_for_the_whole_stream_even_after_an_empty_first_piece() -> None:
    recorder = Recorder()
    await _run(
        recorder,
        [
            _client("synthesis.context", STREAMING),
            _client("text.piece", "", "text/plain"),
            _client("text.piece", "Hello there. How", "text/plain"),
        ],
    )
    paths = recorder.paths()
    assert paths[:2] == ["turn.start", "response"] and paths.count("turn.start") == 1
    assert "audio" in paths and "turn.end" not in paths  # the first sentence, spoken already
    spoken_words = [
        b["Metadata"][0]["Data"]["text"]["Text"] for p, b in recorder.sent if p == "audio.metadata"
    ]
    assert spoken_words == ["Hello", "there", "."]


async def test_text_end_speaks_the_rest_and_ends_the_turn() -> None:
    recorder = Recorder()
    pieces = ["Hello there. ", "How are", " you"]
    await _run(
        recorder,
        [_client("synthesis.context", STREAMING)]
        + [_client("text.piece", piece, "text/plain") for piece in pieces]
        + [_client("text.end", "", "text/plain")],
    )
    paths = recorder.paths()
    assert paths.count("turn.start") == 1 and paths[-1] == "turn.end"
    metadata = [b["Metadata"][0] for p, b in recorder.sent if p == "audio.metadata"]
    assert [m["Data"]["text"]["Text"] for m in metadata if m["Type"] == "WordBoundary"] == [
        "Hello",
        "there",
        ".",
        "How",
        "are",
        "you",
    ]
    assert metadata[-1]["Type"] == "SessionEnd"
    offsets = [m["Data"]["Offset"] for m in metadata]
    assert offsets == sorted(offsets)


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([_client("text.piece", "Hi.", "text/plain")], "outside a text-streaming turn"),
        (
            [
                _client("synthesis.context", STREAMING),
                _client("ssml", "<speak/>", "application/ssml+xml"),
            ],
            "ssml during a text stream",
        ),
        (
            [
                _client("synthesis.context", STREAMING),
                _client("text.end", "", "text/plain"),
                _client("text.end", "", "text/plain"),
            ],
            "outside a text-streaming turn",
        ),
    ],
)
async def test_pieces_out_of_turn_are_refused(messages: list[usp.Message], reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        await _run(Recorder(), messages)


async def test_v1_refuses_text_streaming() -> None:
    with pytest.raises(BadInput, match="needs /cognitiveservices/websocket/v2"):
        await _run(Recorder(), [_client("synthesis.context", STREAMING)], v2=False)
