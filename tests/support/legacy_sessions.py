"""Recorded legacy sessions built frame by frame, for tests of the readers of recordings.

The frames go through the real :class:`Recorder`, as they would on the wire, so rules,
replay plans and comparisons are tested on exactly what ``record`` writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from websockets.datastructures import Headers
from websockets.frames import Opcode

from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import Recording
from shim.harness.session.frame_client import Handshake
from shim.legacy.tts import wav_header

Frame = tuple[str, Opcode, bool, bytes]
BASE = "ws://127.0.0.1:5000/speech/translate?api-version=1.0&from=en-US&to=de"


def url(features: str = "partial,texttospeech", **extra: str) -> str:
    query = "".join(f"&{k}={v}" for k, v in extra.items())
    return f"{BASE}&features={features}{query}&subscription-key=secret-key"


def result(kind: str, id: str, recognition: str, translation: str, **timing: int) -> Frame:
    document: dict[str, Any] = {
        "type": kind,
        "id": id,
        "recognition": recognition,
        "translation": translation,
        **timing,
    }
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return ("in", Opcode.TEXT, True, text.encode())


def timing(offset_ms: int, duration_ms: int) -> dict[str, int]:
    return {
        "audioStreamPosition": offset_ms * 32,
        "audioSizeBytes": duration_ms * 32,
        "audioTimeOffset": offset_ms * 10_000,
        "audioTimeSize": duration_ms * 10_000,
    }


def wav(samples: int = 1600) -> bytes:
    return wav_header(samples * 2) + bytes(samples * 2)


def tts(data: bytes | None = None, pieces: int = 3) -> list[Frame]:
    """One binary message in ``pieces`` frames (TS2)."""
    data = wav() if data is None else data
    size = -(-len(data) // pieces)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return [
        ("in", Opcode.BINARY if i == 0 else Opcode.CONT, i == len(chunks) - 1, chunk)
        for i, chunk in enumerate(chunks)
    ]


def audio(size: int = 32_000) -> list[Frame]:
    header = wav_header(0)
    return [("out", Opcode.BINARY, True, header), ("out", Opcode.BINARY, True, bytes(size))]


def close(direction: str, code: int = 1000, reason: str = "") -> Frame:
    return (direction, Opcode.CLOSE, True, code.to_bytes(2, "big") + reason.encode())


def utterance(index: int, text: str, translation: str, *, with_tts: bool = True) -> list[Frame]:
    frames = [
        result("partial", f"{index}.1", text.split()[0], translation.split()[0]),
        result("final", str(index), text, translation),
    ]
    return frames + (tts() if with_tts else [])


def good_frames() -> list[Frame]:
    return [
        *audio(),
        *utterance(0, "Hello world.", "Hallo Welt."),
        *utterance(1, "Turn on the lamp.", "Schalte die Lampe ein."),
        close("out"),
        close("in"),
    ]


def session(
    frames: Iterable[Frame],
    *,
    session_url: str | None = None,
    status: int = 101,
    response_headers: Sequence[tuple[str, str]] = (("X-RequestId", "r-1"),),
    body: bytes = b"",
    close_code: int | None = 1000,
    keep_server_audio: bool = False,
) -> Recording:
    """A recording of ``frames`` (direction, opcode, FIN, payload) 10 ms apart."""
    target = session_url or url()
    frames = list(frames)
    origin = 1000.0
    recorder = Recorder(
        None,
        url=target,
        headers=[("Ocp-Apim-Subscription-Key", "secret-key")],
        keep_server_audio=keep_server_audio,
    )
    request = Headers([("Host", "127.0.0.1:5000"), ("Ocp-Apim-Subscription-Key", "secret-key")])
    reason = "Switching Protocols" if status == 101 else "Error"
    recorder.on_handshake(
        Handshake(
            target,
            request,
            status,
            reason,
            Headers(list(response_headers)),
            body,
            origin,
            origin + 0.002,
        )
    )
    for index, (direction, opcode, fin, payload) in enumerate(frames):
        recorder(direction, origin + 0.01 * (index + 1), opcode, fin, payload)  # type: ignore[arg-type]
    first_close = next((d for d, o, _, _ in frames if o is Opcode.CLOSE), None)
    by = {"out": "client", "in": "server"}.get(first_close or "")
    ended = origin + 0.01 * (len(frames) + 1)
    return recorder.finish(code=close_code if status == 101 else None, by=by, at=ended)
